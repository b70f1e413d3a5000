"""Experiments on one machine: demo, simulate, split-data, the local multi-process launcher."""

from __future__ import annotations

import time
import traceback
from pathlib import Path

import click

from qfl.chain.toolchain import CHAINS
from qfl.cli.app import (
    DEMO_CONFIG,
    main,
)
from qfl.orchestration.config import ExperimentConfig
from qfl.orchestration.deployment import load_experiment


def run_in_process(
    cfg: ExperimentConfig,
    out_dir: Path,
    plots: bool = True,
    chain: str | None = None,
    *,
    config_file: Path | None = None,
    resume: bool = False,
    reproducible: bool | None = None,
    fresh: bool = True,
):
    """Deploy to a local chain (ape's in-process EthTester, or anvil started by ape-foundry) with the
    embedded store, play every round with all clients in this process, write the results.

    `out_dir` is the run folder (qfl.orchestration.sim.RunFolder): after every finished round the chain, the run state
    and the results so far are saved there, so a Ctrl-C or an error loses no finished round, and
    `resume=True` continues from the last one. `reproducible` (default on for a new run; a resumed run keeps
    its recorded mode) derives commitment salts from the config's seed. `fresh=False` refuses to start over
    a folder holding an unfinished run."""
    import shlex

    from rich.console import Console

    from qfl.orchestration.report import write_results
    from qfl.orchestration.sim import ResumeError, RunFolder, execute_run, plan_run

    console = Console()
    try:
        plan = plan_run(
            cfg,
            out_dir,
            chain=chain,
            resume=resume,
            reproducible=reproducible,
            fresh=fresh,
            config_file=config_file,
        )
    except ResumeError as exc:
        raise click.ClickException(str(exc)) from None
    config_shown = config_file if config_file is not None else out_dir / "config.yaml"
    resume_command = shlex.join(
        ["qflchain", "simulate", str(config_shown), "--out", str(out_dir)]
        + (["--chain", plan.chain] if plan.chain != "test" else [])
        + (["--random-salts"] if not plan.reproducible else [])
        + ["--resume"]
    )
    started = time.perf_counter()
    try:
        report = execute_run(
            plan,
            progress=lambda line: console.print(f"[{time.perf_counter() - started:6.1f}s] {line}"),
            notice=console.print,
            stage=console.status,
        )
    except (KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - every stop ends in the same one line
        folder = RunFolder(out_dir)
        saved_state = folder.read_state() or {}
        done, total = saved_state.get("rounds_done", 0), cfg.protocol.rounds
        if isinstance(exc, KeyboardInterrupt):
            why, code = "stopped by Ctrl-C", 130
        else:
            ctx = click.get_current_context(silent=True)
            if ctx is not None and ctx.find_root().params.get("verbose"):
                traceback.print_exc()
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            why, code = f"stopped by an error ({type(exc).__name__}: {first})", 1
        where = f"{done} of {total} rounds done and saved in {out_dir}"
        if folder.unfinished():
            click.echo(f"{why}: {where}; resume with: {resume_command}", err=True)
        else:
            click.echo(f"{why} before the federation was deployed: nothing to resume", err=True)
        raise SystemExit(code) from None
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
        "thousands; fee = gas x price paid, L1 fee = OP-stack L1 data fee, in ETH; time in seconds)"
    )
    l1 = any(r.l1_fee_wei for r in report.rounds)
    columns = ["round", "acc", "in", "out", *(["undecided"] if undecided else []), "bad out", "burned"]
    fee_columns = ["fee", *(["L1 fee"] if l1 else [])]
    for col in (*columns, "kgas", *fee_columns, "train", "store", "chain"):
        rounds.add_column(col, justify="right", no_wrap=True)
    rounds.add_row("init", f"{report.initial_accuracy:.3f}", *[""] * (len(columns) + len(fee_columns) + 2))
    for r in report.rounds:
        rounds.add_row(
            str(r.round),
            f"{r.accuracy:.3f}",
            str(r.accepted),
            str(r.rejected),
            *([str(r.undecided)] if undecided else []),
            f"{r.attackers_rejected}/{r.attackers_total}",
            f"{r.burned_eth:.3f}",
            f"{r.gas / 1000:,.0f}",
            f"{r.execution_fee_wei / 10**18:.8f}",
            *([f"{r.l1_fee_wei / 10**18:.8f}"] if l1 else []),
            f"{r.train_seconds:.2f}",
            f"{r.store_seconds:.2f}",
            f"{r.chain_seconds:.2f}",
        )
    console.print(rounds)
    clients = Table(
        title="clients (ETH; rewards = withdrawn + withdrawable; burned = stake slashed; fees = what its "
        "transactions paid, L1 data fee included)"
    )
    for col in ("client", "address", "role", "reputation", "stake", "rewards", "burned", "fees"):
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
            f"{(c.execution_fee_wei + c.l1_fee_wei) / 10**18:.8f}",
        )
    console.print(clients)
    if report.rounds and report.clients:
        from qfl.orchestration.report import round_cost

        cost = round_cost(report)
        console.print(
            f"cost of a round (mean of {len(report.rounds)}): {cost['fee_wei'] / 10**18:.8f} ETH = "
            f"{cost['execution_fee_wei'] / 10**18:.8f} execution + {cost['l1_fee_wei'] / 10**18:.8f} L1 data; "
            f"{cost['per_client_wei'] / 10**18:.8f} ETH per client"
        )
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
    run_in_process(load_experiment(config_path), out_dir, config_file=config_path)


