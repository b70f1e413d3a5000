"""Client splits: partition, no empty client, label skew as advertised."""

import numpy as np
import pytest

from qfl.data import split_dirichlet, split_iid, split_shards

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 4)).astype(np.float32)
y = np.repeat(np.arange(10), 30)


def _all_rows(clients):
    return np.concatenate([np.concatenate([c.X_train, c.X_val]) for c in clients])


def _is_partition(clients):
    rows = _all_rows(clients)
    return len(rows) == len(X) and len(np.unique(rows, axis=0)) == len(X)


def test_iid_balanced_partition():
    clients = split_iid(X, y, 10, seed=0)
    assert _is_partition(clients)
    sizes = [len(c.y_train) + len(c.y_val) for c in clients]
    assert max(sizes) - min(sizes) <= 1
    assert all(len(c.y_val) >= 1 and len(c.y_train) >= 1 for c in clients)


@pytest.mark.parametrize("alpha", [0.05, 0.3, 100.0])
def test_dirichlet_partition_no_empty_client(alpha):
    clients = split_dirichlet(X, y, 20, alpha=alpha, seed=1)
    assert _is_partition(clients)
    assert all(len(c.y_train) >= 1 and len(c.y_val) >= 1 for c in clients)


def test_dirichlet_small_alpha_skews_labels():
    def mean_labels(alpha):
        clients = split_dirichlet(X, y, 10, alpha=alpha, seed=3)
        return np.mean([len(np.unique(np.concatenate([c.y_train, c.y_val]))) for c in clients])

    assert mean_labels(0.1) < 5 < 9 < mean_labels(100.0)


def test_shards_give_k_labels_per_client():
    clients = split_shards(X, y, 10, labels_per_client=2, seed=0)
    assert _is_partition(clients)
    for c in clients:
        assert len(np.unique(np.concatenate([c.y_train, c.y_val]))) <= 2


def test_splits_are_seeded():
    a, b = split_iid(X, y, 5, seed=4), split_iid(X, y, 5, seed=4)
    assert all(np.array_equal(p.y_train, q.y_train) for p, q in zip(a, b, strict=True))


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="n_clients"):
        split_iid(X, y, 200, seed=0)
    with pytest.raises(ValueError, match="alpha"):
        split_dirichlet(X, y, 5, alpha=0, seed=0)
    with pytest.raises(ValueError, match="rows"):
        split_iid(X, y[:-1], 5, seed=0)
