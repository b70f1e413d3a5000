"""The `qflchain` command: demo, simulate, node, status."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import click

from qfl.config import ConfigError, ExperimentConfig, load_config
from qfl.toolchain import PROJECT_ROOT, configure_environment

DEMO_CONFIG = PROJECT_ROOT / "configs" / "demo.yaml"


@click.group()
def main() -> None:
    """QFLchain: quantum federated learning coordinated by Ethereum contracts."""
    configure_environment()


def _load(path: Path) -> ExperimentConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


def run_in_process(cfg: ExperimentConfig, out_dir: Path, plots: bool = True):
    """Deploy to ape's in-process chain with the embedded store, play every round, write the results."""
    import ape
    from rich.console import Console

    from qfl.report import write_results
    from qfl.sim import build_in_process
    from qfl.storage import EmbeddedStore

    console = Console()
    out_dir.mkdir(parents=True, exist_ok=True)
    store = EmbeddedStore(out_dir / "store")
    started = time.perf_counter()
    with ape.networks.parse_network_choice("ethereum:local:test"):
        with console.status("deploying the federation and registering clients..."):
            sim = build_in_process(cfg, store, Path(tempfile.mkdtemp(prefix="qfl-state-", dir=out_dir)))
        console.print(
            f"federation {sim.federation.address}: {cfg.n_clients} clients "
            f"({len(cfg.attackers())} malicious), {cfg.protocol.rounds} rounds, "
            f"{sim.spec.n_qubits}-qubit {sim.spec.ansatz} model, aggregation {cfg.aggregation}"
        )
        sim.progress = lambda line: console.print(f"[{time.perf_counter() - started:6.1f}s] {line}")
        with console.status("playing rounds (the first one compiles the circuits)..."):
            report = sim.run()
    files = write_results(report, out_dir, plots=plots)
    _print_summary(console, report)
    console.print(f"results: {', '.join(str(f) for f in files)}")
    console.print(f"total {time.perf_counter() - started:.1f}s")
    return report


def _print_summary(console, report) -> None:
    from rich.table import Table

    rounds = Table(title="rounds")
    for col in (
        "round",
        "accuracy",
        "accepted",
        "rejected",
        "attackers rejected",
        "gas",
        "train s",
        "store s",
        "chain s",
    ):
        rounds.add_column(col, justify="right")
    rounds.add_row("init", f"{report.initial_accuracy:.3f}", "", "", "", "", "", "", "")
    for r in report.rounds:
        rounds.add_row(
            str(r.round + 1),
            f"{r.accuracy:.3f}",
            str(r.accepted),
            str(r.rejected),
            f"{r.attackers_rejected}/{r.attackers_total}",
            f"{r.gas:,}",
            f"{r.train_seconds:.2f}",
            f"{r.store_seconds:.2f}",
            f"{r.chain_seconds:.2f}",
        )
    console.print(rounds)
    clients = Table(title="clients")
    for col in ("client", "address", "role", "reputation", "stake ETH", "rewards ETH"):
        clients.add_column(col, justify="right")
    for c in report.clients:
        clients.add_row(
            str(c.index),
            c.address[:10] + "…",
            c.attack or "honest",
            str(c.reputation),
            f"{c.stake_eth:.3f}",
            f"{c.rewards_eth:.3f}",
        )
    console.print(clients)
    gas = Table(title="gas by method")
    gas.add_column("method")
    gas.add_column("calls", justify="right")
    gas.add_column("mean gas", justify="right")
    for method, total in sorted(report.gas_by_method.items()):
        calls = report.calls_by_method[method]
        gas.add_row(method, str(calls), f"{total // calls:,}")
    console.print(gas)


@main.command()
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=DEMO_CONFIG, show_default=True
)
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("runs/demo"), show_default=True
)
def demo(config_path: Path, out_dir: Path) -> None:
    """A whole federation on the in-process chain and embedded store: 8 clients, one malicious, 5 rounds."""
    run_in_process(_load(config_path), out_dir)


@main.command()
@click.argument("config_path", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="default: runs/<name>")
@click.option("--no-plots", is_flag=True, help="skip the PNG plots")
def simulate(config_path: Path, out_dir: Path | None, no_plots: bool) -> None:
    """Run the experiment CONFIG_PATH (YAML) in-process; write CSV/JSON/PNG results to a folder."""
    cfg = _load(config_path)
    run_in_process(cfg, out_dir or Path("runs") / cfg.name, plots=not no_plots)


if __name__ == "__main__":
    sys.exit(main())
