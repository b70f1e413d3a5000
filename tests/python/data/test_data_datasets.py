"""Datasets: built-ins, feature maps fitted on train only, user CSV/NPZ and their errors."""

import numpy as np
import pytest

from qfl.data import DatasetError, load_dataset


@pytest.mark.parametrize(
    "name, n_classes, n_rows",
    [("digits01", 2, 360), ("digits", 10, 1797), ("iris", 3, 150), ("wine", 3, 178)],
)
def test_builtin_shapes_and_angle_range(name, n_classes, n_rows):
    ds = load_dataset(name, n_features=4, test_fraction=0.25, seed=0)
    assert ds.n_classes == n_classes
    assert len(ds.y_train) + len(ds.y_test) == n_rows
    assert ds.X_train.shape[1] == ds.X_test.shape[1] == 4 and ds.X_train.dtype == np.float32
    assert ds.X_train.min() == 0.0 and ds.X_train.max() == pytest.approx(np.pi)
    assert ds.X_test.min() >= 0.0 and ds.X_test.max() <= np.pi + 1e-6
    assert set(np.unique(ds.y_train)) == set(range(n_classes))


def test_breast_cancer_and_determinism():
    a = load_dataset("breast_cancer", 6, 0.3, seed=1)
    b = load_dataset("breast_cancer", 6, 0.3, seed=1)
    assert np.array_equal(a.X_train, b.X_train) and a.X_train.shape[1] == 6
    c = load_dataset("breast_cancer", 6, 0.3, seed=2)
    assert not np.array_equal(a.y_train, c.y_train)


def test_scaling_is_fitted_on_train_only():
    ds = load_dataset("iris", 2, 0.5, seed=0)
    # test rows outside the train range are clipped, never rescaled to fill [0, pi]
    assert ds.X_train.min(axis=0).tolist() == [0.0, 0.0]
    assert np.isclose(ds.X_train.max(axis=0), np.pi).all()


def test_csv_label_in_last_column(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = np.where(X[:, 0] > 0, 7, 3)
    path = tmp_path / "mine.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",")
    ds = load_dataset(str(path), n_features=3, test_fraction=0.25, seed=0)
    assert ds.n_classes == 2 and ds.X_train.shape == (30, 3)
    assert set(np.unique(ds.y_train)) == {0, 1}


def test_npz_arrays_X_and_y(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, X=np.random.default_rng(0).normal(size=(20, 2)), y=np.arange(20) % 2)
    ds = load_dataset(str(path), n_features=4, test_fraction=0.5, seed=0)
    assert ds.X_train.shape == (10, 2)


def test_bad_files_are_explained(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(str(tmp_path / "missing.csv"), 2)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,0\n")
    with pytest.raises(DatasetError, match="numeric"):
        load_dataset(str(bad), 2)
    npz = tmp_path / "bad.npz"
    np.savez(npz, features=np.zeros((4, 2)))
    with pytest.raises(DatasetError, match="'X' and 'y'"):
        load_dataset(str(npz), 2)
    one_class = tmp_path / "one.csv"
    np.savetxt(one_class, np.column_stack([np.zeros((6, 2)), np.ones(6)]), delimiter=",")
    with pytest.raises(DatasetError, match="at least 2 classes"):
        load_dataset(str(one_class), 2)
    txt = tmp_path / "data.txt"
    txt.write_text("1")
    with pytest.raises(DatasetError, match="unsupported file type"):
        load_dataset(str(txt), 2)
