"""Typed records of the federation: parameters, round and client views, transaction results, events."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

MAX_COMMITTEE = 64
MAX_PARTICIPANTS_LIMIT = 1024
UINT80_MAX = 2**80 - 1


class RoundPhase(IntEnum):
    """Mirror of `QFLFederation.RoundPhase`."""

    NONE = 0
    COMMIT = 1
    REVEAL = 2
    SELECT = 3
    VOTE = 4
    FINALIZE = 5
    AGGREGATE = 6
    DONE = 7


class TrainerOutcome(IntEnum):
    """Mirror of `QFLFederation.TrainerOutcome`."""

    ACCEPTED = 0
    REJECTED = 1
    UNVALIDATED = 2
    SILENT_COMMITTER = 3


class ValidatorOutcome(IntEnum):
    """Mirror of `QFLFederation.ValidatorOutcome`."""

    MAJORITY = 0
    MINORITY = 1
    SILENT = 2


@dataclass(frozen=True)
class FederationParams:
    """Deployment parameters; validated here with the same rules as the contract's constructor."""

    model_spec: bytes
    initial_model: bytes
    num_rounds: int
    min_stake: int
    commit_period: int
    reveal_period: int
    vote_period: int
    attest_period: int
    committee_size: int
    reward_per_round: int
    slash_fraction_bps: int
    max_participants: int

    def __post_init__(self) -> None:
        problems = []
        if len(self.model_spec) != 32 or not any(self.model_spec):
            problems.append("model_spec must be a non-zero 32-byte CID digest")
        if len(self.initial_model) != 32 or not any(self.initial_model):
            problems.append("initial_model must be a non-zero 32-byte CID digest")
        if not 0 < self.num_rounds < 2**32:
            problems.append("num_rounds must be >= 1")
        if self.min_stake <= 0:
            problems.append("min_stake must be > 0 wei")
        for name in ("commit_period", "reveal_period", "vote_period", "attest_period"):
            if not 0 < getattr(self, name) < 2**63:
                problems.append(f"{name} must be > 0 seconds")
        if not 0 < self.committee_size <= MAX_COMMITTEE:
            problems.append(f"committee_size must be in 1..{MAX_COMMITTEE}")
        if not 0 <= self.reward_per_round <= UINT80_MAX:
            problems.append("reward_per_round must be in 0..2**80-1 wei")
        if not 0 <= self.slash_fraction_bps <= 10_000:
            problems.append("slash_fraction_bps must be in 0..10000")
        if not 0 < self.max_participants <= MAX_PARTICIPANTS_LIMIT:
            problems.append(f"max_participants must be in 1..{MAX_PARTICIPANTS_LIMIT}")
        if problems:
            raise ValueError("invalid FederationParams: " + "; ".join(problems))

    def as_tuple(self) -> tuple:
        """The `Params` struct as the constructor takes it."""
        return (
            bytes(self.model_spec),
            bytes(self.initial_model),
            self.num_rounds,
            self.min_stake,
            self.commit_period,
            self.reveal_period,
            self.vote_period,
            self.attest_period,
            self.committee_size,
            self.reward_per_round,
            self.slash_fraction_bps,
            self.max_participants,
        )


@dataclass(frozen=True)
class ParticipantView:
    """One committed update of the round: `digest` is the commitment before reveal, the CID digest after."""

    client: str
    digest: bytes
    revealed: bool
    reveal_order: int
    samples: int


@dataclass(frozen=True)
class RoundView:
    """A whole round as `QFLFederation.getRound` returns it."""

    round: int
    phase: RoundPhase
    commit_deadline: int
    reveal_deadline: int
    vote_deadline: int
    attest_deadline: int
    expected_committers: int
    commit_count: int
    reveal_count: int
    accepted_count: int
    proposal_count: int
    reward: int
    seed: bytes
    start_model: bytes
    global_model: bytes
    committee: tuple[str, ...]
    voted_mask: int
    votes: tuple[tuple[bool, ...], ...]  # per committee seat, one bool per revealed update
    accepted: tuple[bool, ...]  # per revealed update, in reveal order
    participants: tuple[ParticipantView, ...]

    @property
    def reveals(self) -> tuple[ParticipantView, ...]:
        """Revealed updates in reveal order: index i is bit i of every vote bitmap."""
        return tuple(sorted((p for p in self.participants if p.revealed), key=lambda p: p.reveal_order))

    def has_voted(self, seat: int) -> bool:
        """Whether committee seat `seat` has voted."""
        return bool((self.voted_mask >> seat) & 1)


@dataclass(frozen=True)
class ClientView:
    """A client's state as `QFLFederation.getClient` returns it."""

    address: str
    registered: bool
    stake: int
    reputation: int
    withdrawable: int
    eligible_from: int
    commit_round: int
    revealed: bool
    samples: int


@dataclass(frozen=True)
class FederationEvent:
    """One decoded contract event: `name` is the Solidity event name, `args` its fields (bytes, str, int)."""

    name: str
    block_number: int
    log_index: int
    tx_hash: str
    args: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


@dataclass(frozen=True)
class TxResult:
    """What a federation transaction did: its method, gas, hash, block and decoded events."""

    name: str
    gas_used: int
    tx_hash: str
    block_number: int
    events: tuple[FederationEvent, ...] = ()

    def event(self, name: str) -> FederationEvent:
        """The first event called `name` in this transaction."""
        for ev in self.events:
            if ev.name == name:
                return ev
        raise KeyError(f"{self.name} emitted no {name} event (emitted: {[e.name for e in self.events]})")


@dataclass
class GasLedger:
    """Gas used per method name, accumulated over a Federation's transactions."""

    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    gas: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def record(self, result: TxResult) -> None:
        """Add one transaction's gas to its method's totals."""
        self.calls[result.name] += 1
        self.gas[result.name] += result.gas_used

    @property
    def total(self) -> int:
        """Gas used by all recorded transactions."""
        return sum(self.gas.values())

    def mean(self, name: str) -> float:
        """Mean gas per call of method `name` (0 when never called)."""
        return self.gas[name] / self.calls[name] if self.calls[name] else 0.0
