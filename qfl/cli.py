"""The `qflchain` command: demo, simulate, node, status."""

from __future__ import annotations

import dataclasses
import sys
import time
import traceback
from pathlib import Path

import click

from qfl.atomic import atomic_write_json
from qfl.config import ExperimentConfig
from qfl.deployment import load_experiment, open_content_store, read_deployment, resolve_account
from qfl.toolchain import CHAINS, PROJECT_ROOT, configure_environment, project

DEMO_CONFIG = PROJECT_ROOT / "configs" / "demo.yaml"


# What to do about a contract error a command can meet (FederationError.error -> hint).
FEDERATION_HINTS = {
    "StakeTooLow": "raise protocol.stake_eth in the config to the minimum",
    "StakeTooLarge": "lower protocol.stake_eth in the config",
    "FederationFull": "every seat is taken: deploy another federation or use an account already registered",
    "RejoinCooldown": "this account left recently: wait until the cooldown ends or use another account",
    "AlreadyRegistered": "this account is already a member: rerun the node with it (it resumes)",
    "NotRegistered": "register this account first (`qflchain node` registers it)",
    "AllRoundsDone": "the federation has finished every round: deploy a new one",
    "NotSponsor": "only the sponsor account (the deployer) may do this: pass --account of the sponsor",
    "PoolUnderfunded": "the reward pool is too small: fund it, or deploy with a larger protocol.fund_eth",
    "WrongPhase": "the round moved on meanwhile: rerun (nodes resume from chain state)",
    "OutOfGas": "the transaction ran out of gas: rerun (the node retries with more)",
}


class QflGroup(click.Group):
    """Every subcommand's failure as one line on stderr and a non-zero exit: a known mistake (a
    ClickException) as click shows it, anything else as `Error: <type>: <message>` with exit 1, Ctrl-C as
    exit 130. `qflchain -v` also prints the traceback first."""

    def invoke(self, ctx: click.Context):
        verbose = bool(ctx.params.get("verbose"))
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException as exc:
            if verbose and exc.__cause__ is not None:
                traceback.print_exception(exc.__cause__)
            raise
        except KeyboardInterrupt:
            if verbose:
                traceback.print_exc()
            raise _OneLine("interrupted", exit_code=130) from None
        except Exception as exc:
            if verbose:
                traceback.print_exc()
            raise _OneLine(_describe(exc, ctx.meta.get("qfl.network"), verbose)) from exc


class _OneLine(click.ClickException):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _describe(exc: BaseException, network: str | None, verbose: bool) -> str:
    """One line for an unexpected exception: what happened and, where known, what to do."""
    try:
        from qfl.chain import ChainUnavailable, FederationError
    except Exception:  # the binding itself does not import: describe the exception as it is
        ChainUnavailable = FederationError = ()  # noqa: N806 - stand-ins that match nothing

    if isinstance(exc, ChainUnavailable):
        where = f" at {network}" if network else ""
        return f"the RPC node{where} stopped answering; restart it and rerun (nodes resume from chain state)"
    if isinstance(exc, FederationError):
        hint = FEDERATION_HINTS.get(exc.error)
        return _first_line(str(exc)) + (f": {hint}" if hint else "")
    if type(exc).__name__ == "NodeSoftwareNotInstalledError":  # ape-node found no node and cannot start geth
        return (
            f"nothing answers for --network {network}: start your node and pass its URL as --network "
            "(e.g. `anvil --port 8545 --chain-id 1337` and --network http://127.0.0.1:8545)"
        )
    line = f"{type(exc).__name__}: {_first_line(str(exc))}".rstrip(": ")
    return line if verbose else f"{line} (run with -v for the traceback)"


