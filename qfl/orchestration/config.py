"""Experiment and node configuration, validated with pydantic so bad input fails with a message that says where.

Everything that can be checked without a chain is checked here, before anything is deployed or staked: each
field's type and limits, and the rules across fields (dataset classes vs qubits, attackers vs clients, the
reward pool vs the rounds, ...). `load_config` reports every problem of a file on one line, each naming the
field path and what to do. `python -m qfl.orchestration.config reference > docs/config.md` writes the field reference.
"""

from __future__ import annotations

import math
import sys
import types
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qfl.data.datasets import BUILTINS, FILE_SUFFIXES, BuiltinDataset
from qfl.quantum.spec import AggregationRule

WEI_PER_ETH = 10**18
UINT96_MAX = 2**96 - 1  # the contract keeps stakes in uint96
UINT128_MAX = 2**128 - 1  # and the round reward in uint128
BPS = 10_000  # fractions go on chain as basis points

# Optimisers the trainer (qfl/quantum/train.py: `getattr(optax, name)(learning_rate)`) runs with a learning rate
# alone; tests/python/config checks every one of them against optax.
Optimizer = Literal[
    "adabelief",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "adan",
    "amsgrad",
    "lamb",
    "lion",
    "nadam",
    "nadamw",
    "novograd",
    "radam",
    "rmsprop",
    "sgd",
    "yogi",
]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)

# Attacks whose update does not depend on `strength` (label_flip poisons labels, free_rider sends the global
# model back, colluders share one averaged flip).
STRENGTHLESS_ATTACKS = ("label_flip", "free_rider", "colluding")


