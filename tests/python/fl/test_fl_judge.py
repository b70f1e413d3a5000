"""Graded judge: committee thresholds on a small fast federation, free-riding checks, DP accounting."""

import numpy as np
import pytest

from qfl.chain import outcome
from qfl.fl import judging
from qfl.fl.committee import ACCEPTED, NEUTRAL, REJECTED, combine, weighted_median_bounds
from qfl.fl.judge import ACCEPT_SCORE, REJECT_SCORE, JudgeMemory, geometry, grade
from qfl.fl.privacy import client_epsilon, privatize
from qfl.quantum.codec import decode_weights, encode_weights


def test_committee_rule_is_the_contracts():
    assert (ACCEPT_SCORE, REJECT_SCORE) == (outcome.ACCEPT_SCORE, outcome.REJECT_SCORE)
    rng = np.random.default_rng(0)
    for _ in range(300):
        k = int(rng.integers(1, 8))
        scores, seats = rng.integers(0, 256, k).tolist(), rng.integers(1, 4, k).tolist()
        assert weighted_median_bounds(scores, seats) == outcome.weighted_median_bounds(scores, seats)
    outcomes, combined = combine(np.array([[255, 0, 100], [200, 10, 90], [0, 20, 110]]), [1, 1, 1])
    assert outcomes == [ACCEPTED, REJECTED, NEUTRAL] and combined.tolist() == [200, 10, 100]


@pytest.fixture(scope="module")
def steps():
    """A round of 10 distinct honest-looking steps around a common direction, and the global model."""
    rng = np.random.default_rng(1)
    g = rng.uniform(-3, 3, 20)
    common = rng.normal(0, 1, 20)
    return g, g + 0.1 * (common + 0.8 * rng.normal(0, 1, (10, 20)))


def test_honest_round_has_no_free_rider_flags(steps):
    g, u = steps
    geo = geometry(g, u)
    assert not geo.zero.any() and (geo.cosine > 0).all()
    assert (grade(geo, np.linspace(-0.1, -0.05, 10)) >= ACCEPT_SCORE).all()


def test_duplicates_near_duplicates_and_no_step_score_zero(steps):
    g, u = steps
    f16 = decode_weights(encode_weights(u[0], b"\0" * 32, "float16")).params  # re-encoded copy
    sent = np.vstack([u, u[1], f16, g])
    geo = geometry(g, sent)
    assert geo.duplicate[[0, 1, 10, 11]].all() and not geo.duplicate[2:10].any()
    assert geo.no_step[12] and not geo.no_step[:12].any()
    assert (grade(geo, np.zeros(13))[[0, 1, 10, 11, 12]] == 0).all()


def test_momentum_and_copies_of_earlier_rounds_are_caught(steps):
    g_prev, u_prev = steps
    memory = JudgeMemory()
    memory.remember(g_prev, u_prev, owners=range(10))
    g = u_prev.mean(axis=0)
    rng = np.random.default_rng(2)
    fresh = g + 0.1 * rng.normal(0, 1, (6, 20))
    sent = np.vstack(
        [
            fresh,
            g + (g - g_prev),  # momentum free rider
            g + 0.5 * (g - g_prev),  # damped momentum
            u_prev[3],  # client 3's last update, sent by another client (8)
            g + (u_prev[4] - g_prev),  # client 4's last step re-based, by client 9
            u_prev[0],  # client 0 resending its own update: not a copy of someone else's
        ]
    )
    owners = [0, 1, 2, 5, 6, 7, 10, 11, 8, 9, 0]
    geo = geometry(g, sent, memory, owners)
    assert geo.momentum[[6, 7]].all() and not geo.momentum[:6].any()
    assert geo.copy[[8, 9]].all() and not geo.copy[:8].any() and not geo.copy[10]


def test_magnitude_is_judged_per_local_step(steps):
    g, u = steps
    big = g + 10 * (u[0] - g)
    assert geometry(g, np.vstack([u, big])).too_large[10]
    # a client that took 10x the local steps may move 10x as far
    assert not geometry(g, np.vstack([u, big]), local_steps=[1] * 10 + [10]).too_large[10]


def test_epsilon_is_reported_and_falls_with_noise():
    eps = [client_epsilon(z, 5) for z in (0.5, 1.0, 2.0)]
    assert all(np.isfinite(eps)) and eps[0] > eps[1] > eps[2] > 0
    u = privatize(np.ones(20), np.zeros(20), clip=0.5, noise_multiplier=0.0, seed=0)
    assert np.linalg.norm(u) == pytest.approx(0.5, rel=1e-5)
    with pytest.raises(ValueError, match="clip"):
        privatize(np.ones(3), np.zeros(3), clip=0.0, noise_multiplier=1.0, seed=0)


def federation(split: str):
    cond = judging.Condition("digits01", split, 10)
    return (*judging.setup(cond, 0), judging.SPECS["digits01"])


@pytest.fixture(scope="module")
def iid():
    return federation("IID")


@pytest.mark.parametrize("attack", judging.ATTACKS)
def test_committee_rejects_each_attack_and_keeps_honest_clients(iid, attack):
    ds, clients, validators, spec = iid
    t = judging.run(ds, spec, clients, validators, rounds=3, seed=0, attack=attack)
    assert t.attack_rejected / t.attack >= 0.95, (attack, t)
    assert t.honest_accepted / t.honest >= 0.98 and t.honest_rejected == 0, (attack, t)


@pytest.mark.parametrize("split", ["Dirichlet(0.1)", "1-label shards"])
def test_honest_clients_with_skewed_data_are_accepted(split):
    ds, clients, validators, spec = federation(split)
    t = judging.run(ds, spec, clients, validators, rounds=3, seed=0)
    assert t.honest_accepted / t.honest >= 0.98 and t.honest_rejected == 0, (split, t)


@pytest.mark.parametrize("attack", ["free rider", "momentum", "copy earlier", "30% colluding", "scaling x10"])
def test_free_riders_and_amplified_attacks_are_rejected_under_strong_skew(attack):
    ds, clients, validators, spec = federation("1-label shards")
    t = judging.run(ds, spec, clients, validators, rounds=3, seed=0, attack=attack)
    assert t.attack_rejected / t.attack >= 0.95, (attack, t)


def test_honest_dp_updates_are_accepted(iid):
    ds, clients, validators, spec = iid
    t = judging.run(ds, spec, clients, validators, rounds=3, seed=0, dp_noise=1.0)
    assert t.honest_accepted / t.honest >= 0.98 and t.honest_rejected == 0, t
