"""Typed records of the federation: parameters, round and client views, transaction results, events."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from functools import cached_property
from typing import Any

MAX_COMMITTEE = 64
MAX_COHORT = 10_000
MIN_PERIOD = 60  # seconds; every phase window is MIN_PERIOD..MAX_PERIOD
MAX_PERIOD = 30 * 24 * 3600
MAX_REJOIN_COOLDOWN = 365 * 24 * 3600
BPS = 10_000
UINT32_MAX = 2**32 - 1
UINT96_MAX = 2**96 - 1
UINT128_MAX = 2**128 - 1


class RoundPhase(IntEnum):
    """Mirror of `FederationState.RoundPhase`."""

    NONE = 0
    COMMIT = 1
    REVEAL = 2
    SELECT = 3
    VOTE_COMMIT = 4
    VOTE_REVEAL = 5
    AGGREGATE = 6
    DONE = 7

    @property
    def votes_closed(self) -> bool:
        """Settlement may run: the scores are final (AGGREGATE, or DONE)."""
        return self in (RoundPhase.AGGREGATE, RoundPhase.DONE)


class TrainerOutcome(IntEnum):
    """Mirror of `FederationState.TrainerOutcome`."""

    ACCEPTED = 0
    REJECTED = 1
    NEUTRAL = 2
    UNVALIDATED = 3
    SILENT_COMMITTER = 4


class ValidatorOutcome(IntEnum):
    """Mirror of `FederationState.ValidatorOutcome`."""

    AGREED = 0
    MINORITY = 1
    SILENT = 2


class SeatFlag(IntFlag):
    """Mirror of the contract's per-committee-member `Seat.flags` bits."""

    VOTE_COMMITTED = 1
    VOTE_REVEALED = 2
    SETTLED = 4
    OWN_DECIDED = 8  # the member's own update in this round was decided
    PROPOSED = 16


class ProposalStatus(IntEnum):
    """Mirror of `Proposal.status`."""

    PENDING = 0
    ACCEPTED = 1
    REFUSED = 2


@dataclass(frozen=True)
class FederationParams:
    """Deployment parameters (the contract's `Params`); validated here with the constructor's rules."""

    model_spec: bytes
    initial_model: bytes
    num_rounds: int
    min_stake: int
    commit_period: int
    reveal_period: int
    vote_period: int  # each of vote commit and vote reveal
    attest_period: int
    committee_size: int  # seats drawn per round (one member may hold several)
    cohort_size: int  # most updates per round
    reward_per_round: int
    slash_fraction_bps: int
    max_samples: int  # cap on the sample count an update may claim
    max_share_bps: int  # cap on one update's share of the trainer reward and of the aggregate weight
    rejoin_cooldown: int  # seconds after `leave` before the same address may register again

    def __post_init__(self) -> None:
        problems = []
        if len(self.model_spec) != 32 or not any(self.model_spec):
            problems.append("model_spec must be a non-zero 32-byte CID digest")
        if len(self.initial_model) != 32 or not any(self.initial_model):
            problems.append("initial_model must be a non-zero 32-byte CID digest")
        if not 0 < self.num_rounds <= UINT32_MAX:
            problems.append("num_rounds must be >= 1")
        if not 0 < self.min_stake <= UINT96_MAX:
            problems.append("min_stake must be in 1..2**96-1 wei")
        for name in ("commit_period", "reveal_period", "vote_period", "attest_period"):
            if not MIN_PERIOD <= getattr(self, name) <= MAX_PERIOD:
                problems.append(f"{name} must be in {MIN_PERIOD}..{MAX_PERIOD} seconds (1 minute to 30 days)")
        if not 0 < self.committee_size <= MAX_COMMITTEE:
            problems.append(f"committee_size must be in 1..{MAX_COMMITTEE}")
        if not 0 < self.cohort_size <= MAX_COHORT:
            problems.append(f"cohort_size must be in 1..{MAX_COHORT}")
        if not 0 <= self.reward_per_round <= UINT128_MAX:
            problems.append("reward_per_round must be in 0..2**128-1 wei")
        if not 0 <= self.slash_fraction_bps <= BPS:
            problems.append(f"slash_fraction_bps must be in 0..{BPS}")
        if not 0 < self.max_samples <= UINT32_MAX:
            problems.append("max_samples must be in 1..2**32-1")
        if not 0 < self.max_share_bps <= BPS:
            problems.append(f"max_share_bps must be in 1..{BPS}")
        if not 0 <= self.rejoin_cooldown <= MAX_REJOIN_COOLDOWN:
            problems.append(f"rejoin_cooldown must be in 0..{MAX_REJOIN_COOLDOWN} seconds (365 days)")
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
            self.cohort_size,
            self.reward_per_round,
            self.slash_fraction_bps,
            self.max_samples,
            self.max_share_bps,
            self.rejoin_cooldown,
        )


