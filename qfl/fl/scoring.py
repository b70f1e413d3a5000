"""Validator scoring: judge each revealed update on the validator's own held-out data, then vote.

An update u (global model g, coordinate-wise median of all updates m) is rejected when ANY of these holds:
  1. free-rider: it makes no step, ||u - g|| <= min_step_fraction * median step norm;
  2. magnitude outlier: the robust z-score of ||u - m|| (median/MAD over all updates) exceeds z_threshold,
     which catches scaled (model-replacement), heavily noised and amplified sign-flipped updates;
  3. harmful: its validation loss exceeds the global model's by a clear margin,
     loss > global_loss * (1 + harm_relative) + harm_absolute;
  4. adversarial direction: its step points against the consensus step, cos(u - g, m - g) < 0, AND it does not
     help on the validator's data, loss > global_loss * (1 + tolerance_relative) + tolerance_absolute
     (plain sign flips and label flips). The AND keeps honest non-IID clients whose step is merely unusual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import evaluate, evaluate_many


@dataclass(frozen=True)
class UpdateScores:
    """Per-update measurements on one validator's data, plus the global model's baseline."""

    loss: np.ndarray
    accuracy: np.ndarray
    global_loss: float
    global_accuracy: float
    step_norm: np.ndarray
    median_distance: np.ndarray
    robust_z: np.ndarray
    cosine_to_median: np.ndarray


def robust_z(values: np.ndarray) -> np.ndarray:
    """(v - median) / (1.4826 * MAD); MAD floored at 1e-3 of the median so identical honest values are not outliers."""
    v = np.asarray(values, dtype=np.float64)
    med = np.median(v)
    mad = np.median(np.abs(v - med))
    floor = max(1e-3 * abs(med), 1e-12)
    return (v - med) / (1.4826 * max(mad, floor))


def score_updates(spec: ModelSpec, global_params, updates, X_val, y_val) -> UpdateScores:
    """Loss/accuracy of every update and of the global model on (X_val, y_val), and geometry against the median."""
    u = np.asarray(updates, dtype=np.float32)
    g = np.asarray(global_params, dtype=np.float32)
    if u.ndim != 2 or u.shape[1] != g.shape[0]:
        raise ValueError(f"updates must be (n_updates, {g.shape[0]}), got {u.shape}")
    many = evaluate_many(spec, u, X_val, y_val)
    base = evaluate(spec, g, X_val, y_val)
    u64 = u.astype(np.float64)
    step = np.linalg.norm(u64 - g.astype(np.float64), axis=1)
    med = np.median(u64, axis=0)
    dist = np.linalg.norm(u64 - med, axis=1)
    consensus = med - g.astype(np.float64)
    cosine = (u64 - g) @ consensus / np.maximum(step * np.linalg.norm(consensus), 1e-12)
    return UpdateScores(
        loss=many["loss"],
        accuracy=many["accuracy"],
        global_loss=base["loss"],
        global_accuracy=base["accuracy"],
        step_norm=step,
        median_distance=dist,
        robust_z=robust_z(dist),
        cosine_to_median=cosine,
    )


def decide_votes(
    scores: UpdateScores,
    z_threshold: float = 3.5,
    min_step_fraction: float = 0.05,
    harm_relative: float = 0.5,
    harm_absolute: float = 0.1,
    tolerance_relative: float = 0.05,
    tolerance_absolute: float = 0.02,
) -> np.ndarray:
    """Accept (True) or reject (False) each update by the four rules in this module's docstring."""
    free_rider = scores.step_norm <= min_step_fraction * np.median(scores.step_norm)
    outlier = scores.robust_z > z_threshold
    harmful = scores.loss > scores.global_loss * (1.0 + harm_relative) + harm_absolute
    no_help = scores.loss > scores.global_loss * (1.0 + tolerance_relative) + tolerance_absolute
    against = (scores.cosine_to_median < 0.0) & no_help
    return ~(free_rider | outlier | harmful | against)
