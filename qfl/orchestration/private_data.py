"""A node's own private data file: read, checked against the model, mapped to angles by the agreed rule.

No step fits anything on pooled data. What the federation agrees on is fixed before anyone reads a row:

* the feature count is the model's input width (`cfg.model.n_features`: n_qubits for angle/reupload
  encoding, 2**n_qubits for amplitude); a file with another count is refused, never reduced;
* every feature lies in a declared range [lo, hi] (`data.feature_range`, by default [0, 1]); a value x
  becomes the angle (x - lo) / (hi - lo) * pi, the same map on every node; a value outside the range is refused (the owner must rescale by the agreed bounds, not by its own min/max);
* labels are the class codes 0..n_classes-1 of the federation's task, never renumbered per node (a node
  lacking a class would otherwise shift everybody else's meaning of the codes).

The validation rows, which this node also scores others' updates on, are held out of its own file only,
deterministically from its seed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from qfl.data.datasets import DatasetError
from qfl.data.splits import ClientData
from qfl.orchestration.config import ExperimentConfig, builtin_dataset

VAL_FRACTION = 0.2  # as the config's client splits (qfl.data.splits)
_TOLERANCE = 1e-6  # float32 rounding at the ends of the range


class PrivateDataError(DatasetError):
    """A private data file that does not fit the federation's model; the message is one line."""


def feature_range(cfg: ExperimentConfig) -> tuple[float, float]:
    """The declared [lo, hi] every node's features lie in (`data.feature_range`, [0, 1] by default)."""
    lo, hi = cfg.data.feature_range
    return float(lo), float(hi)


def task_classes(cfg: ExperimentConfig) -> int | None:
    """The class count of the config's task when known without loading data (a built-in dataset)."""
    info = builtin_dataset(cfg.data.dataset)
    return info.n_classes if info else None


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A numeric CSV: the label in the last column, or in the column a header row names `label`."""
    try:
        with path.open(newline="") as f:
            rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as exc:
        raise PrivateDataError(f"{path}: not a readable CSV file ({exc})") from exc
    if not rows:
        raise PrivateDataError(f"{path}: the CSV holds no rows")
    label_col = len(rows[0]) - 1
    try:
        [float(cell) for cell in rows[0] if cell.strip()]
    except ValueError:  # a header row
        names = [cell.strip().lower() for cell in rows[0]]
        if "label" not in names:
            raise PrivateDataError(
                f"{path}: the CSV header {rows[0]} names no 'label' column; name one 'label' or drop the "
                "header and put the label last"
            ) from None
        label_col = names.index("label")
        rows = rows[1:]
    width = len(rows[0]) if rows else 0
    if width < 2:
        raise PrivateDataError(f"{path}: the CSV needs feature columns and a label column")
    X, y = [], []
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise PrivateDataError(f"{path}: data row {number} has {len(row)} columns, the first has {width}")
        if not row[label_col].strip():
            raise PrivateDataError(f"{path}: data row {number} has no label")
        try:
            values = [float(cell) for cell in row]
        except ValueError:
            raise PrivateDataError(
                f"{path}: data row {number} is not all numbers: {','.join(row)[:80]}"
            ) from None
        y.append(values.pop(label_col))
        X.append(values)
    return np.asarray(X, np.float64), np.asarray(y, np.float64)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [name for name in ("X", "y") if name not in f]
            if missing:
                what = "labels (array 'y')" if missing == ["y"] else f"arrays {missing}"
                raise PrivateDataError(f"{path}: the NPZ has no {what}; it holds {sorted(f.files)}")
            X, y = np.asarray(f["X"]), np.asarray(f["y"])
    except (OSError, ValueError) as exc:
        raise PrivateDataError(f"{path}: not a readable NPZ file ({exc})") from exc
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise PrivateDataError(
            f"{path}: X must be 2-D and y 1-D with one label per row; got X {X.shape}, y {y.shape}"
        )
    try:
        return X.astype(np.float64), y.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise PrivateDataError(f"{path}: X and y must be numeric ({exc})") from exc


def read_private_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Raw (X, y) of a node's .csv or .npz file."""
    path = Path(path)
    if not path.is_file():
        raise PrivateDataError(f"--data {path}: no such file")
    if path.suffix == ".csv":
        return _read_csv(path)
    if path.suffix == ".npz":
        return _read_npz(path)
    raise PrivateDataError(f"--data {path}: unsupported file type {path.suffix!r}; use .csv or .npz")


