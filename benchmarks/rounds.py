"""Wall time per federation round split into training, store and chain time, and gas per round.

Run: .venv/bin/python -m benchmarks.rounds [--clients 10,50,100] [--rounds 3] [--multiprocess 10]
Writes benchmarks/results/rounds.md.

In-process: one process, ape's in-process EthTester chain, the embedded store, every client's training
vectorised in one call (what `qflchain demo` / `simulate` run). Multi-process: anvil as its own process and
each client a `qflchain node` OS process with its own account, talking only through anvil's RPC and the
shared store directory (what the end-to-end test runs).

Data: sklearn digits as even-vs-odd (1797 rows, 1347 for training), passed as the user's own NPZ file, so
100 clients still hold ~13 rows each. Model: 4 qubits, 2 HEA layers. The first round includes XLA
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
from pathlib import Path

import numpy as np

from qfl.config import ExperimentConfig
from qfl.toolchain import PROJECT_ROOT, configure_environment

OUT = Path(__file__).parent / "results" / "rounds.md"


def parity_digits(folder: Path) -> Path:
    """sklearn digits with labels even (0) / odd (1), as an NPZ the config names."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
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


def in_process(cfg: ExperimentConfig, folder: Path, network: str) -> dict:
    """Play cfg with every client in this process; per-round split from the simulator's run report."""

    from qfl.sim import build_in_process, connect_chain
    from qfl.storage import EmbeddedStore

    store = EmbeddedStore(folder / "store")
    with connect_chain(network.rsplit(":", 1)[1]):
        start = time.perf_counter()
        sim = build_in_process(cfg, store, folder / "state")
        setup = time.perf_counter() - start
        report = sim.run()
    rounds = [
        {
            "wall": r.wall_seconds,
            "train": r.train_seconds,
            "store": r.store_seconds,
            "chain": r.chain_seconds,
            "other": r.other_seconds,
            "gas": r.gas,
            "accuracy": r.accuracy,
        }
        for r in report.rounds
    ]
    return {"setup": setup, "rounds": rounds}


def multi_process(cfg: ExperimentConfig, folder: Path) -> dict:
    """Play cfg with anvil + one `qflchain node` process per client; time rounds from the driver."""
    import ape
    import yaml

    from qfl.chain import Federation, RoundPhase
    from qfl.multiproc import Anvil, network_choice, qflchain, spawn_node, wait_all
    from qfl.toolchain import project

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
    "ethereum:local:test": "EthTester (py-evm, in the same process)",
    "ethereum:local:foundry": "anvil (started by ape-foundry)",
}


def render(results: dict, args, total: float) -> str:
    lines = [
        "# Time and gas per federation round",
        "",
        f"Made by `.venv/bin/python -m benchmarks.rounds {args.argv}` on {os.cpu_count()} CPU cores "
        f"({platform.machine()}); took {total:.0f} s.",
        "",
        f"Data: sklearn digits even-vs-odd as an NPZ, IID split; {args.qubits} qubits, {args.layers} HEA layers; "
        f"{args.epochs} local epoch(s), batch 16; committee of 10; reputation-weighted FedAvg. 'Steady' = mean "
        "of rounds 2.. (round 1 also compiles the circuits). Train time includes validators scoring the "
        "updates; chain time is every contract call and read by the nodes; store time is every put/get of "
        "weights; other is the simulator's own bookkeeping (codec, aggregation, clock warps).",
        "",
        "## In-process (all clients in one process, vectorised training, embedded store)",
        "",
        "| chain | clients | round 1 s | steady round s | train s | store s | chain s | other s "
        "| chain+store share | gas per round | accuracy after last round |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (network, n), res in results["in_process"].items():
        rounds = res["rounds"]
        wall = _steady(rounds, "wall")
        chain, store = _steady(rounds, "chain"), _steady(rounds, "store")
        lines.append(
            f"| {network.rsplit(':', 1)[1]} | {n} | {rounds[0]['wall']:.1f} | {wall:.2f} "
            f"| {_steady(rounds, 'train'):.2f} | {store:.2f} | {chain:.2f} | {_steady(rounds, 'other'):.2f} "
            f"| {(chain + store) / wall:.0%} | {_steady(rounds, 'gas'):,.0f} | {rounds[-1]['accuracy']:.3f} |"
        )
    lines += ["", "Chains: " + "; ".join(f"`{k.rsplit(':', 1)[1]}` = {v}" for k, v in CHAIN_LABELS.items())]
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
    verdicts = []
    for (network, n), res in results["in_process"].items():
        if n == 50:
            rounds = res["rounds"]
            share = (_steady(rounds, "chain") + _steady(rounds, "store")) / _steady(rounds, "wall")
            verdicts.append(
                f"{network.rsplit(':', 1)[1]}: {share:.0%} ({'met' if share <= 0.25 else 'missed'})"
            )
    if verdicts:
        lines += [
            "",
            "Target: chain + store <= 25% of the round at 50 clients (in-process): " + "; ".join(verdicts),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="10,50,100", help="comma-separated client counts (in-process)")
    parser.add_argument(
        "--chains", default="test,foundry", help="in-process chains: test (EthTester), foundry"
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
        data = parity_digits(root)
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
