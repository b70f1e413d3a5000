"""Graded validator scores (one byte per update, 0..255) that hold under non-IID data and catch free riders.

A validator judges a round's revealed updates u_i (start model g, steps d_i = u_i - g) on its own held-out rows.
The committee combines the bytes by a seat-weighted median (`qfl.fl.committee`, the contract's rule): a median
>= ACCEPT_SCORE is accepted and paid, < REJECT_SCORE rejected and slashed, anything between neutral.

Score 0 ("free riding or clearly out of range"), whatever the data says:
  - no step: ||d_i|| < min_step * median step;
  - duplicate: within dup_radius * median step of another update of this round (all copies: a colluding group
    sending one shared step), or of an update another client sent in a remembered earlier round (as sent, or its
    step re-based on today's model);
  - extrapolation of public models: cos(d_i, g - g_k) > momentum_cos for a remembered earlier global g_k
    (g + c (g - g_prev), any c > 0: "momentum" free riding);
  - magnitude: step norm per local step (`local_steps`, from the revealed sample counts) above max_norm_ratio
    times the median (scaling, amplified flips, noise).

Otherwise a graded badness in [0, 1], byte = round(255 * (1 - badness)), badness = max(harm, against * gate *
balance), with the round's statistics taken over the updates that passed the checks above:
  - harm: the update's loss change on the validator's rows as a robust z-score over the round (scale: the larger
    of 1.4826 MAD and the 10-75% range / 1.956, so the bimodal changes of label skew count as one spread), ramping
    from harm_z0 to harm_z1;
  - against: how far the update's cosine to the norm-clipped mean of the other steps lies below the round's median
    cosine (ramp against_gap0..against_gap1): far below in a coherent round, never in a round whose honest steps
    already point every way (strong skew);
  - gate: "against" counts only as far as the update does worse than the round's median on this validator's rows
    (ramp gate_z0..gate_z1): a step that points elsewhere but helps here is an honest client with other data;
  - balance: the label entropy of the validator's rows (`label_balance`), 0 for a one-class validator, which cannot
    tell an update trained on another class from one trained against its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import evaluate, evaluate_many

ACCEPT_SCORE = 128  # the contract's thresholds (qfl.chain.outcome); a test keeps the two equal
REJECT_SCORE = 64


@dataclass(frozen=True)
class JudgeConfig:
    """Thresholds of the judge; the defaults are the ones `python -m qfl.fl.judging` measures."""

    min_step: float = 0.1
    dup_radius: float = 0.01
    momentum_cos: float = 0.99
    max_norm_ratio: float = 2.5
    harm_z0: float = 3.0
    harm_z1: float = 6.0
    against_gap0: float = 0.8
    against_gap1: float = 1.2
    gate_z0: float = 0.0
    gate_z1: float = 1.0
    mad_floor: float = 0.01


@dataclass
class JudgeMemory:
    """What a validator keeps between rounds: the last few global models and the updates it scored (by owner)."""

    depth: int = 3
    globals: deque = field(default_factory=deque)
    updates: deque = field(default_factory=deque)  # (owners, absolute updates, steps)

    def remember(self, global_params, updates, owners: Sequence | None = None) -> None:
        """Record a scored round: its start model and its updates (owners default to positions)."""
        g = np.asarray(global_params, np.float64)
        u = np.asarray(updates, np.float64)
        who = list(range(len(u))) if owners is None else list(owners)
        self.globals.append(g)
        self.updates.append((who, u, u - g))
        while len(self.globals) > self.depth:
            self.globals.popleft()
        while len(self.updates) > self.depth:
            self.updates.popleft()


@dataclass(frozen=True)
class Geometry:
    """The data-free part of the judgment: the same on every validator (updates and public models only)."""

    step_norm: np.ndarray
    norm_ratio: np.ndarray
    cosine: np.ndarray
    no_step: np.ndarray
    duplicate: np.ndarray
    copy: np.ndarray
    momentum: np.ndarray
    too_large: np.ndarray

    @property
    def zero(self) -> np.ndarray:
        """Updates scored 0 whatever the validator's data."""
        return self.no_step | self.duplicate | self.copy | self.momentum | self.too_large


