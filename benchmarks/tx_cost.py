"""Client-side wall time of every transaction a node sends through the binding, against the floor.

Run: .venv/bin/python -m benchmarks.tx_cost [--clients 10] [--rounds 3]
Writes benchmarks/results/tx_cost.md.

The in-process simulator plays rounds on anvil (ape-foundry starts it); every transaction the nodes send
goes through `Federation` as always, timed from the call to the decoded result (estimate, sign, send,
receipt, events). Before each one, the floor sends the very same transaction (account, calldata, value)
on the same anvil with plain web3.py: local eth_account key, nonce read beforehand, fees and chain id read
once, a fixed gas limit, `eth_sendRawTransaction`, the receipt polled at once and every millisecond; on an
`evm_snapshot` reverted afterwards, so the binding's send meets the same state. Both see the same chain,
load and block height; the ratio is binding / floor of the medians. JSON-RPC requests per transaction are counted on the binding's
own client.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from qfl.chain.toolchain import configure_environment

OUT = Path(__file__).parent / "results" / "tx_cost.md"


class Floor:
    """Plain web3.py sending the binding's own next call: the same account, calldata and value, signed with
    the local key, the nonce read beforehand, fees and chain id read once, a fixed gas limit; then
    `eth_sendRawTransaction` and the receipt polled at once and every millisecond. Sent on a snapshot that is
    reverted afterwards, so the binding then sends the same transaction on the same state."""

    def __init__(self, url: str) -> None:
        from web3 import HTTPProvider, Web3

        self.w3 = Web3(HTTPProvider(url), middleware=[])
        tip = int(self.w3.eth.max_priority_fee)
        self.fees = {"maxFeePerGas": 2 * int(self.w3.eth.gas_price) + tip, "maxPriorityFeePerGas": tip}
        self.chain_id = int(self.w3.eth.chain_id)

    def send(self, signer, tx: dict) -> float:
        from web3.exceptions import TransactionNotFound

        snapshot = self.w3.provider.make_request("evm_snapshot", [])["result"]
        nonce = self.w3.eth.get_transaction_count(signer.address, "pending")
        start = time.perf_counter()
        raw = signer.sign_transaction(
            {**tx, **self.fees, "nonce": nonce, "chainId": self.chain_id, "gas": 3_000_000, "type": 2}
        ).raw_transaction
        tx_hash = self.w3.eth.send_raw_transaction(raw)
        while True:
            try:
                self.w3.eth.get_transaction_receipt(tx_hash)
                break
            except TransactionNotFound:
                time.sleep(0.001)
        elapsed = time.perf_counter() - start
        self.w3.provider.make_request("evm_revert", [snapshot])
        return elapsed


def measure(n_clients: int, rounds: int) -> dict:

    from benchmarks.rounds import experiment, parity_digits
    from qfl.chain import FederationError
    from qfl.chain.sender import local_signer
    from qfl.orchestration.sim import build_in_process, connect_chain
    from qfl.storage import EmbeddedStore

    times: dict[str, list[float]] = defaultdict(list)
    floors: dict[str, list[float]] = defaultdict(list)
    requests: dict[str, list[int]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="qfl-txcost-") as tmp:
        folder = Path(tmp)
        cfg = experiment(n_clients, rounds, parity_digits(folder), f"txcost-{n_clients}")
        with connect_chain("foundry"):
            sim = build_in_process(cfg, EmbeddedStore(folder / "store"), folder / "state")
            fed = sim.federation
            if not fed._rpc_url:
                raise SystemExit("the binding is not on a node reached by URL: nothing to measure")
            floor = Floor(fed._rpc_url)
            count = [0]
            log = [] if os.environ.get("TX_COST_TRACE") else None

            def counting(request):
                def counted(method, params):
                    count[0] += 1
                    if log is not None:
                        log.append((time.perf_counter(), method))
                    return request(method, params)

                return counted

            # Counts the binding's JSON-RPC requests: its own client's (the hot path) and web3's (the rest;
            # web3 caches the provider's request function, so that count sits one level down).
            fed._rpc.make_request = counting(fed._rpc.make_request)
            fed._web3.provider._make_request = counting(fed._web3.provider._make_request)
            transact = fed._transact

            def timed(name, method, *args, sender, value=0):
                try:
                    tx, _ = fed._prepare(name, method, args, str(sender.address), value)
                except FederationError:
                    return transact(name, method, *args, sender=sender, value=value)  # raises the same
                call = {"to": tx["to"], "data": tx["data"], "value": tx["value"]}
                floors[name].append(floor.send(local_signer(sender), call))
                count[0] = 0
                start = time.perf_counter()
                result = transact(name, method, *args, sender=sender, value=value)
                times[name].append(time.perf_counter() - start)
                if log is not None and times[name][-1] > 0.1:
                    print(name, [(round((t - start) * 1e3, 1), m) for t, m in log if t >= start])
                if log is not None:
                    log.clear()
                requests[name].append(count[0])
                return result

            fed._transact = timed  # times every transaction the nodes send (the same call underneath)
            sim.run()
    return {"times": times, "floors": floors, "requests": requests}


def render(res: dict, args, total: float) -> str:
    times, floors, requests = res["times"], res["floors"], res["requests"]
    lines = [
        "# Client-side cost per transaction: the binding against plain web3.py",
        "",
        f"Made by `.venv/bin/python -m benchmarks.tx_cost {args.argv}` on {os.cpu_count()} CPU cores "
        f"({platform.machine()}); took {total:.0f} s. {args.clients} clients, {args.rounds} rounds of the "
        "in-process simulator on anvil; every transaction the nodes sent, each preceded by the same "
        "transaction sent by the floor (plain web3.py, local key, fees read once, fixed gas, raw send, "
        "receipt polled every 1 ms) on a snapshot of the same anvil, reverted before the binding sends. Wall time per transaction, median (p90); ratio = binding / floor medians.",
        "",
        "| transaction | sent | binding ms | floor ms | ratio | JSON-RPC requests |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def q90(xs: list[float]) -> float:
        return sorted(xs)[int(0.9 * (len(xs) - 1))]

    worst = 0.0
    for name in sorted(times, key=lambda n: -len(times[n])):
        t, f = times[name], floors[name]
        ratio = statistics.median(t) / statistics.median(f)
        worst = max(worst, ratio)
        lines.append(
            f"| {name} | {len(t)} | {statistics.median(t) * 1e3:.1f} ({q90(t) * 1e3:.1f}) "
            f"| {statistics.median(f) * 1e3:.1f} ({q90(f) * 1e3:.1f}) | {ratio:.2f} "
            f"| {statistics.mean(requests[name]):.1f} |"
        )
    all_t = [x for v in times.values() for x in v]
    all_f = [x for v in floors.values() for x in v]
    overall = statistics.median(all_t) / statistics.median(all_f)
    lines.append(
        f"| **all** | {len(all_t)} | {statistics.median(all_t) * 1e3:.1f} ({q90(all_t) * 1e3:.1f}) "
        f"| {statistics.median(all_f) * 1e3:.1f} ({q90(all_f) * 1e3:.1f}) | **{overall:.2f}** "
        f"| {statistics.mean(x for v in requests.values() for x in v):.1f} |"
    )
    verdict = "met" if worst <= 2.0 else f"missed by {worst / 2.0:.2f}x for the worst transaction"
    lines += [
        "",
        f"Target: every transaction within 2x of the floor: worst ratio {worst:.2f} ({verdict}); all "
        f"transactions together {overall:.2f}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.argv = " ".join(sys.argv[1:])
    configure_environment()
    from ape.logging import logger

    logger.set_level("WARNING")
    started = time.perf_counter()
    res = measure(args.clients, args.rounds)
    text = render(res, args, time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
