"""The `qflchain` command: demo, simulate, node, status."""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import click

from qfl.atomic import atomic_write_json
from qfl.config import ExperimentConfig
from qfl.deployment import load_experiment, open_content_store, read_deployment, resolve_account
from qfl.toolchain import PROJECT_ROOT, configure_environment, project

DEMO_CONFIG = PROJECT_ROOT / "configs" / "demo.yaml"


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="also show ape's log (every transaction confirmed)")
def main(verbose: bool) -> None:
    """QFLchain: quantum federated learning coordinated by Ethereum contracts."""
    configure_environment()
    if not verbose:
        from ape.logging import logger

        logger.set_level("WARNING")  # the progress lines say what happened; ape would add one per transaction


CHAINS = {"test": "ethereum:local:test", "foundry": "ethereum:local:foundry"}


def run_in_process(cfg: ExperimentConfig, out_dir: Path, plots: bool = True, chain: str = "test"):
    """Deploy to a local chain (ape's in-process EthTester, or anvil started by ape-foundry) with the
    embedded store, play every round with all clients in this process, write the results."""
    import ape
    from rich.console import Console

    from qfl.report import write_results
    from qfl.sim import build_in_process
    from qfl.storage import EmbeddedStore

    console = Console()
    out_dir.mkdir(parents=True, exist_ok=True)
    store = EmbeddedStore(out_dir / "store")
    started = time.perf_counter()
    with ape.networks.parse_network_choice(CHAINS[chain]):
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

    undecided = any(r.undecided for r in report.rounds)
    rounds = Table(
        title="rounds (acc = test accuracy of the global model; in / out = updates accepted / rejected; "
        "bad out = attackers' updates rejected; burned = ETH of stake slashed and destroyed; gas in "
        "thousands; time in seconds)"
    )
    columns = ["round", "acc", "in", "out", *(["undecided"] if undecided else []), "bad out", "burned"]
    for col in (*columns, "kgas", "train", "store", "chain"):
        rounds.add_column(col, justify="right", no_wrap=True)
    rounds.add_row("init", f"{report.initial_accuracy:.3f}", *[""] * (len(columns) + 2))
    for r in report.rounds:
        rounds.add_row(
            str(r.round + 1),
            f"{r.accuracy:.3f}",
            str(r.accepted),
            str(r.rejected),
            *([str(r.undecided)] if undecided else []),
            f"{r.attackers_rejected}/{r.attackers_total}",
            f"{r.burned_eth:.3f}",
            f"{r.gas / 1000:,.0f}",
            f"{r.train_seconds:.2f}",
            f"{r.store_seconds:.2f}",
            f"{r.chain_seconds:.2f}",
        )
    console.print(rounds)
    clients = Table(title="clients (ETH; rewards = withdrawn + withdrawable; burned = stake slashed)")
    for col in ("client", "address", "role", "reputation", "stake", "rewards", "burned"):
        clients.add_column(col, justify="right")
    for c in report.clients:
        clients.add_row(
            str(c.index),
            c.address[:10] + "…",
            c.attack or "honest",
            str(c.reputation),
            f"{c.stake_eth:.3f}",
            f"{c.rewards_eth:.3f}",
            f"{c.burned_eth:.3f}",
        )
    console.print(clients)
    if report.money:
        money = Table(
            title="money held by the contract (ETH): balance = staked + withdrawable + pool + reserved + burned"
        )
        parts = ("total_staked", "total_withdrawable", "pool", "reserved", "burned")
        for col in ("balance", "staked", "withdrawable", "pool", "reserved", "burned", "conserved"):
            money.add_column(col, justify="right")
        money.add_row(
            *[f"{report.money[k] / 10**18:.4f}" for k in ("balance", *parts)],
            "yes" if report.money_conserved else "NO",
        )
        console.print(money)
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
    run_in_process(load_experiment(config_path), out_dir)


@main.command()
@click.argument("config_path", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="default: runs/<name>")
@click.option("--no-plots", is_flag=True, help="skip the PNG plots")
@click.option(
    "--chain",
    type=click.Choice(sorted(CHAINS)),
    default="test",
    show_default=True,
    help="test: ape's in-process EthTester chain; foundry: anvil (faster per transaction), started and stopped for you",
)
def simulate(config_path: Path, out_dir: Path | None, no_plots: bool, chain: str) -> None:
    """Run the experiment CONFIG_PATH (YAML) with every client in this process; write CSV/JSON/PNG results."""
    cfg = load_experiment(config_path)
    run_in_process(cfg, out_dir or Path("runs") / cfg.name, plots=not no_plots, chain=chain)


# ---------------------------------------------------------------------- real participants


