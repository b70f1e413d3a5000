"""Validator scoring: attacks are voted down, honest IID and mildly non-IID updates are voted up."""

import numpy as np
import pytest

from qfl.data import load_dataset, split_dirichlet, split_iid
from qfl.fl.aggregate import fedavg
from qfl.fl.attacks import apply_attack, colluding, label_flip
from qfl.fl.scoring import UpdateScores, decide_votes, robust_z, score_updates
from qfl.quantum.model import init_params
from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import TrainConfig, train_clients

SPEC = ModelSpec(n_qubits=4, n_layers=2, encoding="angle", ansatz="hea", n_classes=2)
CFG = TrainConfig(epochs=1, batch_size=8, learning_rate=0.1)


@pytest.fixture(scope="module")
def ds():
    return load_dataset("digits01", n_features=4, test_fraction=0.25, seed=0)


def rounds_of_updates(clients, n_rounds):
    """Yield (global params, honest updates) for FedAvg rounds 0..n_rounds-1."""
    g = init_params(SPEC, 0)
    Xs, ys = [c.X_train for c in clients], [c.y_train for c in clients]
    for r in range(n_rounds):
        U = train_clients(SPEC, g, Xs, ys, CFG, [100 * r + i for i in range(len(clients))])
        yield r, g, U, Xs, ys
        g = fedavg(U, [len(y) for y in ys])


def test_attacks_rejected_and_honest_accepted_iid(ds):
    clients = split_iid(ds.X_train, ds.y_train, 10, seed=0)
    X_val, y_val = ds.X_test[:45], ds.y_test[:45]  # the validator's own held-out rows
    for r, g, U, Xs, ys in rounds_of_updates(clients, 4):
        if r == 0:
            continue  # from a random model the consensus direction is not yet meaningful
        flipped = train_clients(SPEC, g, Xs[:1], [label_flip(ys[0], 2)], CFG)[0]
        attacks = np.stack(
            [
                apply_attack("sign_flip", update=U[0], global_params=g, scale=1.0),
                apply_attack("sign_flip", update=U[1], global_params=g, scale=3.0),
                apply_attack("scaling", update=U[2], global_params=g, factor=10.0),
                apply_attack("gaussian_noise", update=U[3], sigma=1.0, seed=r),
                apply_attack("free_rider", global_params=g),
                flipped,
            ]
        )
        for a in attacks:  # 7 honest + 3 attackers = 30%, each attack in turn and three at once
            votes = decide_votes(
                score_updates(SPEC, g, np.concatenate([U[3:], np.stack([a] * 3)]), X_val, y_val)
            )
            assert votes[:7].all() and not votes[7:].any(), (r, votes)
        votes = decide_votes(score_updates(SPEC, g, np.concatenate([U[3:], attacks[:3]]), X_val, y_val))
        assert votes[:7].all() and not votes[7:].any(), (r, votes)
        gang = colluding(U[:3], g, scale=2.0)
        votes = decide_votes(score_updates(SPEC, g, np.concatenate([U[3:], gang]), X_val, y_val))
        assert votes[:7].all() and not votes[7:].any(), (r, votes)


def test_honest_non_iid_updates_accepted(ds):
    clients = split_dirichlet(ds.X_train, ds.y_train, 10, alpha=1.0, seed=1)
    for _, g, U, _, _ in rounds_of_updates(clients, 3):
        assert decide_votes(score_updates(SPEC, g, U, ds.X_test, ds.y_test)).all()


def test_scores_report_baseline_and_geometry(ds):
    g = init_params(SPEC, 0)
    ups = np.stack([g + 0.1, g + 0.1, g - 0.1, g])
    sc = score_updates(SPEC, g, ups, ds.X_test, ds.y_test)
    assert sc.loss.shape == sc.accuracy.shape == sc.robust_z.shape == (4,)
    assert sc.step_norm[3] == 0.0
    assert sc.cosine_to_median[0] > 0.99 and sc.cosine_to_median[2] < -0.99
    assert 0 <= sc.global_accuracy <= 1


def test_decision_rules_individually():
    base = dict(
        loss=np.array([0.5, 0.5, 0.5, 0.5, 2.0, 0.6]),
        accuracy=np.ones(6),
        global_loss=0.5,
        global_accuracy=1.0,
        step_norm=np.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0]),
        median_distance=np.array([0.1, 0.1, 5.0, 0.1, 0.1, 0.1]),
        robust_z=robust_z(np.array([0.1, 0.12, 5.0, 0.1, 0.11, 0.1])),
        cosine_to_median=np.array([0.9, 0.9, 0.9, 0.9, 0.9, -0.5]),
    )
    votes = decide_votes(UpdateScores(**base))
    # 0,1 honest; 2 magnitude outlier; 3 free-rider; 4 harmful loss; 5 against consensus and no help
    assert votes.tolist() == [True, True, False, False, False, False]
