"""Money is conserved under random action sequences, and nobody withdraws more than it is owed."""

from conftest import MIN_STAKE, cid_of, salt_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qfl.chain import FederationError, RoundPhase, make_commitment

ACTIONS = (
    "progress",
    "progress",
    "progress",
    "progress",
    "progress",
    "progress",
    "progress",
    "progress",
    "register",
    "leave",
    "withdraw",
    "withdraw_stake",
    "fund",
    "warp",
)

steps = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, 4), st.integers(0, 7)), min_size=20, max_size=45
)


def _progress(fed, actors, sponsor, who, k):
    """The next protocol step of the current round, taken by actor `who` (sometimes wrongly, when k == 0)."""
    rnd = fed.current_round()
    phase = fed.phase(rnd)
    a = actors[who]
    if phase == RoundPhase.DONE:
        fed.start_round(sender=sponsor)
    elif phase == RoundPhase.COMMIT:
        fed.commit_update(rnd, make_commitment(cid_of(who), salt_of(who), a.address, rnd), sender=a)
    elif phase == RoundPhase.REVEAL:
        salt = salt_of(who) if k else salt_of(99)  # k == 0: a reveal that does not match
        fed.reveal_update(rnd, cid_of(who), salt, 1 + k, sender=a)
    elif phase == RoundPhase.SELECT:
        fed.start_vote(rnd, sender=a)
    elif phase == RoundPhase.VOTE:
        view = fed.round_view(rnd)
        member = next((x for x in actors if x.address == view.committee[who % len(view.committee)]), a)
        fed.vote(rnd, [bool((k >> (i % 3)) & 1) for i in range(view.reveal_count)], sender=member)
    elif phase == RoundPhase.FINALIZE:
        fed.finalize(rnd, sender=a)
    elif phase == RoundPhase.AGGREGATE:
        view = fed.round_view(rnd)
        if view.proposal_count == 0 or k == 0:
            fed.post_global_model(rnd, bytes([k + 1]) * 32, list(view.accepted), sender=a)
        else:
            member = next((x for x in actors if x.address == view.committee[who % len(view.committee)]), a)
            fed.attest_global_model(rnd, view.proposal_count, bool(k % 4), sender=member)


def _act(fed, warp, actors, sponsor, action, who, k):
    """Try one action; reverts are part of the game."""
    a = actors[who]
    if action == "progress":
        _progress(fed, actors, sponsor, who, k)
    elif action == "register":
        fed.register(MIN_STAKE * (1 + k % 3), sender=a)
    elif action == "leave":
        fed.leave(sender=a)
    elif action == "withdraw":
        owed = fed.client_view(a).withdrawable
        before = fed.balance()
        r = fed.withdraw_rewards(sender=a)
        assert r.event("Withdrawn")["amount"] == owed > 0
        assert fed.client_view(a).withdrawable == 0 and fed.balance() == before - owed
    elif action == "withdraw_stake":
        stake = fed.client_view(a).stake
        amount = MIN_STAKE * (k % 3) // 2
        before = fed.balance()
        fed.withdraw_stake(amount, sender=a)
        assert 0 < amount <= stake - MIN_STAKE
        assert fed.client_view(a).stake == stake - amount and fed.balance() == before - amount
    elif action == "fund":
        fed.fund(10**16 * k, sender=sponsor)
    elif action == "warp":
        warp(60 * (k + 1))


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=steps)
def test_money_is_conserved(chain, fed, accounts, sponsor, warp, sequence):
    actors = [accounts[i] for i in range(1, 6)]
    prefix = [("register", 0, 0), ("register", 1, 1), ("register", 2, 2), ("register", 3, 0)]
    # Not chain.isolate(): that context manager swallows exceptions, assertion errors included.
    snapshot = chain.snapshot()
    try:
        paid_in = fed.balance()
        for action, who, k in prefix + sequence:
            before = fed.balance()
            try:
                _act(fed, warp, actors, sponsor, action, who, k)
            except FederationError:
                assert fed.balance() == before  # a revert moves no money
            acc = fed.accounting()
            assert (
                acc["balance"]
                == acc["total_staked"] + acc["total_withdrawable"] + acc["pool"] + acc["reserved"]
            ), (
                action,
                acc,
            )
            paid_in += max(acc["balance"] - before, 0)
            assert acc["balance"] <= paid_in  # nothing appears from nowhere
        staked = sum(fed.client_view(a).stake for a in actors)
        owed = sum(fed.client_view(a).withdrawable for a in actors + [sponsor])
        acc = fed.accounting()
        assert staked == acc["total_staked"] and owed == acc["total_withdrawable"]
    finally:
        chain.restore(snapshot)


def test_a_full_round_conserves_money(driver):
    """The random walk rarely completes rounds; this one does, and checks the same equation at each step."""
    fed = driver.fed

    def check():
        acc = fed.accounting()
        assert (
            acc["balance"] == acc["total_staked"] + acc["total_withdrawable"] + acc["pool"] + acc["reserved"]
        )

    for _ in range(2):
        rnd = driver.to_vote()
        check()
        driver.vote_all(rnd, lambda seat, i: i % 3 != 0)
        fed.finalize(rnd, sender=driver.sponsor)
        check()
        view = fed.round_view(rnd)
        pid = fed.post_global_model(rnd, b"\x07" * 32, view.accepted, sender=driver.sponsor).event(
            "GlobalModelPosted"
        )["proposalId"]
        for m in driver.committee(rnd)[:2]:
            fed.attest_global_model(rnd, pid, True, sender=m)
        check()
    for c in driver.clients:
        if fed.client_view(c).withdrawable:
            fed.withdraw_rewards(sender=c)
            check()
