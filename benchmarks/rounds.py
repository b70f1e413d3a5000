"""Wall time per federation round (protocol v2) split into training, store and chain time; transactions and
gas per round; chain time per transaction; a linear fit of round time against the number of clients.

Run: .venv/bin/python -m benchmarks.rounds [--clients 10,50,100,200] [--chains foundry,test] [--rounds 3]
     [--multiprocess 10]
Writes benchmarks/results/rounds.md.

In-process: one process, the embedded store, every client's training vectorised in one call (what
`qflchain demo` / `simulate` run), on anvil (`foundry`: started by the simulator, every transaction through
the binding's own sender) or ape's in-process EthTester chain (`test`: ape's send path). Multi-process: anvil as its own process and
each client a `qflchain node` OS process with its own account, talking only through anvil's RPC and the
shared store directory (what the end-to-end test runs).

Data: sklearn digits as even-vs-odd (1797 rows, 1347 for training; repeated with noise beyond ~600 clients),
passed as the user's own NPZ file, so 100 clients still hold ~13 rows each. Model: 4 qubits, 2 HEA layers. The first round includes XLA
compilation; the table shows it apart and reports the mean of the later rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from qfl.chain.toolchain import PROJECT_ROOT, configure_environment
from qfl.orchestration.config import ExperimentConfig

OUT = Path(__file__).parent / "results" / "rounds.md"


def parity_digits(folder: Path, max_clients: int = 0) -> Path:
    """sklearn digits with labels even (0) / odd (1), as an NPZ the config names. A client needs a training
    and a validation row, so beyond ~600 clients the 1,797 rows are repeated (with a little noise) until
    every client has some."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    copies = max(1, -(-3 * max_clients // len(X)))
    rng = np.random.default_rng(0)
    X = np.concatenate([X + (rng.normal(0, 0.5, X.shape) if i else 0) for i in range(copies)])
    y = np.tile(y, copies)
    path = folder / "digits-parity.npz"
    np.savez(path, X=X, y=y % 2)
    return path


def experiment(
    n_clients: int, rounds: int, data: Path, name: str, qubits: int = 4, layers: int = 2, epochs: int = 1
) -> ExperimentConfig:
    return ExperimentConfig(
        name=name,
        n_clients=n_clients,
        seed=0,
        model={"n_qubits": qubits, "n_layers": layers, "encoding": "angle", "ansatz": "hea"},
        data={"dataset": str(data), "split": "iid", "seed": 0},
        training={"epochs": epochs, "batch_size": 16, "learning_rate": 0.1},
        protocol={
            "rounds": rounds,
            "committee_size": min(10, n_clients),
            "cohort_size": max(64, n_clients),  # every member trains every round (no cohort lottery)
            "fund_eth": 10.0 * rounds,
            "commit_seconds": 3600,
            "reveal_seconds": 3600,
            "vote_seconds": 3600,
            "attest_seconds": 3600,
        },
        aggregation="reputation_weighted_fedavg",
    )


def in_process(
    cfg: ExperimentConfig, folder: Path, network: str, probe: Callable[[Any], dict] | None = None
) -> dict:
    """Play cfg with every client in this process; per-round split from the simulator's run report.
    `probe(sim)` (optional) runs after the set-up and after each round, outside the round's timing; what it
    returns after the set-up is the result's "probe", and after each round is merged into that round's dict."""

    from qfl.orchestration.sim import build_in_process, connect_chain
    from qfl.storage import EmbeddedStore

    store = EmbeddedStore(folder / "store")
    sent = [0]  # transactions sent by the end of each round (the binding's ledger counts every one)
    with connect_chain(network.rsplit(":", 1)[1]):
        start = time.perf_counter()
        sim = build_in_process(cfg, store, folder / "state")
        setup = time.perf_counter() - start
        sent[0] = sum(sim.federation.gas.calls.values())
        probed = [probe(sim) if probe else {}]

        def on_round(_) -> None:
            sent.append(sum(sim.federation.gas.calls.values()))
            probed.append(probe(sim) if probe else {})

        report = sim.run(on_round=on_round)
    rounds = [
        {
            "wall": r.wall_seconds,
            "train": r.train_seconds,
            "store": r.store_seconds,
            "chain": r.chain_seconds,
            "other": r.other_seconds,
            "gas": r.gas,
            "accuracy": r.accuracy,
            "txs": sent[i + 1] - sent[i],
            "bytes_stored": r.bytes_stored,
            "bytes_fetched": r.bytes_fetched,
        }
        | probed[i + 1]
        for i, r in enumerate(report.rounds)
    ]
    return {"setup": setup, "rounds": rounds, "probe": probed[0]}