@dataclass(frozen=True)
class RevealedUpdate:
    """One revealed update of a round (event `UpdateRevealed`): `reveal_order` indexes every score vector."""

    client: str
    reveal_order: int
    cid_digest: bytes
    samples: int
    reputation: int  # the trainer's reputation when it revealed (its aggregation and reward weight)

    @property
    def weight(self) -> int:
        """samples x reputation at reveal: the update's weight in the reward split and the aggregate."""
        return self.samples * self.reputation


@dataclass(frozen=True)
class TrainerSettlement:
    """How an update was settled (event `TrainerSettled`)."""

    client: str
    outcome: TrainerOutcome
    score: int
    reputation: int
    reward: int
    slashed: int


@dataclass(frozen=True)
class ValidatorSettlement:
    """How a committee member's round was settled (event `ValidatorSettled`)."""

    validator: str
    outcome: ValidatorOutcome
    agreed: int
    decisions: int
    reputation: int
    reward: int
    slashed: int


@dataclass(frozen=True)
class ProposalView:
    """A proposed global model, from the round's events; `attested` maps each attester to its yes/no."""

    id: int
    cid_digest: bytes
    poster: str
    yes_seats: int
    no_seats: int
    attested: dict[str, bool]
    status: ProposalStatus

    def attested_by(self, address: str) -> bool:
        """Whether `address` attested this proposal."""
        return address.lower() in {a.lower() for a in self.attested}


