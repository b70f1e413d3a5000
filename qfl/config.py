"""Experiment and node configuration, validated with pydantic so bad input fails with a message that says where."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(_Strict):
    n_qubits: int = Field(4, ge=1, le=16)
    n_layers: int = Field(2, ge=1, le=20)
    encoding: Literal["angle", "reupload", "amplitude"] = "angle"
    ansatz: Literal["hea", "sel"] = "hea"


class DataSection(_Strict):
    dataset: str = "digits01"
    split: Literal["iid", "dirichlet", "shards"] = "iid"
    alpha: float = Field(0.3, gt=0)
    labels_per_client: int = Field(2, ge=1)
    test_fraction: float = Field(0.25, gt=0, lt=1)
    seed: int = 0


class TrainingSection(_Strict):
    epochs: int = Field(1, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(0.1, gt=0)
    optimizer: str = "adam"
    prox_mu: float = Field(0.0, ge=0)


DAY = 86_400


def _period():
    return Field(600, ge=60, le=30 * DAY, description="seconds; the contract allows 1 minute to 30 days")


class ProtocolSection(_Strict):
    rounds: int = Field(5, ge=1, le=1000)
    min_stake_eth: float = Field(1.0, gt=0)
    stake_eth: float = Field(2.0, gt=0)
    reward_per_round_eth: float = Field(1.0, ge=0)
    fund_eth: float = Field(10.0, ge=0)
    committee_size: int = Field(3, ge=1, le=64, description="seats drawn per round, with replacement")
    cohort_size: int = Field(64, ge=1, le=10_000, description="most updates per round (a lottery beyond)")
    slash_fraction: float = Field(0.2, ge=0, le=1)
    max_samples: int = Field(100_000, ge=1, le=2**32 - 1, description="cap on one update's sample count")
    max_share: float = Field(
        0.5, ge=0.0001, le=1, description="most one update may take of the trainer reward and the aggregate"
    )
    rejoin_cooldown: int = Field(DAY, ge=0, le=365 * DAY, description="seconds before a leaver may rejoin")
    commit_seconds: int = _period()
    reveal_seconds: int = _period()
    vote_seconds: int = _period()
    attest_seconds: int = _period()


class AttackSection(_Strict):
    kind: Literal["sign_flip", "label_flip", "gaussian_noise", "scaling", "free_rider", "colluding"]
    clients: list[int] = Field(default_factory=list, description="client indices that attack")
    fraction: float | None = Field(
        None, ge=0, le=1, description="or: this fraction of clients, the last ones"
    )
    strength: float = 1.0


class ExperimentConfig(_Strict):
    """One federation run: model, data split, training, protocol parameters, attackers, aggregation."""

    name: str = "qflchain"
    n_clients: int = Field(8, ge=2, le=256)
    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    training: TrainingSection = TrainingSection()
    protocol: ProtocolSection = ProtocolSection()
    aggregation: Literal[
        "fedavg", "reputation_weighted_fedavg", "coordinate_median", "trimmed_mean", "krum", "multi_krum"
    ] = "reputation_weighted_fedavg"
    attacks: list[AttackSection] = Field(default_factory=list)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> ExperimentConfig:
        if self.protocol.stake_eth < self.protocol.min_stake_eth:
            raise ValueError("protocol.stake_eth must be >= protocol.min_stake_eth")
        for attack in self.attacks:
            bad = [c for c in attack.clients if not 0 <= c < self.n_clients]
            if bad:
                raise ValueError(
                    f"attack {attack.kind}: client indices {bad} outside 0..{self.n_clients - 1}"
                )
        return self

    def attackers(self) -> dict[int, AttackSection]:
        """Client index -> the attack it runs (explicit indices first, then fractions from the end)."""
        chosen: dict[int, AttackSection] = {}
        for attack in self.attacks:
            indices = list(attack.clients)
            if attack.fraction:
                count = round(attack.fraction * self.n_clients)
                indices += list(range(self.n_clients - count, self.n_clients))
            for i in indices:
                chosen.setdefault(i, attack)
        return chosen


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the field."""


def load_config(path: Path | str) -> ExperimentConfig:
    """Read a YAML (or JSON) experiment config and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings, got {type(raw).__name__}")
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc
