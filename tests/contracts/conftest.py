"""Fixtures and helpers for the contract suite.

The federation tests drive the raw ape contract (`sponsor.deploy(project.QFLFederation, params_tuple(), ...)`)
through the helpers below, so they do not depend on the Python binding (`qfl.chain`); test_binding.py brings
its own fixtures.
"""

from __future__ import annotations

import ape_ethereum.provider
import ape_ethereum.trace
import pytest
from eth_utils import keccak

from qfl.chain.commitment import make_commitment, make_vote_commitment
from qfl.chain.types import RoundPhase, TrainerOutcome, ValidatorOutcome

# Test-session speed-ups, both for printing only. ape runs every receipt's call trace after each transaction to
# print `console.log` output that these contracts never produce (a third of each transaction's time), and
# ape-foundry prints the enriched call trace of every reverted transaction (about a second each on anvil,
# where the suite reverts some 200 times). The revert itself, and its decoded custom error, are unchanged.
ape_ethereum.provider._post_send_transaction = lambda tx, receipt: None
ape_ethereum.trace.Trace.show = lambda self, *args, **kwargs: None


@pytest.fixture
def publisher(accounts):
    return accounts[0]


@pytest.fixture
def spec_registry(project, publisher):
    return publisher.deploy(project.ModelSpecRegistry)


# ---------------------------------------------------------------------------- parameters

ETHER = 10**18
MIN_STAKE = ETHER
REWARD = ETHER // 10
# Seconds, every phase. Long enough that wall-clock time never closes a phase by itself: after ape restores a
# snapshot, both chains stamp the next block with the wall clock when it is ahead of the chain's clock.
PERIOD = 3_600
MODEL_SPEC = b"\xaa" * 32
INITIAL_MODEL = b"\xbb" * 32

# The constructor's `Params` struct, in order, with small test values.
DEFAULTS = dict(
    modelSpec=MODEL_SPEC,
    initialModel=INITIAL_MODEL,
    numRounds=3,
    minStake=MIN_STAKE,
    commitPeriod=PERIOD,
    revealPeriod=PERIOD,
    votePeriod=PERIOD,
    attestPeriod=PERIOD,
    committeeSize=3,
    cohortSize=100,
    rewardPerRound=REWARD,
    slashFractionBps=1000,
    maxSamples=10_000,
    maxShareBps=5000,
    rejoinCooldown=0,
)
PARAM_NAMES = tuple(DEFAULTS)


def params_tuple(**overrides) -> tuple:
    """The constructor's `Params` tuple: the test defaults with `overrides` (by Solidity field name)."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown federation parameters {sorted(unknown)}")
    p = dict(DEFAULTS, **overrides)
    return tuple(p[name] for name in PARAM_NAMES)


def deploy(project, sponsor, fund: int = ETHER, **overrides):
    """Deploy a QFLFederation with `fund` wei in its pool."""
    return sponsor.deploy(project.QFLFederation, params_tuple(**overrides), value=fund)


# The binding's mirrors of the contract's enums, under the short names these tests use.
Phase = RoundPhase
Outcome = TrainerOutcome
VOutcome = ValidatorOutcome


# ---------------------------------------------------------------------------- hashes


def commitment(cid: bytes, salt: bytes, samples: int, sender, rnd: int) -> bytes:
    """keccak256(abi.encode(cidDigest, salt, samples, sender, round)): what `commitUpdate` takes."""
    return make_commitment(cid, salt, samples, str(sender), rnd)


def vote_commitment(scores: bytes, salt: bytes, sender, rnd: int) -> bytes:
    """keccak256(abi.encode(scores, salt, sender, round)): what `commitVote` takes."""
    return make_vote_commitment(bytes(scores), salt, str(sender), rnd)


def cid_of(tag) -> bytes:
    """A deterministic fake CID digest for update `tag` (any int or str; distinct tags, distinct digests)."""
    return keccak(text=f"cid:{tag}")


def salt_of(tag) -> bytes:
    """A deterministic salt for update `tag`."""
    return keccak(text=f"salt:{tag}")


BOOKS = ("balance", "staked", "withdrawable", "pool", "reserved", "burned")


def accounting(fed, ledger=None) -> dict:
    """The federation's balance and books; with a `Ledger` (contracts/test) in one call instead of six."""
    if ledger is not None:
        return dict(zip(BOOKS, ledger.read(fed.address)[:6], strict=True))
    return dict(
        balance=fed.balance,
        staked=fed.totalStaked(),
        withdrawable=fed.totalWithdrawable(),
        pool=fed.pool(),
        reserved=fed.reserved(),
        burned=fed.burned(),
    )