def _network(value: str) -> str:
    """Accept ape network choices and bare RPC URLs (as an ad-hoc local network)."""
    from qfl.multiproc import network_choice

    return network_choice(value) if value.startswith(("http://", "https://", "ws://")) else value


network_option = click.option(
    "--network", default="ethereum:local:test", show_default=True, help="ape network choice or an RPC URL"
)
store_option = click.option(
    "--store", default="runs/store", show_default=True, help="embedded store directory or Kubo RPC URL"
)


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@network_option
@click.option(
    "--account", default="test:0", show_default=True, help="sponsor: test:N or an ape account alias"
)
@store_option
@click.option(
    "--out", "out_path", type=click.Path(path_type=Path), default=Path("deployment.json"), show_default=True
)
def deploy(config_path: Path, network: str, account: str, store: str, out_path: Path) -> None:
    """Publish the model spec and initial weights, deploy and fund a federation, record its address."""
    import ape

    from qfl.sim import deploy_from_config, load_federated_data

    cfg = load_experiment(config_path)
    content = open_content_store(store)
    test_set, _ = load_federated_data(cfg)
    with ape.networks.parse_network_choice(_network(network)):
        sponsor = resolve_account(account)
        federation, spec = deploy_from_config(cfg, project(), sponsor, content, test_set.n_classes)
        block = federation.from_block  # the deployment's block: no federation event is older
    atomic_write_json(out_path, {"network": network, "address": federation.address, "block": block})
    click.echo(f"federation {federation.address} deployed at block {block}; recorded in {out_path}")


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@network_option
@click.option(
    "--deployment", type=click.Path(path_type=Path), default=Path("deployment.json"), show_default=True
)
@click.option(
    "--client-index", type=int, required=True, help="which data shard of the config this client holds"
)
@click.option("--account", required=True, help="test:N or an ape account alias")
@store_option
@click.option(
    "--state-dir", type=click.Path(path_type=Path), required=True, help="where the pending commitment lives"
)
@click.option(
    "--poll", type=float, default=0.2, show_default=True, help="seconds between chain reads when idle"
)
def node(
    config_path: Path,
    network: str,
    deployment: Path,
    client_index: int,
    account: str,
    store: str,
    state_dir: Path,
    poll: float,
) -> None:
    """Run one participant until the federation's last round is done (restart it any time: it resumes)."""
    import ape

    from qfl.chain import Federation, FederationError
    from qfl.deployment import ensure_registered, load_model_spec, make_node
    from qfl.sim import load_federated_data

    cfg = load_experiment(config_path)
    if not 0 <= client_index < cfg.n_clients:
        raise click.UsageError(
            f"--client-index {client_index} outside 0..{cfg.n_clients - 1} of {config_path}"
        )
    content = open_content_store(store)
    _, parts = load_federated_data(cfg)
    record = read_deployment(deployment)
    with ape.networks.parse_network_choice(_network(network)):
        federation = Federation.at(project(), record["address"], record.get("block", 0))
        signer = resolve_account(account)
        spec = load_model_spec(federation, content)
        if ensure_registered(federation, signer, cfg):
            click.echo(f"client {client_index} registered as {signer.address}", err=True)
        participant = make_node(
            cfg,
            federation,
            content,
            spec,
            signer,
            client_index,
            parts,
            state_dir,
            min_members=cfg.n_clients,
            log=lambda line: click.echo(line, err=True),
        )
        while not participant.finished():
            try:
                action = participant.step()
            except FederationError as exc:
                if exc.error != "EventsMissing":
                    raise
                # The RPC node served a block before its logs: nothing was sent; read the round again.
                click.echo(f"client {client_index}: {exc}; retrying", err=True)
                action = None
            if action:
                click.echo(f"client {client_index} round {federation.current_round()}: {action}", err=True)
            else:
                time.sleep(poll)
        click.echo(f"client {client_index} done: {federation.client_view(signer.address)}", err=True)
    # Where this process spent its time (the multi-process benchmark reads it).
    atomic_write_json(state_dir / "timers.json", dataclasses.asdict(participant.timers))


@main.command()
@network_option
@click.option(
    "--deployment", type=click.Path(path_type=Path), default=Path("deployment.json"), show_default=True
)
def status(network: str, deployment: Path) -> None:
    """What the current round is doing: phase, commits, reveals, committee votes, reputation and balances."""
    import ape
    from rich.console import Console

    from qfl.chain import Federation
    from qfl.status import render_status

    record = read_deployment(deployment)
    with ape.networks.parse_network_choice(_network(network)):
        Console().print(render_status(Federation.at(project(), record["address"], record.get("block", 0))))


if __name__ == "__main__":
    sys.exit(main())