class _Problems(ValueError):
    """Several problems found by one validator: (field path relative to the model, message) each."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{loc}: {msg}" if loc else msg for loc, msg in problems))


def _raise_if(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise _Problems(problems)


def _decimal(amount: Any) -> Decimal:
    """A number as the decimal a person wrote: floats through their shortest repr (1.1 -> Decimal('1.1'))."""
    if isinstance(amount, bool):
        raise ValueError(f"{amount!r} is not a number")
    try:
        value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(str(amount).strip())
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not a finite number")
    return value


def eth_to_wei(amount: float | int | str | Decimal) -> int:
    """An ETH amount as exact wei: 1.1 -> 1_100_000_000_000_000_000 (a float product gives ...128).

    Floats are read through their shortest repr, i.e. the decimal written in the YAML (exact up to the 15-17
    significant digits a float holds). Raises ValueError for a negative amount or one finer than 1 wei.
    """
    value = _decimal(amount)
    with localcontext() as ctx:
        ctx.prec = 200
        wei = value.scaleb(18)
        if wei != wei.to_integral_value():
            raise ValueError(f"{amount} ETH is not a whole number of wei: use at most 18 decimals")
    if wei < 0:
        raise ValueError(f"{amount} ETH is negative")
    return int(wei)


def wei_to_eth(wei: int) -> str:
    """Exact decimal ETH for messages: 1100000000000000000 -> '1.1'."""
    text = format(Decimal(wei).scaleb(-18), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(_Strict):
    """The variational circuit every node builds (with the dataset's class count it is the model spec)."""

    n_qubits: int = Field(
        4,
        ge=1,
        le=16,
        description="qubits; class k is read out as the Z expectation of qubit k, so at least the class count",
    )
    n_layers: int = Field(2, ge=1, le=20, description="ansatz layers (rotations then a CNOT ring)")
    encoding: Literal["angle", "reupload", "amplitude"] = Field(
        "angle",
        description="`angle`: RY(x_q) on qubit q before layer 0; `reupload`: before every layer; `amplitude`: "
        "the L2-normalised input of length 2^n_qubits is the initial state",
    )
    ansatz: Literal["hea", "sel"] = Field(
        "hea", description="`hea`: RY RZ per qubit and layer; `sel`: strongly entangling, 3 angles per qubit"
    )

    @property
    def n_features(self) -> int:
        """Input width the encoding consumes (the dataset is PCA-reduced to at most this)."""
        return 2**self.n_qubits if self.encoding == "amplitude" else self.n_qubits


def builtin_dataset(name: str) -> BuiltinDataset | None:
    """The registry entry of a built-in dataset name; None for a file path."""
    return BUILTINS.get(name)


def train_rows(n_samples: int, test_fraction: float) -> tuple[int, int]:
    """(train, test) row counts of a split with this test fraction (as sklearn's train_test_split counts)."""
    n_test = math.ceil(test_fraction * n_samples)
    return n_samples - n_test, n_test


class DataSection(_Strict):
    """Which data, how it is split between train and test, and how the training rows are dealt to clients."""

    dataset: str = Field(
        "digits01",
        description="a built-in name (see *Built-in datasets*) or the path of a .csv (numeric, no header, label "
        "last) or .npz (arrays X, y) file, relative to the working directory",
    )
    split: Literal["iid", "dirichlet", "shards"] = Field(
        "iid",
        description="`iid`: shuffled and dealt evenly; `dirichlet`: per-class Dirichlet(alpha) label skew; "
        "`shards`: labels_per_client label shards per client",
    )
    alpha: float = Field(
        0.3, gt=0, description="Dirichlet concentration (split: dirichlet only); small = skewed"
    )
    labels_per_client: int = Field(
        2, ge=1, description="label shards per client (split: shards only); at most the class count"
    )
    test_fraction: float = Field(0.25, gt=0, lt=1, description="share of the rows held out as the test set")
    seed: int = Field(0, description="seed of the train/test split, PCA and the client split")
    feature_range: tuple[float, float] = Field(
        (0.0, 1.0),
        description="[lo, hi] every feature of a node's private data file (`qflchain node --data`) lies in; "
        "each node maps it to angles the same way, so nothing is fitted on pooled data",
    )

    @field_validator("feature_range")
    @classmethod
    def _ordered_range(cls, bounds: tuple[float, float]) -> tuple[float, float]:
        lo, hi = bounds
        if not lo < hi:
            raise ValueError(f"[{lo}, {hi}] is empty: give [lo, hi] with lo < hi")
        return bounds

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        if name in BUILTINS:
            return name
        path = Path(name)
        if path.suffix not in FILE_SUFFIXES:
            raise ValueError(
                f"unknown dataset {name!r}: use one of {', '.join(BUILTINS)} or a path to a "
                f"{' or '.join(FILE_SUFFIXES)} file"
            )
        if not path.is_file():
            where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
            raise ValueError(f"file {name!r} does not exist{where}: give an existing file or a built-in name")
        return name

    def _split_problems(self) -> list[tuple[str, str]]:
        """Options the chosen split would silently ignore."""
        problems = []
        if "labels_per_client" in self.model_fields_set and self.split != "shards":
            problems.append(
                (
                    "labels_per_client",
                    f"only split: shards uses it (split is {self.split}): remove it or set split",
                )
            )
        if "alpha" in self.model_fields_set and self.split != "dirichlet":
            problems.append(
                ("alpha", f"only split: dirichlet uses it (split is {self.split}): remove it or set split")
            )
        return problems


class TrainingSection(_Strict):
    """Local training of every client in each round (optax)."""

    epochs: int = Field(1, ge=1, description="passes over the client's training rows per round")
    batch_size: int = Field(16, ge=1, description="rows per optimiser step")
    learning_rate: float = Field(0.1, gt=0, description="the optimiser's learning rate")
    optimizer: Optimizer = Field(
        "adam", description="an optax optimiser, called as `optax.NAME(learning_rate)`"
    )
    prox_mu: float = Field(0.0, ge=0, description="FedProx proximal term weight (0: plain local training)")


DAY = 86_400


def _period(what: str):
    return Field(
        600,
        ge=60,
        le=30 * DAY,
        description=f"seconds of the {what} (the contract allows 1 minute to 30 days)",
    )


class ProtocolSection(_Strict):
    """The federation contract's parameters and its funding. ETH amounts convert to wei exactly (`*_wei`)."""

    rounds: int = Field(5, ge=1, le=1000, description="training rounds the federation runs")
    min_stake_eth: float = Field(
        1.0, gt=0, description="least stake (ETH) to register and to commit an update"
    )
    stake_eth: float = Field(2.0, gt=0, description="stake (ETH) each client deposits when it registers")
    reward_per_round_eth: float = Field(
        1.0,
        ge=0,
        description="ETH each round reserves from the pool at startRound and pays to trainers and committee",
    )
    fund_eth: float = Field(
        10.0,
        ge=0,
        description="ETH the sponsor puts in the reward pool at deployment (at least rounds x reward)",
    )
    committee_size: int = Field(
        3,
        ge=1,
        le=64,
        description="seats drawn per round in proportion to stake, with replacement (one member may hold several, "
        "so it may exceed n_clients)",
    )
    cohort_size: int = Field(
        64,
        ge=1,
        le=10_000,
        description="most updates per round; with more members they draw lottery tickets for the slots",
    )
    slash_fraction: float = Field(
        0.2,
        ge=0,
        le=1,
        description="share of the stake burned for a rejected update or a silent vote (0.0001 steps)",
    )
    max_samples: int = Field(
        100_000, ge=1, le=2**32 - 1, description="cap on the sample count one update may claim"
    )
    max_share: float = Field(
        0.5,
        ge=0.0001,
        le=1,
        description="most one update may take of the trainer reward and of the aggregate (0.0001 steps)",
    )
    rejoin_cooldown: int = Field(
        DAY, ge=0, le=365 * DAY, description="seconds before a member that left may rejoin"
    )
    commit_seconds: int = _period("commit phase")
    reveal_seconds: int = _period("reveal phase")
    vote_seconds: int = _period("vote commit and of the vote reveal phase, each")
    attest_seconds: int = _period("attest phase")

    @field_validator("min_stake_eth", "stake_eth", "reward_per_round_eth", "fund_eth")
    @classmethod
    def _whole_wei(cls, amount: float) -> float:
        eth_to_wei(amount)  # raises for amounts finer than 1 wei
        return amount

    @field_validator("slash_fraction", "max_share")
    @classmethod
    def _whole_bps(cls, fraction: float) -> float:
        bps = _decimal(fraction) * BPS
        if bps != bps.to_integral_value():
            raise ValueError(
                f"{fraction} is not a whole number of basis points (the contract keeps 0.0001 steps): "
                f"use e.g. {round(fraction * BPS) / BPS}"
            )
        return fraction

    @property
    def min_stake_wei(self) -> int:
        return eth_to_wei(self.min_stake_eth)

    @property
    def stake_wei(self) -> int:
        return eth_to_wei(self.stake_eth)

    @property
    def reward_per_round_wei(self) -> int:
        return eth_to_wei(self.reward_per_round_eth)

    @property
    def fund_wei(self) -> int:
        return eth_to_wei(self.fund_eth)

    @property
    def min_fund_wei(self) -> int:
        """The least pool that lets every round start: each startRound reserves reward_per_round from it."""
        return self.rounds * self.reward_per_round_wei

    @property
    def slash_fraction_bps(self) -> int:
        return int(_decimal(self.slash_fraction) * BPS)

    @property
    def max_share_bps(self) -> int:
        return int(_decimal(self.max_share) * BPS)

    def wei(self, field: str) -> int:
        """Any `*_eth` field in exact wei: `protocol.wei("fund_eth")`."""
        if not field.endswith("_eth") or field not in type(self).model_fields:
            raise KeyError(f"{field!r} is not an ETH field of the protocol section")
        return eth_to_wei(getattr(self, field))

    def _money_problems(self) -> list[tuple[str, str]]:
        """Amounts the contract would refuse, or a pool that cannot start every round."""
        problems = []
        if self.stake_wei < self.min_stake_wei:
            problems.append(
                (
                    "stake_eth",
                    f"{self.stake_eth} is below min_stake_eth {self.min_stake_eth}: raise stake_eth",
                )
            )
        for field, limit, what in (
            ("min_stake_eth", UINT96_MAX, "uint96"),
            ("stake_eth", UINT96_MAX, "uint96"),
            ("reward_per_round_eth", UINT128_MAX, "uint128"),
        ):
            if self.wei(field) > limit:
                problems.append(
                    (field, f"{getattr(self, field)} ETH is beyond the contract's {what}: lower it")
                )
        if self.fund_wei < self.min_fund_wei:
            problems.append(
                (
                    "fund_eth",
                    f"{self.fund_eth} ETH cannot pay {self.rounds} rounds x {self.reward_per_round_eth} ETH (each "
                    "startRound reserves reward_per_round_eth from the pool, else it reverts PoolUnderfunded): set "
                    f"fund_eth to at least {wei_to_eth(self.min_fund_wei)} ETH, or lower rounds or reward_per_round_eth",
                )
            )
        return problems


class AttackSection(_Strict):
    """Clients that misbehave on purpose (simulation and multi-process runs)."""

    kind: Literal["sign_flip", "label_flip", "gaussian_noise", "scaling", "free_rider", "colluding"] = Field(
        description="`sign_flip`: sends g - strength x (u - g) for its update u and the global model g; "
        "`label_flip`: trains on labels c -> n_classes - 1 - c; "
        "`gaussian_noise`: adds noise of sigma 0.5 x strength; `scaling`: g + 10 x strength x (u - g); `free_rider`: "
        "sends the global model back; `colluding`: the colluders all send g minus their mean step"
    )
    clients: list[int] = Field(
        default_factory=list, description="client indices (0..n_clients-1) that attack"
    )
    fraction: float | None = Field(
        None, ge=0, le=1, description="or: this fraction of n_clients (rounded), the last ones, attack"
    )
    strength: float = Field(
        1.0,
        gt=0,
        description="size of the attack for sign_flip, gaussian_noise and scaling (others ignore it)",
    )

    def _own_problems(self) -> list[tuple[str, str]]:
        """An attack with no attacker, or a strength it ignores."""
        problems = []
        if not self.clients and not self.fraction:
            problems.append(
                ("", f"{self.kind} names no attacker: give clients: [indices] or a fraction in (0, 1]")
            )
        if "strength" in self.model_fields_set and self.kind in STRENGTHLESS_ATTACKS:
            problems.append(("strength", f"{self.kind} does not use strength: remove it"))
        return problems


class ExperimentConfig(_Strict):
    """One federation run: model, data split, training, protocol parameters, attackers, aggregation."""

    name: str = Field("qflchain", description="the run's name (output folders, reports)")
    n_clients: int = Field(8, ge=2, le=1024, description="clients, each with its own data part and account")
    model: ModelSection = Field(ModelSection(), description="the circuit")
    data: DataSection = Field(DataSection(), description="the dataset and how it is split")
    training: TrainingSection = Field(TrainingSection(), description="local training")
    protocol: ProtocolSection = Field(
        ProtocolSection(), description="the federation contract and its funding"
    )
    aggregation: AggregationRule = Field(
        "reputation_weighted_fedavg",
        description="how the accepted updates are combined (recorded in the model spec, so on chain by digest)",
    )
    attacks: list[AttackSection] = Field(
        default_factory=list, description="attacker groups (none: all honest)"
    )
    seed: int = Field(0, description="seed of the initial weights and of local training")

    @model_validator(mode="after")
    def _check(self) -> ExperimentConfig:
        # The rules across fields, all collected (they run once every field is valid on its own).
        problems = [(f"data.{loc}", msg) for loc, msg in self.data._split_problems()]
        problems += self._data_problems()
        problems += [(f"protocol.{loc}", msg) for loc, msg in self.protocol._money_problems()]
        problems += self._attack_problems()
        _raise_if(problems)
        return self

    def _data_problems(self) -> list[tuple[str, str]]:
        d, m = self.data, self.model
        info = builtin_dataset(d.dataset)
        if info is None:  # a user's file: its classes and rows are known only when it is loaded
            return []
        problems = []
        k = info.n_classes
        if k > m.n_qubits:
            problems.append(
                (
                    "model.n_qubits",
                    f"{d.dataset} has {k} classes and class k is read out on qubit k, so {m.n_qubits} qubits "
                    f"cannot: set model.n_qubits to at least {k}",
                )
            )
        n_train, n_test = train_rows(info.n_samples, d.test_fraction)
        if m.encoding == "amplitude":
            needed = max(k, math.ceil(math.log2(min(info.n_features, n_train))), 1)
            if m.n_qubits > needed:
                problems.append(
                    (
                        "model.n_qubits",
                        f"amplitude encoding of {d.dataset} ({info.n_features} features, {k} classes) fills "
                        f"at most {min(info.n_features, n_train)} of the {2**m.n_qubits} amplitudes of "
                        f"{m.n_qubits} qubits: set model.n_qubits to {needed}",
                    )
                )
        if n_test < k or n_train < k:
            problems.append(
                (
                    "data.test_fraction",
                    f"{d.test_fraction} of {d.dataset}'s {info.n_samples} rows gives {n_test} test and {n_train} "
                    f"train rows; a stratified split needs at least {k} ({k} classes) in each: change it",
                )
            )
        elif 2 * self.n_clients > n_train:
            problems.append(
                (
                    "n_clients",
                    f"{d.dataset} leaves {n_train} training rows after test_fraction {d.test_fraction} and every "
                    f"client needs 2 (train + validation): use at most {n_train // 2} clients",
                )
            )
        if d.split == "shards" and d.labels_per_client > k:
            problems.append(
                (
                    "data.labels_per_client",
                    f"{d.labels_per_client} labels per client but {d.dataset} has {k} classes: use at most {k}",
                )
            )
        return problems

    def _attack_problems(self) -> list[tuple[str, str]]:
        problems = []
        owner: dict[int, int] = {}
        n = self.n_clients
        for i, attack in enumerate(self.attacks):
            problems += [
                (".".join(filter(None, (f"attacks.{i}", loc))), m) for loc, m in attack._own_problems()
            ]
            bad = sorted({c for c in attack.clients if not 0 <= c < n})
            if bad:
                problems.append(
                    (
                        f"attacks.{i}.clients",
                        f"attack {attack.kind}: client indices {bad} outside 0..{n - 1}: use indices below n_clients",
                    )
                )
            if attack.fraction and round(attack.fraction * n) == 0:
                problems.append(
                    (
                        f"attacks.{i}.fraction",
                        f"{attack.fraction} of {n} clients rounds to 0 attackers: use at least {1 / n:.4g} or "
                        "list clients",
                    )
                )
            taken = {}
            for c in sorted(set(self._attack_indices(attack)) - set(bad)):
                if owner.setdefault(c, i) != i:
                    taken[c] = owner[c]
            if taken:
                where = ", ".join(f"client {c} in attacks.{j}" for c, j in taken.items())
                problems.append(
                    (
                        f"attacks.{i}",
                        f"already an attacker of another attack ({where}; a client runs one attack): "
                        "give each attack other clients",
                    )
                )
        if self.attacks and len(owner) >= n:
            problems.append(
                ("attacks", f"all {n} clients attack, so nobody is honest: leave at least one client out")
            )
        return problems

    def _attack_indices(self, attack: AttackSection) -> list[int]:
        indices = list(attack.clients)
        if attack.fraction:
            count = round(attack.fraction * self.n_clients)
            indices += list(range(self.n_clients - count, self.n_clients))
        return indices

    def attackers(self) -> dict[int, AttackSection]:
        """Client index -> the attack it runs (explicit indices first, then fractions from the end)."""
        chosen: dict[int, AttackSection] = {}
        for attack in self.attacks:
            for i in self._attack_indices(attack):
                chosen.setdefault(i, attack)
        return chosen


@dataclass(frozen=True)
class RequiredFunds:
    """What the accounts of a run must hold before it starts (wei): the sponsor and each client."""

    sponsor_wei: int  # the pool it funds + gas to deploy
    client_wei: int  # the stake it deposits + gas for every round
    gas_price_wei: int

    @property
    def sponsor_eth(self) -> str:
        return wei_to_eth(self.sponsor_wei)

    @property
    def client_eth(self) -> str:
        return wei_to_eth(self.client_wei)


# Gas budgets, rounded up from benchmarks/results/gas.md (64 seats, up to 10,000 updates a round).
GAS_DEPLOY = 8_000_000  # contract creation with the pool's value
GAS_CLIENT_MEMBERSHIP = 1_000_000  # register + withdraw + withdrawStake/leave
GAS_CLIENT_ROUND = 2_000_000  # commit + reveal, votes, own settlement, startRound/draw/attest shares
GAS_PER_SCORE_BYTE = 800  # revealVote pays per update scored
DEFAULT_GAS_PRICE_WEI = 10 * 10**9  # 10 gwei: generous on a testnet or anvil


def required_eth(cfg: ExperimentConfig, gas_price_wei: int = DEFAULT_GAS_PRICE_WEI) -> RequiredFunds:
    """The least balances a run needs: the sponsor's fund_eth plus deployment gas, and each client's stake_eth
    plus gas for registering, every round (with committee duties) and withdrawing, at `gas_price_wei`."""
    p = cfg.protocol
    updates = min(cfg.n_clients, p.cohort_size)
    per_round = GAS_CLIENT_ROUND + GAS_PER_SCORE_BYTE * updates
    client_gas = GAS_CLIENT_MEMBERSHIP + p.rounds * per_round
    return RequiredFunds(
        sponsor_wei=p.fund_wei + GAS_DEPLOY * gas_price_wei,
        client_wei=p.stake_wei + client_gas * gas_price_wei,
        gas_price_wei=gas_price_wei,
    )


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the field."""


def _section_of(loc: tuple) -> type[BaseModel] | None:
    """The model that holds the field at `loc` (for listing its fields in a message)."""
    model: type[BaseModel] | None = ExperimentConfig
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        args = get_args(ann) if get_origin(ann) is list else (ann,)
        model = args[0] if isinstance(args[0], type) and issubclass(args[0], BaseModel) else None
    return model


def _short(value: Any) -> str | None:
    if isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    return None


def problem_lines(exc: ValidationError) -> list[str]:
    """One `field.path: what is wrong: what to do` line per problem of a validation error."""
    lines = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        error = (e.get("ctx") or {}).get("error")
        if isinstance(error, _Problems):
            for rel, msg in error.problems:
                path = ".".join([*map(str, loc), *([rel] if rel else [])])
                lines.append(f"{path or '<root>'}: {msg}")
            continue
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            section = _section_of(loc)
            if section is not None:
                msg += f": remove it or fix the name (known: {', '.join(section.model_fields)})"
        elif e["type"] == "missing":
            msg += ": add it"
        elif e["type"] not in ("value_error",) and (got := _short(e.get("input"))) is not None:
            msg += f" (got {got})"
        lines.append(f"{'.'.join(map(str, loc)) or '<root>'}: {msg}")
    return [" ".join(line.split()) for line in lines]


def load_config(path: Path | str) -> ExperimentConfig:
    """Read a YAML (or JSON) experiment config and validate it; every problem is reported in one ConfigError
    whose message is one line: `file: field.path: problem: what to do; field.path: ...`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist: give the path of an experiment YAML")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path} is not valid YAML{where}: {what}: fix the syntax") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings, got {type(raw).__name__}")
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + "; ".join(problem_lines(exc))) from exc