def assert_conserved(fed) -> None:
    """The money equality of FederationState (no forced ETH outstanding)."""
    a = accounting(fed)
    assert a["balance"] == a["staked"] + a["withdrawable"] + a["pool"] + a["reserved"] + a["burned"], a


def events(receipt, name: str) -> list:
    return [log for log in receipt.decode_logs() if log.event_name == name]


# ---------------------------------------------------------------------------- playing rounds


class Driver:
    """Plays rounds on the raw contract. Members are ape accounts (or contracts that act through them).

    Every update gets a fresh CID (round, member, tag) so no reveal trips DuplicateUpdate by accident.
    """

    def __init__(self, fed, members, sponsor, chain):
        self.fed, self.sponsor, self.chain = fed, sponsor, chain
        self.members = list(members)
        self.by_addr = {m.address: m for m in self.members}
        self.plan: dict = {}  # (round, address) -> (cid, salt, samples); ("vote", round, address) -> scores
        self.committed: dict = {}  # round -> [accounts that committed through this driver]
        self.order: dict = {}  # round -> [accounts that revealed, in reveal order]
        self.last_draw = None

    def clone(self) -> Driver:
        """A copy with its own records (for a test that starts from a shared fixture's state)."""
        other = Driver(self.fed, self.members, self.sponsor, self.chain)
        other.plan = dict(self.plan)
        other.committed = {k: list(v) for k, v in self.committed.items()}
        other.order = {k: list(v) for k, v in self.order.items()}
        return other

    def _records(self):
        return (
            dict(self.plan),
            {k: list(v) for k, v in self.committed.items()},
            {k: list(v) for k, v in self.order.items()},
        )

    def _restore_records(self, saved):
        plan, committed, order = saved
        self.plan = dict(plan)
        self.committed = {k: list(v) for k, v in committed.items()}
        self.order = {k: list(v) for k, v in order.items()}

    # -- accounts
    def add(self, *accounts):
        for a in accounts:
            if a.address not in self.by_addr:
                self.members.append(a)
                self.by_addr[a.address] = a

    def acct(self, address):
        return self.by_addr[address]

    # -- time
    def warp(self, seconds: int) -> None:
        """Move the clock forward (mines one block)."""
        self.chain.mine(timestamp=self.chain.pending_timestamp + seconds)

    def warp_past(self, deadline: int) -> None:
        """Mine a block after `deadline`."""
        ts = max(self.chain.pending_timestamp, deadline + 1)
        self.chain.mine(timestamp=ts)

    def phase(self, rnd) -> Phase:
        return Phase(self.fed.phase(rnd))

    def view(self, rnd):
        return self.fed.getRound(rnd)

    # -- commit and reveal
    def start(self) -> int:
        receipt = self.fed.startRound(sender=self.sponsor)
        return events(receipt, "RoundStarted")[0].round

    def commit(self, rnd, who=None, samples=10, tag=""):
        for m in self.members if who is None else who:
            cid, salt = cid_of(f"{rnd}:{m.address}:{tag}"), salt_of(f"{rnd}:{m.address}:{tag}")
            self.plan[(rnd, m.address)] = (cid, salt, samples)
            self.fed.commitUpdate(rnd, commitment(cid, salt, samples, m.address, rnd), sender=m)
            self.committed.setdefault(rnd, []).append(m)

    def reveal(self, rnd, who=None):
        """Reveal the planned updates of `who` (default: every committer that has not revealed)."""
        if who is None:
            who = [m for m in self.committers(rnd) if not self.revealed(rnd, m)]
        receipts = []
        for m in who:
            cid, salt, samples = self.plan[(rnd, m.address)]
            receipts.append(self.fed.revealUpdate(rnd, cid, salt, samples, sender=m))
            self.order.setdefault(rnd, []).append(m)
        return receipts

    def revealed(self, rnd, m) -> bool:
        return m in self.order.get(rnd, [])

    def trainers(self, rnd) -> list:
        """Revealed trainers of `rnd` (through this driver) in reveal order: index i scores trainers[i]."""
        return list(self.order.get(rnd, []))

    def committers(self, rnd) -> list:
        return list(self.committed.get(rnd, []))

    # -- committee
    def set_randao(self, salt) -> None:
        """Give the next block a fresh prevrandao on EthTester, whose blocks all run with prevrandao 0 (so its
        draws never vary); anvil draws a new one for every block already."""
        backend = getattr(self.chain.provider, "evm_backend", None)
        if backend is not None:
            backend.chain.header = backend.chain.header.copy(mix_hash=keccak(text=f"randao:{salt}"))

    def draw(self, rnd, randao=None):
        """Draw the committee. The draw runs only in the armed block, two blocks after the last reveal or an
        arming call: a call before it does nothing, a call after it re-arms. So at most four calls."""
        for _ in range(4):
            if randao is not None:
                self.set_randao(randao)
            receipt = self.fed.drawCommittee(rnd, sender=self.sponsor)
            if events(receipt, "CommitteeSelected"):
                self.last_draw = receipt
                # EthTester cannot revert to a snapshot taken at a block whose transaction read PREVRANDAO
                # (UnknownSnapshotError): one empty block keeps ape's per-test snapshots off the draw block.
                self.chain.mine()
                return receipt
        raise AssertionError("the committee was not drawn")

    def committee(self, rnd) -> list:
        """[(account, seats)] of `rnd`'s committee, in position order."""
        v = self.view(rnd)
        return [(self.acct(a), s) for a, s in zip(v.committee, v.seats, strict=True)]

    def commit_votes(self, rnd, scores_of, who=None):
        """`scores_of(member) -> bytes` (one byte per revealed update); commits for `who` (default all)."""
        members = [m for m, _ in self.committee(rnd)] if who is None else who
        for m in members:
            scores = bytes(scores_of(m))
            self.plan[("vote", rnd, m.address)] = scores
            self.fed.commitVote(rnd, vote_commitment(scores, salt_of(f"v{rnd}"), m.address, rnd), sender=m)

    def reveal_votes(self, rnd, who=None):
        members = [m for m, _ in self.committee(rnd)] if who is None else who
        for m in members:
            scores = self.plan[("vote", rnd, m.address)]
            self.fed.revealVote(rnd, scores, salt_of(f"v{rnd}"), sender=m)

    def vote(self, rnd, scores_of=None, who=None):
        """Commit then reveal scores (default: 200 for every update) for `who` (default the committee)."""
        n = self.view(rnd).revealCount
        scores_of = scores_of or (lambda m: bytes([200] * n))
        self.commit_votes(rnd, scores_of, who)
        if self.phase(rnd) == Phase.VOTE_COMMIT:
            self.warp_past(self.view(rnd).voteCommitDeadline)
        self.reveal_votes(rnd, who)

    def scores_by_trainer(self, rnd, score_for) -> callable:
        """A `scores_of` that gives `score_for(validator, trainer)` to each revealed update."""
        trainers = self.trainers(rnd)
        return lambda v: bytes([score_for(v, t) for t in trainers])

    # -- settlement
    def settle(self, rnd, who=None) -> dict:
        """Settle `who` (default every committer of `rnd`); {address: TrainerSettled log}."""
        who = self.committers(rnd) if who is None else who
        receipt = self.fed.settle(rnd, [m.address for m in who], sender=self.sponsor)
        return {log.client: log for log in events(receipt, "TrainerSettled")}

    def settle_validators(self, rnd) -> dict:
        out = {}
        for m, _ in self.committee(rnd):
            receipt = self.fed.settleValidator(rnd, m.address, sender=self.sponsor)
            out[m.address] = events(receipt, "ValidatorSettled")[0]
        return out

    # -- global model
    def accept_model(self, rnd, model=b"\xcc" * 32):
        """First committee member proposes `model`; members attest yes until it is accepted."""
        members = [m for m, _ in self.committee(rnd)]
        receipt = self.fed.postGlobalModel(rnd, model, sender=members[0])
        pid = events(receipt, "GlobalModelPosted")[0].proposalId
        for m in members:
            if self.phase(rnd) != Phase.AGGREGATE:
                break
            self.fed.attestGlobalModel(rnd, pid, True, sender=m)
        assert self.phase(rnd) == Phase.DONE
        return pid

    def snapshot(self):
        """A chain snapshot whose id is new: on EthTester an id is the head block's hash, and a snapshot taken
        at the block of ape's own per-test snapshot would share its id (restoring it would drop ape's)."""
        self.chain.mine()
        return self.chain.snapshot()

    # -- draws
    def to_select(self, who=None, samples=10):
        """Start a round; `who` commits; all but the last committer reveal. Returns (round, last committer)."""
        rnd = self.start()
        self.commit(rnd, who, samples)
        if self.phase(rnd) == Phase.COMMIT:
            self.warp_past(self.view(rnd).commitDeadline)
        pending = self.committers(rnd)
        self.reveal(rnd, pending[:-1])
        return rnd, pending[-1]

    def _redraw(self, rnd, last, k):
        self.reveal(rnd, [last])
        self.draw(rnd, randao=(rnd, k))  # a different prevrandao each try (anvil: a different block)
        return self.committee(rnd)

    def draw_until(self, rnd, last, accept=lambda committee: True, tries=30):
        """Reveal `last` and draw, retrying from a snapshot until `accept(committee)`; stays in that draw.

        The test, not an attacker, picks the luck here: it needs a committee of a given shape."""
        saved = self._records()
        for k in range(tries):
            snap = self.snapshot()
            committee = self._redraw(rnd, last, k)
            if accept(committee):
                return committee
            self.chain.restore(snap)
            self._restore_records(saved)
        raise AssertionError(f"no acceptable committee in {tries} draws")

    def sample_draws(self, rnd, last, n) -> list:
        """`n` independent draws of `rnd` (each from the state before `last` reveals); the chain is left there."""
        out, saved = [], self._records()
        for k in range(n):
            snap = self.snapshot()
            out.append(self._redraw(rnd, last, k))
            self.chain.restore(snap)
            self._restore_records(saved)
        return out

    # -- whole rounds
    def to_vote(self, who=None, samples=10) -> int:
        """Start a round; `who` (default every member) commits and reveals; draw. Returns the round."""
        rnd = self.start()
        self.commit(rnd, who, samples)
        if self.phase(rnd) == Phase.COMMIT:
            self.warp_past(self.view(rnd).commitDeadline)
        self.reveal(rnd)
        self.draw(rnd)
        return rnd

    def play_round(self, who=None, scores_of=None, model=b"\xcc" * 32, samples=10) -> int:
        """One whole honest round: commit, reveal, draw, vote, settle everyone, accept `model`."""
        rnd = self.to_vote(who, samples)
        self.vote(rnd, scores_of)
        self.settle(rnd)
        self.settle_validators(rnd)
        self.accept_model(rnd, model)
        return rnd


