"""The case study's learning part: its quick run, its render, and the shortcuts it takes against the library."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmarks.casestudy import classical
from benchmarks.casestudy.config import load_config
from benchmarks.casestudy.learning import (
    LABELS,
    SYSTEMS,
    batch_for,
    check_config,
    federation,
    local_config,
    model_spec,
    render,
)
from qfl.fl.judge import JudgeMemory, geometry, grade, judge_round, label_balance, loss_changes
from qfl.fl.judging import Condition, setup
from qfl.quantum.model import init_params
from qfl.quantum.train import train_clients


@pytest.fixture(scope="module")
def quick(quick_run):
    """(config, this part's results, its progress lines) from the folder's one quick case study."""
    return quick_run.part("learning")


def _cell(res, split, attack, fraction, seed=0):
    return next(
        c
        for c in res["cells"]
        if (c["split"], c["attack"], c["fraction"], c["seed"]) == (split, attack, fraction, seed)
    )


def test_quick_run_has_every_system_and_condition(quick):
    cfg, res, lines = quick
    mine = cfg["learning"]
    expected = (
        len(mine["datasets"]) * len(mine["splits"]) * len(mine["clients"]) * len(cfg["common"]["seeds"])
    )
    assert len(res["cells"]) == expected * (1 + len(mine["attacks"]) * len(mine["fractions"]))
    for c in res["cells"]:
        assert set(c["systems"]) == set(SYSTEMS)
        for h in c["systems"].values():
            assert len(h["accuracy"]) == len(h["loss"]) == mine["rounds"]
            assert all(0.0 <= a <= 1.0 for a in h["accuracy"]) and all(math.isfinite(x) for x in h["loss"])
        assert c["attackers"] == (math.ceil(c["fraction"] * c["clients"]) if c["attack"] != "none" else 0)
    assert len(res["local"]) == expected and all(len(r["accuracy"]) == r["clients"] for r in res["local"])
    assert any("done in" in line for line in lines)


def test_attacks_hurt_fedavg_and_the_committee_catches_sign_flips(quick):
    _, res, _ = quick
    clean, flipped = _cell(res, "IID", "none", 0.0), _cell(res, "IID", "sign_flip", 0.3)
    assert flipped["systems"]["fedavg"]["accuracy"][-1] < clean["systems"]["fedavg"]["accuracy"][-1] - 0.05
    t = flipped["committee"]
    assert t["tp"] + t["fn"] == 3 * len(flipped["systems"]["fedavg"]["accuracy"])  # 3 attackers every round
    assert t["tp"] > 0 and t["fp"] == 0  # some flips slashed, no honest client slashed on IID data
    assert t["attacker_pay"] / t["total_pay"] < 0.3  # less than their 30% share of clients
    assert clean["committee"]["tp"] == 0 and clean["committee"]["fp"] == 0


def test_energy_and_communication_inputs(quick):
    _, res, _ = quick
    e = res["energy_inputs"]
    assert e["vqc_cpu_s_per_client_round"] > 0 and e["classical_cpu_s_per_client_round"] > 0
    assert e["rows_per_client_round"] > 0
    circuit = e["circuits"]["digits01"]  # 4 qubits, 2 hea layers, angle encoding: 4 RY + 2 x 8 rotations
    assert (circuit["one_qubit_gates"], circuit["two_qubit_gates"]) == (20, 8)
    com = res["communication"]["digits01"]
    for model in ("vqc", "classical"):  # 48 bytes of header, shape and scale, then 4 bytes a float32 weight
        assert com[f"{model}_bytes_float32"] == 48 + 4 * com[f"{model}_params"]
    assert abs(com["classical_params"] - com["vqc_params"]) <= 0.5 * com["vqc_params"]


def test_render_is_deterministic_and_states_the_grid(quick, tmp_path):
    cfg, res, _ = quick
    first = render(res, cfg, tmp_path / "a")
    again = render(json.loads(json.dumps(res)), cfg, tmp_path / "b")
    assert first == again
    text = "\n".join(first)
    assert first[0].startswith("## ")
    assert "python -m benchmarks.casestudy --parts learning --quick" in text
    assert all(LABELS[s] in text for s in (*SYSTEMS, "local"))
    assert "Where QFLchain does not win" in text and "/tmp" not in text
    assert (tmp_path / "a" / "learning-curves.png").stat().st_size > 0
    assert (tmp_path / "a" / "learning-attacks.png").stat().st_size > 0


def test_shared_geometry_scores_as_judge_round_per_validator():
    """federation() computes the data-free geometry once for all validators; the scores must not change."""
    cfg = load_config(quick=True)
    spec, local = model_spec(cfg["common"], "digits01"), local_config(cfg["common"])
    ds, clients, validators = setup(Condition("digits01", "Dirichlet(0.3)", 10), 0)
    g = init_params(spec, 0)
    Xs, ys = [c.X_train for c in clients], [c.y_train for c in clients]
    steps = local.epochs * np.ceil(np.array([len(y) for y in ys]) / local.batch_size)
    mems, shared = [JudgeMemory() for _ in validators], JudgeMemory()
    for r in range(2):  # the second round also checks the remembered (copy, momentum) part
        U = train_clients(spec, g, Xs, ys, local, [10 * r + i for i in range(10)])
        U[:3] = 2 * g - U[:3]  # three sign flips
        expected = np.stack(
            [
                judge_round(spec, g, U, v.X_val, v.y_val, m, range(10), steps)
                for v, m in zip(validators, mems, strict=True)
            ]
        )
        geo = geometry(g, U, shared, range(10), steps)
        got = np.stack(
            [
                grade(geo, loss_changes(spec, g, U, v.X_val, v.y_val), balance=label_balance(v.y_val, 2))
                for v in validators
            ]
        )
        shared.remember(g, U, range(10))
        np.testing.assert_array_equal(got, expected)
        g = U.mean(0)


def test_stacked_start_models_and_cut_batch_train_as_separate_calls():
    cfg = load_config(quick=True)
    spec, local = model_spec(cfg["common"], "digits01"), local_config(cfg["common"])
    _, clients, _ = setup(Condition("digits01", "IID", 10), 0)  # the quick run's clients: shared compiles
    Xs, ys = [c.X_train for c in clients], [c.y_train for c in clients]
    cut = batch_for(local, [len(y) for y in ys])
    assert cut.batch_size < local.batch_size
    g1, g2 = init_params(spec, 1), init_params(spec, 2)
    seeds = list(range(10))
    one = train_clients(spec, g1, Xs, ys, cut, seeds)
    np.testing.assert_allclose(train_clients(spec, g1, Xs, ys, local, seeds), one, atol=1e-5)
    two = train_clients(spec, g2, Xs, ys, cut, seeds)
    both = train_clients(spec, np.stack([g1] * 10 + [g2] * 10), Xs * 2, ys * 2, cut, seeds * 2)
    np.testing.assert_allclose(both, np.concatenate([one, two]), atol=1e-6)
    with pytest.raises(ValueError, match="global_params must be"):
        train_clients(spec, np.stack([g1, g2]), Xs, ys, local)


def test_classical_model_learns_and_attacks_apply_to_it():
    cfg = load_config(quick=True)
    local = local_config(cfg["common"])
    ds, clients, validators = setup(Condition("digits01", "IID", 10), 0)
    shape = (4, 3, 2)
    g = classical.init_params(*shape, 0)
    assert g.size == classical.n_params(*shape) == 23
    local = batch_for(local, [len(c.y_train) for c in clients])  # as federation() trains: shared compile
    U = classical.train_clients(
        shape,
        np.repeat(g[None], 10, 0),
        [c.X_train for c in clients],
        [c.y_train for c in clients],
        local,
        list(range(10)),
    )
    before = classical.evaluate(shape, g, ds.X_test, ds.y_test)["loss"]
    assert classical.evaluate(shape, U.mean(0), ds.X_test, ds.y_test)["loss"] < before
    res = federation(
        model_spec(cfg["common"], "digits01"),
        3,
        local,
        ds,
        clients,
        validators,
        2,
        0,
        "free_rider",
        0.3,
        ("classical",),
    )
    assert set(res["systems"]) == {"classical"} and "committee" not in res


def test_bad_config_is_one_line_naming_the_field():
    cfg = load_config(quick=True)
    cfg["learning"]["splits"] = ["Dirichlet(0.5)"]
    with pytest.raises(ValueError, match=r"learning.yaml: split 'Dirichlet\(0.5\)' unknown; choose from"):
        check_config(cfg)
    cfg = load_config(quick=True)
    cfg["learning"]["clients"] = [2]
    with pytest.raises(ValueError, match="Krum needs clients >= f \\+ 3"):
        check_config(cfg)