@click.group(cls=QflGroup)
@click.option(
    "-v", "--verbose", is_flag=True, help="also show ape's log (every transaction confirmed) and tracebacks"
)
def main(verbose: bool) -> None:
    """QFLchain: quantum federated learning coordinated by Ethereum contracts."""
    configure_environment()
    if not verbose:
        from ape.logging import logger

        logger.set_level("WARNING")  # the progress lines say what happened; ape would add one per transaction


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

    `out_dir` is the run folder (qfl.sim.RunFolder): after every finished round the chain, the run state
    and the results so far are saved there, so a Ctrl-C or an error loses no finished round, and
    `resume=True` continues from the last one. `reproducible` (default on for a new run; a resumed run keeps
    its recorded mode) derives commitment salts from the config's seed. `fresh=False` refuses to start over
    a folder holding an unfinished run."""
    import shlex
    import traceback

    from rich.console import Console

    from qfl.report import write_results
    from qfl.sim import ResumeError, RunFolder, execute_run, plan_run

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
        from qfl.report import round_cost

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


# ---------------------------------------------------------------------- real participants


def _network(value: str) -> str:
    """Accept ape network choices and bare RPC URLs (as an ad-hoc local network), checked first: an unknown
    choice, or a URL where nothing answers JSON-RPC, is a one-line error (qfl.deployment.check_network)."""
    from qfl.deployment import check_network

    # The error for a node that stops answering names it.
    click.get_current_context().meta["qfl.network"] = value
    return check_network(value)


IN_PROCESS = "ethereum:local:test"


def _node_preflight(state_dir: Path, store: str, account: str) -> None:
    """`node` checks before it loads data or connects: its state dir and store take writes (or it could stake
    and then fail at its first write), its account exists."""
    from qfl.deployment import check_account, check_store_writable, check_writable_dir

    check_writable_dir(state_dir, "--state-dir")
    check_store_writable(store)
    check_account(account)


def _require_federation(record: dict, deployment: Path, network: str) -> None:
    from qfl.deployment import require_federation

    require_federation(record, deployment, network)


network_option = click.option(
    "--network", default=IN_PROCESS, show_default=True, help="ape network choice or an RPC URL"
)
store_option = click.option(
    "--store", default="runs/store", show_default=True, help="embedded store directory or Kubo RPC URL"
)


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--network",
    default=None,
    help="RPC URL of the chain to deploy to (or an ape network choice); required: the in-process chain "
    f"({IN_PROCESS}) vanishes when this command exits",
)
@click.option(
    "--account", default="test:0", show_default=True, help="sponsor: test:N or an ape account alias"
)
@store_option
@click.option(
    "--out", "out_path", type=click.Path(path_type=Path), default=Path("deployment.json"), show_default=True
)
def deploy(config_path: Path, network: str | None, account: str, store: str, out_path: Path) -> None:
    """Publish the model spec and initial weights, deploy and fund a federation, record its address."""
    import ape

    from qfl.deployment import (
        check_account,
        check_store_writable,
        check_writable_file,
        require_sponsor_funds,
    )

    cfg = load_experiment(config_path)
    if network is None:
        raise click.ClickException(
            f"no --network: the in-process chain ({IN_PROCESS}) vanishes when deploy exits, leaving nothing to "
            "join; pass --network URL of a running node (e.g. `anvil --chain-id 1337` and --network "
            "http://127.0.0.1:8545), or run `qflchain simulate`/`demo` for a whole federation in one process"
        )
    # Every check before anything is published or deployed: a failure leaves nothing behind.
    check_writable_file(out_path, "--out")
    check_store_writable(store)
    check_account(account)
    choice = _network(network)
    with ape.networks.parse_network_choice(choice) as provider:
        sponsor = resolve_account(account)
        require_sponsor_funds(sponsor, cfg, config_path)
        from qfl.sim import deploy_from_config, load_federated_data

        content = open_content_store(store)
        test_set, _ = load_federated_data(cfg)
        federation, spec = deploy_from_config(cfg, project(), sponsor, content, test_set.n_classes)
        if provider.name == "test":
            click.echo(
                f"note: {IN_PROCESS} is an in-process chain that ends with this command; nothing can join this "
                "federation (use --network URL of a running node)",
                err=True,
            )
        block = federation.from_block  # the deployment's block: no federation event is older
        from qfl.deployment import deployment_record

        # Chain id, ape network, --network with any key or credential removed, address, block, model CIDs.
        record = deployment_record(federation, block, None, sponsor, store, network)
    atomic_write_json(out_path, record)
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
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=None,
    help="this node's own private .csv/.npz file (see docs/learning.md, Private data per node) instead of "
    "shard --client-index of the config's dataset",
)
@click.option(
    "--max-outage",
    type=float,
    default=600.0,
    show_default=True,
    help="give up (exit 75) once the RPC node or content store has not answered for this many seconds",
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
    data_path: Path | None,
    max_outage: float,
) -> None:
    """Run one participant until the federation's last round is done (restart it any time: it resumes)."""
    _node_preflight(state_dir, store, account)  # before the heavy imports: a mistake fails fast
    import ape

    from qfl.chain import Federation
    from qfl.deployment import ensure_registered, load_model_spec, make_node
    from qfl.node import run_node, transient_fault
    from qfl.sim import load_federated_data

    cfg = load_experiment(config_path)
    if not 0 <= client_index < cfg.n_clients:
        raise click.UsageError(
            f"--client-index {client_index} outside 0..{cfg.n_clients - 1} of {config_path}"
        )
    content = open_content_store(store)
    if data_path is not None:  # only this node's own file: nothing of the config's shared dataset is read
        from qfl.data.private import PrivateDataError, check_classes, load_private_data

        try:
            private = load_private_data(data_path, cfg, seed=cfg.data.seed + client_index)
        except PrivateDataError as exc:
            raise click.ClickException(str(exc)) from None
        parts = {client_index: private}
        click.echo(
            f"client {client_index}: private data {data_path}: {len(private.y_train)} training, "
            f"{len(private.y_val)} validation rows",
            err=True,
        )
    else:
        _, parts = load_federated_data(cfg)
    record = read_deployment(deployment)
    with ape.networks.parse_network_choice(_network(network)):
        _require_federation(record, deployment, network)
        federation = Federation.at(project(), record["address"], record.get("block", 0))
        signer = resolve_account(account)
        spec = load_model_spec(federation, content)
        if data_path is not None:  # the federation's class count, before anything is staked
            try:
                check_classes(private, spec.n_classes, str(data_path))
            except PrivateDataError as exc:
                raise click.ClickException(str(exc)) from None
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
        # Survives RPC node and store outages (back-off, then resume from chain state), stops between steps
        # on SIGINT/SIGTERM; gives up after --max-outage seconds without an answer.
        code = run_node(participant, participant.log, poll=poll, max_outage=max_outage)
        if code == 0:
            try:
                view = federation.client_view(signer.address)
            except Exception as exc:  # the chain went away after the last step: the run is still done
                if transient_fault(exc) is None:
                    raise
                view = "(the RPC node did not answer)"
            click.echo(f"client {client_index} done: {view}", err=True)
    # Where this process spent its time (the multi-process benchmark reads it).
    atomic_write_json(state_dir / "timers.json", dataclasses.asdict(participant.timers))
    if code:
        sys.exit(code)