@dataclass(frozen=True)
class RoundView:
    """A round as `QFLFederation.getRound` returns it, plus what only its events hold (reveals, revealed
    scores, settlements, proposals), all read at the same block."""

    round: int
    block: int  # the block both the call and the events were read at
    phase: RoundPhase
    commit_deadline: int
    reveal_deadline: int
    vote_commit_deadline: int
    vote_reveal_deadline: int
    attest_deadline: int
    expected_committers: int
    commit_count: int
    reveal_count: int
    settled_count: int
    decided_count: int
    vote_commits: int
    vote_reveals: int
    validators_settled: int
    proposal_count: int
    total_seats: int
    lottery: bool
    draw_block: int
    reward: int
    reserve_left: int
    weight_sum: int
    revealed_seats: int  # seats of the committee members who revealed scores: the attestation base
    cohort_seed: int  # seeds the cohort lottery tickets
    committee_seed: bytes
    start_model: bytes
    global_model: bytes
    committee: tuple[str, ...]  # position p (from 1) is committee[p - 1]
    seats: tuple[int, ...]
    seat_flags: tuple[SeatFlag, ...]
    committers: tuple[str, ...]  # in commit order
    reveals: tuple[RevealedUpdate, ...]  # in reveal order
    scores: dict[str, bytes]  # committee member -> revealed scores (one byte per reveal)
    settlements: dict[str, TrainerSettlement]
    validator_settlements: dict[str, ValidatorSettlement]
    proposals: tuple[ProposalView, ...]  # by id, from 1

    # ---------------------------------------------------------------- committee
    def position_of(self, address: str) -> int | None:
        """Committee position (from 1) of `address`, or None when it holds no seat."""
        address = address.lower()
        for i, member in enumerate(self.committee):
            if member.lower() == address:
                return i + 1
        return None

    def seat_flags_of(self, address: str) -> SeatFlag:
        """The seat flags of committee member `address` (empty when it is not on the committee)."""
        pos = self.position_of(address)
        return SeatFlag(0) if pos is None else self.seat_flags[pos - 1]

    def seats_of(self, address: str) -> int:
        """Seats `address` holds on this round's committee (0 when none)."""
        pos = self.position_of(address)
        return 0 if pos is None else self.seats[pos - 1]

    # ---------------------------------------------------------------- updates
    # Lower-cased indexes, built once per view: every node of a simulator asks them of the same view, and a
    # scan per question would make a pass over the nodes quadratic in the federation's size.
    @cached_property
    def _committed(self) -> frozenset[str]:
        return frozenset(c.lower() for c in self.committers)

    @cached_property
    def _reveal_by(self) -> dict[str, RevealedUpdate]:
        by: dict[str, RevealedUpdate] = {}
        for u in self.reveals:
            by.setdefault(u.client.lower(), u)
        return by

    @cached_property
    def _settled_by(self) -> dict[str, TrainerSettlement]:
        by: dict[str, TrainerSettlement] = {}
        for a, s in self.settlements.items():
            by.setdefault(a.lower(), s)
        return by

    @cached_property
    def _unsettled(self) -> tuple[str, ...]:
        return tuple(c for c in self.committers if c.lower() not in self._settled_by)

    def committed(self, address: str) -> bool:
        """Whether `address` committed an update in this round."""
        return address.lower() in self._committed

    def reveal_of(self, address: str) -> RevealedUpdate | None:
        """The update `address` revealed in this round, if any."""
        return self._reveal_by.get(address.lower())

    def settlement_of(self, address: str) -> TrainerSettlement | None:
        """How `address`'s update was settled, if it was."""
        return self._settled_by.get(address.lower())

    def unsettled_committers(self) -> tuple[str, ...]:
        """Committers whose update is not settled yet, in commit order."""
        return self._unsettled

    @property
    def fully_settled(self) -> bool:
        """Every committed update and every committee member's round is settled."""
        return self.settled_count == self.commit_count and self.validators_settled == len(self.committee)

    # ---------------------------------------------------------------- outcomes (final once votes are closed)
    @cached_property
    def outcomes(self) -> tuple[tuple[TrainerOutcome, int], ...]:
        """(outcome, combined score) of every revealed update in reveal order, computed off-chain exactly as
        `settle` will (qfl.chain.outcome); final once the phase is AGGREGATE or DONE."""
        from qfl.chain.outcome import judge_round

        return judge_round(self)

    @property
    def accepted(self) -> tuple[bool, ...]:
        """Per revealed update (reveal order): whether settlement accepts it; final once votes are closed."""
        return tuple(o == TrainerOutcome.ACCEPTED for o, _ in self.outcomes)


@dataclass(frozen=True)
class ClientView:
    """A member's state as `QFLFederation.getClient` returns it."""

    address: str
    registered: bool
    stake: int
    reputation: int
    withdrawable: int
    eligible_from: int
    commit_round: int  # last round it committed in (0: never)
    revealed: bool  # revealed in commit_round
    settled: bool  # commit_round's update is settled (True when it never committed)
    samples: int
    reveal_order: int
    pending_duties: int  # committee rounds not yet settled
    draw_weight: int  # its weight in committee draws (its stake once drawable, else 0)
    cooldown_until: int

    def owes_settlement(self, before_round: int) -> bool:
        """Whether its update of a round before `before_round` is still unsettled (it cannot commit again)."""
        return self.commit_round != 0 and self.commit_round < before_round and not self.settled


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
