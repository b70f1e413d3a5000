"""A real participant's commands: deploy a federation, run a node, show its status."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from qfl.chain.toolchain import project
from qfl.cli.app import (
    IN_PROCESS,
    checked_network,
    main,
    network_option,
    node_preflight,
    require_recorded_federation,
    store_option,
)
from qfl.orchestration.deployment import load_experiment, open_content_store, read_deployment, resolve_account
from qfl.storage.atomic import atomic_write_json


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

    from qfl.orchestration.deployment import (
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
    choice = checked_network(network)
    with ape.networks.parse_network_choice(choice) as provider:
        sponsor = resolve_account(account)
        require_sponsor_funds(sponsor, cfg, config_path)
        from qfl.orchestration.federation_setup import deploy_from_config, load_federated_data

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
        from qfl.orchestration.deployment import deployment_record

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
    node_preflight(state_dir, store, account)  # before the heavy imports: a mistake fails fast
    import ape

    from qfl.chain import Federation
    from qfl.orchestration.deployment import ensure_registered, load_model_spec
    from qfl.orchestration.federation_setup import load_federated_data, make_node
    from qfl.orchestration.node import run_node, transient_fault

    cfg = load_experiment(config_path)
    if not 0 <= client_index < cfg.n_clients:
        raise click.UsageError(
            f"--client-index {client_index} outside 0..{cfg.n_clients - 1} of {config_path}"
        )
    content = open_content_store(store)
    if data_path is not None:  # only this node's own file: nothing of the config's shared dataset is read
        from qfl.orchestration.private_data import PrivateDataError, check_classes, load_private_data

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
    with ape.networks.parse_network_choice(checked_network(network)):
        require_recorded_federation(record, deployment, network)
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
    choice = checked_network(network)  # checked before the heavy imports: a mistake fails fast
    import ape
    from rich.console import Console

    from qfl.chain import Federation
    from qfl.orchestration.status import render_status

    with ape.networks.parse_network_choice(choice):
        require_recorded_federation(record, deployment, network)
        Console().print(render_status(Federation.at(project(), record["address"], record.get("block", 0))))