def to_angles(X: np.ndarray, lo: float, hi: float, source: str) -> np.ndarray:
    """The agreed map of features in [lo, hi] to rotation angles in [0, pi]; values outside are refused."""
    span = hi - lo
    if not span > 0:
        raise PrivateDataError(f"feature range [{lo}, {hi}] is empty: hi must be above lo")
    if not np.all(np.isfinite(X)):
        raise PrivateDataError(f"{source}: features contain NaN or inf")
    scaled = (X - lo) / span
    if scaled.size and (scaled.min() < -_TOLERANCE or scaled.max() > 1 + _TOLERANCE):
        raise PrivateDataError(
            f"{source}: features span [{X.min():.4g}, {X.max():.4g}] but the federation's declared range is "
            f"[{lo:g}, {hi:g}]: rescale by the agreed bounds, not by your own min/max"
        )
    return (np.clip(scaled, 0.0, 1.0) * np.pi).astype(np.float32)


def check_labels(y: np.ndarray, n_classes: int | None, source: str) -> np.ndarray:
    """Labels as int32 class codes; each an integer in 0..n_classes-1 (n_classes None: only >= 0)."""
    if len(y) and not np.all(np.isfinite(y)):
        raise PrivateDataError(f"{source}: labels missing (NaN) or infinite")
    if np.any(y != np.round(y)):
        raise PrivateDataError(f"{source}: labels must be integer class codes 0..n_classes-1")
    bad = y[(y < 0) | ((y >= n_classes) if n_classes is not None else False)]
    if bad.size:
        classes = f"0..{n_classes - 1}" if n_classes is not None else "0 or more"
        raise PrivateDataError(
            f"{source}: label {bad[0]:g} is outside the federation's classes {classes} (labels are class "
            "codes, the same on every node)"
        )
    return y.astype(np.int32)


def check_classes(data: ClientData, n_classes: int, source: str) -> None:
    """Refuse a node's rows whose labels fall outside the federation's `n_classes` (the model spec's)."""
    check_labels(np.concatenate([data.y_train, data.y_val]).astype(np.float64), n_classes, source)


def load_private_data(
    path: Path, cfg: ExperimentConfig, seed: int, n_classes: int | None = None
) -> ClientData:
    """This node's training and validation rows, from its own file only (see the module doc for the rule).

    `n_classes`: the federation's class count (the model spec's); by default the config's built-in task's.
    The validation rows (VAL_FRACTION, at least one) are drawn with `seed`: the same file and seed give the
    same split on every run."""
    source = str(path)
    X, y = read_private_file(Path(path))
    n_features = cfg.model.n_features
    if X.shape[1] != n_features:
        raise PrivateDataError(
            f"{source}: {X.shape[1]} features per row but the model takes {n_features} "
            f"({cfg.model.encoding} encoding on {cfg.model.n_qubits} qubits)"
        )
    if len(y) < 2:
        raise PrivateDataError(f"{source}: {len(y)} rows; a node needs at least 2 (train and validation)")
    y = check_labels(y, n_classes if n_classes is not None else task_classes(cfg), source)
    lo, hi = feature_range(cfg)
    X = to_angles(X, lo, hi, source)
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = min(max(1, int(round(len(y) * VAL_FRACTION))), len(y) - 1)
    val, train = order[:n_val], order[n_val:]
    return ClientData(X[train], y[train], X[val], y[val])


def write_client_files(cfg: ExperimentConfig, out_dir: Path) -> list[Path]:
    """`client-<i>.npz` for every client of `cfg`: its part of the config's split (training and validation
    rows together), features mapped back to the declared range, so anyone can try private-data nodes
    without data of their own. (This helper alone sees every part; the nodes each read one file.)"""
    from qfl.orchestration.federation_setup import load_federated_data

    _, parts = load_federated_data(cfg)
    lo, hi = feature_range(cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, part in enumerate(parts):
        X = np.concatenate([part.X_train, part.X_val]).astype(np.float64)
        X = lo + np.clip(X / np.pi, 0.0, 1.0) * (hi - lo)
        y = np.concatenate([part.y_train, part.y_val]).astype(np.int64)
        path = out_dir / f"client-{i}.npz"
        np.savez(path, X=X, y=y)
        paths.append(path)
    return paths
