"""A member's and a sponsor's whole life: leave, withdraw, sweep, history, export; CIDs and the store."""

from __future__ import annotations

from pathlib import Path

import click

from qfl.cli.app import (
    checked_network,
    deployment_option,
    main,
    network_option,
    store_option,
)
from qfl.orchestration.deployment import read_deployment, resolve_account


def _member_preflight(network: str, deployment: Path, account: str | None) -> tuple[str, dict]:
    """Checks before anything connects or is sent (as `node` does): the account exists, the deployment is
    recorded, the network answers. Returns the checked network choice and the record."""
    from qfl.orchestration.deployment import check_account

    if account is not None:
        check_account(account)
    record = read_deployment(deployment)
    return checked_network(network), record


@main.command()
@network_option
@deployment_option
@click.option("--account", required=True, help="the member: test:N or an ape account alias")
def leave(network: str, deployment: Path, account: str) -> None:
    """Leave the federation: the whole stake becomes withdrawable (then `qflchain withdraw`).

    Refused while the account's last update or a committee seat of it is unsettled: wait until that round
    is done and settled. After leaving, the account waits the rejoin cooldown before it may register again.
    """
    from qfl.orchestration import member

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
    from qfl.orchestration import member
    from qfl.orchestration.config import eth_to_wei

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
    from qfl.orchestration import member

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
    from qfl.orchestration import member

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
    from qfl.orchestration import member
    from qfl.orchestration.deployment import check_writable_file

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
    from qfl.orchestration import member

    click.echo(member.file_cid(file))


@main.group()
def store() -> None:
    """Put files into and get them out of the content store (embedded directory or Kubo RPC URL)."""


@store.command("put")
@click.argument("file", type=click.Path(path_type=Path))
@store_option
def store_put(file: Path, store: str) -> None:
    """Publish FILE and pin it; print its CID."""
    from qfl.orchestration import member
    from qfl.orchestration.deployment import check_store_writable

    data = member.read_file(file)
    check_store_writable(store)
    click.echo(member.put(member.open_store(store, must_exist=False), store, data))


@store.command("get")
@click.argument("cid_text", metavar="CID")
@store_option
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True)
def store_get(cid_text: str, store: str, out_path: Path) -> None:
    """Fetch CID (verified against it) and write it to --out."""
    from qfl.orchestration import member
    from qfl.orchestration.deployment import check_writable_file

    check_writable_file(out_path, "--out")
    data = member.fetch(member.open_store(store), store, cid_text)
    member.write_out(out_path, data)
    click.echo(f"{cid_text}: {len(data)} bytes written to {out_path}")
