"""Client splits: IID, Dirichlet(alpha) label skew, k labels per client; each with its own validation part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClientData:
    """One client's local training and validation rows."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


def _check(X: np.ndarray, y: np.ndarray, n_clients: int) -> None:
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
    if n_clients < 1 or 2 * n_clients > len(y):
        raise ValueError(
            f"n_clients={n_clients} needs 1 <= n_clients <= {len(y) // 2} (two rows per client: train + val)"
        )


def _fill_empty(parts: list[np.ndarray], rng: np.random.Generator, minimum: int = 2) -> list[np.ndarray]:
    """Move rows from the largest clients to any client with fewer than `minimum`, so nobody is empty."""
    parts = [p.copy() for p in parts]
    for i in range(len(parts)):
        while len(parts[i]) < minimum:
            donor = int(np.argmax([len(p) for p in parts]))
            take = int(rng.integers(len(parts[donor])))
            parts[i] = np.append(parts[i], parts[donor][take])
            parts[donor] = np.delete(parts[donor], take)
    return parts


def _to_clients(X, y, parts, val_fraction: float, rng: np.random.Generator) -> list[ClientData]:
    out = []
    for idx in parts:
        idx = rng.permutation(idx)
        n_val = min(max(1, int(round(len(idx) * val_fraction))), len(idx) - 1)
        tr, va = idx[n_val:], idx[:n_val]
        out.append(ClientData(X[tr], y[tr], X[va], y[va]))
    return out


def split_iid(X, y, n_clients: int, seed: int, val_fraction: float = 0.2) -> list[ClientData]:
    """Shuffle and deal rows evenly to clients."""
    _check(X, y, n_clients)
    rng = np.random.default_rng(seed)
    parts = np.array_split(rng.permutation(len(y)), n_clients)
    return _to_clients(X, y, parts, val_fraction, rng)


def split_dirichlet(
    X, y, n_clients: int, alpha: float, seed: int, val_fraction: float = 0.2
) -> list[ClientData]:
    """Per class, share its rows among clients in Dirichlet(alpha) proportions (small alpha = strong skew)."""
    _check(X, y, n_clients)
    if alpha <= 0:
        raise ValueError(f"alpha={alpha} must be > 0 (e.g. 0.1 strong skew, 100 nearly IID)")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(n_clients)]
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        cuts = (np.cumsum(rng.dirichlet(np.full(n_clients, alpha))) * len(rows)).astype(int)[:-1]
        for i, chunk in enumerate(np.split(rows, cuts)):
            parts[i].extend(chunk.tolist())
    filled = _fill_empty([np.asarray(p, dtype=np.int64) for p in parts], rng)
    return _to_clients(X, y, filled, val_fraction, rng)


def split_shards(
    X, y, n_clients: int, labels_per_client: int, seed: int, val_fraction: float = 0.2
) -> list[ClientData]:
    """Sort rows by label, cut into n_clients * labels_per_client shards, give each client labels_per_client."""
    _check(X, y, n_clients)
    if labels_per_client < 1:
        raise ValueError(f"labels_per_client={labels_per_client} must be >= 1")
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(y)), y))
    shards = np.array_split(order, n_clients * labels_per_client)
    assign = rng.permutation(len(shards)).reshape(n_clients, labels_per_client)
    parts = [np.concatenate([shards[s] for s in row]) for row in assign]
    return _to_clients(X, y, _fill_empty(parts, rng), val_fraction, rng)
