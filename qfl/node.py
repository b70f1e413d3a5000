"""One participant's round state machine, driven only by chain state.

Each `step()` reads the current round in one call, decides the single next action this participant owes
(start a round, train + commit, reveal, draw the committee, vote, finalize, post or attest the global model,
withdraw) and does it. The chain and the content store are the state: the only thing kept on disk is the
pending commitment of the current round (salt, CID, sample count), written atomically before the commit
transaction, so a node killed at any point and restarted neither double-commits nor loses its reveal.
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qfl.atomic import atomic_write_json
from qfl.chain import Federation, FederationError, RoundPhase, make_commitment
from qfl.data import ClientData
from qfl.fl.aggregate import AGGREGATORS
from qfl.fl.attacks import ATTACKS, apply_attack
from qfl.fl.scoring import decide_votes, score_updates
from qfl.quantum.codec import decode_weights, encode_weights
from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import TrainConfig, train_local
from qfl.storage import ContentStore, StoreError, cid_to_digest, compute_cid, digest_to_cid

# Reverts that only mean "someone else already did it" when several nodes race for the same public action.
# "Already..." reverts mean our own earlier transaction landed before a crash: the action is done.
RACE_ERRORS = {
    "WrongPhase",
    "PreviousRoundOpen",
    "AllRoundsDone",
    "ProposalDecided",
    "AlreadyAttested",
    "AlreadyCommitted",
    "AlreadyRevealed",
    "AlreadyVoted",
}


def crash_point(name: str, round_: int) -> None:
    """Fault injection for the restart tests: QFL_CRASH_AT=name:round kills this process at that point."""
    if os.environ.get("QFL_CRASH_AT") == f"{name}:{round_}":
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
    """A participant: trains, commits, reveals, validates, aggregates, attests, withdraws."""

    federation: Federation
    store: ContentStore
    spec: ModelSpec
    identity: NodeIdentity
    training: TrainConfig
    aggregation: str = "reputation_weighted_fedavg"
    seed: int = 0
    min_members: int = 1  # do not open round 1 before this many clients registered
    timers: Timers = field(default_factory=Timers)
    log: Callable[[str], None] = lambda message: None

    def __post_init__(self) -> None:
        self._out_of_gas = 0
        self.identity.state_dir.mkdir(parents=True, exist_ok=True)
        self.address = self.identity.account.address
        self.num_rounds = self.federation.params()["numRounds"]
        self.spec_digest = self.spec.digest()
        if self.aggregation not in AGGREGATORS:
            raise ValueError(
                f"unknown aggregation rule {self.aggregation!r}; choose one of {sorted(AGGREGATORS)}"
            )
        if self.identity.attack is not None and self.identity.attack not in ATTACKS:
            raise ValueError(f"unknown attack {self.identity.attack!r}; choose one of {sorted(ATTACKS)}")
        self._train_data = self.identity.data
        if self.identity.attack is not None and ATTACKS[self.identity.attack].kind == "data":
            d = self.identity.data
            flipped = apply_attack(self.identity.attack, y=d.y_train, n_classes=self.spec.n_classes)
            self._train_data = ClientData(d.X_train, flipped, d.X_val, d.y_val)

    # ------------------------------------------------------------------ chain reads
    def _view(self, round_: int):
        with self.timers.measure("chain"):
            return self.federation.round_view(round_)

    def _send(self, method: str, *args) -> bool:
        """Send a transaction; False when a racing node already moved the round on (a harmless revert)."""
        with self.timers.measure("chain"):
            try:
                getattr(self.federation, method)(*args, sender=self.identity.account)
                return True
            except FederationError as exc:
                if exc.error in RACE_ERRORS:
                    return False
                if exc.error == "OutOfGas" and self._out_of_gas < 3:
                    self._out_of_gas += 1  # state reverted; the next step re-reads the chain and re-estimates
                    self.log(f"{method} ran out of gas (estimate raced another transaction); retrying")
                    return False
                raise
            self._out_of_gas = 0

    # ------------------------------------------------------------------ weights in the store
    def fetch_weights(self, digest: bytes) -> np.ndarray:
        """Fetch weights by CID digest; the store verifies the bytes against the CID, the codec the spec."""
        with self.timers.measure("store"):
            data = self.store.get(digest_to_cid(digest))
        decoded = decode_weights(data)
        if decoded.spec_digest != self.spec_digest:
            raise ValueError(f"weights {digest_to_cid(digest)} were made for another model spec")
        return decoded.params

    def store_weights(self, params: np.ndarray) -> str:
        data = encode_weights(params, self.spec_digest)
        with self.timers.measure("store"):
            return self.store.put(data)

    # ------------------------------------------------------------------ pending commitment on disk
    def _pending_path(self, round_: int) -> Path:
        return self.identity.state_dir / f"round-{round_}.json"

    def load_pending(self, round_: int) -> PendingUpdate | None:
        path = self._pending_path(round_)
        if not path.exists():
            return None
        return PendingUpdate(**json.loads(path.read_text()))

    def _save_pending(self, pending: PendingUpdate) -> None:
        path = self._pending_path(pending.round)
        atomic_write_json(path, dict(pending.__dict__))

    # ------------------------------------------------------------------ training
    def round_seed(self, round_: int) -> int:
        """Per-round, per-client seed: deterministic, different for every client and round."""
        raw = hashlib.sha256(f"{self.seed}:{self.identity.index}:{round_}".encode()).digest()
        return int.from_bytes(raw[:4], "little")

    def training_data(self) -> tuple[np.ndarray, np.ndarray]:
        return self._train_data.X_train, self._train_data.y_train

    def needs_update(self, view) -> bool:
        """True when the round is in its commit phase and this node still owes an update."""
        if view.phase != RoundPhase.COMMIT:
            return False
        me = self._participant(view)
        return me is None and self.load_pending(view.round) is None and self._eligible(view.round)

    def _eligible(self, round_: int) -> bool:
        with self.timers.measure("chain"):
            client = self.federation.client_view(self.address)
        return client.registered and client.eligible_from <= round_

    def train(self, global_params: np.ndarray, round_: int) -> np.ndarray:
        X, y = self.training_data()
        cfg = self.training.model_copy(update={"seed": self.round_seed(round_)})
        with self.timers.measure("train"):
            return train_local(self.spec, global_params, X, y, cfg)

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

    def commit(self, round_: int, update: np.ndarray) -> None:
        """Store the update, remember salt + CID on disk, then commit on-chain (in that order)."""
        cid = self.store_weights(update)
        pending = PendingUpdate(round_, cid, "0x" + secrets.token_hex(32), len(self._train_data.y_train))
        self._save_pending(pending)
        crash_point("saved", round_)
        self._send_commit(pending)
        crash_point("commit", round_)

    def _send_commit(self, pending: PendingUpdate) -> None:
        commitment = make_commitment(
            cid_to_digest(pending.cid), bytes.fromhex(pending.salt[2:]), self.address, pending.round
        )
        self._send("commit_update", pending.round, commitment)
        self.log(f"client {self.identity.index} committed round {pending.round}")

    # ------------------------------------------------------------------ the state machine
    def _participant(self, view):
        for p in view.participants:
            if p.client.lower() == self.address.lower():
                return p
        return None

    def _seat(self, view) -> int | None:
        for i, member in enumerate(view.committee):
            if member.lower() == self.address.lower():
                return i
        return None

    def step(self) -> str | None:
        """Do the one next thing this node owes the federation; return what it did, or None if nothing."""
        with self.timers.measure("chain"):
            round_ = self.federation.current_round()
        num_rounds = self.num_rounds
        if round_ == 0:
            with self.timers.measure("chain"):
                if len(self.federation.members()) < self.min_members:
                    return None
            return "start_round" if self._send("start_round") else None
        view = self._view(round_)
        handler = {
            RoundPhase.COMMIT: self._on_commit,
            RoundPhase.REVEAL: self._on_reveal,
            RoundPhase.SELECT: self._on_select,
            RoundPhase.VOTE: self._on_vote,
            RoundPhase.FINALIZE: self._on_finalize,
            RoundPhase.AGGREGATE: self._on_aggregate,
            RoundPhase.DONE: lambda v: self._on_done(v, num_rounds),
        }[view.phase]
        return handler(view)

    def _on_commit(self, view) -> str | None:
        me = self._participant(view)
        if me is not None:
            return None
        pending = self.load_pending(view.round)
        if pending is not None:  # restarted after saving the commitment, before the tx landed
            self._send_commit(pending)
            return "commit (resumed)"
        if not self._eligible(view.round):
            return None
        global_params = self.fetch_weights(view.start_model)
        update = self.poison(self.train(global_params, view.round), global_params, view.round)
        self.commit(view.round, update)
        return "commit"

    def _on_reveal(self, view) -> str | None:
        me = self._participant(view)
        if me is None or me.revealed:
            return None
        pending = self.load_pending(view.round)
        if pending is None:
            self.log(f"client {self.identity.index}: committed in round {view.round} but its salt is lost")
            return None
        self._send(
            "reveal_update",
            view.round,
            cid_to_digest(pending.cid),
            bytes.fromhex(pending.salt[2:]),
            pending.samples,
        )
        return "reveal"

    def _on_select(self, view) -> str | None:
        return "start_vote" if self._send("start_vote", view.round) else None

    def fetch_update(self, digest: bytes) -> np.ndarray | None:
        """A peer's update, or None when it cannot be used: missing from the store, bytes that do not match
        the CID, not a weight file, made for another spec, the wrong length, or not finite. A bad peer must
        cost itself a reject vote, never stop a validator (a silent validator would be slashed)."""
        try:
            params = self.fetch_weights(digest)
        except (StoreError, ValueError) as exc:  # CodecError is a ValueError
            self.log(f"client {self.identity.index}: update {digest_to_cid(digest)} is unusable: {exc}")
            return None
        if params.shape != (self.spec.n_params,) or not np.all(np.isfinite(params)):
            self.log(f"client {self.identity.index}: update {digest_to_cid(digest)} has bad values")
            return None
        return params

    def _on_vote(self, view) -> str | None:
        seat = self._seat(view)
        if seat is None or view.has_voted(seat):
            return None
        global_params = self.fetch_weights(view.start_model)
        fetched = [self.fetch_update(p.digest) for p in view.reveals]
        usable = [i for i, u in enumerate(fetched) if u is not None]
        accept = np.zeros(len(fetched), dtype=bool)  # unusable updates are voted out
        d = self.identity.data
        if usable:
            updates = np.stack([fetched[i] for i in usable])
            with self.timers.measure("train"):
                accept[usable] = decide_votes(
                    score_updates(self.spec, global_params, updates, d.X_val, d.y_val)
                )
        if self.identity.attack is not None:  # a malicious validator votes to accept everything
            accept = np.ones_like(accept)
        self._send("vote", view.round, [bool(a) for a in accept])
        return "vote"

    def _on_finalize(self, view) -> str | None:
        return "finalize" if self._send("finalize", view.round) else None

    def aggregate(self, view) -> tuple[np.ndarray, str]:
        """Deterministic aggregate of the accepted updates -> (weights, CID); any node gets the same bytes."""
        revealed = view.reveals
        # Accepted updates whose bytes cannot be used (only possible if a majority accepted them) are left
        # out by every node alike; with none usable the round keeps its start model.
        fetched = {i: self.fetch_update(revealed[i].digest) for i, ok in enumerate(view.accepted) if ok}
        accepted = [i for i, u in fetched.items() if u is not None]
        if not accepted:
            weights = self.fetch_weights(view.start_model)
            return weights, compute_cid(encode_weights(weights, self.spec_digest))
        chosen = np.stack([fetched[i] for i in accepted])
        samples = np.array([revealed[i].samples for i in accepted], dtype=np.float64)
        rule = AGGREGATORS[self.aggregation]
        if self.aggregation == "reputation_weighted_fedavg":
            with self.timers.measure("chain"):
                reputation = np.array(
                    [self.federation.client_view(revealed[i].client).reputation for i in accepted], np.float64
                )
            weights = rule(chosen, samples, reputation)
        elif self.aggregation == "fedavg":
            weights = rule(chosen, samples)
        elif self.aggregation == "trimmed_mean":
            weights = rule(chosen, 0.2)
        elif self.aggregation in ("krum", "multi_krum"):
            f = max(0, (len(chosen) - 3) // 2)
            weights = (
                rule(chosen, f) if self.aggregation == "krum" else rule(chosen, f, max(1, len(chosen) - f))
            )
        else:
            weights = rule(chosen)
        data = encode_weights(weights, self.spec_digest)
        return weights, compute_cid(data)

    def _pending_proposal(self, view) -> tuple[int, dict] | None:
        """The latest proposal of the round if it is still undecided."""
        if view.proposal_count == 0:
            return None
        with self.timers.measure("chain"):
            proposal = self.federation.proposal(view.round, view.proposal_count)
        return (view.proposal_count, proposal) if proposal["status"] == 0 else None

    def _on_aggregate(self, view) -> str | None:
        pending = self._pending_proposal(view)
        seat = self._seat(view)
        if seat is None:
            return None
        if pending is None:
            # Seats take turns to propose: seat (proposal count mod committee size) posts the next one.
            if seat != view.proposal_count % len(view.committee):
                return None
            weights, _ = self.aggregate(view)
            cid = self.store_weights(weights)
            ok = self._send("post_global_model", view.round, cid_to_digest(cid), view.accepted)
            return "post_global_model" if ok else None
        proposal_id, proposal = pending
        if ((proposal["yes_mask"] | proposal["no_mask"]) >> seat) & 1:
            return None
        _, cid = self.aggregate(view)
        approve = cid_to_digest(cid) == proposal["cid_digest"]
        ok = self._send("attest_global_model", view.round, proposal_id, approve)
        return ("attest yes" if approve else "attest no") if ok else None

    def withdraw_if_owed(self) -> bool:
        """Pull this node's rewards if it is owed any (pull payment); True if it withdrew."""
        with self.timers.measure("chain"):
            owed = self.federation.client_view(self.address).withdrawable
        return owed > 0 and self._send("withdraw_rewards")

    def _on_done(self, view, num_rounds: int) -> str | None:
        if self.withdraw_if_owed():
            return "withdraw"
        if view.round < num_rounds:
            return "start_round" if self._send("start_round") else None
        return None

    def finished(self) -> bool:
        """True when the last round is done and nothing is left to withdraw."""
        with self.timers.measure("chain"):
            round_ = self.federation.current_round()
            if round_ < self.num_rounds:
                return False
            done = self.federation.round_view(round_).phase == RoundPhase.DONE
            return done and self.federation.client_view(self.address).withdrawable == 0