# ----- the reference page (docs/config.md) -----

CROSS_FIELD_RULES = (
    "`model.n_qubits` >= the dataset's class count (class k is read out as the Z expectation of qubit k).",
    "`model.encoding: amplitude`: `model.n_qubits` no more than the classes and the features need "
    "(max(classes, ceil(log2 features))); more would leave most amplitudes always zero.",
    "`data.test_fraction` leaves at least one row per class in the test and the training set (stratified split).",
    "`n_clients` <= half the training rows (every client needs a training and a validation row).",
    "`data.labels_per_client` <= the class count; `labels_per_client` only with `split: shards`, `alpha` only "
    "with `split: dirichlet`.",
    "`data.dataset` is a built-in name or an existing .csv/.npz file (checked for its classes only when loaded).",
    "`protocol.stake_eth` >= `protocol.min_stake_eth`; stakes fit the contract's uint96, the reward its uint128.",
    "`protocol.fund_eth` >= `rounds` x `reward_per_round_eth`: each `startRound` reserves `reward_per_round` from "
    "the pool and reverts `PoolUnderfunded` otherwise (a round nobody commits to gives its reserve back, but "
    "that is not counted on).",
    "ETH amounts are whole numbers of wei (at most 18 decimals); `slash_fraction` and `max_share` whole basis "
    "points (0.0001).",
    "Every attack names its clients (`clients` or a `fraction` that rounds to at least one client); indices are "
    "below `n_clients`; no client is in two attacks; at least one client stays honest; `strength` only for "
    "`sign_flip`, `gaussian_noise` and `scaling`.",
)

_SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("top level", ExperimentConfig),
    ("model", ModelSection),
    ("data", DataSection),
    ("training", TrainingSection),
    ("protocol", ProtocolSection),
    ("attacks[]", AttackSection),
)


def _type_name(ann: Any) -> str:
    origin = get_origin(ann)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in get_args(ann))
    if origin is list:
        item = get_args(ann)[0]
        entries = isinstance(item, type) and issubclass(item, BaseModel)
        return "list of entries" if entries else f"list of {_type_name(item)}"
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        suffix = " or null" if len(args) < len(get_args(ann)) else ""
        return " or ".join(_type_name(a) for a in args) + suffix
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "section"
    return getattr(ann, "__name__", str(ann))


def _limits(field) -> str:
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    parts = []
    for meta in field.metadata:
        for attr, word in words.items():
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{word} {value:,}" if isinstance(value, int) else f"{word} {value}")
    return ", ".join(parts)


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(section)"
    if value is None:
        return "`null`"
    return f"`{value}`"


def config_reference() -> str:
    """docs/config.md: every field of an experiment config with its type, default, limits and meaning."""
    out = [
        "# Experiment config reference",
        "",
        "Generated from the pydantic models in `qfl/orchestration/config.py` by `python -m qfl.orchestration.config reference > "
        "docs/config.md`; do not edit by hand (a test checks that it matches).",
        "",
        "An experiment config is a YAML file (see `configs/`). Every field has a default, so `{}` is a valid "
        "config; an unknown field is an error. `load_config` checks the whole file before anything is deployed "
        "or staked and reports every problem on one line, each as `field.path: what is wrong: what to do`.",
        "",
        "ETH amounts are read as the decimals written (`1.1` is exactly 1.1 ETH); `ProtocolSection` gives them "
        "in wei as `min_stake_wei`, `stake_wei`, `reward_per_round_wei`, `fund_wei` (and `wei(field)`).",
    ]
    for title, model in _SECTIONS:
        prefix = "" if model is ExperimentConfig else title + "."
        out += ["", f"## {title}", "", (model.__doc__ or "").strip().splitlines()[0], ""]
        out += ["| field | type | default | limits | meaning |", "|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            meaning = field.description or ""
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                meaning += f" (see [{name}](#{name}))"
            elif name == "attacks":
                meaning += " (see [attacks[]](#attacks))"
            cells = [
                f"`{prefix}{name}`",
                _type_name(field.annotation),
                _default(field),
                _limits(field),
                meaning,
            ]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out += ["", "## Rules across fields", ""]
    out += [f"- {rule}" for rule in CROSS_FIELD_RULES]
    out += [
        "",
        "## Built-in datasets",
        "",
        "| name | classes | features | rows | what |",
        "|---|---:|---:|---:|---|",
    ]
    for name, info in BUILTINS.items():
        out.append(
            f"| `{name}` | {info.n_classes} | {info.n_features} | {info.n_samples} | {info.description} |"
        )
    out += [
        "",
        "## Optimisers",
        "",
        "`training.optimizer` is one of: " + ", ".join(f"`{o}`" for o in OPTIMIZERS) + ".",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if argv == ["reference"]:
        sys.stdout.write(config_reference())
        return 0
    if len(argv) == 2 and argv[0] == "check":
        try:
            cfg = load_config(argv[1])
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"{argv[1]}: ok ({cfg.n_clients} clients, {cfg.protocol.rounds} rounds)")
        return 0
    print("usage: python -m qfl.orchestration.config reference | check CONFIG.yaml", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
