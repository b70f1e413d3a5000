"""Datasets: sklearn's bundled sets or a user's CSV/NPZ, PCA-reduced and scaled to rotation angles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class BuiltinDataset:
    """What a built-in dataset is, known without loading it (configs are checked against this)."""

    loader: str  # the sklearn.datasets function
    n_classes: int
    n_features: int
    n_samples: int
    description: str
    keep_below: int | None = None  # keep only labels < this (digits01: the 0s and 1s)


# sklearn is imported only when a dataset is loaded, so checking a config stays cheap.
BUILTINS: dict[str, BuiltinDataset] = {
    "digits01": BuiltinDataset(
        "load_digits", 2, 64, 360, "8x8 handwritten digits, only 0 and 1", keep_below=2
    ),
    "digits": BuiltinDataset("load_digits", 10, 64, 1797, "8x8 handwritten digits 0-9"),
    "iris": BuiltinDataset("load_iris", 3, 4, 150, "iris flowers, 3 species"),
    "wine": BuiltinDataset("load_wine", 3, 13, 178, "wine chemistry, 3 cultivars"),
    "breast_cancer": BuiltinDataset(
        "load_breast_cancer", 2, 30, 569, "Wisconsin breast cancer, benign/malignant"
    ),
}
BUILTIN = tuple(BUILTINS)
FILE_SUFFIXES = (".csv", ".npz")


class DatasetError(ValueError):
    """A dataset name or file that cannot be loaded."""


@dataclass(frozen=True)
class Dataset:
    """Train/test features in [0, pi] (angles) and integer labels 0..n_classes-1."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str


def _builtin(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets as skd

    info = BUILTINS[name]
    X, y = getattr(skd, info.loader)(return_X_y=True)
    if info.keep_below is not None:
        keep = y < info.keep_below
        X, y = X[keep], y[keep]
    return X, y


def _from_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; give a built-in name {BUILTIN} or a .csv/.npz path")
    if path.suffix == ".csv":
        try:
            table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise DatasetError(
                f"{path}: CSV must be numeric, comma-separated, no header, label in the last column ({exc})"
            ) from exc
        if table.shape[1] < 2:
            raise DatasetError(f"{path}: CSV needs at least one feature column and a label column")
        return table[:, :-1], table[:, -1]
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as f:
                if "X" not in f or "y" not in f:
                    raise DatasetError(
                        f"{path}: NPZ must hold arrays named 'X' and 'y'; found {sorted(f.files)}"
                    )
                X, y = np.asarray(f["X"], np.float64), np.asarray(f["y"])
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: not a readable NPZ file ({exc})") from exc
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
            raise DatasetError(
                f"{path}: X must be 2-D and y 1-D with one label per row; got {X.shape}, {y.shape}"
            )
        return X, y
    raise DatasetError(f"{path}: unsupported file type {path.suffix!r}; use .csv or .npz")


def _labels(y: np.ndarray, source: str) -> tuple[np.ndarray, int]:
    """Map any label values to 0..k-1 in sorted order."""
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise DatasetError(f"{source}: labels contain NaN or inf")
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise DatasetError(f"{source}: need at least 2 classes, found {len(classes)}")
    return codes.astype(np.int32), len(classes)


def load_dataset(name: str, n_features: int, test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """Load, split (stratified), standardise, PCA to n_features and scale to [0, pi]; all fitted on train only."""
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if name in BUILTIN:
        X, y = _builtin(name)
    else:
        X, y = _from_file(Path(name))
    if not np.all(np.isfinite(X)):
        raise DatasetError(f"{name}: features contain NaN or inf")
    y, n_classes = _labels(y, name)
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction={test_fraction} must be in (0, 1)")
    if not 1 <= n_features:
        raise DatasetError(f"n_features={n_features} must be >= 1")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_fraction, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    k = min(n_features, X_tr.shape[1], X_tr.shape[0])
    if k < X_tr.shape[1]:
        pca = PCA(n_components=k, random_state=seed).fit(X_tr)
        X_tr, X_te = pca.transform(X_tr), pca.transform(X_te)
    lo, hi = X_tr.min(axis=0), X_tr.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    X_tr = (X_tr - lo) / span * np.pi
    X_te = np.clip((X_te - lo) / span, 0.0, 1.0) * np.pi
    return Dataset(
        X_train=X_tr.astype(np.float32),
        y_train=y_tr,
        X_test=X_te.astype(np.float32),
        y_test=y_te,
        n_classes=n_classes,
        name=name,
    )