def multi_process(cfg: ExperimentConfig, folder: Path) -> dict:
    """Play cfg with anvil + one `qflchain node` process per client; time rounds from the driver."""
    import ape
    import yaml

    from qfl.chain import Federation, RoundPhase
    from qfl.chain.toolchain import project
    from qfl.orchestration.multiproc import Anvil, network_choice, qflchain, spawn_node, wait_all

    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    deployment = folder / "deployment.json"
    store = str(folder / "store")
    with Anvil() as anvil:
        subprocess.run(
            qflchain("deploy", "--config", str(config_path), "--network", anvil.url, "--store", store)
            + ["--out", str(deployment)],
            check=True,
            cwd=PROJECT_ROOT,
            capture_output=True,
            timeout=300,
        )
        record = json.loads(deployment.read_text())
        spawned = time.perf_counter()
        procs = {
            i: spawn_node(config_path, anvil.url, deployment, i, store, folder, folder / f"node{i}.log")
            for i in range(cfg.n_clients)
        }
        marks: dict[int, float] = {}  # round -> when it was seen DONE (round 0: when round 1 started)
        gas: dict[int, int] = {}
        with ape.networks.parse_network_choice(network_choice(anvil.url)):
            fed = Federation.at(project(), record["address"], record["block"])
            while len(marks) <= cfg.protocol.rounds and any(p.poll() is None for p in procs.values()):
                current = fed.current_round()
                if current >= 1 and 0 not in marks:
                    marks[0] = time.perf_counter()
                for r in range(1, current + 1):
                    if r not in marks and fed.round_view(r).phase == RoundPhase.DONE:
                        marks[r] = time.perf_counter()
                time.sleep(0.05)
            codes = wait_all(procs, timeout=600)
            if any(codes.values()):
                failed = min(i for i, c in codes.items() if c)
                raise RuntimeError(
                    f"node {failed} exited {codes[failed]}:\n{(folder / f'node{failed}.log').read_text()[-3000:]}"
                )
            for r in range(1, cfg.protocol.rounds + 1):
                gas[r] = _round_gas(fed, r)
    timers = [json.loads((folder / f"client-{i}" / "timers.json").read_text()) for i in range(cfg.n_clients)]
    n = cfg.n_clients
    rounds = []
    for r in range(1, cfg.protocol.rounds + 1):
        rounds.append({"wall": marks[r] - marks[r - 1], "gas": gas[r]})
    # Node timers are per process and cumulative; show the mean per node per round.
    share = {k: sum(t[k] for t in timers) / n / cfg.protocol.rounds for k in ("train", "store", "chain")}
    return {"setup": marks[0] - spawned, "rounds": rounds, "per_node": share}


def _round_gas(fed, round_: int) -> int:
    """Gas of every transaction whose event names this round (from the receipts on anvil)."""
    import ape

    hashes = {e.tx_hash for e in fed.round_events(round_)}
    return sum(ape.chain.provider.web3.eth.get_transaction_receipt(h)["gasUsed"] for h in hashes)


def _steady(rounds: list[dict], key: str) -> float:
    later = rounds[1:] or rounds
    return sum(r[key] for r in later) / len(later)


CHAIN_LABELS = {
    "ethereum:local:test": "EthTester (py-evm, in the same process; ape's send path)",
    "ethereum:local:foundry": "anvil (started by the simulator, ape-foundry attached; the binding's own sender)",
}


def linear_fit(points: list[tuple[int, float]]) -> tuple[float, float, float]:
    """Least squares wall = a + b * clients: (a, b, largest |residual| / fitted value)."""
    xs = np.array([x for x, _ in points], dtype=float)
    ys = np.array([y for _, y in points], dtype=float)
    b, a = np.polyfit(xs, ys, 1)
    worst = float(np.max(np.abs(ys - (a + b * xs)) / (a + b * xs)))
    return float(a), float(b), worst


