"""QFLFederation (Protocol v2) on the raw contract: deployment checks, every revert path of every external
function, phase transitions by early close and by deadline, settlement money flows (checked to the wei
against a Python model of the rules), validator settlement, reserve release and sweeps."""

import ape
import pytest
from conftest import (
    DEFAULTS,
    ETHER,
    INITIAL_MODEL,
    MIN_STAKE,
    MODEL_SPEC,
    PERIOD,
    REWARD,
    Outcome,
    Phase,
    VOutcome,
    assert_conserved,
    cid_of,
    commitment,
    deploy,
    events,
    fresh,
    params_tuple,
    salt_of,
    vote_commitment,
)

# The shared states are built once, before the module's first test, so ape's per-test snapshot always sits on
# top of them (a module fixture first requested mid-module makes ape re-base its snapshots instead).
pytestmark = pytest.mark.usefixtures("_six", "_voting")

BPS = 10_000
DAY = 86_400
UINT96 = 2**96 - 1
ZERO = "0x" + "00" * 20

# ---------------------------------------------------------------------------- deployment


def test_deploy_records_parameters_pool_and_round_zero(project, sponsor):
    fed = deploy(project, sponsor, fund=2 * ETHER)
    getters = {name: getattr(fed, name)() for name in DEFAULTS if name != "initialModel"}
    assert getters == {k: v for k, v in DEFAULTS.items() if k != "initialModel"}
    assert fed.sponsor() == sponsor.address and fed.pool() == 2 * ETHER == fed.balance
    assert fed.currentRound() == 0 and fed.memberCount() == 0 and fed.phase(0) == Phase.DONE
    assert fed.phase(1) == Phase.NONE and fed.globalModelOf(0) == INITIAL_MODEL
    assert fed.globalModelOf(1) == bytes(32)
    assert fed.getRound(0).globalModel == INITIAL_MODEL
    for name, value in {
        "MAX_PERIOD": 30 * DAY,
        "MIN_PERIOD": 60,
        "MAX_COMMITTEE": 64,
        "MAX_COHORT": 10_000,
        "VALIDATOR_SHARE_BPS": 2_000,
        "INITIAL_REPUTATION": 100,
        "MIN_VALIDATOR_REPUTATION": 50,
    }.items():
        assert getattr(fed, name)() == value, name
    receipt = fed.creation_metadata.receipt
    created = events(receipt, "FederationCreated")[0]
    assert created.sponsor == sponsor.address and created.modelSpec == MODEL_SPEC
    assert events(receipt, "PoolFunded")[0].amount == 2 * ETHER
    assert_conserved(fed)


@pytest.mark.parametrize(
    "field, bad, name",
    [
        ("modelSpec", bytes(32), "modelSpec"),
        ("initialModel", bytes(32), "initialModel"),
        ("numRounds", 0, "numRounds"),
        ("minStake", 0, "minStake"),
        ("minStake", UINT96 + 1, "minStake"),
        ("commitPeriod", 59, "period"),
        ("attestPeriod", 30 * DAY + 1, "period"),
        ("committeeSize", 0, "committeeSize"),
        ("committeeSize", 65, "committeeSize"),
        ("cohortSize", 0, "cohortSize"),
        ("cohortSize", 10_001, "cohortSize"),
        ("rewardPerRound", 2**128, "rewardPerRound"),
        ("slashFractionBps", 10_001, "slashFractionBps"),
        ("maxSamples", 0, "maxSamples"),
        ("maxShareBps", 0, "maxShareBps"),
        ("maxShareBps", 10_001, "maxShareBps"),
        ("rejoinCooldown", 365 * DAY + 1, "rejoinCooldown"),
    ],
)
def test_invalid_parameters_revert(project, sponsor, field, bad, name):
    with ape.reverts(project.QFLFederation.InvalidParameter, name=name):
        sponsor.deploy(project.QFLFederation, params_tuple(**{field: bad}))


def test_extreme_valid_parameters_deploy(project, sponsor):
    fed = deploy(
        project,
        sponsor,
        fund=0,
        minStake=UINT96,
        commitPeriod=60,
        revealPeriod=30 * DAY,
        committeeSize=64,
        cohortSize=10_000,
        rewardPerRound=2**128 - 1,
        slashFractionBps=10_000,
        maxSamples=2**32 - 1,
        maxShareBps=10_000,
        rejoinCooldown=365 * DAY,
    )
    assert fed.committeeSize() == 64 and fed.minStake() == UINT96 and fed.pool() == 0


def test_fund_adds_to_the_pool(six, outsider):
    fed = six.fed
    receipt = fed.fund(sender=outsider, value=5 * REWARD)
    assert events(receipt, "PoolFunded")[0].poolAfter == ETHER + 5 * REWARD == fed.pool()
    with ape.reverts(fed.ZeroAmount):
        fed.fund(sender=outsider, value=0)
    assert_conserved(fed)


# ---------------------------------------------------------------------------- membership