@main.command()
@network_option
@click.option(
    "--deployment", type=click.Path(path_type=Path), default=Path("deployment.json"), show_default=True
)
def status(network: str, deployment: Path) -> None:
    """What the current round is doing: phase, commits, reveals, committee votes, reputation and balances."""
    record = read_deployment(deployment)
    choice = _network(network)  # checked before the heavy imports: a mistake fails fast
    import ape
    from rich.console import Console

    from qfl.chain import Federation
    from qfl.status import render_status

    with ape.networks.parse_network_choice(choice):
        _require_federation(record, deployment, network)
        Console().print(render_status(Federation.at(project(), record["address"], record.get("block", 0))))


# ---------------------------------------------------------------------- a member's and a sponsor's whole life

deployment_option = click.option(
    "--deployment", type=click.Path(path_type=Path), default=Path("deployment.json"), show_default=True
)


def _member_preflight(network: str, deployment: Path, account: str | None) -> tuple[str, dict]:
    """Checks before anything connects or is sent (as `node` does): the account exists, the deployment is
    recorded, the network answers. Returns the checked network choice and the record."""
    from qfl.deployment import check_account

    if account is not None:
        check_account(account)
    record = read_deployment(deployment)
    return _network(network), record


@main.command()
@network_option
@deployment_option
@click.option("--account", required=True, help="the member: test:N or an ape account alias")
def leave(network: str, deployment: Path, account: str) -> None:
    """Leave the federation: the whole stake becomes withdrawable (then `qflchain withdraw`).

    Refused while the account's last update or a committee seat of it is unsettled: wait until that round
    is done and settled. After leaving, the account waits the rejoin cooldown before it may register again.
    """
    from qfl import member

    choice, record = _member_preflight(network, deployment, account)
    with member.open_federation(choice, record, deployment, network) as federation:
        signer = resolve_account(account)
        left = member.leave(federation, signer)
    click.echo(
        f"{signer.address} left: {member.wei_to_eth(left.stake)} ETH of stake released, "
        f"{member.wei_to_eth(left.withdrawable)} ETH now withdrawable (`qflchain withdraw`); it may register "
        f"again after {member.utc_time(left.cooldown_until)}"
    )


