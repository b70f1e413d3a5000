"""`ape run round --accounts test:1,test:2,...`: play one round of the recorded federation for these accounts.

Each account is a full participant (qfl.orchestration.node.Node): it registers if it is not a member yet, then trains,
commits, reveals, draws the committee, commits and reveals its scores, settles, aggregates and attests as the
chain asks, until the round is DONE and its own update and committee seat are settled; then each withdraws
what it is owed. Account i of the list holds data shard i of the config. The phases move on
as soon as everyone has acted; when only a deadline can move the round, a local chain is mined to it and a
public one is waited for. On ethereum:local:test the chain lives only as long as this command, so the
federation is deployed first when the recorded one is not on it.
"""

import tempfile
import time
from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand

from qfl.orchestration.deployment import deployments_option, load_experiment

STALLS_BEFORE_GIVING_UP = 3


def _chain_time() -> int:
    import ape

    return int(ape.chain.blocks.head.timestamp)


def _mine_past(timestamp: int) -> None:
    """Move a local chain's clock past `timestamp` with one block (ape's test chain, or anvil by URL)."""
    import ape

    try:
        ape.chain.mine(timestamp=timestamp + 1)
    except Exception:  # noqa: BLE001 - ad-hoc RPC providers have no set_timestamp: ask the node directly
        provider = ape.chain.provider
        provider.make_request("evm_setNextBlockTimestamp", [timestamp + 1])
        provider.make_request("evm_mine", [])


def _short(address: str) -> str:
    return f"{address[:8]}…{address[-4:]}"


