"""End-to-end federated training on digits 0-vs-1: FedAvg over IID clients, robust rules under sign flipping."""

import numpy as np
import pytest

from qfl.data import load_dataset, split_iid
from qfl.fl.aggregate import coordinate_median, fedavg, krum
from qfl.fl.attacks import sign_flip
from qfl.quantum.model import init_params
from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import TrainConfig, evaluate, train_clients

SPEC = ModelSpec(n_qubits=4, n_layers=2, encoding="angle", ansatz="hea", n_classes=2)
CFG = TrainConfig(epochs=1, batch_size=8, learning_rate=0.1)


@pytest.fixture(scope="module")
def setup():
    ds = load_dataset("digits01", n_features=4, test_fraction=0.25, seed=0)
    return ds, split_iid(ds.X_train, ds.y_train, 10, seed=0)


def run_rounds(ds, clients, rounds, aggregate, n_attackers=0, flip_scale=4.0):
    g = init_params(SPEC, 0)
    history = []
    for r in range(rounds):
        U = train_clients(
            SPEC,
            g,
            [c.X_train for c in clients],
            [c.y_train for c in clients],
            CFG,
            [100 * r + i for i in range(10)],
        )
        for i in range(n_attackers):
            U[i] = sign_flip(U[i], g, flip_scale)
        g = aggregate(U, np.array([len(c.y_train) for c in clients]))
        history.append(evaluate(SPEC, g, ds.X_test, ds.y_test)["accuracy"])
    return history


def test_fedavg_over_ten_iid_clients_reaches_95_percent_within_20_rounds(setup):
    history = run_rounds(*setup, rounds=20, aggregate=fedavg)
    assert max(history) >= 0.95
    assert history[-1] >= 0.95


def test_median_and_krum_resist_30_percent_sign_flippers_where_fedavg_collapses(setup):
    rounds = 8
    acc = {
        "fedavg": run_rounds(*setup, rounds, fedavg, n_attackers=3)[-1],
        "median": run_rounds(*setup, rounds, lambda u, n: coordinate_median(u), n_attackers=3)[-1],
        "krum": run_rounds(*setup, rounds, lambda u, n: krum(u, 3), n_attackers=3)[-1],
    }
    assert acc["median"] >= 0.95 and acc["krum"] >= 0.95, acc
    assert acc["fedavg"] <= 0.7, acc