def render(results: dict, args, total: float) -> str:
    lines = [
        "# Time and gas per federation round (protocol v2)",
        "",
        f"Made by `.venv/bin/python -m benchmarks.rounds {args.argv}` on {os.cpu_count()} CPU cores "
        f"({platform.machine()}); took {total:.0f} s.",
        "",
        f"Data: sklearn digits even-vs-odd as an NPZ, IID split; {args.qubits} qubits, {args.layers} HEA layers; "
        f"{args.epochs} local epoch(s), batch 16; committee of 10; reputation-weighted FedAvg. 'Steady' = mean "
        "of rounds 2.. (round 1 also compiles the circuits). Train time includes validators scoring the "
        "updates; chain time is every contract call and read by the nodes (sends and views); store time is "
        "every put/get of weights; other is the simulator's own bookkeeping (codec, aggregation, clock warps, "
        "its own reads of the round). Transactions: every one sent in the round (commits, reveals, draw, "
        "votes, settlements, proposal, attestations, reserve, withdrawals); chain ms / tx = chain time / "
        "transactions.",
        "",
        "## In-process (all clients in one process, vectorised training, embedded store)",
        "",
        "| chain | clients | round 1 s | steady round s | train s | store s | chain s | other s "
        "| transactions | chain ms / tx | gas per round | accuracy after last round |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (network, n), res in results["in_process"].items():
        rounds = res["rounds"]
        wall = _steady(rounds, "wall")
        chain, txs = _steady(rounds, "chain"), _steady(rounds, "txs")
        lines.append(
            f"| {network.rsplit(':', 1)[1]} | {n} | {rounds[0]['wall']:.1f} | {wall:.2f} "
            f"| {_steady(rounds, 'train'):.2f} | {_steady(rounds, 'store'):.2f} | {chain:.2f} "
            f"| {_steady(rounds, 'other'):.2f} | {txs:.0f} | {chain / txs * 1e3:.1f} "
            f"| {_steady(rounds, 'gas'):,.0f} | {rounds[-1]['accuracy']:.3f} |"
        )
    lines += ["", "Chains: " + "; ".join(f"`{k.rsplit(':', 1)[1]}` = {v}" for k, v in CHAIN_LABELS.items())]
    by_chain: dict[str, list[tuple[int, dict]]] = {}
    for (network, n), res in results["in_process"].items():
        by_chain.setdefault(network.rsplit(":", 1)[1], []).append((n, res))
    notes = []
    for chain, runs in by_chain.items():
        runs.sort(key=lambda r: r[0])
        if len(runs) >= 2:
            a, b, worst = linear_fit([(n, _steady(res["rounds"], "wall")) for n, res in runs])
            (n0, r0), (n1, r1) = runs[0], runs[-1]
            per_tx = [_steady(r["rounds"], "chain") / _steady(r["rounds"], "txs") for r in (r0, r1)]
            notes.append(
                f"- {chain}: steady round ~ {a:.2f} s + {b * 1e3:.1f} ms x clients (least squares over "
                f"{', '.join(str(n) for n, _ in runs)} clients; largest residual {worst:.0%} of the fit). "
                f"Chain time per transaction at {n1} clients / at {n0}: {per_tx[1] / per_tx[0]:.2f} "
                f"(goal at most 1.5)."
            )
        for n, res in runs:
            if n == 50:
                wall = _steady(res["rounds"], "wall")
                verdict = "met" if wall <= 2.0 else f"missed by {wall - 2.0:.2f} s ({wall / 2.0:.1f}x)"
                notes.append(f"- {chain}: 50-client round {wall:.2f} s against the goal of 2 s: {verdict}.")
    if notes:
        lines += ["", "## Fit and goals", "", *notes]
    if results["multi_process"]:
        lines += [
            "",
            "## Multi-process (anvil + one `qflchain node` process per client, shared store directory)",
            "",
            "Round wall time is measured by a driver that polls the chain; the split is each node's own "
            "timers, mean per node per round (nodes work in parallel on 2 cores, so the split does not sum "
            "to the wall, and training is one client at a time, not vectorised).",
            "",
            "| clients | start-up s (import, register) | round 1 s | steady round s | train s / node | store s "
            "/ node | chain s / node | chain+store share of node time | gas per round |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n, res in results["multi_process"].items():
            rounds, per = res["rounds"], res["per_node"]
            busy = per["train"] + per["store"] + per["chain"]
            lines.append(
                f"| {n} | {res['setup']:.1f} | {rounds[0]['wall']:.1f} | {_steady(rounds, 'wall'):.2f} "
                f"| {per['train']:.2f} | {per['store']:.2f} | {per['chain']:.2f} "
                f"| {(per['store'] + per['chain']) / busy:.0%} | {_steady(rounds, 'gas'):,.0f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients", default="10,50,100,200", help="comma-separated client counts (in-process)"
    )
    parser.add_argument(
        "--chains", default="foundry", help="in-process chains: foundry (anvil), test (EthTester)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--qubits", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument(
        "--multiprocess", default="10", help="client counts for multi-process mode ('' for none)"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.argv = " ".join(sys.argv[1:])
    configure_environment()
    from ape.logging import logger

    logger.set_level("WARNING")  # ape logs every confirmed transaction at INFO
    started = time.perf_counter()
    results: dict = {"in_process": {}, "multi_process": {}}
    model = {"qubits": args.qubits, "layers": args.layers, "epochs": args.epochs}
    with tempfile.TemporaryDirectory(prefix="qfl-rounds-") as tmp:
        root = Path(tmp)
        data = parity_digits(root, max(int(x) for x in args.clients.split(",") if x))
        for chain in [c for c in args.chains.split(",") if c]:
            network = f"ethereum:local:{chain}"
            for n in [int(x) for x in args.clients.split(",") if x]:
                folder = root / f"in-{chain}-{n}"
                folder.mkdir()
                res = in_process(experiment(n, args.rounds, data, f"bench-{n}", **model), folder, network)
                results["in_process"][(network, n)] = res
                print(
                    f"in-process {chain} {n} clients: {[round(r['wall'], 2) for r in res['rounds']]} s/round"
                )
        for n in [int(x) for x in args.multiprocess.split(",") if x]:
            folder = root / f"mp-{n}"
            folder.mkdir()
            res = multi_process(experiment(n, args.rounds, data, f"bench-mp-{n}", **model), folder)
            results["multi_process"][n] = res
            print(f"multi-process {n} clients: {[round(r['wall'], 2) for r in res['rounds']]} s per round")
    text = render(results, args, time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".tmp")
    tmp_out.write_text(text)
    tmp_out.replace(args.out)
    print(text)


if __name__ == "__main__":
    main()
