"""Training: central accuracy, vmapped clients equal one-by-one training, determinism, FedProx, evaluation."""

import time

import numpy as np
import pytest

from qfl.data import load_dataset, split_dirichlet
from qfl.quantum.model import init_params
from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import TrainConfig, evaluate, evaluate_many, train_clients, train_local

SPEC = ModelSpec(n_qubits=4, n_layers=2, encoding="angle", ansatz="hea", n_classes=2)


@pytest.fixture(scope="module")
def digits01():
    return load_dataset("digits01", n_features=4, test_fraction=0.25, seed=0)


def test_central_training_reaches_95_percent_on_digits_0_vs_1(digits01):
    params = init_params(SPEC, 0)
    before = evaluate(SPEC, params, digits01.X_test, digits01.y_test)
    trained = train_local(
        SPEC, params, digits01.X_train, digits01.y_train, TrainConfig(epochs=3, learning_rate=0.1)
    )
    after = evaluate(SPEC, trained, digits01.X_test, digits01.y_test)
    assert after["accuracy"] >= 0.95
    assert after["loss"] < before["loss"]


def test_vmapped_clients_equal_one_by_one_with_unequal_sizes(digits01):
    clients = split_dirichlet(digits01.X_train, digits01.y_train, 3, alpha=0.5, seed=2)
    sizes = [len(c.y_train) for c in clients]
    assert len(set(sizes)) > 1
    cfg = TrainConfig(epochs=2, batch_size=8, learning_rate=0.05, seed=0)
    g = init_params(SPEC, 1)
    seeds = [11, 12, 13]
    stack = train_clients(SPEC, g, [c.X_train for c in clients], [c.y_train for c in clients], cfg, seeds)
    assert stack.shape == (3, SPEC.n_params) and stack.dtype == np.float32
    for i, c in enumerate(clients):
        one = train_local(SPEC, g, c.X_train, c.y_train, cfg.model_copy(update={"seed": seeds[i]}))
        np.testing.assert_allclose(stack[i], one, atol=1e-4)
        assert not np.allclose(one, g)


def test_training_is_deterministic_and_seed_sensitive(digits01):
    cfg = TrainConfig(epochs=1, batch_size=16, seed=5)
    g = init_params(SPEC, 0)
    a = train_local(SPEC, g, digits01.X_train, digits01.y_train, cfg)
    b = train_local(SPEC, g, digits01.X_train, digits01.y_train, cfg)
    c = train_local(SPEC, g, digits01.X_train, digits01.y_train, cfg.model_copy(update={"seed": 6}))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fedprox_term_keeps_weights_closer_to_global(digits01):
    g = init_params(SPEC, 0)
    plain = TrainConfig(epochs=2, learning_rate=0.1)
    prox = plain.model_copy(update={"prox_mu": 5.0})
    d_plain = np.linalg.norm(train_local(SPEC, g, digits01.X_train, digits01.y_train, plain) - g)
    d_prox = np.linalg.norm(train_local(SPEC, g, digits01.X_train, digits01.y_train, prox) - g)
    assert d_prox < 0.8 * d_plain


def test_fifty_clients_cost_far_less_than_fifty_single_runs(digits01):
    cfg = TrainConfig(epochs=1, batch_size=8, learning_rate=0.05)
    g = init_params(SPEC, 0)
    X, y = digits01.X_train[:40], digits01.y_train[:40]
    train_local(SPEC, g, X, y, cfg)
    train_clients(SPEC, g, [X] * 50, [y] * 50, cfg)  # compile both shapes first
    t0 = time.perf_counter()
    train_local(SPEC, g, X, y, cfg)
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_clients(SPEC, g, [X] * 50, [y] * 50, cfg)
    fifty = time.perf_counter() - t0
    assert fifty < 0.5 * 50 * one


def test_evaluate_many_matches_evaluate(digits01):
    stack = np.stack([init_params(SPEC, s) for s in range(3)])
    many = evaluate_many(SPEC, stack, digits01.X_test, digits01.y_test)
    for i in range(3):
        one = evaluate(SPEC, stack[i], digits01.X_test, digits01.y_test)
        assert many["loss"][i] == pytest.approx(one["loss"], abs=1e-5)
        assert many["accuracy"][i] == pytest.approx(one["accuracy"], abs=1e-6)


def test_bad_inputs_are_explained(digits01):
    g = init_params(SPEC, 0)
    with pytest.raises(ValueError, match="optax"):
        TrainConfig(optimizer="nope")
    with pytest.raises(ValueError, match=r"labels must be .* \[0, 2\)"):
        train_local(SPEC, g, digits01.X_train, digits01.y_train + 5, TrainConfig())
    with pytest.raises(ValueError, match="seeds"):
        train_clients(SPEC, g, [digits01.X_train], [digits01.y_train], TrainConfig(), seeds=[1, 2])
