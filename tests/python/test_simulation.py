"""The in-process federation (what `qflchain demo` / `simulate` run) and the CLI's handling of bad configs.

A real run: ape's in-process chain, the embedded store, the contracts compiled through the launcher.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from qfl.chain.toolchain import PROJECT_ROOT, configure_environment
from qfl.orchestration.config import ConfigError, ExperimentConfig, load_config
from qfl.orchestration.multiproc import qflchain

WEI = 10**18


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Five clients, client 4 sign-flipping, two rounds, the in-process chain."""
    import ape

    from qfl.orchestration.sim import build_in_process
    from qfl.quantum.codec import decode_weights
    from qfl.storage import EmbeddedStore, digest_to_cid

    configure_environment()
    cfg = ExperimentConfig.model_validate(
        {
            "name": "sim-test",
            "n_clients": 5,
            "model": {"n_qubits": 4, "n_layers": 2},
            "data": {"dataset": "digits01", "split": "iid"},
            "training": {"epochs": 1, "batch_size": 16, "learning_rate": 0.1},
            "protocol": {"rounds": 2, "committee_size": 3, "stake_eth": 2.0, "fund_eth": 5.0},
            "attacks": [{"kind": "sign_flip", "clients": [4], "strength": 1.0}],
        }
    )
    root = tmp_path_factory.mktemp("sim")
    store = EmbeddedStore(root / "store")
    with ape.networks.parse_network_choice("ethereum:local:test"):
        sim = build_in_process(cfg, store, root / "state")
        report = sim.run()
        fed = sim.federation
        money = fed.accounting()
        globals_ = [decode_weights(store.get(digest_to_cid(fed.global_model(r)))) for r in (1, 2)]
        events = fed.events_since(0)
    return cfg, report, money, globals_, events


def test_attacker_rejected_every_round_and_loses_stake_and_reputation(run):
    cfg, report, _, _, _ = run
    assert [r.attackers_rejected for r in report.rounds] == [1, 1]
    attacker = next(c for c in report.clients if c.attack)
    honest = [c for c in report.clients if not c.attack]
    assert attacker.stake_eth < cfg.protocol.stake_eth  # slashed
    assert attacker.burned_eth == pytest.approx(cfg.protocol.stake_eth - attacker.stake_eth)
    assert all(r.burned_eth > 0 for r in report.rounds)
    assert all(attacker.reputation < h.reputation for h in honest)
    # It still votes (accepting everything), so it may earn a little as a validator, never as a trainer.
    assert all(attacker.rewards_eth < h.rewards_eth / 2 for h in honest)


def test_honest_clients_earn_and_model_improves(run):
    _, report, _, _, _ = run
    honest = [c for c in report.clients if not c.attack]
    assert sum(c.rewards_eth for c in honest) > 0
    assert sum(1 for c in honest if c.rewards_eth > 0) >= 3
    assert report.rounds[-1].accuracy > report.initial_accuracy
    assert report.rounds[-1].accuracy >= 0.85


def test_money_is_conserved_and_global_models_are_attested_weights(run):
    _, report, money, globals_, events = run
    parts = ("total_staked", "total_withdrawable", "pool", "reserved", "burned")
    assert money["balance"] == sum(money[k] for k in parts) and report.money_conserved
    # Slashed stake is burned: exactly what the settlements slashed, and nobody was paid it.
    slashed = sum(e["slashed"] for e in events if e.name in ("TrainerSettled", "ValidatorSettled"))
    assert money["burned"] == slashed > 0
    assert money["reserved"] == 0  # every round settled and its leftover reserve back in the pool
    assert [g.params.size for g in globals_] == [globals_[0].params.size] * 2
    assert report.rounds[0].global_cid != report.rounds[1].global_cid
    # Every client committed and revealed exactly once per round (the attacker too: it is judged, not silent).
    commits = [(e["round"], e["client"]) for e in events if e.name == "UpdateCommitted"]
    assert len(commits) == len(set(commits)) == 10


