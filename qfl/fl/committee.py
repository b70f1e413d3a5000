"""The committee's combination of score bytes, as the contract does it (no chain import: `qfl/fl` is pure numerics).

Mirrors `qfl.chain.outcome.weighted_median_bounds` and the thresholds of `Settlement._judge` (a test checks that
both give the same answer): lo / hi are the lower and upper seat-weighted medians; lo >= ACCEPT_SCORE is accepted,
hi < REJECT_SCORE rejected (slashed), REJECT_SCORE <= lo and hi < ACCEPT_SCORE neutral, anything else unvalidated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qfl.fl.judge import ACCEPT_SCORE, REJECT_SCORE

ACCEPTED, NEUTRAL, REJECTED, UNVALIDATED = "accepted", "neutral", "rejected", "unvalidated"


def weighted_median_bounds(scores: Sequence[int], weights: Sequence[int]) -> tuple[int, int]:
    """(lo, hi): lo = smallest s with 2 * weight(score <= s) >= total, hi = smallest s with `>` total."""
    if not len(scores) or len(scores) != len(weights) or any(w <= 0 for w in weights):
        raise ValueError("weighted_median_bounds needs as many positive weights as scores (at least one)")
    total = sum(int(w) for w in weights)
    acc = 0
    lo = None
    for s, w in sorted(
        zip((int(s) for s in scores), (int(w) for w in weights), strict=True), key=lambda x: x[0]
    ):
        acc += w
        if lo is None and acc * 2 >= total:
            lo = s
        if acc * 2 > total:
            return lo, s
    raise AssertionError("unreachable: the full weight always exceeds half of itself")


def combine(score_matrix, seats: Sequence[int]) -> tuple[list[str], np.ndarray]:
    """Outcome and combined score of every update from a (validators, updates) matrix of score bytes."""
    m = np.asarray(score_matrix)
    if m.ndim != 2 or m.shape[0] != len(seats):
        raise ValueError(f"score matrix must be (len(seats)={len(seats)}, n_updates), got {m.shape}")
    outcomes, combined = [], np.zeros(m.shape[1], np.int64)
    for i in range(m.shape[1]):
        lo, hi = weighted_median_bounds(m[:, i].tolist(), seats)
        if lo >= ACCEPT_SCORE:
            outcomes.append(ACCEPTED)
            combined[i] = lo
        elif hi < REJECT_SCORE:
            outcomes.append(REJECTED)
            combined[i] = hi
        elif lo >= REJECT_SCORE and hi < ACCEPT_SCORE:
            outcomes.append(NEUTRAL)
            combined[i] = lo
        else:
            outcomes.append(UNVALIDATED)
            combined[i] = lo
    return outcomes, combined