def _min_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of a, the distance to the nearest row of b (inf when b is empty)."""
    if len(b) == 0:
        return np.full(len(a), np.inf)
    return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0)).min(axis=1)


def geometry(
    global_params,
    updates,
    memory: JudgeMemory | None = None,
    owners: Sequence | None = None,
    local_steps: Sequence[float] | None = None,
    cfg: JudgeConfig = JudgeConfig(),  # noqa: B008 - frozen
) -> Geometry:
    """Free-riding, duplicate, magnitude and direction features of every update (see the module docstring)."""
    g = np.asarray(global_params, np.float64)
    u = np.asarray(updates, np.float64)
    if u.ndim != 2 or u.shape[1] != g.shape[0] or len(u) == 0:
        raise ValueError(f"updates must be (n_updates >= 1, {g.shape[0]}), got {u.shape}")
    n = len(u)
    who = list(range(n)) if owners is None else list(owners)
    if len(who) != n:
        raise ValueError(f"got {len(who)} owners for {n} updates")
    d = u - g
    norm = np.linalg.norm(d, axis=1)
    scale = float(np.median(norm)) or 1e-12
    steps = np.ones(n) if local_steps is None else np.asarray(local_steps, np.float64)
    if steps.shape != (n,) or np.any(steps <= 0):
        raise ValueError(f"local_steps must be {n} positive numbers, got {local_steps!r}")
    per_step = norm / steps
    norm_ratio = per_step / max(float(np.median(per_step)), 1e-12)
    radius = cfg.dup_radius * scale

    pair = np.sqrt(np.maximum(((u[:, None, :] - u[None, :, :]) ** 2).sum(-1), 0.0))
    np.fill_diagonal(pair, np.inf)
    duplicate = pair.min(axis=1) < radius if n > 1 else np.zeros(1, bool)

    copy = np.zeros(n, bool)
    momentum = np.zeros(n, bool)
    if memory is not None:
        for past_owners, past_u, past_d in memory.updates:
            for i in range(n):
                others = np.array(
                    [o != who[i] for o in past_owners], bool
                )  # a client's own past is not a copy
                if not others.any():
                    continue
                near = min(
                    _min_distance(u[i : i + 1], past_u[others])[0],
                    _min_distance(d[i : i + 1], past_d[others])[0],
                )
                copy[i] |= near < radius
        for past_g in memory.globals:
            drift = g - past_g
            dn = np.linalg.norm(drift)
            if dn > 0:
                momentum |= (d @ drift) / np.maximum(norm * dn, 1e-12) > cfg.momentum_cos

    no_step = norm < cfg.min_step * scale
    too_large = norm_ratio > cfg.max_norm_ratio
    keep = ~(no_step | duplicate | copy | momentum | too_large)
    # Direction against the others: each step's cosine to the mean of the OTHER steps that passed the checks
    # above (ten momentum free riders must not steer it), each clipped to the median norm.
    clipped = d * np.minimum(1.0, scale / np.maximum(norm, 1e-12))[:, None]
    total = clipped[keep].sum(axis=0)
    ref = total[None, :] - clipped * keep[:, None]
    cosine = (d * ref).sum(1) / np.maximum(norm * np.linalg.norm(ref, axis=1), 1e-12)
    return Geometry(
        step_norm=norm,
        norm_ratio=norm_ratio,
        cosine=cosine,
        no_step=no_step,
        duplicate=duplicate,
        copy=copy,
        momentum=momentum,
        too_large=too_large,
    )


def _robust_z(values: np.ndarray, floor: float, among: np.ndarray | None = None) -> np.ndarray:
    """(v - median) / scale; the scale is the larger of 1.4826 MAD and the 10-75% range / 1.956 (both sigma for a
    normal sample), so a bimodal round (label skew: the validator's classes against the others, the others a
    quarter or more) is one spread, not a majority and outliers; the range stops at 75% so that a fifth of
    attackers on the harmful side does not widen it."""
    ref = values if among is None or not among.any() else values[among]
    med = np.median(ref)
    mad = 1.4826 * np.median(np.abs(ref - med))
    p10, p75 = np.percentile(ref, [10, 75])
    return (values - med) / max(mad, (p75 - p10) / 1.956, floor)


def loss_changes(spec: ModelSpec, global_params, updates, X_val, y_val) -> np.ndarray:
    """L(u_i) - L(g) on the validator's rows: negative = the update helps there."""
    many = evaluate_many(spec, np.asarray(updates, np.float32), X_val, y_val)["loss"]
    return many - evaluate(spec, np.asarray(global_params, np.float32), X_val, y_val)["loss"]