@main.command()
@network_option
@deployment_option
@click.option("--account", required=True, help="the member or sponsor: test:N or an ape account alias")
@click.option(
    "--stake",
    "stake_eth",
    default=None,
    help="also take this much stake out (ETH) while staying a member; the minimum stake must remain",
)
def withdraw(network: str, deployment: Path, account: str, stake_eth: str | None) -> None:
    """Send the account everything it is owed: rewards, stake released by `leave`, a swept pool."""
    from qfl import member
    from qfl.config import eth_to_wei

    stake_wei = None
    if stake_eth is not None:
        try:
            stake_wei = eth_to_wei(stake_eth)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--stake") from None
    choice, record = _member_preflight(network, deployment, account)
    with member.open_federation(choice, record, deployment, network) as federation:
        signer = resolve_account(account)
        done = member.withdraw(federation, signer, stake_wei)
    parts = []
    if done.stake_taken:
        parts.append(f"{member.wei_to_eth(done.stake_taken)} ETH of stake taken out and sent")
    if done.paid or not done.stake_taken:
        parts.append(f"{member.wei_to_eth(done.paid)} ETH sent to {signer.address}")
    parts.append(f"gas {member.wei_to_eth(done.gas_wei)} ETH")
    if done.registered:
        parts.append(f"{member.wei_to_eth(done.stake_left)} ETH stays staked while a member")
    click.echo("withdrew: " + "; ".join(parts))


@main.command()
@network_option
@deployment_option
@click.option(
    "--account", default="test:0", show_default=True, help="the sponsor (the deployer): test:N or an alias"
)
def sweep(network: str, deployment: Path, account: str) -> None:
    """Sponsor, once the last round is done: take back what is left of the reward pool."""
    from qfl import member

    choice, record = _member_preflight(network, deployment, account)
    with member.open_federation(choice, record, deployment, network) as federation:
        signer = resolve_account(account)
        done = member.sweep(federation, signer)
    released = (
        f" (after returning {member.wei_to_eth(done.released)} ETH of the last round's unpaid reserve)"
        if done.released
        else ""
    )
    click.echo(
        f"swept {member.wei_to_eth(done.swept)} ETH from the pool{released}; sent "
        f"{member.wei_to_eth(done.paid)} ETH to {signer.address}"
    )


