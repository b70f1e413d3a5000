"""Blocks per round: multi-process nodes on an interval-mined anvil (`--block-time 1`), as on a live chain.

Run: .venv/bin/python -m benchmarks.round_blocks [--nodes 4,10] [--rounds 3] [--block-time 1]
Writes benchmarks/results/round_blocks.md.

Each client is its own `qflchain node` OS process (qfl.orchestration.multiproc.spawn_node, as tests/python/e2e runs them) on
anvil mining one block a second whatever the traffic, so a transaction waits for the next block like on a
live chain. Afterwards the chain is read back: for every round, the block of `startRound` (RoundStarted),
of the accepted global model (GlobalModelAccepted / CarriedOver) and of the next `startRound`, and which
federation transactions landed in which block. Latency on a 12 s or 2 s chain = blocks x block time (the
nodes' own work between blocks is a fraction of a second here, well inside either interval).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from qfl.chain.toolchain import PROJECT_ROOT, configure_environment
from qfl.orchestration.multiproc import Anvil, qflchain, spawn_node, wait_all

OUT = Path(__file__).parent / "results" / "round_blocks.md"
BASE_CONFIG = PROJECT_ROOT / "configs" / "multiprocess.yaml"
MAX_NODES = 19  # anvil's 20 accounts: test:0 deploys, node i signs as test:i+1


def write_config(folder: Path, nodes: int, rounds: int) -> Path:
    """configs/multiprocess.yaml with `nodes` clients, `rounds` rounds and a committee of min(5, nodes)."""
    raw = yaml.safe_load(BASE_CONFIG.read_text())
    raw["n_clients"] = nodes
    raw["protocol"]["rounds"] = rounds
    raw["protocol"]["committee_size"] = min(5, nodes)
    path = folder / f"config-{nodes}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@dataclass
class RssWatch:
    """Samples VmRSS and VmHWM (peak RSS) of running processes from /proc until stopped."""

    pids: list[int]
    interval: float = 0.2
    peak: dict[int, int] = field(default_factory=dict)  # pid -> highest VmHWM seen (kB)
    rss: dict[int, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    pss: dict[int, int] = field(
        default_factory=dict
    )  # pid -> last proportional set size (kB): shared pages split
    _stop: threading.Event = field(default_factory=threading.Event)

    def _read(self, pid: int) -> dict[str, int]:
        out = {}
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for pid in self.pids:
                got = self._read(pid)
                if got:
                    self.peak[pid] = max(self.peak.get(pid, 0), got.get("VmHWM", 0))
                    self.rss[pid].append((now, got.get("VmRSS", 0)))
                    if "Pss" in got:
                        self.pss[pid] = got["Pss"]
            self._stop.wait(self.interval)

    def __enter__(self) -> RssWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Federation:
    """One benchmark federation: anvil + deployment + node processes; read the chain before `close()`."""

    def __init__(
        self, nodes: int, rounds: int, block_time: float | None, folder: Path, private_data: bool = False
    ):
        if not 1 <= nodes <= MAX_NODES:
            raise SystemExit(
                f"--nodes {nodes}: anvil funds {MAX_NODES + 1} accounts, so 1..{MAX_NODES} nodes"
            )
        configure_environment()
        self.nodes, self.rounds, self.folder = nodes, rounds, folder
        self.anvil = Anvil(block_time=block_time).start()
        self.config = write_config(folder, nodes, rounds)
        self.deployment = folder / "deployment.json"
        self.store = str(folder / "store")
        import subprocess

        done = subprocess.run(
            qflchain(
                "deploy", "--config", str(self.config), "--network", self.anvil.url, "--store", self.store,
                "--out", str(self.deployment),
            ),
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode:
            self.anvil.stop()
            raise SystemExit(f"deploy failed: {done.stderr[-2000:]}")
        self.address = json.loads(self.deployment.read_text())["address"]
        self.start_block = self.block_number()
        self.data = None
        if private_data:  # each node on its own file (`node --data`), as the launcher runs them
            from qfl.orchestration.config import load_config
            from qfl.orchestration.private_data import write_client_files

            self.data = write_client_files(load_config(self.config), folder / "data")

    def block_number(self) -> int:
        from web3 import Web3

        return Web3(Web3.HTTPProvider(self.anvil.url)).eth.block_number

    def play(self, timeout: float = 1800.0) -> tuple[float, RssWatch]:
        """Run every node to the end -> (wall seconds, the RSS watch of the node processes)."""
        logs = {i: self.folder / f"node{i}.log" for i in range(self.nodes)}
        t0 = time.monotonic()
        procs = {
            i: spawn_node(
                self.config,
                self.anvil.url,
                self.deployment,
                i,
                self.store,
                self.folder,
                logs[i],
                data=self.data[i] if self.data else None,
            )  # fmt: skip
            for i in range(self.nodes)
        }
        with RssWatch([p.pid for p in procs.values()]) as watch:
            codes = wait_all(procs, timeout)
        self.pids = {i: p.pid for i, p in procs.items()}
        if any(codes.values()):
            bad = {i: logs[i].read_text()[-1500:] for i, c in codes.items() if c}
            raise SystemExit(f"nodes failed: {codes}\n{bad}")
        return time.monotonic() - t0, watch

    def close(self) -> None:
        self.anvil.stop()


def chain_timeline(url: str, address: str, first: int) -> dict:
    """Per round: blocks of startRound, of the accepted model and of the next startRound, and the federation
    transactions per block."""
    from eth_utils import function_abi_to_4byte_selector
    from web3 import Web3

    abi = json.loads((PROJECT_ROOT / "abi" / "QFLFederation.json").read_text())
    names = {
        "0x" + function_abi_to_4byte_selector(f).hex(): f["name"] for f in abi if f["type"] == "function"
    }
    w3 = Web3(Web3.HTTPProvider(url))
    last = w3.eth.block_number
    address = Web3.to_checksum_address(address)
    contract = w3.eth.contract(address=address, abi=abi)
    started, accepted = {}, {}
    for event, into in (("RoundStarted", started), ("GlobalModelAccepted", accepted)):
        for log in getattr(contract.events, event)().get_logs(from_block=first, to_block=last):
            into.setdefault(int(log["args"]["round"]), int(log["blockNumber"]))
    for log in contract.events.GlobalModelCarriedOver().get_logs(from_block=first, to_block=last):
        accepted.setdefault(int(log["args"]["round"]), int(log["blockNumber"]))
    txs: dict[int, list[str]] = {}
    for number in range(first, last + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        calls = [
            names.get("0x" + bytes(tx["input"][:4]).hex(), "?")
            for tx in block["transactions"]
            if tx["to"] and Web3.to_checksum_address(tx["to"]) == address
        ]
        if calls:
            txs[number] = calls
    rounds = []
    for r in sorted(started):
        s, a, nxt = started[r], accepted.get(r), started.get(r + 1)
        end = nxt if nxt is not None else max(b for b in txs)  # last round: to its last transaction
        busy = sorted(b for b in txs if s <= b < end or (nxt is None and b == end))
        rounds.append(
            dict(
                round=r,
                start=s,
                accepted=a,
                to_accepted=(a - s) if a is not None else None,
                to_next=(nxt - s) if nxt is not None else None,
                tx_blocks=len(busy),
                txs=sum(len(txs[b]) for b in busy),
                timeline=[(b - s, txs[b]) for b in busy],
            )
        )
    return dict(rounds=rounds, max_per_block=max((len(v) for v in txs.values()), default=0))


def measure(nodes: int, rounds: int, block_time: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"qfl-blocks-{nodes}-") as tmp:
        fed = Federation(nodes, rounds, block_time, Path(tmp))
        try:
            wall, _ = fed.play()
            timeline = chain_timeline(fed.anvil.url, fed.address, fed.start_block)
        finally:
            fed.close()
    return dict(nodes=nodes, n_rounds=rounds, block_time=block_time, wall=wall, **timeline)


def report(results: list[dict], command: str) -> str:
    lines = [
        "# Blocks per round (multi-process nodes, interval-mined anvil)",
        "",
        f"Command: `{command}` ({platform.machine()}, {len(results)} federations, one anvil each).",
        "",
        "A round spans the blocks from its `startRound` to the accepted global model ('to accepted') and to the "
        "next round's `startRound` ('to next start', the round's full cost in blocks; the last round has none). "
        "Latency = blocks x block time.",
        "",
        "| nodes | round | to accepted (blocks) | to next start (blocks) | blocks with txs | txs | "
        "12 s chain | 2 s chain |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        for r in res["rounds"]:
            span = r["to_next"] if r["to_next"] is not None else r["to_accepted"]
            lines.append(
                f"| {res['nodes']} | {r['round']} | {r['to_accepted']} | {r['to_next'] if r['to_next'] is not None else '-'} | "
                f"{r['tx_blocks']} | {r['txs']} | {span * 12 if span is not None else '-'} s | "
                f"{span * 2 if span is not None else '-'} s |"
            )
    lines += ["", "Timeline of each federation's round 2 (block offset from startRound: transactions):", ""]
    for res in results:
        steady = res["rounds"][1] if len(res["rounds"]) > 1 else res["rounds"][0]
        lines.append(
            f"- {res['nodes']} nodes, round {steady['round']} (wall {res['wall']:.0f} s for the run):"
        )
        for offset, calls in steady["timeline"]:
            counts = defaultdict(int)
            for c in calls:
                counts[c] += 1
            lines.append(
                f"  - +{offset}: " + ", ".join(f"{k} x{v}" if v > 1 else k for k, v in counts.items())
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="4,10", help="comma-separated node counts (at most 19)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--block-time", type=float, default=1.0)
    args = ap.parse_args()
    results = []
    for n in (int(x) for x in args.nodes.split(",")):
        res = measure(n, args.rounds, args.block_time)
        print(json.dumps({k: v for k, v in res.items() if k != "rounds"}), flush=True)
        for r in res["rounds"]:
            print({k: v for k, v in r.items() if k != "timeline"}, flush=True)
        results.append(res)
    command = (
        f".venv/bin/python -m benchmarks.round_blocks --nodes {args.nodes} --rounds {args.rounds} "
        f"--block-time {args.block_time:g}"
    )
    text = report(results, command)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
