"""The experiment config is checked whole before anything is deployed or staked; docs/config.md is its reference."""

from __future__ import annotations

import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from qfl.data.datasets import BUILTINS
from qfl.orchestration.config import (
    OPTIMIZERS,
    ConfigError,
    ExperimentConfig,
    config_reference,
    eth_to_wei,
    load_config,
    required_eth,
)

ROOT = Path(__file__).resolve().parents[3]
WEI = 10**18
# Words a message uses to say what to do about the problem.
ACTION = re.compile(r"\b(use|set|give|remove|raise|lower|add|change|leave|fix)\b|should be")


def fault(what: str):
    return pytest.mark.fault(area="config", fault=what, outcome="rejected with a one-line error", tries=1)


def rejected(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return str(err.value)


def assert_usable(message: str, tmp_path: Path, field: str) -> None:
    """One line, naming the file and the field path, saying what to do."""
    assert "\n" not in message, message
    assert message.startswith(str(tmp_path / "bad.yaml")), message
    assert f"{field}:" in message, message
    assert ACTION.search(message), message


BAD = [
    ("unknown dataset", "data: {dataset: nosuch}\n", "data.dataset", "use one of digits01, digits, iris"),
    ("dataset file missing", "data: {dataset: no/such/file.npz}\n", "data.dataset", "does not exist"),
    (
        "more classes than qubits",
        "data: {dataset: digits}\nmodel: {n_qubits: 4}\n",
        "model.n_qubits",
        "at least 10",
    ),
    (
        "amplitude encoding wider than the data",
        "data: {dataset: iris}\nmodel: {n_qubits: 8, encoding: amplitude}\n",
        "model.n_qubits",
        "set model.n_qubits to 3",
    ),
    (
        "committee too large",
        "protocol: {committee_size: 65}\n",
        "protocol.committee_size",
        "less than or equal to 64",
    ),
    ("unknown optimizer", "training: {optimizer: adamw2}\n", "training.optimizer", "'adamw'"),
    ("attack without attackers", "attacks: [{kind: sign_flip}]\n", "attacks.0", "give clients"),
    (
        "attack fraction rounds to no client",
        "n_clients: 8\nattacks: [{kind: sign_flip, fraction: 0.05}]\n",
        "attacks.0.fraction",
        "at least 0.125",
    ),
    (
        "attacker index outside the clients",
        "n_clients: 4\nattacks: [{kind: sign_flip, clients: [9]}]\n",
        "attacks.0.clients",
        "outside 0..3",
    ),
    (
        "client in two attacks",
        "n_clients: 8\nattacks: [{kind: sign_flip, fraction: 0.25}, {kind: scaling, clients: [7]}]\n",
        "attacks.1",
        "client 7 in attacks.0",
    ),
    (
        "every client an attacker",
        "n_clients: 4\nattacks: [{kind: sign_flip, fraction: 1.0}]\n",
        "attacks",
        "nobody is honest",
    ),
    (
        "strength on an attack that ignores it",
        "attacks: [{kind: free_rider, clients: [1], strength: 3}]\n",
        "attacks.0.strength",
        "does not use strength",
    ),
    (
        "more labels per client than classes",
        "data: {dataset: digits01, split: shards, labels_per_client: 5}\n",
        "data.labels_per_client",
        "at most 2",
    ),
    (
        "shard option without shards",
        "data: {split: iid, labels_per_client: 1}\n",
        "data.labels_per_client",
        "only split: shards",
    ),
    ("dirichlet option without dirichlet", "data: {alpha: 0.5}\n", "data.alpha", "only split: dirichlet"),
    ("more clients than data rows", "n_clients: 200\n", "n_clients", "at most 135 clients"),
    (
        "test set smaller than the classes",
        "data: {dataset: iris, test_fraction: 0.01}\n",
        "data.test_fraction",
        "at least 3",
    ),
    (
        "reward pool too small for the rounds",
        "protocol: {rounds: 20, reward_per_round_eth: 1.0, fund_eth: 10.0}\n",
        "protocol.fund_eth",
        "at least 20 ETH",
    ),
    (
        "stake below the minimum",
        "protocol: {min_stake_eth: 2, stake_eth: 1}\n",
        "protocol.stake_eth",
        "raise",
    ),
    ("ETH amount finer than a wei", "protocol: {fund_eth: 1.0e-19}\n", "protocol.fund_eth", "18 decimals"),
    (
        "stake beyond uint96",
        "protocol: {stake_eth: 1.0e+11, min_stake_eth: 1}\n",
        "protocol.stake_eth",
        "uint96",
    ),
    (
        "fraction finer than a basis point",
        "protocol: {slash_fraction: 0.12345}\n",
        "protocol.slash_fraction",
        "0.1234",
    ),
    ("unknown field", "model: {n_qubits: 4, qubits: 5}\n", "model.qubits", "known: n_qubits"),
]


@pytest.mark.parametrize(
    "text, field, says",
    [pytest.param(text, field, says, id=what, marks=fault(what)) for what, text, field, says in BAD],
)
def test_bad_config_is_rejected_on_one_line(tmp_path: Path, text: str, field: str, says: str):
    message = rejected(tmp_path, text)
    assert_usable(message, tmp_path, field)
    assert says in message, message


@fault("invalid YAML")
def test_invalid_yaml_is_one_line(tmp_path: Path):
    message = rejected(tmp_path, "n_clients: [\nmodel: {\n")
    assert "\n" not in message and "not valid YAML at line" in message and "fix the syntax" in message


@fault("several mistakes in one file")
def test_every_problem_of_a_file_is_reported_together(tmp_path: Path):
    fields = rejected(
        tmp_path, "n_clients: 1\nprotocol: {committee_size: 65, rounds: 0}\ntraining: {optimizer: x}\n"
    )
    assert "\n" not in fields
    for field in ("n_clients", "protocol.committee_size", "protocol.rounds", "training.optimizer"):
        assert f"{field}:" in fields
    crossed = rejected(
        tmp_path,
        "n_clients: 4\ndata: {dataset: digits}\nattacks: [{kind: sign_flip, clients: [9]}]\n"
        "protocol: {rounds: 30, stake_eth: 0.5}\n",
    )
    assert "\n" not in crossed
    for field in ("model.n_qubits", "attacks.0.clients", "protocol.fund_eth", "protocol.stake_eth"):
        assert f"{field}:" in crossed


def test_shipped_configs_validate():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        load_config(path)


def test_configs_built_by_tests_and_benchmarks_validate(tmp_path: Path):
    """The parameters tests/python/test_simulation.py, test_node.py and benchmarks/rounds.py build."""
    protocol = {"committee_size": 3, "stake_eth": 2.0, "fund_eth": 5.0}
    ExperimentConfig.model_validate(
        {
            "n_clients": 5,
            "model": {"n_qubits": 4, "n_layers": 2},
            "data": {"dataset": "digits01", "split": "iid"},
            "training": {"epochs": 1, "batch_size": 16, "learning_rate": 0.1},
            "protocol": {"rounds": 2, **protocol},
            "attacks": [{"kind": "sign_flip", "clients": [4], "strength": 1.0}],
        }
    )
    ExperimentConfig.model_validate(
        {
            "n_clients": 5,
            "protocol": {"rounds": 1, **protocol},
            "attacks": [{"kind": "free_rider", "clients": [4]}],
        }
    )
    ExperimentConfig.model_validate({"n_clients": 6, "protocol": {"rounds": 1, **protocol}})
    data = tmp_path / "digits-parity.npz"
    data.write_bytes(b"")  # benchmarks/rounds.py writes it before building the config
    for n_clients, rounds in ((4, 3), (32, 2), (128, 1)):
        ExperimentConfig(
            n_clients=n_clients,
            model={"n_qubits": 4, "n_layers": 2, "encoding": "angle", "ansatz": "hea"},
            data={"dataset": str(data), "split": "iid", "seed": 0},
            training={"epochs": 1, "batch_size": 16, "learning_rate": 0.1},
            protocol={
                "rounds": rounds,
                "committee_size": min(10, n_clients),
                "cohort_size": max(64, n_clients),
                "fund_eth": 10.0 * rounds,
                **{f"{phase}_seconds": 3600 for phase in ("commit", "reveal", "vote", "attest")},
            },
        )


def test_pool_rule_matches_the_contract(tmp_path: Path):
    """startRound moves rewardPerRound from the pool to the round's reserve, or reverts PoolUnderfunded."""
    rounds_sol = (ROOT / "contracts" / "federation" / "Rounds.sol").read_text()
    assert "uint256 reward = rewardPerRound;" in rounds_sol
    assert "if (pool < reward) revert PoolUnderfunded(pool, reward);" in rounds_sol
    assert "pool -= reward;" in rounds_sol
    # Exactly rounds x reward is enough, computed in wei (0.1 * 3 in floats is 0.30000000000000004).
    ok = ExperimentConfig.model_validate(
        {"protocol": {"rounds": 3, "reward_per_round_eth": 0.1, "fund_eth": 0.3}}
    )
    assert ok.protocol.fund_wei == ok.protocol.min_fund_wei == 3 * 10**17
    free = ExperimentConfig.model_validate({"protocol": {"reward_per_round_eth": 0, "fund_eth": 0}})
    assert free.protocol.min_fund_wei == 0
    message = rejected(tmp_path, "protocol: {rounds: 3, reward_per_round_eth: 0.1, fund_eth: 0.29}\n")
    assert "at least 0.3 ETH" in message


def test_eth_amounts_convert_to_wei_exactly():
    assert int(1.1 * WEI) == 1_100_000_000_000_000_128  # what a float product gives
    assert eth_to_wei(1.1) == eth_to_wei("1.1") == eth_to_wei(Decimal("1.1")) == 1_100_000_000_000_000_000
    assert eth_to_wei(0.3) == 3 * 10**17 and eth_to_wei(1e-18) == eth_to_wei("0.000000000000000001") == 1
    assert (
        eth_to_wei(10**12) == 10**30 and eth_to_wei(0) == 0 and eth_to_wei(123456.789) == 123456789 * 10**15
    )
    for bad in (1e-19, "0.0000000000000000001", -1, float("nan"), float("inf"), "abc", True):
        with pytest.raises(ValueError):
            eth_to_wei(bad)
    p = ExperimentConfig.model_validate(
        {"protocol": {"min_stake_eth": 1.1, "stake_eth": 2.2, "reward_per_round_eth": 0.7, "fund_eth": 3.5}}
    ).protocol
    assert (p.min_stake_wei, p.stake_wei, p.reward_per_round_wei, p.fund_wei) == (
        11 * 10**17,
        22 * 10**17,
        7 * 10**17,
        35 * 10**17,
    )
    assert p.wei("stake_eth") == p.stake_wei and (p.slash_fraction_bps, p.max_share_bps) == (2000, 5000)
    with pytest.raises(KeyError):
        p.wei("rounds")


def test_required_eth_covers_fund_stake_and_gas():
    cfg = ExperimentConfig.model_validate({"protocol": {"stake_eth": 2.0, "fund_eth": 10.0}})
    need = required_eth(cfg, gas_price_wei=10**9)
    assert 10 * WEI < need.sponsor_wei < 10 * WEI + WEI // 10
    assert 2 * WEI < need.client_wei < 2 * WEI + WEI // 10
    assert required_eth(cfg, gas_price_wei=0).client_wei == cfg.protocol.stake_wei
    assert need.sponsor_eth.startswith("10.0") and need.client_eth.startswith("2.0")


def test_every_listed_optimizer_runs_in_optax():
    """What the trainer does with the name: optax.NAME(learning_rate), then update steps (one compile for all)."""
    import jax
    import jax.numpy as jnp
    import optax

    from qfl.quantum.train import TrainConfig

    def steps(params):
        out = []
        for name in OPTIMIZERS:
            opt = getattr(optax, name)(0.1)
            update, _ = opt.update(jnp.ones(3), opt.init(params), params)
            out.append(update)
        return jnp.stack(out)

    updates = jax.jit(steps)(jnp.ones(3))
    assert updates.shape == (len(OPTIMIZERS), 3) and bool(jnp.all(jnp.isfinite(updates)))
    for name in OPTIMIZERS:
        TrainConfig(optimizer=name)


def test_builtin_registry_matches_the_loaded_data():
    from qfl.data.datasets import _builtin

    for name, info in BUILTINS.items():
        X, y = _builtin(name)
        assert (len(set(y.tolist())), X.shape[1], X.shape[0]) == (
            info.n_classes,
            info.n_features,
            info.n_samples,
        )


def test_checking_a_config_does_not_import_sklearn():
    code = (
        "import sys; from qfl.orchestration.config import load_config; "
        "load_config('configs/demo.yaml'); assert 'sklearn' not in sys.modules, 'sklearn imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_every_field_has_a_description():
    from qfl.orchestration.config import _SECTIONS

    for _, model in _SECTIONS:
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_reference_page_is_current():
    committed = (ROOT / "docs" / "config.md").read_text()
    assert committed == config_reference(), (
        "docs/config.md is stale: python -m qfl.orchestration.config reference > docs/config.md"
    )
    for _, model in __import__("qfl.orchestration.config", fromlist=["_SECTIONS"])._SECTIONS:
        for name in model.model_fields:
            assert f"{name}`" in committed
