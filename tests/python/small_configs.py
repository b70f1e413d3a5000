"""Small federation configs for tests: a few clients, few qubits, one or two rounds, fast to play."""

from __future__ import annotations

# Phases long enough that a slow, loaded machine never runs past a deadline by wall-clock time.
LONG_PERIODS = {f"{phase}_seconds": 3600 for phase in ("commit", "reveal", "vote", "attest")}


def small_config(
    name: str, n_clients: int, *, seed: int = 1, n_qubits: int = 4, rounds: int = 1, protocol=None, **extra
) -> dict:
    """An experiment config (as a dict) on digits01, IID, one layer, one epoch; `protocol` and `extra` add to
    or override its protocol section and top-level fields."""
    return {
        "name": name,
        "n_clients": n_clients,
        "seed": seed,
        "model": {"n_qubits": n_qubits, "n_layers": 1, "encoding": "angle", "ansatz": "hea"},
        "data": {"dataset": "digits01", "split": "iid", "seed": seed},
        "training": {"epochs": 1, "batch_size": 16, "learning_rate": 0.1, "optimizer": "adam"},
        "protocol": {"rounds": rounds, "committee_size": 3, **(protocol or {})},
        **extra,
    }
