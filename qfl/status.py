"""A federation's state as rich tables: the current round and every member."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from qfl.chain import Federation
from qfl.storage import digest_to_cid

WEI = 10**18


def render_status(federation: Federation) -> Group:
    """Round phase, who committed / revealed / voted, committee, and each member's reputation and money."""
    round_ = federation.current_round()
    params = federation.params()
    head = Table(title=f"federation {federation.address}", show_header=False)
    head.add_row("round", f"{round_} of {params['numRounds']}")
    head.add_row("pool", f"{federation.pool() / WEI:.4f} ETH")
    parts = [head]
    view = federation.round_view(round_) if round_ else None
    if view is not None:
        head.add_row("phase", view.phase.name)
        head.add_row(
            "committed / revealed", f"{view.commit_count} / {view.reveal_count} of {view.expected_committers}"
        )
        head.add_row("start model", digest_to_cid(view.start_model))
        if any(view.global_model):
            head.add_row("global model", digest_to_cid(view.global_model))
        votes = Table(title=f"committee of round {round_}")
        votes.add_column("seat")
        votes.add_column("member")
        votes.add_column("voted")
        votes.add_column("accepts")
        for seat, member in enumerate(view.committee):
            accepts = sum(view.votes[seat]) if view.has_voted(seat) else "-"
            votes.add_row(str(seat), member, "yes" if view.has_voted(seat) else "no", str(accepts))
        parts.append(votes)
    members = Table(title="members")
    for col in ("address", "reputation", "stake ETH", "withdrawable ETH", "committed in", "revealed"):
        members.add_column(col)
    for address in federation.members():
        c = federation.client_view(address)
        members.add_row(
            address,
            str(c.reputation),
            f"{c.stake / WEI:.4f}",
            f"{c.withdrawable / WEI:.4f}",
            str(c.commit_round),
            "yes" if c.revealed else "no",
        )
    parts.append(members)
    return Group(*parts)