def test_register_stakes_and_draw_weight(six, accounts):
    fed = six.fed
    newcomer = accounts[10]
    receipt = fed.register(sender=newcomer, value=2 * MIN_STAKE)
    ev = events(receipt, "ClientRegistered")[0]
    assert (ev.stake, ev.reputation, ev.eligibleFrom) == (2 * MIN_STAKE, 100, 1)
    assert events(receipt, "StakeChanged")[0].drawWeight == 2 * MIN_STAKE  # between rounds: drawable at once
    c = fed.getClient(newcomer.address)
    assert c.registered and c.stake == c.drawWeight == 2 * MIN_STAKE and c.withdrawable == 0 and c.settled
    assert fed.memberCount() == 7 and fed.totalStaked() == 8 * MIN_STAKE
    member, total, size = fed.stakeSlot(7)
    assert member == newcomer.address and total == 8 * MIN_STAKE and size == 7
    with ape.reverts(fed.AlreadyRegistered):
        fed.register(sender=newcomer, value=MIN_STAKE)
    for stake in (0, MIN_STAKE - 1):
        with ape.reverts(fed.StakeTooLow, stake=stake, minimum=MIN_STAKE):
            fed.register(sender=accounts[11], value=stake)
    assert_conserved(fed)


def test_stakes_above_uint96_are_refused(six, accounts, chain):
    if chain.provider.name != "foundry":
        pytest.skip("needs a balance above 2**96 wei: set_balance exists on anvil only")
    fed = six.fed
    whale, member = accounts[12], six.members[0]
    whale.balance = member.balance = 2**97
    with ape.reverts(fed.StakeTooLarge):
        fed.register(sender=whale, value=UINT96 + 1)
    with ape.reverts(fed.StakeTooLarge):
        fed.addStake(sender=member, value=UINT96)


def test_add_and_withdraw_stake(six, accounts, outsider):
    fed = six.fed
    m = six.members[0]
    receipt = fed.addStake(sender=m, value=2 * MIN_STAKE)
    assert events(receipt, "StakeChanged")[0].stakeAfter == 3 * MIN_STAKE
    assert fed.getClient(m.address).drawWeight == 3 * MIN_STAKE
    with ape.reverts(fed.ZeroAmount):
        fed.addStake(sender=m, value=0)
    with ape.reverts(fed.NotRegistered):
        fed.addStake(sender=outsider, value=1)
    before = m.balance
    receipt = fed.withdrawStake(MIN_STAKE, sender=m)
    assert m.balance == before + MIN_STAKE - receipt.total_fees_paid
    assert fed.getClient(m.address).stake == 2 * MIN_STAKE == fed.getClient(m.address).drawWeight
    with ape.reverts(fed.StakeBelowMinimum, remaining=MIN_STAKE - 1, minimum=MIN_STAKE):
        fed.withdrawStake(MIN_STAKE + 1, sender=m)
    with ape.reverts(fed.StakeBelowMinimum, remaining=0):
        fed.withdrawStake(10 * MIN_STAKE, sender=m)
    with ape.reverts(fed.ZeroAmount):
        fed.withdrawStake(0, sender=m)
    with ape.reverts(fed.NotRegistered):
        fed.withdrawStake(1, sender=outsider)
    with ape.reverts(fed.NotRegistered):
        fed.activateStake(outsider.address, sender=m)
    assert_conserved(fed)


def test_leave_then_withdraw_pays_the_stake_once_and_frees_the_slot(six, accounts, outsider):
    fed = six.fed
    m = six.members[2]
    receipt = fed.leave(sender=m)
    assert events(receipt, "ClientLeft")[0].stakeReleased == MIN_STAKE
    c = fed.getClient(m.address)
    assert not c.registered and c.stake == 0 and c.drawWeight == 0 and c.withdrawable == MIN_STAKE
    assert (
        fed.memberCount() == 5 and fed.stakeSlot(3).member == ZERO and fed.stakeSlot(3).total == 5 * MIN_STAKE
    )
    before = m.balance
    receipt = fed.withdraw(sender=m)
    assert events(receipt, "Withdrawn")[0].amount == MIN_STAKE
    assert m.balance == before + MIN_STAKE - receipt.total_fees_paid
    with ape.reverts(fed.NothingToWithdraw):
        fed.withdraw(sender=m)
    with ape.reverts(fed.NotRegistered):
        fed.leave(sender=m)
    with ape.reverts(fed.NothingToWithdraw):
        fed.withdraw(sender=outsider)
    fed.register(sender=accounts[10], value=MIN_STAKE)  # the freed slot is reused
    assert fed.stakeSlot(3).member == accounts[10].address and fed.stakeSlot(3).size == 6
    fed.register(sender=m, value=MIN_STAKE)  # no cooldown in the test parameters; reputation kept
    assert fed.getClient(m.address).reputation == 100 and fed.stakeSlot(7).member == m.address
    assert_conserved(fed)


def test_a_member_that_leaves_before_committing_is_no_longer_awaited(six):
    play = six
    fed = play.fed
    rnd = play.start()
    play.commit(rnd, play.members[:5])
    assert play.phase(rnd) == Phase.COMMIT and play.view(rnd).expectedCommitters == 6
    fed.leave(sender=play.members[5])
    assert play.view(rnd).expectedCommitters == 5 and play.phase(rnd) == Phase.REVEAL


def test_a_failed_payment_reverts_the_withdrawal(six, project, accounts):
    """A member that cannot receive ETH keeps its balance (TransferFailed); nothing is lost."""
    fed = six.fed
    client = accounts[0].deploy(project.RevealAndDraw, fed.address)
    client.join(sender=accounts[0], value=2 * MIN_STAKE)
    with ape.reverts(fed.TransferFailed):
        client.unstake(MIN_STAKE, sender=accounts[0])
    assert fed.getClient(client.address).stake == 2 * MIN_STAKE
    with ape.reverts(fed.NothingToWithdraw):
        client.withdraw(sender=accounts[0])
    client.quit(sender=accounts[0])
    with ape.reverts(fed.TransferFailed, amount=2 * MIN_STAKE):
        client.withdraw(sender=accounts[0])
    assert fed.getClient(client.address).withdrawable == 2 * MIN_STAKE
    assert_conserved(fed)


