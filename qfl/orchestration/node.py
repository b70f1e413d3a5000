"""One participant's round state machine, driven only by chain state.

Each `step()` reads the current round (one call plus the round's new events), decides the single next action
this participant owes and does it: settle an earlier update or committee seat, open a round, train and
commit, reveal, draw the committee, commit and reveal its scores, settle, propose or attest the global model,
release a round's leftover reserve (during the next round), withdraw (every WITHDRAW_EVERY rounds). The
chain and the content store are the state. Only two secrets live on disk, each written atomically BEFORE the
transaction that needs it later: the pending update of a round (salt, CID, sample count) and the hidden
scores of a committee vote (scores, salt). A node killed at any point and restarted neither commits twice
nor loses a reveal (`crash_point` marks every such point). `run_node`, the loop `qflchain node` runs,
carries a node through RPC node and store outages: back off, read the chain again, resume; stop between
steps on SIGINT/SIGTERM.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from qfl.chain import (
    Federation,
    FederationError,
    ProposalStatus,
    RoundPhase,
    RoundView,
    SeatFlag,
    TxResult,
    make_commitment,
    make_vote_commitment,
)
from qfl.data import ClientData
from qfl.fl.aggregate import AGGREGATORS, cap_shares
from qfl.fl.attacks import ATTACKS, apply_attack
from qfl.fl.judge import JudgeMemory, judge_round
from qfl.quantum.codec import decode_weights, encode_weights
from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import TrainConfig, train_local, trim_host_memory
from qfl.storage import ContentStore, StoreError, cid_to_digest, compute_cid, digest_to_cid
from qfl.storage.atomic import atomic_write_json

# Reverts that only mean "someone else already did it" (several nodes race for the same public action) or
# "not yet" (a draw in the block that armed it, a stake change while a draw is armed, a view a block old).
# "Already..." reverts of our own actions mean an earlier transaction landed before a crash: it is done.
RACE_ERRORS = {
    "WrongPhase",
    "PreviousRoundOpen",
    "AllRoundsDone",
    "DrawTooEarly",
    "DrawPending",
    "ProposalDecided",
    "AlreadyAttested",
    "AlreadyProposed",
    "AlreadyCommitted",
    "AlreadyRevealed",
    "AlreadyVoted",
    "AlreadySettled",
    "SettlementOpen",
    "ReserveLocked",
}

# Rewards are pulled every this many rounds (and after the last): a withdrawal every round would cost every
# round a block between the last settlement and the next startRound on a chain that includes one step per block.
WITHDRAW_EVERY = 10

ACCEPT = 255  # the top score (what a malicious validator gives every update)
REJECT = 0  # the bottom score (an update a validator cannot use)


# The crash point after each transaction a node sends, named `name:round` with the round it is about (the
# new round for start_round, the current one for activate and withdraw). Two more sit before a transaction:
# "saved" (pending update on disk, commitment not sent) and "vote-saved" (scores on disk, vote not sent).
CRASH_AFTER = {
    "start_round": "start",
    "commit_update": "commit",
    "reveal_update": "reveal",
    "draw_committee": "draw",
    "commit_vote": "vote",
    "reveal_vote": "vote-reveal",
    "settle": "settle",
    "settle_validator": "settle-seat",
    "post_global_model": "propose",
    "attest_global_model": "attest",
    "release_reserve": "release",
    "activate_stake": "activate",
    "withdraw_rewards": "withdraw",
}
CRASH_POINTS = ("saved", "vote-saved", "reveal-refused", *CRASH_AFTER.values())


class SimulatedCrash(BaseException):
    """Raised at a crash point when QFL_CRASH_MODE=raise: an in-process test's stand-in for SIGKILL. A
    BaseException, so that no `except Exception` on the way up (the node's, ape's, a run loop's) swallows it;
    the test drops the Node and builds a fresh one on the same state_dir, as a restarted process would."""


def crash_point(name: str, round_: int) -> None:
    """Fault injection for the restart tests: QFL_CRASH_AT=name:round (or several, comma-separated) kills
    this process (SIGKILL) at that point, or with QFL_CRASH_MODE=raise raises SimulatedCrash there."""
    if f"{name}:{round_}" not in os.environ.get("QFL_CRASH_AT", "").split(","):
        return
    if os.environ.get("QFL_CRASH_MODE") == "raise":
        raise SimulatedCrash(f"{name}:{round_}")
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Timers:
    """Seconds spent per kind of work; the simulator splits round time with it."""

    train: float = 0.0
    store: float = 0.0
    chain: float = 0.0

    @contextmanager
    def measure(self, kind: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, kind, getattr(self, kind) + time.perf_counter() - start)


@dataclass(frozen=True)
class PendingUpdate:
    """What a node must remember between commit and reveal."""

    round: int
    cid: str
    salt: str
    samples: int
    revealable: bool = True  # False once the chain refused the reveal (a CID revealed before)


@dataclass(frozen=True)
class PendingVote:
    """What a committee member must remember between committing and revealing its scores."""

    round: int
    scores: str  # hex, one byte per revealed update
    salt: str


@dataclass
class NodeIdentity:
    """Who the node is and what it holds: account, data, optional attack, where its state lives."""

    account: object  # an ape account (signer)
    index: int
    data: ClientData
    state_dir: Path
    attack: str | None = None
    attack_strength: float = 1.0


@dataclass
class Node:
    """A participant: trains, commits, reveals, validates, settles, aggregates, attests, withdraws."""

    federation: Federation
    store: ContentStore
    spec: ModelSpec
    identity: NodeIdentity
    training: TrainConfig
    seed: int = 0
    min_members: int = 1  # do not open round 1 before this many clients registered
    # Reproducible runs derive salts from this secret instead of the OS (same config + seed, same numbers).
    # Only for experiments: a salt anyone can recompute lets others read a commitment before its reveal.
    salt_seed: bytes | None = None
    timers: Timers = field(default_factory=Timers)
    log: Callable[[str], None] = lambda message: None

    def __post_init__(self) -> None:
        self._out_of_gas = 0
        self._activated = 0  # last round this node moved waiting stake into the draw
        self._released = 0  # last earlier round whose leftover reserve this node no longer needs to release
        self._low_stake_logged = 0  # last round it said its stake is too low to commit
        self._aggregates: dict[int, tuple[np.ndarray, str]] = {}
        # The rounds this validator scored (copies, momentum). In memory only: a restarted validator forgets
        # earlier rounds for a while.
        self._judge_memory = JudgeMemory()
        self._round = 0  # the current round as the last step read it (names crash points)
        self.identity.state_dir.mkdir(parents=True, exist_ok=True)
        self.address = self.identity.account.address
        params = self.federation.params()
        self.num_rounds = params["numRounds"]
        self.max_samples = params["maxSamples"]
        self.max_share_bps = params["maxShareBps"]
        self.attest_period = params["attestPeriod"]
        self.min_stake = params["minStake"]
        self.min_validator_reputation = self.federation.min_validator_reputation()
        self.spec_digest = self.spec.digest()
        # The rule comes from the federation's spec (on chain by digest), never from local settings.
        self.aggregation = self.spec.aggregation
        if self.identity.attack is not None and self.identity.attack not in ATTACKS:
            raise ValueError(f"unknown attack {self.identity.attack!r}; choose one of {sorted(ATTACKS)}")
        self._train_data = self.identity.data
        if self.identity.attack is not None and ATTACKS[self.identity.attack].kind == "data":
            d = self.identity.data
            flipped = apply_attack(self.identity.attack, y=d.y_train, n_classes=self.spec.n_classes)
            self._train_data = ClientData(d.X_train, flipped, d.X_val, d.y_val)

    # ------------------------------------------------------------------ chain access
    def forget_chain_cache(self) -> None:
        """Drop every answer cached from the chain: after an RPC outage the node may be back on a chain that
        lost its last blocks (anvil restarted from a periodic dump), whose heads reuse numbers we cached."""
        self.federation.forget_cache()
        self._aggregates.clear()
        self._activated = 0

    def _view(self, round_: int) -> RoundView:
        with self.timers.measure("chain"):
            return self.federation.round_view(round_)

    def _me(self):
        with self.timers.measure("chain"):
            return self.federation.client_view(self.address)

    def _send(self, method: str, *args) -> TxResult | None:
        """Send a transaction; None when a racing node already moved the round on (a harmless revert)."""
        with self.timers.measure("chain"):
            try:
                result = getattr(self.federation, method)(*args, sender=self.identity.account)
            except FederationError as exc:
                if exc.error in RACE_ERRORS:
                    return None
                if exc.error == "OutOfGas" and self._out_of_gas < 3:
                    self._out_of_gas += 1  # state reverted; the next step re-reads the chain and re-estimates
                    self.log(f"{method} ran out of gas (estimate raced another transaction); retrying")
                    return None
                raise
            self._out_of_gas = 0
        if method == "start_round":
            started = [int(e["round"]) for e in result.events if e.name == "RoundStarted"]
            round_ = started[0] if started else self._round + 1
        else:
            round_ = args[0] if args and isinstance(args[0], int) else self._round
        crash_point(CRASH_AFTER.get(method, method), round_)
        return result

    def _cutoff_passed(self, view: RoundView) -> bool:
        """Past the settlement cut-off (attest deadline + attest period): anyone may settle anything."""
        with self.timers.measure("chain"):
            return self.federation.block_timestamp(view.block) > view.attest_deadline + self.attest_period

    # ------------------------------------------------------------------ weights in the store
    def fetch_weights(self, digest: bytes, parent: bytes | None = None) -> np.ndarray:
        """Fetch weights by CID digest; the store verifies the bytes against the CID, the codec the spec (and,
        when `parent` is given, that the weights name it as the model they were trained from)."""
        with self.timers.measure("store"):
            data = self.store.get(digest_to_cid(digest))
        decoded = decode_weights(data)
        if decoded.spec_digest != self.spec_digest:
            raise ValueError(f"weights {digest_to_cid(digest)} were made for another model spec")
        if parent is not None and decoded.parent != parent:
            raise ValueError(f"update {digest_to_cid(digest)} was not trained from this round's start model")
        return decoded.params

    def store_weights(self, params: np.ndarray) -> str:
        data = encode_weights(params, self.spec_digest)
        with self.timers.measure("store"):
            return self.store.put(data)

    def store_update(self, update: np.ndarray, parent: bytes | None = None) -> str:
        """Put this node's trained update, naming its parent model, in the store; its CID is what it commits to."""
        data = encode_weights(update, self.spec_digest, parent=parent)
        with self.timers.measure("store"):
            return self.store.put(data)

    # ------------------------------------------------------------------ secrets on disk
    def _pending_path(self, round_: int) -> Path:
        return self.identity.state_dir / f"round-{round_}.json"

    def _vote_path(self, round_: int) -> Path:
        return self.identity.state_dir / f"vote-{round_}.json"

    def load_pending(self, round_: int) -> PendingUpdate | None:
        path = self._pending_path(round_)
        if not path.exists():
            return None
        return PendingUpdate(**json.loads(path.read_text()))

    def _save_pending(self, pending: PendingUpdate) -> None:
        atomic_write_json(self._pending_path(pending.round), asdict(pending), private=True)  # holds the salt

    def load_vote(self, round_: int) -> PendingVote | None:
        path = self._vote_path(round_)
        if not path.exists():
            return None
        return PendingVote(**json.loads(path.read_text()))

    # ------------------------------------------------------------------ training
    def round_seed(self, round_: int) -> int:
        """Per-round, per-client seed: deterministic, different for every client and round."""
        raw = hashlib.sha256(f"{self.seed}:{self.identity.index}:{round_}".encode()).digest()
        return int.from_bytes(raw[:4], "little")

    def _salt(self, kind: str, round_: int) -> str:
        """A fresh 32-byte commitment salt: random, or derived from `salt_seed` in reproducible runs."""
        if self.salt_seed is None:
            return "0x" + secrets.token_hex(32)
        material = self.salt_seed + f":{kind}:{self.address.lower()}:{round_}".encode()
        return "0x" + hashlib.sha256(material).hexdigest()

    def training_data(self) -> tuple[np.ndarray, np.ndarray]:
        return self._train_data.X_train, self._train_data.y_train

    def samples(self) -> int:
        """The sample count this node commits to: its training rows, clipped to the federation's maximum."""
        return max(1, min(len(self._train_data.y_train), self.max_samples))

    def needs_update(self, view: RoundView) -> bool:
        """True when the round is in its commit phase and this node may and still must commit an update."""
        if view.phase != RoundPhase.COMMIT or view.committed(self.address):
            return False
        return self.load_pending(view.round) is None and self._may_commit(view)

    def _may_commit(self, view: RoundView) -> bool:
        """Registered before the round, holding a cohort seat, and its earlier update settled."""
        me = self._me()
        if not me.registered or me.eligible_from > view.round or me.owes_settlement(view.round):
            return False
        if me.stake < self.min_stake:  # slashed below the minimum: it may not commit until it adds stake
            if self._low_stake_logged != view.round:
                self._low_stake_logged = view.round
                self.log(
                    f"client {self.identity.index}: stake {me.stake / 1e18:.4f} ETH is below the minimum "
                    f"{self.min_stake / 1e18:.4f} ETH; sitting out round {view.round} (add stake to commit again)"
                )
            return False
        if view.lottery:
            with self.timers.measure("chain"):
                return self.federation.in_cohort(view.round, self.address)
        return True

    def train(self, global_params: np.ndarray, round_: int) -> np.ndarray:
        X, y = self.training_data()
        cfg = self.training.model_copy(update={"seed": self.round_seed(round_)})
        with self.timers.measure("train"):
            trained = train_local(self.spec, global_params, X, y, cfg)
            trim_host_memory()  # the first call compiled: return the compiler's freed heap to the OS
            return trained

    def poison(self, trained: np.ndarray, global_params: np.ndarray, round_: int) -> np.ndarray:
        """A model-side attacker replaces its honest update (a no-op for honest nodes)."""
        attack = self.identity.attack
        if attack is None or ATTACKS[attack].kind == "data":
            return trained
        if ATTACKS[attack].kind == "group":  # alone, a colluder acts as the whole group of one
            return apply_attack(attack, updates=trained[None, :], global_params=global_params)[0]
        return apply_attack(
            attack,
            update=trained,
            global_params=global_params,
            scale=self.identity.attack_strength,
            factor=10.0 * self.identity.attack_strength,
            sigma=0.5 * self.identity.attack_strength,
            seed=self.round_seed(round_),
        )

    def commit(self, round_: int, update: np.ndarray, parent: bytes | None = None) -> None:
        """Store the update, remember salt + CID + samples on disk, then commit on-chain (in that order)."""
        # A free rider resubmits the start model's own file (a CID the chain refuses), naming no parent.
        if self.identity.attack == "free_rider":
            parent = None
        cid = self.store_update(update, parent)
        pending = PendingUpdate(round_, cid, self._salt("update", round_), self.samples())
        self._save_pending(pending)
        crash_point("saved", round_)
        self._send_commit(pending)  # crash point "commit" right after it lands

    def _send_commit(self, pending: PendingUpdate) -> None:
        commitment = make_commitment(
            cid_to_digest(pending.cid),
            bytes.fromhex(pending.salt[2:]),
            pending.samples,
            self.address,
            pending.round,
        )
        if self._send("commit_update", pending.round, commitment):
            self.log(f"client {self.identity.index} committed round {pending.round}")

    # ------------------------------------------------------------------ the state machine
    def step(self) -> str | None:
        """Do the one next thing this node owes the federation; return what it did, or None if nothing."""
        with self.timers.measure("chain"):
            round_ = self.federation.current_round()
        self._round = round_
        if round_ == 0:
            with self.timers.measure("chain"):
                if self.federation.member_count() < self.min_members:
                    return None
            return "start_round" if self._send("start_round") else None
        me = self._me()
        # Before anything else: an unsettled earlier update keeps it from committing again.
        if me.owes_settlement(round_) and self._send("settle", me.commit_round, [self.address]):
            return f"settle round {me.commit_round}"
        view = self._view(round_)
        if me.pending_duties > (1 if self._seat_open(view) else 0):
            action = self._settle_earlier_seats(view, me.pending_duties)
            if action:
                return action
        handler = {
            RoundPhase.COMMIT: self._on_commit,
            RoundPhase.REVEAL: self._on_reveal,
            RoundPhase.SELECT: self._on_select,
            RoundPhase.VOTE_COMMIT: self._on_vote_commit,
            RoundPhase.VOTE_REVEAL: self._on_vote_reveal,
            RoundPhase.AGGREGATE: self._on_aggregate,
            RoundPhase.DONE: self._on_done,
        }[view.phase]
        return handler(view)

    def _seat_open(self, view: RoundView) -> bool:
        """Holds a seat on `view`'s committee that is not settled yet."""
        return view.position_of(self.address) is not None and not (
            view.seat_flags_of(self.address) & SeatFlag.SETTLED
        )

    def _settle_earlier_seats(self, view: RoundView, duties: int) -> str | None:
        """Settle this node's committee seat of an earlier round, once that round allows it (rare: a round
        opens only when the one before is fully settled or past its cut-off)."""
        left = duties - (1 if self._seat_open(view) else 0)
        for earlier in range(view.round - 1, 0, -1):
            if left <= 0:
                break
            past = self._view(earlier)
            if not self._seat_open(past):
                continue
            left -= 1
            if past.settled_count == past.commit_count or self._cutoff_passed(past):
                ok = self._send("settle_validator", earlier, self.address)
                return f"settle seat of round {earlier}" if ok else None
        return None

    def _on_commit(self, view: RoundView) -> str | None:
        if view.committed(self.address):
            return self._release_previous(view)
        if not self._may_commit(view):
            return None
        pending = self.load_pending(view.round)
        if pending is not None:  # restarted after saving the commitment, before the tx landed
            self._send_commit(pending)
            return "commit (resumed)"
        global_params = self.fetch_weights(view.start_model)
        update = self.poison(self.train(global_params, view.round), global_params, view.round)
        self.commit(view.round, update, parent=view.start_model)
        return "commit"

    def _release_previous(self, view: RoundView) -> str | None:
        """Return the previous round's leftover reserve to the pool once this round is under way, in a block
        the node waits in anyway (its commit made, or the draw armed for a later block): releasing it before
        startRound would cost every round one more block."""
        prev = view.round - 1
        if prev < 1 or self._released >= prev:
            return None
        self._released = prev
        past = self._view(prev)
        if not (past.phase == RoundPhase.DONE and past.fully_settled and past.reserve_left > 0):
            return None
        return f"release reserve of round {prev}" if self._send("release_reserve", prev) else None

    def _on_reveal(self, view: RoundView) -> str | None:
        if not view.committed(self.address) or view.reveal_of(self.address) is not None:
            return None
        pending = self.load_pending(view.round)
        if pending is None:
            self.log(f"client {self.identity.index}: committed in round {view.round} but its salt is lost")
            return None
        if not pending.revealable:
            return None
        try:
            sent = self._send(
                "reveal_update",
                view.round,
                cid_to_digest(pending.cid),
                bytes.fromhex(pending.salt[2:]),
                pending.samples,
            )
        except FederationError as exc:
            if exc.error != "DuplicateUpdate":
                raise
            # A global model or an earlier round's update is refused for good: this commitment can never
            # be revealed and settles as a silent commit. Do not try again.
            self._save_pending(PendingUpdate(**{**asdict(pending), "revealable": False}))
            crash_point("reveal-refused", view.round)
            self.log(
                f"client {self.identity.index}: round {view.round} update {pending.cid} was revealed before"
            )
            return "reveal refused (duplicate update)"
        return "reveal" if sent else None

    def _on_select(self, view: RoundView) -> str | None:
        """Call the draw: in the armed block it draws; after it, it re-arms; before it, it does nothing but
        take a block (on a chain that mines only on transactions, that is what brings the armed block).
        The block before the armed one is also where the previous round's leftover reserve goes back."""
        released = self._release_previous(view)
        if released:
            return released
        result = self._send("draw_committee", view.round)
        if result is None:
            return None
        names = {e.name for e in result.events}
        if "CommitteeSelected" in names:
            return "draw committee"
        return "arm committee draw" if "DrawArmed" in names else "call the draw (armed for a later block)"

    # ------------------------------------------------------------------ validating
    def fetch_update(self, digest: bytes, parent: bytes | None = None) -> np.ndarray | None:
        """A peer's update, or None when it cannot be used: missing from the store, bytes that do not match
        the CID, not a weight file, made for another spec, not naming `parent` (the round's start model) as the
        model it was trained from, the wrong length, or not finite. A bad peer must cost itself a reject
        score, never stop a validator (a silent validator would be slashed)."""
        try:
            params = self.fetch_weights(digest, parent)
        except (StoreError, ValueError) as exc:  # CodecError is a ValueError
            if transient_fault(exc) is not None:  # the store is down, not the update bad: retry the step
                raise
            self.log(f"client {self.identity.index}: update {digest_to_cid(digest)} is unusable: {exc}")
            return None
        if params.shape != (self.spec.n_params,) or not np.all(np.isfinite(params)):
            self.log(f"client {self.identity.index}: update {digest_to_cid(digest)} has bad values")
            return None
        return params

    def score(self, view: RoundView) -> bytes:
        """One score byte per revealed update, in reveal order: the graded judge (qfl.fl.judge) on this node's
        held-out data, remembering the rounds it scored (copies, momentum); unusable updates get REJECT. A
        malicious validator scores everything ACCEPT."""
        if self.identity.attack is not None:
            return bytes([ACCEPT]) * len(view.reveals)
        global_params = self.fetch_weights(view.start_model)
        fetched = [self.fetch_update(u.cid_digest, view.start_model) for u in view.reveals]
        usable = [i for i, u in enumerate(fetched) if u is not None]
        scores = np.full(len(fetched), REJECT, dtype=np.uint8)
        d = self.identity.data
        if usable:
            updates = np.stack([fetched[i] for i in usable])
            steps = [
                self.training.epochs * -(-view.reveals[i].samples // self.training.batch_size) for i in usable
            ]
            with self.timers.measure("train"):
                scores[usable] = judge_round(
                    self.spec,
                    global_params,
                    updates,
                    d.X_val,
                    d.y_val,
                    memory=self._judge_memory,
                    owners=[view.reveals[i].client for i in usable],
                    local_steps=steps,
                )
                trim_host_memory()
        return scores.tobytes()

    def _on_vote_commit(self, view: RoundView) -> str | None:
        if (
            view.position_of(self.address) is None
            or view.seat_flags_of(self.address) & SeatFlag.VOTE_COMMITTED
        ):
            return None
        vote = self.load_vote(view.round)
        resumed = vote is not None
        if vote is None:
            vote = PendingVote(view.round, self.score(view).hex(), self._salt("vote", view.round))
            atomic_write_json(
                self._vote_path(view.round), asdict(vote), private=True
            )  # before the commitment
            crash_point("vote-saved", view.round)
        commitment = make_vote_commitment(
            bytes.fromhex(vote.scores), bytes.fromhex(vote.salt[2:]), self.address, view.round
        )
        sent = self._send("commit_vote", view.round, commitment)  # crash point "vote" right after it lands
        return ("commit vote (resumed)" if resumed else "commit vote") if sent else None

    def _on_vote_reveal(self, view: RoundView) -> str | None:
        flags = view.seat_flags_of(self.address)
        if not flags & SeatFlag.VOTE_COMMITTED or flags & SeatFlag.VOTE_REVEALED:
            return None
        vote = self.load_vote(view.round)
        if vote is None:
            self.log(
                f"client {self.identity.index}: committed a vote in round {view.round} but its scores are lost"
            )
            return None
        sent = self._send("reveal_vote", view.round, bytes.fromhex(vote.scores), bytes.fromhex(vote.salt[2:]))
        return "reveal vote" if sent else None

    # ------------------------------------------------------------------ aggregating and settling
    def aggregation_weights(self, view: RoundView, accepted: list[int]) -> np.ndarray:
        """Weight of each accepted update (reveal indices): samples x reputation at reveal for
        reputation-weighted FedAvg (samples for FedAvg), water-filled so none is above max_share_bps."""
        if self.aggregation == "reputation_weighted_fedavg":
            raw = [view.reveals[i].weight for i in accepted]
        else:
            raw = [view.reveals[i].samples for i in accepted]
        return cap_shares(raw, self.max_share_bps)

    def aggregate(self, view: RoundView) -> tuple[np.ndarray, str]:
        """Deterministic aggregate of the round's accepted updates -> (weights, CID); every node gets the same
        bytes. The accepted set is the one settlement decides (qfl.chain.outcome), known once votes close."""
        cached = self._aggregates.get(view.round)
        if cached is not None:
            return cached
        # Accepted updates whose bytes cannot be used (only possible if a majority accepted them) are left
        # out by every node alike; with none usable, or no weight left, the round keeps its start model.
        fetched = {
            i: self.fetch_update(view.reveals[i].cid_digest) for i, ok in enumerate(view.accepted) if ok
        }
        accepted = [i for i, u in fetched.items() if u is not None]
        chosen = np.stack([fetched[i] for i in accepted]) if accepted else None
        rule = AGGREGATORS[self.aggregation]
        if chosen is None:
            weights = self.fetch_weights(view.start_model)
        elif self.aggregation in ("reputation_weighted_fedavg", "fedavg"):
            w = self.aggregation_weights(view, accepted)
            weights = (
                AGGREGATORS["fedavg"](chosen, w) if w.sum() > 0 else self.fetch_weights(view.start_model)
            )
        elif self.aggregation == "trimmed_mean":
            weights = rule(chosen, self.spec.trim_fraction)
        elif self.aggregation in ("krum", "multi_krum"):
            f = max(0, (len(chosen) - 3) // 2)
            weights = (
                rule(chosen, f) if self.aggregation == "krum" else rule(chosen, f, max(1, len(chosen) - f))
            )
        else:
            weights = rule(chosen)
        result = (weights, compute_cid(encode_weights(weights, self.spec_digest)))
        if view.phase.votes_closed:
            self._aggregates = {view.round: result}
        return result

    def _settle_own(self, view: RoundView) -> str | None:
        """Settle this node's own update of `view`'s round, if it committed one that is not settled."""
        if not view.committed(self.address) or view.settlement_of(self.address) is not None:
            return None
        return "settle" if self._send("settle", view.round, [self.address]) else None

    def _settle_seat(self, view: RoundView) -> str | None:
        """Settle this node's committee seat once every update is settled or the cut-off passed."""
        if not self._seat_open(view):
            return None
        if view.settled_count < view.commit_count and not self._cutoff_passed(view):
            return None
        return "settle seat" if self._send("settle_validator", view.round, self.address) else None

    def _on_aggregate(self, view: RoundView) -> str | None:
        action = self._settle_own(view)
        if action:
            return action
        if not view.seat_flags_of(self.address) & SeatFlag.VOTE_REVEALED:  # only voters propose and attest
            return self._settle_seat(view)
        _, cid = self.aggregate(view)
        mine = cid_to_digest(cid)
        for proposal in view.proposals:  # attest every pending proposal: yes iff it is our own aggregate
            if proposal.status == ProposalStatus.PENDING and not proposal.attested_by(self.address):
                approve = proposal.cid_digest == mine
                ok = self._send("attest_global_model", view.round, proposal.id, approve)
                return ("attest yes" if approve else "attest no") if ok else None
        proposed = view.seat_flags_of(self.address) & SeatFlag.PROPOSED
        ours = any(p.cid_digest == mine and p.status != ProposalStatus.REFUSED for p in view.proposals)
        if not proposed and not ours:
            weights, _ = self.aggregate(view)
            self.store_weights(weights)
            return "post global model" if self._send("post_global_model", view.round, mine) else None
        return self._settle_seat(view)

    def _on_done(self, view: RoundView) -> str | None:
        action = self._settle_own(view) or self._settle_seat(view)
        if action:
            return action
        if not view.fully_settled and self._cutoff_passed(view):  # whoever is unsettled will not come
            stragglers = view.unsettled_committers()
            if stragglers:
                ok = self._send("settle", view.round, list(stragglers))
                return f"settle {len(stragglers)} stragglers" if ok else None
            if view.settled_count == view.commit_count:
                for member, flags in zip(view.committee, view.seat_flags, strict=True):
                    if not flags & SeatFlag.SETTLED:
                        ok = self._send("settle_validator", view.round, member)
                        return "settle a silent seat" if ok else None
        last = view.round >= self.num_rounds
        if view.fully_settled and view.reserve_left > 0 and last:  # earlier rounds: _release_previous
            return "release reserve" if self._send("release_reserve", view.round) else None
        me = self._me()
        waiting = (
            me.registered and me.draw_weight < me.stake and me.reputation >= self.min_validator_reputation
        )
        if waiting and self._activated != view.round:
            # Stake or reputation that grew while a draw was ahead waits outside the draw until moved in.
            self._activated = view.round
            return "activate stake" if self._send("activate_stake", self.address) else None
        if (last or view.round % WITHDRAW_EVERY == 0) and self.withdraw_if_owed():
            return "withdraw"
        if view.round < self.num_rounds and (view.fully_settled or self._cutoff_passed(view)):
            return "start_round" if self._send("start_round") else None
        return None

    def owes_round(self, view: RoundView) -> bool:
        """Whether this node still has to settle its update or its committee seat of `view`'s round."""
        unsettled = view.committed(self.address) and view.settlement_of(self.address) is None
        return unsettled or self._seat_open(view)

    def withdraw_if_owed(self) -> bool:
        """Pull this node's rewards if it is owed any (pull payment); True if it withdrew."""
        return self._me().withdrawable > 0 and self._send("withdraw_rewards") is not None

    def finished(self) -> bool:
        """True when the last round is done, everything this node owes is settled, the round's reserve is
        back in the pool (once all is settled) and nothing is left to withdraw."""
        with self.timers.measure("chain"):
            round_ = self.federation.current_round()
        if round_ < self.num_rounds:
            return False
        view = self._view(round_)
        if view.phase != RoundPhase.DONE:
            return False
        me = self._me()
        if me.owes_settlement(round_ + 1) or me.pending_duties or me.withdrawable:
            return False
        return not (view.fully_settled and view.reserve_left > 0)


# ---------------------------------------------------------------------- running a node through faults

EXIT_GAVE_UP = 75  # EX_TEMPFAIL: an outage outlasted --max-outage; the state is on disk, a restart resumes
OUTAGE_LOG_EVERY = 60.0  # seconds between the lines that say an outage goes on
_UNREACHABLE_HINTS = (
    "connection refused",
    "connection aborted",
    "connection reset",
    "max retries exceeded",
    "remote end closed",
    "read timed out",
    "not connected",
)
_WHAT = {"chain": "RPC node", "store": "content store"}


def _causes(exc: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen and len(chain) < 16:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def transient_fault(exc: BaseException, store: ContentStore | None = None) -> str | None:
    """The kind of outage `exc` means: "chain" when the RPC node did not answer, "store" when the content
    store could not be reached, None for anything else (a real error, to let through). The one place that decides which errors mean "wait,
    then read the chain again"; narrow it to ChainUnavailable once the binding raises only that."""
    import requests
    import urllib3.exceptions
    from ape.exceptions import ProviderError, ProviderNotConnectedError
    from web3.exceptions import TimeExhausted

    from qfl.chain import ChainUnavailable
    from qfl.storage import NodeUnavailable

    if isinstance(exc, FederationError):  # the contract answered (a revert): not an outage
        return None
    causes = _causes(exc)
    for e in causes:
        if isinstance(e, NodeUnavailable) or (isinstance(e, StoreError) and isinstance(e.__cause__, OSError)):
            return "store"  # a Kubo node that does not answer; an embedded store that cannot write its folder
    root = getattr(store, "root", None)
    for e in causes:
        if isinstance(e, (ChainUnavailable, ProviderNotConnectedError, TimeExhausted, TimeoutError)):
            return "chain"
        if isinstance(e, (ConnectionError, requests.ConnectionError, requests.Timeout)):
            return "chain"
        if isinstance(e, (urllib3.exceptions.MaxRetryError, urllib3.exceptions.ProtocolError)):
            return "chain"
        if isinstance(e, ProviderError) and any(h in str(e).lower() for h in _UNREACHABLE_HINTS):
            return "chain"
        if isinstance(e, OSError) and root is not None and e.filename is not None:
            if Path(e.filename).is_relative_to(Path(root)):  # the embedded store's folder is unreadable
                return "store"
    return None


def _one_line(exc: BaseException) -> str:
    """The innermost cause of `exc` as one short line."""
    inner = _causes(exc)[-1]
    text = " ".join(str(inner).split())
    return f"{type(inner).__name__}: {text[:160]}{'…' if len(text) > 160 else ''}"


@dataclass
class Backoff:
    """Exponential back-off over one outage: `first`, doubling up to `cap` seconds between tries; gives up
    once the outage has lasted `max_outage` seconds."""

    first: float = 0.5
    cap: float = 30.0
    max_outage: float = 600.0
    since: float | None = None  # monotonic time of the outage's first failure
    delay: float = 0.0

    def fail(self, now: float) -> float | None:
        """The next wait, or None to give up."""
        if self.since is None:
            self.since, self.delay = now, self.first
        else:
            self.delay = min(self.cap, self.delay * 2)
        if now - self.since >= self.max_outage:
            return None
        return min(self.delay, max(0.0, self.since + self.max_outage - now))

    def recovered(self, now: float) -> float | None:
        """End the outage; how long it lasted (None if there was none)."""
        lasted = None if self.since is None else now - self.since
        self.since, self.delay = None, 0.0
        return lasted


class _StopSignal:
    """SIGINT/SIGTERM set a flag the run loop reads between steps (the step in progress finishes: a
    transaction it sent is seen through); a second signal stops at once (secrets are written atomically)."""

    def __init__(self, install: bool):
        import threading

        self.signum = 0
        self._previous: dict[int, object] = {}
        if install and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:  # no logging here: a signal can land inside a write to stderr
        if self.signum:
            raise SystemExit(128 + signum)
        self.signum = signum

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, waking early when a stop signal came."""
        end = time.monotonic() + seconds
        while not self.signum and (left := end - time.monotonic()) > 0:
            time.sleep(min(0.1, left))

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run_node(
    participant: Node,
    log: Callable[[str], None],
    poll: float = 0.2,
    max_outage: float = 600.0,
    *,
    until: Callable[[], bool] | None = None,
    handle_signals: bool = True,
    backoff: Backoff | None = None,
) -> int:
    """Step `participant` until it is finished (or `until()`), through faults; return the exit status.

    An RPC node or content store that does not answer (`transient_fault`) costs one log line, an
    exponential back-off (0.5 s doubling to 30 s) and a fresh read of the chain: the step is retried from
    chain state, so work an outage interrupted is redone and work that landed is not. An outage longer
    than `max_outage` seconds ends the run with one line and EXIT_GAVE_UP, the state on disk intact for a
    restart. SIGINT/SIGTERM stop it between steps (exit status 128 + signal: 130, 143). Any other error
    propagates."""
    finished = until or participant.finished
    who = f"client {participant.identity.index}"
    backoff = backoff or Backoff(max_outage=max_outage)
    stop = _StopSignal(handle_signals)
    kind, said = "chain", 0.0
    try:
        while not stop.signum:
            action = round_ = None
            try:
                if finished():
                    return 0
                action = participant.step()
                if action:
                    with participant.timers.measure("chain"):
                        round_ = participant.federation.current_round()
            except FederationError as exc:
                if exc.error != "EventsMissing":
                    raise
                # The RPC node served a block before its logs: nothing was sent; read the round again.
                log(f"{who}: {exc}; retrying")
            except Exception as exc:
                fault = transient_fault(exc, participant.store)
                if fault is None:
                    raise
                kind = fault
                now = time.monotonic()
                first = backoff.since is None
                delay = backoff.fail(now)
                if delay is None:
                    log(
                        f"{who}: giving up: the {_WHAT[kind]} has not answered for {now - backoff.since:.0f} s "
                        f"(max outage {backoff.max_outage:g} s; last error {_one_line(exc)}); the state is on "
                        "disk, run the node again to resume"
                    )
                    return EXIT_GAVE_UP
                if first or now - said >= OUTAGE_LOG_EVERY:  # one line, then one a minute while it lasts
                    said = now
                    log(f"{who}: {_WHAT[kind]} unavailable ({_one_line(exc)}); retrying in {delay:.1f} s")
                participant.forget_chain_cache()  # whatever was read may be from blocks the chain lost
                stop.sleep(delay)
                continue
            lasted = backoff.recovered(time.monotonic())
            if lasted is not None:
                log(f"{who}: {_WHAT[kind]} back after {lasted:.1f} s; resumed from chain state")
            if action:
                log(f"{who} round {round_}: {action}")
            else:
                stop.sleep(poll)
    finally:
        stop.restore()
    name = signal.Signals(stop.signum).name
    log(f"{who}: stopped by {name} between steps; the state is on disk, run the node again to resume")
    return 128 + stop.signum