@main.command()
@network_option
@deployment_option
@click.option(
    "--account",
    default=None,
    help="also show this account's (test:N, alias or 0x address) outcome and reward",
)
@click.option(
    "--fees",
    "with_fees",
    is_flag=True,
    help="also what each round's transactions paid, from their receipts: execution fee and, on an "
    "OP-stack chain, the L1 data fee (docs/l2.md)",
)
def history(network: str, deployment: Path, account: str | None, with_fees: bool = False) -> None:
    """Every round so far: phase, global model CID, updates accepted/rejected, rewards paid and burned."""
    from qfl import member

    choice, record = _member_preflight(network, deployment, None)
    with member.open_federation(choice, record, deployment, network) as federation:
        address = account if account and account.startswith("0x") else None
        if account and address is None:
            address = resolve_account(account).address
        rows = member.history(federation, address)
        fees = {row.round: federation.round_fees(row.round) for row in rows} if with_fees else {}
    if not rows:
        click.echo("no round started yet")
    for row in rows:
        line = (
            f"round {row.round}: {row.phase}; model {row.model_cid or '(none yet)'}; accepted {row.accepted}, "
            f"rejected {row.rejected}, other {row.other}, unsettled {row.unsettled}; paid "
            f"{member.wei_to_eth(row.reward)} ETH, burned {member.wei_to_eth(row.burned)} ETH"
        )
        if address:
            line += (
                f"; {address}: {row.mine}, reward {member.wei_to_eth(row.my_reward)} ETH, burned "
                f"{member.wei_to_eth(row.my_burned)} ETH"
            )
        if row.round in fees:
            line += "; " + _fees_text(fees[row.round])
        click.echo(line)


def _fees_text(ledger) -> str:
    """A round's fees from its receipts, for `history --fees` (qfl.chain.fees.FeeLedger)."""
    from qfl.chain.networks import ARBITRUM, OP_STACK

    text = f"fees {ledger.total_execution_wei / 10**18:.8f} ETH"
    if ledger.kind == OP_STACK:
        text += f" + L1 data {ledger.total_l1_data_wei / 10**18:.8f} ETH"
    elif ledger.kind == ARBITRUM:
        text += " (L1 part inside the gas)"
    return text + f" from {sum(ledger.l1_sources.values())} transactions"


@main.command()
@network_option
@deployment_option
@store_option
@click.option("--round", "round_", type=int, required=True, help="the round (0: the initial model)")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True)
def export(network: str, deployment: Path, store: str, round_: int, out_path: Path) -> None:
    """Write a round's global model (as published, verified against the CID on chain) to --out."""
    from qfl import member
    from qfl.deployment import check_writable_file

    check_writable_file(out_path, "--out")
    content = member.open_store(store)
    choice, record = _member_preflight(network, deployment, None)
    with member.open_federation(choice, record, deployment, network) as federation:
        cid = member.global_model_cid(federation, round_)
    data = member.fetch(content, store, cid)
    member.write_out(out_path, data)
    click.echo(f"round {round_} global model {cid}: {len(data)} bytes written to {out_path}")


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
def cid(file: Path) -> None:
    """The CID the content store gives FILE's bytes (as `ipfs add` with Kubo's defaults)."""
    from qfl import member

    click.echo(member.file_cid(file))


@main.group()
def store() -> None:
    """Put files into and get them out of the content store (embedded directory or Kubo RPC URL)."""


@store.command("put")
@click.argument("file", type=click.Path(path_type=Path))
@store_option
def store_put(file: Path, store: str) -> None:
    """Publish FILE and pin it; print its CID."""
    from qfl import member
    from qfl.deployment import check_store_writable

    data = member.read_file(file)
    check_store_writable(store)
    click.echo(member.put(member.open_store(store, must_exist=False), store, data))


@store.command("get")
@click.argument("cid_text", metavar="CID")
@store_option
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True)
def store_get(cid_text: str, store: str, out_path: Path) -> None:
    """Fetch CID (verified against it) and write it to --out."""
    from qfl import member
    from qfl.deployment import check_writable_file

    check_writable_file(out_path, "--out")
    data = member.fetch(member.open_store(store), store, cid_text)
    member.write_out(out_path, data)
    click.echo(f"{cid_text}: {len(data)} bytes written to {out_path}")


# ---------------------------------------------------------------------- private data and the local launcher


@main.command("split-data")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
def split_data(config_path: Path, out_dir: Path) -> None:
    """Write the config's client split as private files OUT/client-<i>.npz (to try `node --data`)."""
    from qfl.data.private import write_client_files

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
    from qfl.launcher import LaunchError
    from qfl.launcher import launch as run_launch

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


if __name__ == "__main__":
    sys.exit(main())