# ---------------------------------------------------------------------------- rounds


def test_start_round_reserves_the_reward(six, accounts):
    play = six
    fed = play.fed
    receipt = fed.startRound(sender=accounts[19])  # anyone
    ev = events(receipt, "RoundStarted")[0]
    assert ev.round == 1 == fed.currentRound() and ev.expectedCommitters == 6 and not ev.lottery
    assert ev.startModel == INITIAL_MODEL and ev.reward == REWARD
    assert ev.revealDeadline - ev.commitDeadline == PERIOD and ev.commitDeadline == receipt.timestamp + PERIOD
    assert fed.pool() == ETHER - REWARD and fed.reserved() == REWARD == play.view(1).reserveLeft
    assert play.phase(1) == Phase.COMMIT and fed.inCohort(1, play.members[0].address)
    with ape.reverts(fed.PreviousRoundOpen, round=1):
        fed.startRound(sender=accounts[19])
    assert_conserved(fed)


def test_start_round_needs_members_a_funded_pool_and_rounds_left(project, sponsor, accounts, chain):
    fed = deploy(project, sponsor, fund=0, numRounds=1)
    with ape.reverts(fed.NoParticipants):
        fed.startRound(sender=sponsor)
    fed.register(sender=accounts[1], value=MIN_STAKE)
    with ape.reverts(fed.PoolUnderfunded, pool=0, needed=REWARD):
        fed.startRound(sender=sponsor)
    fed.fund(sender=sponsor, value=REWARD)
    fed.startRound(sender=sponsor)
    assert fed.pool() == 0
    chain.mine(timestamp=fed.getRound(1).commitDeadline + 1)
    assert fed.phase(1) == Phase.DONE  # nobody committed
    with ape.reverts(fed.AllRoundsDone, numRounds=1):
        fed.startRound(sender=sponsor)


