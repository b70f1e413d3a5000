"""Attack models as pure functions; data-side ones act on a client's labels before training, model-side after."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np


def label_flip(y, n_classes: int) -> np.ndarray:
    """Data poisoning: label c becomes n_classes - 1 - c."""
    return (n_classes - 1 - np.asarray(y)).astype(np.asarray(y).dtype)


def sign_flip(update, global_params, scale: float = 1.0) -> np.ndarray:
    """Send the step in the opposite direction, scaled: g - scale * (u - g)."""
    g = np.asarray(global_params, np.float32)
    return (g - scale * (np.asarray(update, np.float32) - g)).astype(np.float32)


def gaussian_noise(update, sigma: float, seed: int) -> np.ndarray:
    """Add N(0, sigma^2) noise to every weight."""
    u = np.asarray(update, np.float32)
    return (u + np.random.default_rng(seed).normal(0.0, sigma, size=u.shape)).astype(np.float32)


def scaling(update, global_params, factor: float) -> np.ndarray:
    """Model replacement: boost the step, g + factor * (u - g)."""
    g = np.asarray(global_params, np.float32)
    return (g + factor * (np.asarray(update, np.float32) - g)).astype(np.float32)


def free_rider(global_params) -> np.ndarray:
    """Free-rider: resubmit the global model without training."""
    return np.array(global_params, dtype=np.float32, copy=True)


def colluding(updates, global_params, scale: float = 1.0) -> np.ndarray:
    """Colluders agree on one update, g - scale * mean step of their own honest updates, and all submit it."""
    u = np.asarray(updates, np.float32)
    g = np.asarray(global_params, np.float32)
    shared = g - scale * (u - g).mean(axis=0)
    return np.repeat(shared[None, :], len(u), axis=0).astype(np.float32)


@dataclass(frozen=True)
class Attack:
    """An attack and where it applies: 'data' (labels before training), 'model' (one update), 'group' (a stack)."""

    kind: Literal["data", "model", "group"]
    fn: Callable[..., np.ndarray]


ATTACKS: dict[str, Attack] = {
    "label_flip": Attack("data", label_flip),
    "sign_flip": Attack("model", sign_flip),
    "gaussian_noise": Attack("model", gaussian_noise),
    "scaling": Attack("model", scaling),
    "free_rider": Attack("model", free_rider),
    "colluding": Attack("group", colluding),
}


def apply_attack(name: str, **kwargs) -> np.ndarray:
    """Run ATTACKS[name] with the keyword arguments it takes (extra ones are ignored, missing ones reported)."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose one of {sorted(ATTACKS)}")
    fn = ATTACKS[name].fn
    params = inspect.signature(fn).parameters
    missing = [p for p, v in params.items() if v.default is inspect.Parameter.empty and p not in kwargs]
    if missing:
        raise TypeError(f"attack {name!r} needs {missing}")
    return fn(**{k: v for k, v in kwargs.items() if k in params})