@main.command()
@click.argument("config_path", type=click.Path(path_type=Path), required=False)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="default: runs/<name>")
@click.option("--no-plots", is_flag=True, help="skip the PNG plots")
@click.option(
    "--chain",
    type=click.Choice(sorted(CHAINS)),
    default=None,
    help="test (default): ape's in-process EthTester chain; foundry: anvil (faster per transaction), "
    "started and stopped for you; optimism: `anvil --optimism`, the OP-stack rehearsal with the L1 data "
    "fee in the report (docs/l2.md). A resumed run keeps the chain it started on",
)
@click.option(
    "--resume",
    is_flag=True,
    help="continue the run saved in --out (default runs/<name>) after its last finished round; refused "
    "if its config or chain differ. CONFIG_PATH may be left out with --out: the folder keeps a copy",
)
@click.option(
    "--random-salts",
    is_flag=True,
    help="draw commitment salts from the OS instead of deriving them from the config's seed",
)
def simulate(
    config_path: Path | None,
    out_dir: Path | None,
    no_plots: bool,
    chain: str | None,
    resume: bool,
    random_salts: bool,
) -> None:
    """Run the experiment CONFIG_PATH (YAML) with every client in this process; write CSV/JSON/PNG results.

    After every finished round the results, the run state and the chain are saved in the run folder (--out):
    Ctrl-C or an error mid-round keeps every finished round and prints the command that resumes the run.

    Reproducible by default: the same config and seed give the same accuracy, outcomes, reputations,
    rewards and gas per round on --chain test (on anvil the committee draw uses a random prevrandao per
    block, so the numbers may differ between runs).
    """
    if config_path is None:
        if not (resume and out_dir):
            raise click.UsageError("give CONFIG_PATH (or --out DIR --resume to continue a saved run)")
        config_path = out_dir / "config.yaml"
    cfg = load_experiment(config_path)
    run_in_process(
        cfg,
        out_dir or Path("runs") / cfg.name,
        plots=not no_plots,
        chain=chain,
        config_file=config_path,
        resume=resume,
        reproducible=False if random_salts else None,
        fresh=False,
    )


# ---------------------------------------------------------------------- private data and the local launcher


@main.command("split-data")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
def split_data(config_path: Path, out_dir: Path) -> None:
    """Write the config's client split as private files OUT/client-<i>.npz (to try `node --data`)."""
    from qfl.orchestration.private_data import write_client_files

    paths = write_client_files(load_experiment(config_path), out_dir)
    click.echo(
        f"wrote {len(paths)} private data files: {out_dir}/client-0.npz .. client-{len(paths) - 1}.npz"
    )


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    required=True,
    help="holds client-<i>.npz (or .csv), one private file per node",
)
@click.option("--nodes", type=int, default=None, help="how many nodes (default: the config's n_clients)")
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("runs/launch"), show_default=True
)
@click.option(
    "--split-from-config", is_flag=True, help="first write the config's client split into --data-dir"
)
@click.option(
    "--timeout", type=float, default=3600.0, show_default=True, help="seconds to wait for the nodes"
)
@click.option(
    "--optimism",
    is_flag=True,
    help="run anvil as `anvil --optimism` (the OP-stack stand-in): each round's line gets its L1 data fee",
)
def launch(
    config_path: Path,
    data_dir: Path,
    nodes: int | None,
    out_dir: Path,
    split_from_config: bool,
    timeout: float,
    optimism: bool = False,
) -> None:
    """Start anvil, deploy, run one `node --data` process per client, wait, print each round, stop anvil."""
    from qfl.orchestration.launcher import LaunchError
    from qfl.orchestration.launcher import launch as run_launch

    if nodes is not None and nodes < 2:
        raise click.BadParameter(f"{nodes}: a federation needs at least 2 nodes", param_hint="--nodes")
    try:
        run_launch(
            config_path,
            data_dir,
            out_dir,
            nodes,
            split_from_config,
            timeout,
            echo=click.echo,
            optimism=optimism,
        )
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo(
            f"stopped by Ctrl-C: nodes and anvil stopped; logs in {out_dir}/logs; rerun the same command to "
            "continue",
            err=True,
        )
        raise SystemExit(130) from None