def test_commit_reverts(six, accounts, outsider):
    play = six
    fed = play.fed
    a, b = play.members[:2]
    good = commitment(cid_of("a"), salt_of("a"), 10, a.address, 1)
    with ape.reverts(fed.WrongPhase, round=1, current=Phase.NONE, expected=Phase.COMMIT):
        fed.commitUpdate(1, good, sender=a)
    rnd = play.start()
    joiner = accounts[10]
    fed.register(sender=joiner, value=MIN_STAKE)
    with ape.reverts(fed.EmptyValue):
        fed.commitUpdate(rnd, bytes(32), sender=a)
    with ape.reverts(fed.NotRegistered):
        fed.commitUpdate(rnd, good, sender=outsider)
    with ape.reverts(fed.NotEligible, eligibleFrom=2):
        fed.commitUpdate(rnd, good, sender=joiner)
    with ape.reverts(fed.WrongPhase, current=Phase.NONE):
        fed.commitUpdate(rnd + 1, good, sender=a)
    receipt = fed.commitUpdate(rnd, good, sender=a)
    assert events(receipt, "UpdateCommitted")[0].commitment == good
    with ape.reverts(fed.AlreadyCommitted):
        fed.commitUpdate(rnd, good, sender=a)
    with ape.reverts(fed.EngagedInRound):  # a committed update is a duty
        fed.leave(sender=a)
    with ape.reverts(fed.EngagedInRound):
        fed.withdrawStake(1, sender=a)
    play.warp_past(play.view(rnd).commitDeadline)
    with ape.reverts(fed.WrongPhase, current=Phase.REVEAL, expected=Phase.COMMIT):
        fed.commitUpdate(rnd, good, sender=b)
    # `a` never reveals: the round ends, and `a` may not commit again before it is settled.
    play.warp_past(play.view(rnd).revealDeadline)
    rnd = play.start()
    with ape.reverts(fed.UnsettledRound, round=1):
        fed.commitUpdate(rnd, commitment(cid_of("a2"), salt_of("a2"), 10, a.address, rnd), sender=a)
    out = events(fed.settle(1, [a.address], sender=accounts[19]), "TrainerSettled")[0]
    assert out.outcome == Outcome.SILENT_COMMITTER and out.slashed == MIN_STAKE // 10
    with ape.reverts(fed.StakeTooLow, stake=MIN_STAKE - MIN_STAKE // 10):  # slashed below the minimum
        fed.commitUpdate(rnd, commitment(cid_of("a2"), salt_of("a2"), 10, a.address, rnd), sender=a)
    fed.addStake(sender=a, value=MIN_STAKE // 10)
    fed.commitUpdate(rnd, commitment(cid_of("a2"), salt_of("a2"), 10, a.address, rnd), sender=a)
    fed.commitUpdate(rnd, commitment(cid_of("j"), salt_of("j"), 10, joiner.address, rnd), sender=joiner)


def test_more_members_than_cohort_seats_draw_tickets(project, accounts, chain):
    play = fresh(project, accounts, chain, [MIN_STAKE] * 8, cohortSize=4)
    fed = play.fed
    rnd = play.start()
    v = play.view(rnd)
    assert v.lottery and v.expectedCommitters == 4
    # Each of the 8 tickets wins with odds 4/8 (which ones depends on the start block): winners commit until
    # 4 have, losers are refused.
    for m in play.members:
        c = commitment(cid_of(m), salt_of(m), 10, m.address, rnd)
        if play.phase(rnd) != Phase.COMMIT:
            with ape.reverts(fed.WrongPhase):  # the cohort is full: the phase closed
                fed.commitUpdate(rnd, c, sender=m)
        elif not fed.inCohort(rnd, m.address):
            with ape.reverts(fed.NotInCohort):
                fed.commitUpdate(rnd, c, sender=m)
        else:
            fed.commitUpdate(rnd, c, sender=m)
    winners = sum(fed.inCohort(rnd, m.address) for m in play.members)
    assert play.view(rnd).commitCount == min(winners, 4)


def test_reveal_reverts(six, outsider):
    play = six
    fed = play.fed
    a, b, c, d = play.members[:4]
    rnd = play.start()
    play.commit(rnd, [a, b, c])
    fed.commitUpdate(rnd, commitment(cid_of("d"), salt_of("d"), 0, d.address, rnd), sender=d)  # 0 samples
    cid, salt, samples = play.plan[(rnd, a.address)]
    with ape.reverts(fed.WrongPhase, current=Phase.COMMIT, expected=Phase.REVEAL):
        fed.revealUpdate(rnd, cid, salt, samples, sender=a)
    play.warp_past(play.view(rnd).commitDeadline)
    with ape.reverts(fed.EmptyValue):
        fed.revealUpdate(rnd, bytes(32), salt, samples, sender=a)
    with ape.reverts(fed.NotCommitted):
        fed.revealUpdate(rnd, cid, salt, samples, sender=outsider)
    with ape.reverts(fed.NotCommitted):
        fed.revealUpdate(rnd, cid, salt, samples, sender=play.members[5])
    for wrong in ((cid_of("x"), salt, samples), (cid, salt_of("x"), samples), (cid, salt, samples + 1)):
        with ape.reverts(fed.RevealMismatch):
            fed.revealUpdate(rnd, *wrong, sender=a)
    with ape.reverts(fed.RevealMismatch):  # another member's reveal: the commitment names the sender
        fed.revealUpdate(rnd, *play.plan[(rnd, b.address)], sender=a)
    with ape.reverts(fed.SamplesOutOfRange, samples=0):
        fed.revealUpdate(rnd, cid_of("d"), salt_of("d"), 0, sender=d)
    receipt = fed.revealUpdate(rnd, cid, salt, samples, sender=a)
    ev = events(receipt, "UpdateRevealed")[0]
    assert (ev.revealOrder, ev.cidDigest, ev.samples, ev.reputation) == (0, cid, samples, 100)
    with ape.reverts(fed.AlreadyRevealed):
        fed.revealUpdate(rnd, cid, salt, samples, sender=a)
    c_ = fed.getClient(a.address)
    assert c_.revealed and c_.samples == samples and c_.revealOrder == 0 and not c_.settled
    play.warp_past(play.view(rnd).revealDeadline)
    with ape.reverts(fed.WrongPhase, current=Phase.SELECT, expected=Phase.REVEAL):
        fed.revealUpdate(rnd, *play.plan[(rnd, b.address)], sender=b)
    assert play.view(rnd).weightSum == samples * 100


# ---------------------------------------------------------------------------- the phase clock


def test_phases_close_early_once_everyone_acted(six):
    play = six
    fed = play.fed
    rnd = play.start()
    play.commit(rnd, play.members[:5])
    assert play.phase(rnd) == Phase.COMMIT
    play.commit(rnd, play.members[5:])
    assert play.phase(rnd) == Phase.REVEAL  # every expected member committed
    receipts = play.reveal(rnd)
    assert play.phase(rnd) == Phase.SELECT  # every committer revealed: the last reveal arms the draw
    assert events(receipts[-1], "DrawArmed")[0].drawBlock == receipts[-1].block_number + 2
    receipt = play.draw(rnd)
    ev = events(receipt, "CommitteeSelected")[0]
    assert sum(ev.seats) == 3 and ev.voteCommitDeadline == receipt.timestamp + PERIOD
    assert ev.attestDeadline == ev.voteRevealDeadline + PERIOD == ev.voteCommitDeadline + 2 * PERIOD
    v = play.view(rnd)
    assert v.committeeSeed == ev.seed and list(v.committee) == list(ev.committee) and v.totalSeats == 3
    for m, _ in play.committee(rnd):
        assert fed.getClient(m.address).pendingDuties == 1
    assert play.phase(rnd) == Phase.VOTE_COMMIT
    with ape.reverts(fed.WrongPhase, current=Phase.VOTE_COMMIT, expected=Phase.SELECT):
        fed.drawCommittee(rnd, sender=play.sponsor)
    n = v.revealCount
    play.commit_votes(rnd, lambda m: bytes([200] * n))
    assert play.phase(rnd) == Phase.VOTE_REVEAL  # every seat committed
    play.reveal_votes(rnd)
    assert play.phase(rnd) == Phase.AGGREGATE  # every committed seat revealed
    play.accept_model(rnd)
    assert play.phase(rnd) == Phase.DONE  # accepted: done before the attest deadline
    assert fed.globalModelOf(rnd) == b"\xcc" * 32


def test_phases_advance_by_deadline(six, accounts, chain):
    play = six
    fed = play.fed
    rnd = play.start()
    play.commit(rnd, play.members[:4])
    v = play.view(rnd)
    play.warp_past(v.commitDeadline - 10)
    assert play.phase(rnd) == Phase.COMMIT
    play.warp_past(v.commitDeadline)
    assert play.phase(rnd) == Phase.REVEAL
    play.reveal(rnd, play.members[:3])
    play.warp_past(v.revealDeadline)
    assert play.phase(rnd) == Phase.SELECT and play.view(rnd).drawBlock == 0  # not armed by a reveal
    receipt = fed.drawCommittee(rnd, sender=accounts[19])
    assert events(receipt, "DrawArmed")[0].drawBlock == receipt.block_number + 2
    assert not events(fed.drawCommittee(rnd, sender=accounts[19]), "CommitteeSelected")  # too early: nothing
    assert events(fed.drawCommittee(rnd, sender=accounts[19]), "CommitteeSelected")
    chain.mine()
    committee = play.committee(rnd)
    n = play.view(rnd).revealCount
    play.commit_votes(rnd, lambda m: bytes([200] * n), who=[committee[0][0]])
    assert play.phase(rnd) == Phase.VOTE_COMMIT or len(committee) == 1
    play.warp_past(play.view(rnd).voteCommitDeadline)
    assert play.phase(rnd) == Phase.VOTE_REVEAL
    play.warp_past(play.view(rnd).voteRevealDeadline)
    assert play.phase(rnd) == Phase.DONE  # the only committed seat never revealed: nothing to aggregate


def test_rounds_without_reveals_or_a_draw_end_by_deadline(six, accounts):
    play = six
    fed = play.fed
    # Nobody commits: done at the commit deadline, and closing it releases the reserve.
    rnd = play.start()
    play.warp_past(play.view(rnd).commitDeadline)
    assert play.phase(rnd) == Phase.DONE
    with ape.reverts(fed.WrongPhase, current=Phase.DONE, expected=Phase.SELECT):
        fed.drawCommittee(rnd, sender=accounts[19])
    receipt = fed.closeRound(rnd, sender=accounts[19])
    assert events(receipt, "GlobalModelCarriedOver")[0].cidDigest == INITIAL_MODEL
    assert events(receipt, "ReserveReleased")[0].amount == REWARD and fed.pool() == ETHER
    # Commits but no reveal: done at the reveal deadline; the committers are slashed when settled.
    rnd = play.start()
    play.commit(rnd)
    play.warp_past(play.view(rnd).revealDeadline)
    assert play.phase(rnd) == Phase.DONE
    outcomes = play.settle(rnd)
    assert {o.outcome for o in outcomes.values()} == {Outcome.SILENT_COMMITTER}
    fed.releaseReserve(rnd, sender=accounts[19])
    assert fed.pool() == ETHER and fed.burned() == 6 * MIN_STAKE // 10
    # Reveals but nobody draws within a vote period of the reveal deadline: done, all unvalidated.
    for m in play.members:
        fed.addStake(sender=m, value=MIN_STAKE // 10)
    rnd = play.start()
    play.commit(rnd)
    play.reveal(rnd, play.members[:2])
    play.warp_past(play.view(rnd).revealDeadline + PERIOD)
    assert play.phase(rnd) == Phase.DONE
    assert play.settle(rnd, play.members[:2])[play.members[0].address].outcome == Outcome.UNVALIDATED
    assert_conserved(fed)


def test_a_committee_that_never_votes_ends_the_round(voting):
    play, rnd = voting, 1
    play.warp_past(play.view(rnd).voteCommitDeadline)
    assert play.phase(rnd) == Phase.DONE
    outcomes = play.settle(rnd)
    assert {o.outcome for o in outcomes.values()} == {Outcome.UNVALIDATED}
    assert all(o.reward == 0 and o.slashed == 0 for o in outcomes.values())


# ---------------------------------------------------------------------------- votes


def test_vote_reverts(voting, outsider):
    play, rnd = voting, 1
    fed = play.fed
    (a, _), (b, _), (c, _) = play.committee(rnd)
    n = play.view(rnd).revealCount
    scores, salt = bytes([200] * n), salt_of("vote")
    bystander = next(m for m in play.members if m not in (a, b, c))
    with ape.reverts(fed.EmptyValue):
        fed.commitVote(rnd, bytes(32), sender=a)
    for who in (outsider, bystander):
        with ape.reverts(fed.NotCommitteeMember):
            fed.commitVote(rnd, vote_commitment(scores, salt, who.address, rnd), sender=who)
    with ape.reverts(fed.WrongPhase, current=Phase.VOTE_COMMIT, expected=Phase.VOTE_REVEAL):
        fed.revealVote(rnd, scores, salt, sender=a)
    receipt = fed.commitVote(rnd, vote_commitment(scores, salt, a.address, rnd), sender=a)
    assert events(receipt, "VoteCommitted")[0].commitment == vote_commitment(scores, salt, a.address, rnd)
    with ape.reverts(fed.AlreadyVoted):
        fed.commitVote(rnd, vote_commitment(scores, salt, a.address, rnd), sender=a)
    fed.commitVote(rnd, vote_commitment(scores[:-1], salt, b.address, rnd), sender=b)  # a short vector
    play.warp_past(play.view(rnd).voteCommitDeadline)  # `c` never commits
    with ape.reverts(fed.WrongPhase, current=Phase.VOTE_REVEAL, expected=Phase.VOTE_COMMIT):
        fed.commitVote(rnd, vote_commitment(scores, salt, c.address, rnd), sender=c)
    with ape.reverts(fed.VoteNotCommitted):
        fed.revealVote(rnd, scores, salt, sender=c)
    with ape.reverts(fed.NotCommitteeMember):
        fed.revealVote(rnd, scores, salt, sender=outsider)
    with ape.reverts(fed.InvalidScores, expectedLength=n, length=n - 1):
        fed.revealVote(rnd, scores[:-1], salt, sender=b)
    with ape.reverts(fed.VoteMismatch):
        fed.revealVote(rnd, bytes([199] * n), salt, sender=a)
    with ape.reverts(fed.VoteMismatch):
        fed.revealVote(rnd, scores, salt_of("other"), sender=a)
    receipt = fed.revealVote(rnd, scores, salt, sender=a)
    assert events(receipt, "VoteRevealed")[0].scores == scores
    with ape.reverts(fed.AlreadyVoted):
        fed.revealVote(rnd, scores, salt, sender=a)
    assert [fed.scoreOf(rnd, 1, i) for i in range(n)] == [200] * n
    assert play.view(rnd).voteReveals == 1 and play.view(rnd).revealedSeats == 1
    play.warp_past(play.view(rnd).voteRevealDeadline)
    assert play.phase(rnd) == Phase.AGGREGATE  # one seat revealed: settlement and attestation open


# ---------------------------------------------------------------------------- settlement


def median_bounds(pairs):
    """(lo, hi) weighted median of [(score, weight)], as WeightedMedian.bounds."""
    total = sum(w for _, w in pairs)
    acc, lo = 0, None
    for s, w in sorted(pairs):
        acc += w
        if lo is None and 2 * acc >= total:
            lo = s
        if 2 * acc > total:
            return lo, s
    return lo, lo


def judge(votes, seats, own, total_seats):
    """Outcome and score of one update: `votes` {position: score} of the seats that revealed, `seats`
    {position: seats}, `own` the trainer's committee position (0 if none)."""
    cast = [(score, seats[p]) for p, score in votes.items() if p != own]
    weight = sum(w for _, w in cast)
    own_seats = seats.get(own, 0)
    if weight == 0 or 2 * weight <= total_seats - own_seats:
        return Outcome.UNVALIDATED, 0
    lo, hi = median_bounds(cast)
    if lo >= 128:
        return Outcome.ACCEPTED, lo
    if hi < 64:
        return Outcome.REJECTED, hi
    if lo >= 64 and hi < 128:
        return Outcome.NEUTRAL, lo
    return Outcome.UNVALIDATED, lo


def test_settlement_pays_slashes_and_returns_exactly_what_the_rules_say(voting, accounts):
    """Scores per update (columns: committee positions 1, 2, 3): 255s, 200s, 0s, 100s (neutral), and two
    split ones where position 2 disagrees. Every outcome, reward, slash, reputation, validator payment and
    the reserve left for the pool are computed here from the rules and compared to the wei."""
    play, rnd = voting, 1
    fed = play.fed
    committee = play.committee(rnd)
    position = {m.address: p + 1 for p, (m, _) in enumerate(committee)}
    seats = {p + 1: s for p, (_, s) in enumerate(committee)}
    trainers = play.trainers(rnd)
    matrix = [(255, 255, 255), (200, 200, 200), (0, 0, 0), (100, 100, 100), (255, 0, 255), (0, 255, 0)]
    by_position = {p: bytes(row[p - 1] for row in matrix) for p in seats}
    play.vote(rnd, lambda v: by_position[position[v.address]])
    pool_before = fed.pool()
    v = play.view(rnd)
    total_seats, n, weight_sum = v.totalSeats, v.revealCount, v.weightSum
    pot = REWARD * 8_000 // BPS
    budget = REWARD * 2_000 // BPS // n
    receipt = fed.settle(rnd, [t.address for t in trainers], sender=accounts[19])
    got = {log.client: log for log in events(receipt, "TrainerSettled")}
    agreements = dict.fromkeys(seats, 0)
    decided, own_decided, paid, returned = 0, set(), 0, 0
    for i, t in enumerate(trainers):
        own = position.get(t.address, 0)
        votes = {p: matrix[i][p - 1] for p in seats}
        outcome, score = judge(votes, seats, own, total_seats)
        share = min(pot * 10 * 100 // weight_sum, pot * DEFAULTS["maxShareBps"] // BPS)
        reward = share * score // 255 if outcome == Outcome.ACCEPTED else 0
        slashed = MIN_STAKE // 10 if outcome == Outcome.REJECTED else 0
        rep = {Outcome.ACCEPTED: 110, Outcome.REJECTED: 80}.get(outcome, 100)
        log = got[t.address]
        assert (log.outcome, log.score, log.reward, log.slashed, log.reputation) == (
            outcome,
            score,
            reward,
            slashed,
            rep,
        ), (i, log)
        paid += reward
        returned += share - reward
        if outcome in (Outcome.ACCEPTED, Outcome.REJECTED):
            decided += 1
            if own:
                own_decided.add(own)
            agree = 0
            for p in seats:
                s = votes[p]
                if p != own and (s >= 128 if outcome == Outcome.ACCEPTED else s < 64):
                    agreements[p] += 1
                    agree += seats[p]
            returned += budget - budget * agree // total_seats
        else:
            returned += budget
        assert fed.getClient(t.address).withdrawable == reward
    assert fed.pool() == pool_before + returned
    assert fed.burned() == sum(log.slashed for log in got.values())
    # Settling again is a no-op (racing batches do not revert each other, nor pay twice).
    assert not events(fed.settle(rnd, [trainers[0].address], sender=accounts[19]), "TrainerSettled")
    for m, s in committee:
        p = position[m.address]
        log = events(fed.settleValidator(rnd, m.address, sender=accounts[19]), "ValidatorSettled")[0]
        decisions = decided - (1 if p in own_decided else 0)
        earned = agreements[p] * s * budget // total_seats
        outcome = VOutcome.AGREED if 2 * agreements[p] >= decisions else VOutcome.MINORITY
        before = {t.address: got[t.address].reputation for t in trainers}.get(m.address, 100)
        rep = before + 5 if outcome == VOutcome.AGREED else before - 10
        assert (log.outcome, log.agreed, log.decisions, log.reward, log.reputation) == (
            outcome,
            agreements[p],
            decisions,
            earned,
            rep,
        ), (p, log)
        paid += earned
        assert fed.getClient(m.address).pendingDuties == 0
    assert play.view(rnd).reserveLeft == REWARD - paid - returned
    with ape.reverts(fed.AlreadySettled):
        fed.settleValidator(rnd, committee[0][0].address, sender=accounts[19])
    assert_conserved(fed)
    with ape.reverts(fed.ReserveLocked):
        fed.releaseReserve(rnd, sender=accounts[19])  # not done yet
    play.accept_model(rnd)
    receipt = fed.releaseReserve(rnd, sender=accounts[19])  # done and everyone settled: no need to wait
    assert events(receipt, "ReserveReleased")[0].amount == REWARD - paid - returned
    assert fed.reserved() == 0 and fed.pool() == pool_before + REWARD - paid
    with ape.reverts(fed.ReserveLocked):
        fed.releaseReserve(rnd, sender=accounts[19])
    for t in trainers:  # everyone is paid what it was credited
        if fed.getClient(t.address).withdrawable:
            fed.withdraw(sender=t)
    assert_conserved(fed)


def test_settlement_reverts_and_the_validator_cutoff(voting, accounts, outsider):
    play, rnd = voting, 1
    fed = play.fed
    committee = play.committee(rnd)
    (a, _), (b, _), (c, _) = committee
    with ape.reverts(fed.WrongPhase, current=Phase.VOTE_COMMIT, expected=Phase.AGGREGATE):
        fed.settle(rnd, [a.address], sender=outsider)
    with ape.reverts(fed.WrongPhase):
        fed.settleValidator(rnd, a.address, sender=outsider)
    play.vote(rnd, who=[a, b])  # `c` is silent
    with ape.reverts(fed.NotCommitted):
        fed.settle(rnd, [outsider.address], sender=outsider)
    with ape.reverts(fed.NotCommitteeMember):
        fed.settleValidator(rnd, outsider.address, sender=outsider)
    last = next(t for t in play.trainers(rnd) if t not in (a, b, c))
    play.settle(rnd, [t for t in play.trainers(rnd) if t != last])
    with ape.reverts(fed.SettlementOpen, unsettled=1):
        fed.settleValidator(rnd, a.address, sender=outsider)
    with ape.reverts(fed.ReserveLocked):
        fed.releaseReserve(rnd, sender=outsider)  # not done yet
    v = play.view(rnd)
    play.warp_past(v.attestDeadline + PERIOD)  # the validators' cut-off
    assert play.phase(rnd) == Phase.DONE
    with ape.reverts(fed.ReserveLocked):
        fed.releaseReserve(rnd, sender=outsider)  # done, but not all settled and not expired
    silent = events(fed.settleValidator(rnd, c.address, sender=outsider), "ValidatorSettled")[0]
    assert silent.outcome == VOutcome.SILENT and silent.slashed > 0 and silent.reputation == 90
    pool = fed.pool()
    late = events(fed.settle(rnd, [last.address], sender=outsider), "TrainerSettled")[0]
    assert late.outcome == Outcome.ACCEPTED and late.reward > 0  # trainers are still paid after the cut-off
    share = REWARD * 8_000 // BPS * 1_000 // v.weightSum
    budget = REWARD * 2_000 // BPS // v.revealCount
    assert fed.pool() == pool + share - late.reward + budget  # ... but its validator budget goes back
    for m in (a, b):
        fed.settleValidator(rnd, m.address, sender=outsider)
    fed.releaseReserve(rnd, sender=outsider)
    assert fed.reserved() == 0
    assert_conserved(fed)


def test_reserve_expires_for_unsettled_rounds_and_late_settlement_pays_nothing(voting, accounts):
    play, rnd = voting, 1
    fed = play.fed
    with ape.reverts(fed.ReserveLocked):
        fed.releaseReserve(0, sender=accounts[19])
    play.vote(rnd)
    play.settle(rnd, play.trainers(rnd)[:3])
    v = play.view(rnd)
    play.warp_past(v.attestDeadline + 30 * DAY - 10)
    with ape.reverts(fed.ReserveLocked):
        fed.releaseReserve(rnd, sender=accounts[19])
    play.warp_past(v.attestDeadline + 30 * DAY)
    left = play.view(rnd).reserveLeft
    receipt = fed.releaseReserve(rnd, sender=accounts[19])
    assert events(receipt, "ReserveReleased")[0].amount == left > 0 and fed.reserved() == 0
    late = play.settle(rnd, play.trainers(rnd)[3:])
    assert all(o.outcome == Outcome.ACCEPTED and o.reward == 0 for o in late.values())
    assert all(o.reputation == 110 for o in late.values())  # the reputation still counts
    assert_conserved(fed)


def test_close_round_and_sweeps(voting, accounts, outsider):
    play, rnd = voting, 1
    fed = play.fed
    sponsor = play.sponsor
    with ape.reverts(fed.WrongPhase, current=Phase.VOTE_COMMIT, expected=Phase.DONE):
        fed.closeRound(rnd, sender=outsider)
    with ape.reverts(fed.FederationNotOver):
        fed.sweepPool(sender=sponsor)
    play.vote(rnd)
    play.settle(rnd)
    play.settle_validators(rnd)
    play.warp_past(play.view(rnd).attestDeadline)  # nothing proposed: carried over
    with ape.reverts(fed.NotSponsor):
        fed.sweepPool(sender=outsider)
    pool = fed.pool()
    receipt = fed.sweepPool(sender=sponsor)  # closes the last round first
    assert events(receipt, "GlobalModelCarriedOver")[0].cidDigest == INITIAL_MODEL
    assert events(receipt, "PoolSwept")[0].amount == pool and fed.pool() == 0
    assert fed.getClient(sponsor.address).withdrawable == pool
    with ape.reverts(fed.ZeroAmount):
        fed.sweepPool(sender=sponsor)
    fed.closeRound(rnd, sender=outsider)  # a closed round closes again without effect
    left = play.view(rnd).reserveLeft
    fed.releaseReserve(rnd, sender=outsider)
    assert events(fed.sweepPool(sender=sponsor), "PoolSwept")[0].amount == left  # the reserve, once freed
    with ape.reverts(fed.AllRoundsDone):
        fed.startRound(sender=sponsor)
    before = sponsor.balance
    receipt = fed.withdraw(sender=sponsor)
    assert sponsor.balance == before + pool + left - receipt.total_fees_paid
    assert_conserved(fed)


# ---------------------------------------------------------------------------- the global model


def test_propose_and_attest_reverts(voting, outsider):
    play, rnd = voting, 1
    fed = play.fed
    (a, _), (b, _), (c, _) = play.committee(rnd)
    with ape.reverts(fed.WrongPhase, current=Phase.VOTE_COMMIT, expected=Phase.AGGREGATE):
        fed.postGlobalModel(rnd, b"\x01" * 32, sender=a)
    with ape.reverts(fed.WrongPhase):
        fed.attestGlobalModel(rnd, 1, True, sender=a)
    play.vote(rnd)
    with ape.reverts(fed.EmptyValue):
        fed.postGlobalModel(rnd, bytes(32), sender=a)
    with ape.reverts(fed.NotCommitteeMember):
        fed.postGlobalModel(rnd, b"\x01" * 32, sender=outsider)
    with ape.reverts(fed.UnknownProposal, proposalId=1):
        fed.attestGlobalModel(rnd, 1, True, sender=a)
    receipt = fed.postGlobalModel(rnd, b"\x01" * 32, sender=a)
    ev = events(receipt, "GlobalModelPosted")[0]
    assert (ev.proposalId, ev.poster, ev.cidDigest) == (1, a.address, b"\x01" * 32)
    with ape.reverts(fed.AlreadyProposed):
        fed.postGlobalModel(rnd, b"\x02" * 32, sender=a)
    for bad in (0, 2):
        with ape.reverts(fed.UnknownProposal, proposalId=bad):
            fed.attestGlobalModel(rnd, bad, True, sender=b)
    with ape.reverts(fed.NotCommitteeMember):
        fed.attestGlobalModel(rnd, 1, True, sender=outsider)
    receipt = fed.attestGlobalModel(rnd, 1, False, sender=b)
    assert not events(receipt, "GlobalModelAttested")[0].approve
    with ape.reverts(fed.AlreadyAttested):
        fed.attestGlobalModel(rnd, 1, True, sender=b)
    p = fed.getProposal(rnd, 1)
    assert (p.cidDigest, p.poster, p.yesSeats, p.noSeats, p.attested, p.status) == (
        b"\x01" * 32,
        a.address,
        0,
        1,
        0b10,
        0,
    )
    fed.attestGlobalModel(rnd, 1, False, sender=c)  # 2 of 3: refused
    assert fed.getProposal(rnd, 1).status == 2
    with ape.reverts(fed.ProposalDecided):
        fed.attestGlobalModel(rnd, 1, True, sender=a)
    fed.postGlobalModel(rnd, b"\x02" * 32, sender=b)
    fed.attestGlobalModel(rnd, 2, True, sender=b)
    receipt = fed.attestGlobalModel(rnd, 2, True, sender=c)
    assert events(receipt, "GlobalModelAccepted")[0].cidDigest == b"\x02" * 32
    assert play.phase(rnd) == Phase.DONE and fed.getRound(rnd).globalModel == b"\x02" * 32
    with ape.reverts(fed.WrongPhase, current=Phase.DONE, expected=Phase.AGGREGATE):
        fed.postGlobalModel(rnd, b"\x03" * 32, sender=c)
    with ape.reverts(fed.WrongPhase):
        fed.attestGlobalModel(rnd, 2, True, sender=a)
