"""Client-level differential privacy: clip a client's step to norm C, add N(0, (z C)^2) to every weight.

Each round one client releases one Gaussian mechanism of its whole update (sensitivity C, noise multiplier z:
adding or removing all of a client's rows changes its step by at most C after clipping). Over R rounds in which it
takes part, its privacy loss is the R-fold composition, accounted with Google's `dp-accounting` (RDP accountant,
converted to (epsilon, delta)).
"""

from __future__ import annotations

import numpy as np


def privatize(update, global_params, clip: float, noise_multiplier: float, seed: int) -> np.ndarray:
    """g + clip_C(u - g) + N(0, (noise_multiplier * clip)^2 I), float32."""
    if clip <= 0 or noise_multiplier < 0:
        raise ValueError(f"clip={clip} must be > 0 and noise_multiplier={noise_multiplier} >= 0")
    g = np.asarray(global_params, np.float64)
    d = np.asarray(update, np.float64) - g
    norm = float(np.linalg.norm(d))
    d = d * min(1.0, clip / norm) if norm > 0 else d
    noise = np.random.default_rng(seed).normal(0.0, noise_multiplier * clip, size=d.shape)
    return (g + d + noise).astype(np.float32)


def client_epsilon(noise_multiplier: float, rounds: int, delta: float = 1e-5) -> float:
    """epsilon of one client after `rounds` Gaussian releases with this noise multiplier (RDP accountant)."""
    if noise_multiplier <= 0 or rounds < 1 or not 0 < delta < 1:
        raise ValueError(
            f"need noise_multiplier > 0, rounds >= 1, 0 < delta < 1; got {noise_multiplier}, {rounds}, {delta}"
        )
    import dp_accounting  # imported here: only DP runs need it
    from dp_accounting.rdp import rdp_privacy_accountant

    accountant = rdp_privacy_accountant.RdpAccountant()
    accountant.compose(
        dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(noise_multiplier), rounds)
    )
    return float(accountant.get_epsilon(delta))
