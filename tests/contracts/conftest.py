import pytest


@pytest.fixture
def publisher(accounts):
    return accounts[0]


@pytest.fixture
def spec_registry(project, publisher):
    return publisher.deploy(project.ModelSpecRegistry)


# ---------------------------------------------------------------------------- QFLFederation
import os  # noqa: E402, F401

from qfl.chain import FederationParams, deploy_federation, make_commitment  # noqa: E402

ETHER = 10**18
MIN_STAKE = ETHER
REWARD = ETHER // 10
PERIOD = 100  # seconds, every phase


def federation_params(**overrides) -> FederationParams:
    """Small, fast federation parameters for tests; override any field by name."""
    fields = dict(
        model_spec=bytes.fromhex("aa" * 32),
        initial_model=bytes.fromhex("bb" * 32),
        num_rounds=3,
        min_stake=MIN_STAKE,
        commit_period=PERIOD,
        reveal_period=PERIOD,
        vote_period=PERIOD,
        attest_period=PERIOD,
        committee_size=3,
        reward_per_round=REWARD,
        slash_fraction_bps=1000,
        max_participants=8,
    )
    fields.update(overrides)
    return FederationParams(**fields)


def cid_of(tag: int) -> bytes:
    """A deterministic fake CID digest for update number `tag`."""
    return (tag + 1).to_bytes(2, "big") * 16


def salt_of(tag: int) -> bytes:
    """A deterministic salt for update number `tag`."""
    return (tag + 7).to_bytes(32, "big")


@pytest.fixture
def sponsor(accounts):
    return accounts[0]


@pytest.fixture
def clients(accounts):
    return [accounts[i] for i in range(1, 7)]


@pytest.fixture
def outsider(accounts):
    return accounts[9]


@pytest.fixture
def fed(project, sponsor):
    """A federation binding with 1 ETH in the pool and no clients."""
    return deploy_federation(project, sponsor, federation_params(), fund_wei=ETHER)


@pytest.fixture
def contract(fed):
    """The raw ape contract behind `fed` (tests of revert paths use it directly)."""
    return fed._contract


@pytest.fixture
def registered(fed, clients):
    """`fed` with all six clients registered at the minimum stake."""
    for c in clients:
        fed.register(MIN_STAKE, sender=c)
    return fed


@pytest.fixture
def warp(chain):
    """Move the chain's clock forward by `seconds` (mines one block)."""

    def _warp(seconds: int) -> None:
        chain.mine(timestamp=chain.pending_timestamp + seconds)

    return _warp


class RoundDriver:
    """Plays the honest parts of a round through the binding."""

    def __init__(self, fed, clients, sponsor):
        self.fed, self.clients, self.sponsor = fed, clients, sponsor

    def commit(self, rnd, who=None):
        for c in who or self.clients:
            tag = self.clients.index(c)
            self.fed.commit_update(rnd, make_commitment(cid_of(tag), salt_of(tag), c.address, rnd), sender=c)

    def reveal(self, rnd, who=None, samples=10):
        for c in who or self.clients:
            tag = self.clients.index(c)
            self.fed.reveal_update(rnd, cid_of(tag), salt_of(tag), samples, sender=c)

    def member(self, address):
        return next(c for c in self.clients if c.address == address)

    def committee(self, rnd):
        return [self.member(a) for a in self.fed.round_view(rnd).committee]

    def to_vote(self, who=None):
        """Start a round, everyone commits and reveals, the committee is drawn; returns the round number."""
        rnd = self.fed.start_round(sender=self.sponsor).event("RoundStarted")["round"]
        self.commit(rnd, who)
        self.reveal(rnd, who)
        self.fed.start_vote(rnd, sender=self.sponsor)
        return rnd

    def vote_all(self, rnd, accept_fn=lambda seat, i: True):
        view = self.fed.round_view(rnd)
        for seat, m in enumerate(self.committee(rnd)):
            self.fed.vote(rnd, [accept_fn(seat, i) for i in range(view.reveal_count)], sender=m)

    def to_aggregate(self, who=None):
        rnd = self.to_vote(who)
        self.vote_all(rnd)
        self.fed.finalize(rnd, sender=self.sponsor)
        return rnd

    def full_round(self, who=None, model=b"\xcc" * 32):
        rnd = self.to_aggregate(who)
        view = self.fed.round_view(rnd)
        pid = self.fed.post_global_model(rnd, model, view.accepted, sender=self.sponsor).event(
            "GlobalModelPosted"
        )["proposalId"]
        for m in self.committee(rnd):
            if self.fed.phase(rnd) != 7:
                self.fed.attest_global_model(rnd, pid, True, sender=m)
        return rnd


@pytest.fixture
def driver(registered, clients, sponsor):
    return RoundDriver(registered, clients, sponsor)