def test_bad_config_names_the_field(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_clients: 1\nprotocol: {rounds: 0}\nmodel: {n_qubits: 4, bogus: 1}\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    text = str(err.value)
    assert "n_clients" in text and "protocol.rounds" in text and "model.bogus" in text
    bad.write_text("n_clients: 4\nattacks: [{kind: sign_flip, clients: [9]}]\n")
    with pytest.raises(ConfigError, match=r"client indices \[9\] outside 0..3"):
        load_config(bad)
    bad.write_text("n_clients: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_protocol_section_maps_onto_the_contract_parameters(tmp_path: Path):
    from qfl.orchestration.federation_setup import federation_params

    cfg = load_config(PROJECT_ROOT / "configs" / "demo.yaml")
    p = cfg.protocol
    assert (p.cohort_size, p.max_samples, p.max_share, p.rejoin_cooldown) == (64, 100_000, 0.5, 86_400)
    cid = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
    params = federation_params(cfg, cid, cid)
    assert (params.cohort_size, params.max_samples, params.max_share_bps) == (64, 100_000, 5000)
    assert params.rejoin_cooldown == 86_400 and params.slash_fraction_bps == 2000
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "protocol: {max_participants: 8, cohort_size: 10001, max_share: 0, vote_seconds: 30, max_samples: 0}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    text = str(err.value)
    assert "protocol.max_participants: Extra inputs are not permitted" in text  # v1's name, replaced
    for field in (
        "protocol.cohort_size",
        "protocol.max_share",
        "protocol.vote_seconds",
        "protocol.max_samples",
    ):
        assert field in text
    assert "\n" not in text


def test_cli_refuses_bad_config_with_usage_error_and_writes_nothing(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_clients: 4\ncommittee: 3\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        qflchain("simulate", str(bad), "--out", str(out)),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "committee" in proc.stderr and "Extra inputs are not permitted" in proc.stderr
    assert not out.exists()
    proc = subprocess.run(
        qflchain("node", "--config", str(PROJECT_ROOT / "configs" / "demo.yaml"), "--client-index", "99")
        + ["--account", "test:1", "--state-dir", str(tmp_path / "s")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--client-index 99 outside 0..7" in proc.stderr, proc.stderr


def test_demo_config_is_what_the_issue_asks_for():
    cfg = load_config(PROJECT_ROOT / "configs" / "demo.yaml")
    assert cfg.n_clients >= 8 and cfg.protocol.rounds >= 5 and len(cfg.attackers()) == 1
    json.dumps(cfg.model_dump(mode="json"))  # serialisable for the results folder


def test_unusable_updates_are_voted_out_and_nobody_honest_is_hurt(tmp_path: Path):
    """Three peers reveal CIDs of bytes that are not usable weights: garbage, another spec, nothing stored.

    Validators must vote them out (not crash and go silent, which would get honest validators slashed),
    and the round must finish with a global model built from the honest updates.
    """
    import ape

    from qfl.orchestration.sim import build_in_process
    from qfl.quantum.codec import encode_weights
    from qfl.storage import EmbeddedStore, compute_cid

    configure_environment()
    cfg = ExperimentConfig.model_validate(
        {
            "name": "bad-peers",
            "n_clients": 6,
            "model": {"n_qubits": 4, "n_layers": 1},
            "protocol": {"rounds": 1, "committee_size": 3, "stake_eth": 2.0, "fund_eth": 5.0},
        }
    )
    store = EmbeddedStore(tmp_path / "store")
    bad = {
        3: lambda params, parent=None: store.put(b"these bytes are not a weight file"),
        4: lambda params, parent=None: store.put(encode_weights(params, b"\x11" * 32)),  # another spec
        5: lambda params, parent=None: compute_cid(b"never stored anywhere"),
    }
    with ape.networks.parse_network_choice("ethereum:local:test"):
        sim = build_in_process(cfg, store, tmp_path / "state")
        for i, put in bad.items():
            sim.nodes[i].store_update = put
        report = sim.run()
        fed = sim.federation
        view = fed.round_view(1)
        events = fed.events_since(0)
        clients = {n.identity.index: fed.client_view(n.address) for n in sim.nodes}
    order = [next(n.identity.index for n in sim.nodes if n.address == p.client) for p in view.reveals]
    verdict = dict(zip(order, view.accepted, strict=True))
    assert {i for i, ok in verdict.items() if not ok} == {3, 4, 5}
    votes = [e for e in events if e.name == "VoteRevealed"]
    assert len(votes) == len(view.committee), "every committee member revealed its scores"
    assert all(e["scores"][order.index(i)] == 0 for e in votes for i in (3, 4, 5))
    for i in (0, 1, 2):
        assert clients[i].stake == 2 * WEI and clients[i].reputation > 100
    for i in (3, 4, 5):
        assert clients[i].stake < 2 * WEI
    assert report.rounds[0].accepted == 3 and any(fed.global_model(1))
