"""Pure-Python mirror of how `settle` judges an update (Settlement._judge + WeightedMedian.bounds).

Aggregators need the accepted set before (or without) anyone settling: it follows from public data alone,
the committee's seats and the revealed score vectors, so every node computes it here and gets the contract's
answer. The rules, for update i of a round:

- voters: committee members who revealed scores, in position order, except the update's own trainer;
  each votes its score byte i with weight = its seats;
- quorum: the voters' seats `cast` must be more than half of the seats not held by the trainer,
  cast * 2 > total_seats - own_seats (a trainer on the committee that stayed silent still has own seats);
- lo / hi: lower and upper seat-weighted medians of the votes (they differ only on an exact half split);
- lo >= ACCEPT_SCORE: Accepted (score lo); hi < REJECT_SCORE: Rejected (score hi);
  REJECT_SCORE <= lo and hi < ACCEPT_SCORE: Neutral (score lo); anything else (a tie across a threshold,
  or no quorum, score 0) is Unvalidated;
- a CID revealed more than once in the round is judged like any other, except that an accepted copy is only
  Neutral (nobody is paid for a copy; a rejected copy is still slashed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from qfl.chain.types import TrainerOutcome

if TYPE_CHECKING:
    from qfl.chain.types import RoundView

ACCEPT_SCORE = 128
REJECT_SCORE = 64


def weighted_median_bounds(scores: Sequence[int], weights: Sequence[int]) -> tuple[int, int]:
    """(lo, hi): lo = smallest s with 2 * weight(score <= s) >= total, hi = smallest s with `>` total."""
    if not scores or len(scores) != len(weights) or any(w <= 0 for w in weights):
        raise ValueError("weighted_median_bounds needs as many positive weights as scores (at least one)")
    total = sum(weights)
    acc = 0
    lo = None
    for score, weight in sorted(zip(scores, weights, strict=True), key=lambda sw: sw[0]):
        acc += weight
        if lo is None and acc * 2 >= total:
            lo = score
        if acc * 2 > total:
            return lo, score
    raise AssertionError("unreachable: the full weight always exceeds half of itself")


def judge(
    index: int,
    trainer: str,
    committee: Sequence[str],
    seats: Sequence[int],
    scores: Mapping[str, bytes],
    duplicate: bool = False,
) -> tuple[TrainerOutcome, int]:
    """(outcome, combined score) of the `index`-th revealed update, trained by `trainer`.

    `committee[p]` holds `seats[p]` seats; `scores` maps each committee member who revealed to its score
    vector; `duplicate` says its CID was revealed more than once in the round. Mirrors `Settlement._judge`
    and the duplicate rule of `_settleTrainer` exactly (see this module's docstring).
    """
    outcome, score = _judge(index, trainer, committee, seats, scores)
    if duplicate and outcome == TrainerOutcome.ACCEPTED:
        return TrainerOutcome.NEUTRAL, score
    return outcome, score


def _judge(
    index: int, trainer: str, committee: Sequence[str], seats: Sequence[int], scores: Mapping[str, bytes]
) -> tuple[TrainerOutcome, int]:
    """`Settlement._judge`: the seat-weighted median of the other voters' scores, with a quorum."""
    total_seats = sum(seats)
    revealed = {a.lower(): bytes(v) for a, v in scores.items()}
    trainer = trainer.lower()
    votes: list[int] = []
    weights: list[int] = []
    own_seats = 0
    for member, member_seats in zip(committee, seats, strict=True):
        member = member.lower()
        if member == trainer:
            own_seats = member_seats  # revealed or silent, the trainer's own seats never count
            continue
        vector = revealed.get(member)
        if vector is None:
            continue
        votes.append(vector[index])
        weights.append(member_seats)
    cast = sum(weights)
    if cast == 0 or cast * 2 <= total_seats - own_seats:
        return TrainerOutcome.UNVALIDATED, 0
    lo, hi = weighted_median_bounds(votes, weights)
    if lo >= ACCEPT_SCORE:
        return TrainerOutcome.ACCEPTED, lo
    if hi < REJECT_SCORE:
        return TrainerOutcome.REJECTED, hi
    if lo >= REJECT_SCORE and hi < ACCEPT_SCORE:
        return TrainerOutcome.NEUTRAL, lo
    return TrainerOutcome.UNVALIDATED, lo


def judge_round(view: RoundView) -> tuple[tuple[TrainerOutcome, int], ...]:
    """(outcome, score) of every revealed update of `view`, in reveal order."""
    copies = Counter(u.cid_digest for u in view.reveals)
    return tuple(
        judge(u.reveal_order, u.client, view.committee, view.seats, view.scores, copies[u.cid_digest] > 1)
        for u in view.reveals
    )