def label_balance(y, n_classes: int) -> float:
    """Entropy of the label histogram over log(n_classes): 1 for balanced rows, 0 for rows of one class."""
    counts = np.bincount(np.asarray(y, np.int64), minlength=n_classes).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum() / np.log(n_classes)) if n_classes > 1 else 1.0


def grade(
    geo: Geometry,
    delta_loss: np.ndarray,
    cfg: JudgeConfig = JudgeConfig(),  # noqa: B008
    balance: float = 1.0,
) -> np.ndarray:
    """Score bytes (uint8) from the round's geometry and this validator's loss changes.

    `balance` (`label_balance` of the validator's rows) scales the direction term: a validator holding one class
    cannot tell an update trained on another class from one trained against its own (both point away from the
    majority and hurt on its rows), so it leaves direction to validators whose rows cover the classes.
    """
    keep = ~geo.zero  # the round's statistics come from the updates that passed the data-free checks
    z = _robust_z(np.asarray(delta_loss, np.float64), cfg.mad_floor, keep)
    harm = np.clip((z - cfg.harm_z0) / (cfg.harm_z1 - cfg.harm_z0), 0.0, 1.0)
    # How far the update's cosine to the others lies below the round's median cosine: in a coherent round
    # (IID, mild skew) honest cosines cluster high and a flipped step lies far below; under strong skew they
    # spread over [-0.5, 1] and nothing short of the full gap counts.
    gap = np.median(geo.cosine[keep] if keep.any() else geo.cosine) - geo.cosine
    against = np.clip((gap - cfg.against_gap0) / (cfg.against_gap1 - cfg.against_gap0), 0.0, 1.0)
    gate = np.clip((z - cfg.gate_z0) / (cfg.gate_z1 - cfg.gate_z0), 0.0, 1.0)
    badness = np.maximum(harm, against * gate * balance)
    score = np.rint(255.0 * (1.0 - badness))
    score[geo.zero] = 0
    return score.astype(np.uint8)


def judge_round(
    spec: ModelSpec,
    global_params,
    updates,
    X_val,
    y_val,
    memory: JudgeMemory | None = None,
    owners: Sequence | None = None,
    local_steps: Sequence[float] | None = None,
    cfg: JudgeConfig = JudgeConfig(),  # noqa: B008
) -> np.ndarray:
    """One validator's score bytes (uint8, one per update) for a round; what a node reveals on chain.

    `memory` (updated here) remembers earlier rounds for the copy and momentum checks; `owners` names who sent each
    update (a client's own earlier update is not a copy); `local_steps` are the local optimiser steps each update
    took (from the revealed sample counts), so a large client's longer step is not a magnitude outlier.
    """
    geo = geometry(global_params, updates, memory, owners, local_steps, cfg)
    balance = label_balance(y_val, spec.n_classes)
    scores = grade(geo, loss_changes(spec, global_params, updates, X_val, y_val), cfg, balance)
    if memory is not None:
        memory.remember(global_params, updates, owners)
    return scores