# ---------------------------------------------------------------------------- fixtures


def fresh(project, accounts, chain, stakes, **params) -> Driver:
    """A new federation (test parameters with `params`) whose members accounts[1..] stake `stakes` (wei)."""
    sponsor = accounts[0]
    fed = deploy(project, sponsor, fund=params.pop("fund", ETHER), **params)
    members = [accounts[i + 1] for i in range(len(stakes))]
    for m, stake in zip(members, stakes, strict=True):
        fed.register(sender=m, value=stake)
    return Driver(fed, members, sponsor, chain)


def distinct(committee) -> bool:
    """Every committee member holds one seat."""
    return all(seats == 1 for _, seats in committee)


def seats_of(committee, account) -> int:
    return sum(s for m, s in committee if m.address == account.address)


@pytest.fixture(scope="module")
def _six(project, accounts, chain):
    return fresh(project, accounts, chain, [MIN_STAKE] * 6)


@pytest.fixture
def six(_six):
    """A federation (test parameters) with six 1-ETH members and no round yet. Deployed once per module;
    ape restores the chain after every test."""
    return _six.clone()


@pytest.fixture(scope="module")
def _voting(project, accounts, chain):
    play = fresh(project, accounts, chain, [MIN_STAKE] * 6, numRounds=1)
    rnd, last = play.to_select()
    play.draw_until(rnd, last, distinct)
    return play


@pytest.fixture
def voting(_voting):
    """A one-round federation of six 1-ETH members in round 1's VoteCommit phase: all six revealed and the
    committee is three members with one seat each."""
    return _voting.clone()


@pytest.fixture
def sponsor(accounts):
    return accounts[0]


@pytest.fixture
def outsider(accounts):
    return accounts[9]
