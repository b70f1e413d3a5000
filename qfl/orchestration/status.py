"""A federation's state as rich tables: the current round, its committee, its updates and every member."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from qfl.chain import Federation, SeatFlag
from qfl.storage import digest_to_cid

WEI = 10**18


def _eth(wei: int) -> str:
    return f"{wei / WEI:.4f}"


def render_status(federation: Federation) -> Group:
    """Round phase and counters, the committee's votes and settlement, each update's outcome, and each
    member's reputation and money; the contract's money accounting at the top."""
    round_ = federation.current_round()
    params = federation.params()
    money = federation.accounting()
    head = Table(title=f"federation {federation.address}", show_header=False)
    head.add_row("round", f"{round_} of {params['numRounds']}")
    head.add_row("pool", f"{_eth(money['pool'])} ETH")
    head.add_row(
        "money",
        f"balance {_eth(money['balance'])} = staked {_eth(money['total_staked'])} + withdrawable "
        f"{_eth(money['total_withdrawable'])} + pool {_eth(money['pool'])} + reserved "
        f"{_eth(money['reserved'])} + burned {_eth(money['burned'])} ETH",
    )
    parts = [head]
    view = federation.round_view(round_) if round_ else None
    if view is not None:
        head.add_row("phase", view.phase.name)
        head.add_row(
            "committed / revealed / settled",
            f"{view.commit_count} / {view.reveal_count} / {view.settled_count} of {view.expected_committers}",
        )
        head.add_row("start model", digest_to_cid(view.start_model))
        if any(view.global_model):
            head.add_row("global model", digest_to_cid(view.global_model))
        if view.committee:
            committee = Table(title=f"committee of round {round_} ({view.total_seats} seats)")
            for col in ("position", "member", "seats", "vote", "settled", "proposed"):
                committee.add_column(col)
            for pos, (member, seats, flags) in enumerate(
                zip(view.committee, view.seats, view.seat_flags, strict=True), start=1
            ):
                vote = (
                    "revealed"
                    if flags & SeatFlag.VOTE_REVEALED
                    else "committed"
                    if flags & SeatFlag.VOTE_COMMITTED
                    else "-"
                )
                committee.add_row(
                    str(pos),
                    member,
                    str(seats),
                    vote,
                    "yes" if flags & SeatFlag.SETTLED else "no",
                    "yes" if flags & SeatFlag.PROPOSED else "no",
                )
            parts.append(committee)
        if view.reveals:
            updates = Table(title=f"updates of round {round_}")
            for col in ("order", "client", "samples", "reputation", "outcome", "reward ETH", "burned ETH"):
                updates.add_column(col)
            final = view.phase.votes_closed
            for update, (outcome, _) in zip(view.reveals, view.outcomes, strict=True):
                settled = view.settlement_of(update.client)
                shown = settled.outcome.name if settled else (f"{outcome.name} (unsettled)" if final else "-")
                updates.add_row(
                    str(update.reveal_order),
                    update.client,
                    str(update.samples),
                    str(update.reputation),
                    shown,
                    _eth(settled.reward) if settled else "-",
                    _eth(settled.slashed) if settled else "-",
                )
            parts.append(updates)
    members = Table(title="members")
    for col in (
        "address",
        "reputation",
        "stake ETH",
        "withdrawable ETH",
        "committed in",
        "revealed",
        "settled",
    ):
        members.add_column(col)
    for address in federation.members():
        c = federation.client_view(address)
        members.add_row(
            address,
            str(c.reputation),
            _eth(c.stake),
            _eth(c.withdrawable),
            str(c.commit_round),
            "yes" if c.revealed else "no",
            "yes" if c.settled else "no",
        )
    parts.append(members)
    return Group(*parts)