@click.command(cls=ConnectedProviderCommand)
@click.option(
    "--accounts",
    "account_names",
    required=True,
    help="comma-separated test:N or ape account aliases; account i holds data shard i",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="experiment YAML (default: the one the deployment recorded)",
)
@click.option(
    "--store", default=None, help="embedded store directory or Kubo RPC URL (default: the recorded one)"
)
@deployments_option
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=Path("runs/nodes"),
    show_default=True,
    help="where each account keeps its pending commitment (salt) between commit and reveal",
)
@click.option(
    "--poll", type=float, default=2.0, show_default=True, help="seconds between reads while waiting"
)
def cli(
    provider,
    account_names: str,
    config_path: Path | None,
    store: str | None,
    deployments_dir: Path,
    state_dir: Path,
    poll: float,
) -> None:
    """Play ONE round of the recorded federation for the given accounts, then withdraw what they are owed."""
    from rich.console import Console

    from qfl.chain import Federation, RoundPhase, TrainerOutcome
    from qfl.chain.toolchain import configure_environment, project
    from qfl.orchestration.deployment import (
        deploy_and_record,
        deployment_file,
        ensure_registered,
        has_code,
        load_model_spec,
        open_content_store,
        read_deployment,
        resolve_account,
    )
    from qfl.orchestration.federation_setup import load_federated_data, make_node
    from qfl.orchestration.sim import phase_deadline, round_complete
    from qfl.orchestration.status import render_status
    from qfl.storage import digest_to_cid

    configure_environment()
    names = [n.strip() for n in account_names.split(",") if n.strip()]
    if not names:
        raise click.UsageError(
            "--accounts is empty: give e.g. test:1,test:2,test:3,test:4 or ape account aliases"
        )
    if len(set(names)) != len(names):
        raise click.UsageError(f"--accounts names an account twice: {account_names}")
    local = provider.network.name == "local"
    in_process = local and provider.name == "test"
    path = deployment_file(deployments_dir, provider)
    record = read_deployment(path) if path.is_file() or not in_process else None
    config_path = config_path or (Path(record["config"]) if record else None)
    if config_path is None:
        raise click.UsageError(f"no deployment recorded in {path}: give --config to deploy one on this chain")
    cfg = load_experiment(config_path)
    if len(names) > cfg.n_clients:
        raise click.UsageError(
            f"{len(names)} accounts but {config_path} has data for {cfg.n_clients} clients"
        )
    store = store or (record or {}).get("store") or "runs/store"

    if record is None or not has_code(record["address"]):
        if not in_process:
            raise click.UsageError(
                f"{path} records federation {record['address']}, but there is no contract at that address on "
                f"this chain (restarted node or another chain?): deploy again with `ape run deploy`"
            )
        click.echo(
            "ethereum:local:test starts empty in every process: deploying the federation on it first "
            f"(sponsor test:0, {config_path})"
        )
        # Not recorded: this chain ends with the command, and the file may hold a deployment on anvil.
        record = deploy_and_record(cfg, config_path, resolve_account("test:0"), store, None)
        click.echo(f"federation {record['address']} deployed at block {record['block']}")

    content = open_content_store(store)
    federation = Federation.at(project(), record["address"], record.get("block", 0))
    spec = load_model_spec(federation, content)
    _, parts = load_federated_data(cfg)
    signers = [resolve_account(name) for name in names]
    label = {
        s.address.lower(): f"{name} ({_short(s.address)})" for name, s in zip(names, signers, strict=True)
    }
    for signer in signers:
        if ensure_registered(federation, signer, cfg):
            click.echo(f"{label[signer.address.lower()]} registered with {cfg.protocol.stake_eth} ETH stake")

    # Pending commitments are per chain instance: key them by the deployment block's hash. The in-process
    # chain dies with this command, so its state goes to a scratch folder.
    if in_process:
        scratch = tempfile.TemporaryDirectory(prefix="qfl-round-")
        state_root = Path(scratch.name)
    else:
        state_root = state_dir / f"{record['chain_id']}-{record['address']}-{record['block_hash'][2:10]}"
    nodes = [
        make_node(
            cfg,
            federation,
            content,
            spec,
            signer,
            index,
            parts,
            state_root / signer.address,
            min_members=1,  # every listed account registered above
            log=click.echo,
        )
        for index, signer in enumerate(signers)
    ]

    def who(node) -> str:
        return label[node.address.lower()]

    round_ = federation.current_round()
    params = federation.params()
    num_rounds = params["numRounds"]
    started = time.perf_counter()
    stalls = 0
    waiting_for = None

    def nobody_acted(round_: int) -> None:
        """Only a deadline can move `round_` on: mine past it on a local chain, wait for it on a public one."""
        nonlocal stalls, waiting_for
        view = federation.round_view(round_)
        deadline = phase_deadline(view, params["attestPeriod"])
        if deadline is None:
            raise click.ClickException(
                f"round {round_} is stuck in phase {view.phase.name}: no account can act"
            )
        if local:
            stalls += 1
            if stalls > STALLS_BEFORE_GIVING_UP:
                raise click.ClickException(
                    f"round {round_} is stuck in phase {view.phase.name} after its deadline"
                )
            click.echo(
                f"round {round_} {view.phase.name}: nobody else can act here; mining past the deadline {deadline}"
            )
            _mine_past(deadline)
            return
        if waiting_for != (view.phase, deadline):
            waiting_for = (view.phase, deadline)
            left = deadline - _chain_time()
            click.echo(
                f"round {round_} {view.phase.name}: waiting for other members or the deadline "
                f"(chain time {deadline}, about {max(left, 0)} s from now); Ctrl-C is safe, rerun to resume"
            )
        time.sleep(poll)

    def play(until) -> None:
        """Step every listed account (one action each per pass) until `until()`; a deadline moves a stall."""
        nonlocal stalls
        while not until():
            acted = False
            for node in nodes:
                if until():  # a node stepping now might act on the next round already
                    break
                phase = federation.phase(max(federation.current_round(), 1)).name
                action = node.step()
                if action:
                    acted = True
                    current = federation.current_round()
                    click.echo(
                        f"[{time.perf_counter() - started:6.1f}s] round {current} {phase}: {who(node)} {action}"
                    )
            if acted:
                stalls = 0
            else:
                nobody_acted(federation.current_round())

    if round_ == 0 or federation.phase(round_) == RoundPhase.DONE:
        if round_ >= num_rounds:
            raise click.UsageError(
                f"federation {federation.address} has played all its {num_rounds} rounds: deploy a new one"
            )
        # Each account first settles what it owes of the last round and withdraws; then one opens the next.
        play(lambda: federation.current_round() != round_)
        round_ = federation.current_round()
        click.echo(f"round {round_} of {num_rounds} opened")
    else:
        click.echo(
            f"round {round_} of {num_rounds} already open in phase {federation.phase(round_).name}: resuming"
        )

    def finished() -> bool:
        """Done, and nothing left here: no listed account owes a settlement and no reserve waits to go back
        (what other members still owe is theirs to settle)."""
        view = federation.round_view(round_)
        if view.phase != RoundPhase.DONE or any(node.owes_round(view) for node in nodes):
            return False
        return round_complete(view) or not view.fully_settled

    started = time.perf_counter()
    play(finished)

    view = federation.round_view(round_)
    outcomes = [o for o, _ in view.outcomes]
    accepted, rejected = outcomes.count(TrainerOutcome.ACCEPTED), outcomes.count(TrainerOutcome.REJECTED)
    burned = sum(s.slashed for s in (*view.settlements.values(), *view.validator_settlements.values()))
    click.echo(
        f"round {round_} DONE in {time.perf_counter() - started:.1f}s: {view.reveal_count} updates revealed, "
        f"{accepted} accepted, {rejected} rejected, {len(outcomes) - accepted - rejected} undecided; "
        f"{burned / 10**18:.4f} ETH of stake burned; "
        f"global model {digest_to_cid(federation.global_model(round_))}"
    )
    for node in nodes:
        owed = federation.client_view(node.address).withdrawable
        if node.withdraw_if_owed():
            click.echo(f"{who(node)} withdrew {owed / 10**18:.4f} ETH")
    Console(width=160).print(render_status(federation))
