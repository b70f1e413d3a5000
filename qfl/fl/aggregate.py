"""Aggregation rules over stacked client weights (n_clients, n_params): float64 sums in client order, float32 out.

Every sum runs as an explicit loop over clients (row 0 first), each step an element-wise IEEE operation, so the
result does not depend on BLAS, SIMD width or thread count: any node recomputes the same bytes, hence the same CID.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np


def _stack(updates) -> np.ndarray:
    u = np.asarray(updates, dtype=np.float64)
    if u.ndim != 2 or u.shape[0] < 1:
        raise ValueError(f"updates must be 2-D (n_clients >= 1, n_params), got shape {u.shape}")
    if not np.all(np.isfinite(u)):
        raise ValueError("updates contain NaN or inf; drop those clients before aggregating")
    return u


def _weights(w, n: int, what: str) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (n,) or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError(f"{what} must be {n} finite non-negative numbers, got {w!r}")
    if w.sum() <= 0:
        raise ValueError(f"{what} sum to zero: nothing to weight the average with")
    return w


def _ordered_weighted_mean(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sum_i w_i u_i / sum_i w_i with both sums accumulated in float64, client 0 first."""
    acc = np.zeros(u.shape[1], dtype=np.float64)
    total = 0.0
    for i in range(u.shape[0]):
        acc = acc + w[i] * u[i]
        total = total + float(w[i])
    return (acc / total).astype(np.float32)


def cap_shares(weights: Sequence[int], max_share_bps: int) -> np.ndarray:
    """Water-filling: lower the largest weights to one level T so none is above max_share_bps / 10000 of
    the total, leaving every weight below T as it is: w'_i = min(w_i, T), T = cap * sum_j w'_j.

    With the k largest weights clipped, T = bps * (sum of the others) / (10000 - k * bps); the answer is the
    smallest k for which the (k+1)-th largest weight is at or below that T. Integer weights (samples x
    reputation, as the chain reports them) and exact fractions make T the same on every node; each result
    is the float64 nearest to its exact value. When the cap cannot hold (fewer than 10000 / bps non-zero
    weights), every non-zero weight is lowered to the smallest one: all equal, the closest to the cap there
    is. A zero weight stays zero.
    """
    w = [int(x) for x in weights]
    if any(x < 0 for x in w):
        raise ValueError(f"weights must be non-negative integers, got {w}")
    if not 0 < max_share_bps <= 10_000:
        raise ValueError(f"max_share_bps={max_share_bps} must be in 1..10000")
    positive = sum(1 for x in w if x > 0)
    if positive == 0:
        return np.zeros(len(w), dtype=np.float64)
    level: Fraction | int = min(x for x in w if x > 0)  # infeasible cap: every non-zero weight equal
    if positive * max_share_bps >= 10_000:
        desc = sorted(w, reverse=True)
        rest = sum(desc)
        for k, largest_left in enumerate(desc):
            if 10_000 - k * max_share_bps <= 0:
                break
            t = Fraction(max_share_bps * rest, 10_000 - k * max_share_bps)
            if largest_left <= t:
                level = t
                break
            rest -= largest_left
    return np.array([float(min(Fraction(x), level)) if x > 0 else 0.0 for x in w], dtype=np.float64)


def fedavg(updates, n_samples) -> np.ndarray:
    """FedAvg: mean of client weights weighted by their sample counts."""
    u = _stack(updates)
    return _ordered_weighted_mean(u, _weights(n_samples, len(u), "n_samples"))


def reputation_weighted_fedavg(updates, n_samples, reputation) -> np.ndarray:
    """FedAvg with each client's weight scaled by its on-chain reputation: w_i = n_i * r_i."""
    u = _stack(updates)
    n = _weights(n_samples, len(u), "n_samples")
    r = _weights(reputation, len(u), "reputation")
    return _ordered_weighted_mean(u, n * r)


def coordinate_median(updates) -> np.ndarray:
    """Coordinate-wise median (mean of the two middle values for an even count)."""
    s = np.sort(_stack(updates), axis=0)
    k = s.shape[0]
    mid = s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) / 2.0
    return mid.astype(np.float32)


def trimmed_mean(updates, trim_fraction: float) -> np.ndarray:
    """Coordinate-wise mean after dropping the floor(trim_fraction * n) largest and smallest values."""
    s = np.sort(_stack(updates), axis=0)
    if not 0.0 <= trim_fraction < 0.5:
        raise ValueError(f"trim_fraction={trim_fraction} must be in [0, 0.5)")
    t = int(np.floor(trim_fraction * s.shape[0]))
    kept = s[t : s.shape[0] - t]
    return _ordered_weighted_mean(kept, np.ones(len(kept)))


def _krum_scores(u: np.ndarray, n_byzantine: int) -> np.ndarray:
    """Krum score: sum of squared distances to the n - f - 2 nearest other clients."""
    n = u.shape[0]
    if n_byzantine < 0 or n - n_byzantine - 2 < 1:
        raise ValueError(
            f"Krum needs n_clients >= n_byzantine + 3; got n_clients={n}, n_byzantine={n_byzantine}"
        )
    diff = u[:, None, :] - u[None, :, :]
    d2 = np.einsum("ijk,ijk->ij", diff, diff)
    np.fill_diagonal(d2, np.inf)
    nearest = np.sort(d2, axis=1)[:, : n - n_byzantine - 2]
    return nearest.sum(axis=1)


def krum(updates, n_byzantine: int) -> np.ndarray:
    """Krum: the single update closest to its n - f - 2 nearest neighbours (ties -> lowest index)."""
    u = _stack(updates)
    return u[int(np.argmin(_krum_scores(u, n_byzantine)))].astype(np.float32)


def multi_krum(updates, n_byzantine: int, m: int) -> np.ndarray:
    """Multi-Krum: plain mean of the m updates with the best Krum scores (stable order on ties)."""
    u = _stack(updates)
    if not 1 <= m <= u.shape[0]:
        raise ValueError(f"m={m} must be in 1..n_clients={u.shape[0]}")
    chosen = np.sort(np.argsort(_krum_scores(u, n_byzantine), kind="stable")[:m])
    return _ordered_weighted_mean(u[chosen], np.ones(m))


Aggregator = Callable[..., np.ndarray]

AGGREGATORS: dict[str, Aggregator] = {
    "fedavg": fedavg,
    "reputation_weighted_fedavg": reputation_weighted_fedavg,
    "coordinate_median": coordinate_median,
    "trimmed_mean": trimmed_mean,
    "krum": krum,
    "multi_krum": multi_krum,
}
