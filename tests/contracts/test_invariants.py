"""Money is conserved under random sequences of protocol actions, wrong ones included, and nobody withdraws more
than it is owed: after every action the contract's balance is exactly what was paid in minus what was paid
out, and equals totalStaked + totalWithdrawable + pool + reserved + burned (+ ETH forced in, until swept)."""

import ape
from conftest import ETHER, MIN_STAKE, Driver, Phase, accounting, cid_of, commitment, deploy, events, salt_of
from conftest import vote_commitment as vote_hash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ACTIONS = (
    *(["progress"] * 16),
    "settle",
    "settle",
    "settle_validator",
    "release",
    "register",
    "leave",
    "withdraw",
    "withdraw_stake",
    "add_stake",
    "activate",
    "fund",
    "warp",
    "force",
    "sweep_excess",
    "sweep_pool",
    "emergency",
)

WRONG = 7  # progress with k == WRONG takes a wrong step (k == 0, hypothesis' simplest, a right one)

steps = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, 4), st.integers(0, 7)), min_size=20, max_size=30
)


class Walk:
    """One random walk: the federation, its actors and the books kept outside the contract."""

    def __init__(self, project, accounts, chain):
        self.sponsor = accounts[0]
        self.actors = [accounts[i] for i in range(1, 6)]
        self.fed = deploy(project, self.sponsor, numRounds=6, rejoinCooldown=2_000)
        self.ledger = self.sponsor.deploy(project.Ledger)
        self.project, self.chain = project, chain
        self.paid_in = ETHER  # the constructor's funding
        self.paid_out = 0
        self.excess = 0  # forced in, not yet swept
        self.votes = {}  # (round, address) -> scores committed
        self.samples = {}  # "round:address" -> samples committed
        self.round, self.phase = 0, Phase.DONE
        self.acted = {}  # round -> phase -> addresses whose step succeeded (and settlement marks)
        self.tried = {}  # round -> phase -> addresses that tried their step

    def committee(self, rnd):
        return list(self.fed.getRound(rnd).committee)

    def rotate(self, who, pool):
        """The first of `pool` (addresses, in actor order) starting at actor `who`."""
        ring = self.actors[who:] + self.actors[:who]
        return next((a for a in ring if a.address in pool), None)

    def progress(self, who, k):
        """The next protocol step of the current round, by the next actor (from `who`) that has not tried it;
        with k == WRONG a wrong one (an empty commitment, a reveal that does not match, an unknown proposal).
        Nobody left: warp to the deadline.
        A done round is first settled (trainers, validators, reserve), as nodes do, then the next one starts."""
        fed = self.fed
        rnd, phase = self.round, Phase(self.phase)  # as read by the last check
        acted = self.acted.setdefault(rnd, {})
        tried = self.tried.setdefault(rnd, {}).setdefault(phase, set())
        a = self.actors[who]
        if phase == Phase.DONE:
            trainers = acted.get(Phase.COMMIT, set()) - acted.get("settled", set())
            validators = set(self.committee(rnd)) - acted.get("validated", set())
            if k != WRONG and rnd and trainers:
                fed.settle(rnd, sorted(trainers), sender=a)
                acted.setdefault("settled", set()).update(trainers)
            elif k != WRONG and rnd and validators:
                v = sorted(validators)[0]
                fed.settleValidator(rnd, v, sender=a)
                acted.setdefault("validated", set()).add(v)
            elif k != WRONG and rnd and not acted.get("released"):
                acted["released"] = True
                fed.releaseReserve(rnd, sender=a)
            else:
                fed.startRound(sender=a)
            return
        if phase == Phase.SELECT:
            for _ in range(4):  # arm, the block in between, draw (the draw runs in one block only)
                if events(fed.drawCommittee(rnd, sender=a), "CommitteeSelected"):
                    self.chain.mine()  # see Driver.draw: keep snapshots off the draw block
                    break
            return
        pool = {
            Phase.COMMIT: {x.address for x in self.actors},
            Phase.REVEAL: acted.get(Phase.COMMIT, set()),
            Phase.VOTE_COMMIT: set(self.committee(rnd)),
            Phase.VOTE_REVEAL: acted.get(Phase.VOTE_COMMIT, set()),
            Phase.AGGREGATE: acted.get(Phase.VOTE_REVEAL, set()),
        }[phase]
        a = self.rotate(who, pool - tried)
        if a is None:
            v = fed.getRound(rnd)
            deadline = {
                Phase.COMMIT: v.commitDeadline,
                Phase.REVEAL: v.revealDeadline,
                Phase.VOTE_COMMIT: v.voteCommitDeadline,
                Phase.VOTE_REVEAL: v.voteRevealDeadline,
                Phase.AGGREGATE: v.attestDeadline,
            }[phase]
            self.chain.mine(timestamp=max(self.chain.pending_timestamp, deadline + 1))
            return
        wrong = k == WRONG
        if not wrong:
            tried.add(a.address)  # one real try each per phase: a member that cannot act does not block it
        tag = f"{rnd}:{a.address}"
        if phase == Phase.COMMIT:
            c = bytes(32) if wrong else commitment(cid_of(tag), salt_of(tag), 1 + k, a.address, rnd)
            fed.commitUpdate(rnd, c, sender=a)
            self.samples[tag] = 1 + k
        elif phase == Phase.REVEAL:
            salt = salt_of("wrong") if wrong else salt_of(tag)
            fed.revealUpdate(rnd, cid_of(tag), salt, self.samples.get(tag, 1), sender=a)
        elif phase == Phase.VOTE_COMMIT:
            n = fed.getRound(rnd).revealCount
            scores = bytes((37 * (i + k) + 50 * who) % 256 for i in range(n))
            self.votes[(rnd, a.address)] = scores
            c = bytes(32) if wrong else vote_hash(scores, salt_of("v"), a.address, rnd)
            fed.commitVote(rnd, c, sender=a)
        elif phase == Phase.VOTE_REVEAL:
            scores = self.votes.get((rnd, a.address), b"\x00")
            fed.revealVote(rnd, scores, salt_of("wrong" if wrong else "v"), sender=a)
        else:
            count = fed.getRound(rnd).proposalCount
            if count == 0 or k == 1:
                fed.postGlobalModel(rnd, bytes([k + 1]) * 32, sender=a)
                tried.discard(a.address)  # a proposer still attests
            else:
                fed.attestGlobalModel(rnd, count + 1 if wrong else count, k % 4 != 3, sender=a)
        acted.setdefault(phase, set()).add(a.address)

    def act(self, action, who, k):
        """Try one action; reverts are part of the game. Returns the wei that left the contract."""
        fed, a = self.fed, self.actors[who]
        rnd = self.round
        if action == "progress":
            self.progress(who, k)
        elif action == "settle":
            target = max(rnd - (k % 2), 1)
            trainers = sorted(self.acted.get(target, {}).get(Phase.COMMIT, set()))
            fed.settle(target, trainers[: 1 + who] if k % 4 else [a.address], sender=a)
        elif action == "settle_validator":
            target = max(rnd - (k % 2), 1)
            committee = self.committee(target)
            if committee:
                fed.settleValidator(target, committee[who % len(committee)], sender=a)
        elif action == "release":
            fed.releaseReserve(max(rnd - (k % 3), 0), sender=a)
        elif action == "register":
            value = MIN_STAKE * (1 + k % 3)
            fed.register(sender=a, value=value)
            self.paid_in += value
        elif action == "leave":
            fed.leave(sender=a)
        elif action == "withdraw":
            owed = fed.getClient(a.address).withdrawable
            receipt = fed.withdraw(sender=a)
            assert events(receipt, "Withdrawn")[0].amount == owed > 0
            assert fed.getClient(a.address).withdrawable == 0
            self.paid_out += owed
        elif action == "withdraw_stake":
            stake = fed.getClient(a.address).stake
            amount = MIN_STAKE * (k % 3) // 2
            fed.withdrawStake(amount, sender=a)
            assert 0 < amount <= stake - MIN_STAKE and fed.getClient(a.address).stake == stake - amount
            self.paid_out += amount
        elif action == "add_stake":
            value = MIN_STAKE * (k % 2) // 3
            fed.addStake(sender=a, value=value)
            self.paid_in += value
        elif action == "activate":
            fed.activateStake(a.address, sender=self.sponsor)
        elif action == "fund":
            fed.fund(sender=self.sponsor, value=10**16 * k)
            self.paid_in += 10**16 * k
        elif action == "warp":
            self.chain.mine(timestamp=self.chain.pending_timestamp + 400 * (k + 1))  # a phase is 3,600 s
        elif action == "force":
            self.project.ForceSend.deploy(fed.address, sender=a, value=10**15 * (k + 1))
            self.excess += 10**15 * (k + 1)
            self.paid_in += 10**15 * (k + 1)
        elif action == "sweep_excess":
            receipt = fed.sweepExcess(sender=a)
            assert events(receipt, "ExcessSwept")[0].amount == self.excess
            self.excess = 0
        elif action == "sweep_pool":
            pool = fed.pool()
            fed.sweepPool(sender=a if k == WRONG else self.sponsor)
            assert fed.pool() == 0 and pool > 0
        elif action == "emergency":
            fed.emergencyExit(sender=a)
            raise AssertionError("no round is ever stuck 200 days")

    def check(self, context):
        """The money equations; returns the balance."""
        books = self.ledger.read(self.fed.address)
        balance, staked, withdrawable, pool, reserved, burned, self.round, self.phase = books
        assert balance == staked + withdrawable + pool + reserved + burned + self.excess, (context, books)
        assert balance == self.paid_in - self.paid_out, (context, books, self.paid_in, self.paid_out)
        return balance

    def check_members(self):
        fed = self.fed
        views = [fed.getClient(x.address) for x in self.actors]
        assert sum(v.stake for v in views) == fed.totalStaked()
        owed = sum(v.withdrawable for v in views) + fed.getClient(self.sponsor.address).withdrawable
        assert owed == fed.totalWithdrawable()
        assert sum(v.drawWeight for v in views) == fed.stakeSlot(1).total  # the tree holds the draw weights
        assert all(v.drawWeight <= v.stake for v in views)


@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=steps)
def test_money_is_conserved_under_random_actions(project, accounts, chain, sequence):
    # Not chain.isolate(): that context manager swallows exceptions, assertion errors included.
    chain.mine()  # a fresh block, so this snapshot's id is not ape's own (EthTester ids are block hashes)
    snapshot = chain.snapshot()
    try:
        walk = Walk(project, accounts, chain)
        # Four members, a round started and its commits in, then the random part.
        prefix = [("register", i, i) for i in range(4)] + [("progress", i, 1 + i) for i in (0, 0, 1, 2, 3)]
        balance = walk.check("deployed")
        for action, who, k in prefix + sequence:
            try:
                walk.act(action, who, k)
            except ape.exceptions.ContractLogicError:
                assert walk.fed.balance == balance, action  # a revert moves no money
            balance = walk.check((action, who, k))
        walk.check_members()
    finally:
        chain.restore(snapshot)


def test_full_rounds_conserve_money_at_every_step(project, accounts, chain):
    """A whole federation (one round) through every money path, checked after every transaction: rewards,
    slashes of a rejected update, a silent committer and a silent validator, validator pay, the reserve, the
    sponsor's sweep and everyone's withdrawal."""
    sponsor = accounts[0]
    fed = deploy(project, sponsor, numRounds=1)
    ledger = sponsor.deploy(project.Ledger)
    members = [accounts[i] for i in range(1, 7)]
    paid = {"in": ETHER, "out": 0}

    class Checked:
        """The federation, with the money equations checked after every transaction."""

        def __getattr__(self, name):
            attr = getattr(fed, name)
            if name not in TXS:
                return attr

            def call(*args, **kwargs):
                receipt = attr(*args, **kwargs)
                paid["in"] += kwargs.get("value", 0)
                paid["out"] += sum(e.amount for e in events(receipt, "Withdrawn"))
                if name == "withdrawStake":
                    paid["out"] += args[0]
                acc = accounting(fed, ledger)
                books = acc["staked"] + acc["withdrawable"] + acc["pool"] + acc["reserved"] + acc["burned"]
                assert acc["balance"] == books == paid["in"] - paid["out"], (name, acc)
                return receipt

            return call

    TXS = {
        "register",
        "startRound",
        "commitUpdate",
        "revealUpdate",
        "drawCommittee",
        "commitVote",
        "revealVote",
        "settle",
        "settleValidator",
        "postGlobalModel",
        "attestGlobalModel",
        "releaseReserve",
        "sweepPool",
        "withdraw",
        "withdrawStake",
        "leave",
        "addStake",
    }
    checked = Checked()
    checked.address = fed.address
    for m in members:
        checked.register(sender=m, value=2 * MIN_STAKE)
    play = Driver(checked, members, sponsor, chain)
    rnd = play.start()
    play.commit(rnd)
    play.reveal(rnd, members[:5])  # the sixth stays silent: slashed
    play.warp_past(play.view(rnd).revealDeadline)
    play.draw(rnd)
    committee = [m for m, _ in play.committee(rnd)]
    voters = committee[:-1] if len(committee) > 2 else committee  # the last member of a big one is silent
    rejected = members[1]
    play.vote(rnd, play.scores_by_trainer(rnd, lambda v, t, r=rejected: 0 if t == r else 220), who=voters)
    if play.phase(rnd) == Phase.VOTE_REVEAL:
        play.warp_past(play.view(rnd).voteRevealDeadline)
    play.settle(rnd)
    play.settle_validators(rnd)
    if play.phase(rnd) == Phase.AGGREGATE:
        pid = events(checked.postGlobalModel(rnd, bytes([rnd]) * 32, sender=voters[0]), "GlobalModelPosted")
        for v in voters:
            if play.phase(rnd) == Phase.AGGREGATE:
                checked.attestGlobalModel(rnd, pid[0].proposalId, True, sender=v)
    play.warp_past(play.view(rnd).attestDeadline)
    checked.releaseReserve(rnd, sender=sponsor)
    for m in members:
        if fed.getClient(m.address).stake < MIN_STAKE:
            checked.addStake(sender=m, value=MIN_STAKE)
    checked.sweepPool(sender=sponsor)
    assert fed.burned() > 0 and fed.pool() == 0 and fed.reserved() == 0
    for who in [*members, sponsor]:
        if fed.getClient(who.address).withdrawable:
            checked.withdraw(sender=who)
    checked.leave(sender=members[0])
    checked.withdraw(sender=members[0])
    assert fed.balance == fed.totalStaked() + fed.burned()  # what is left: stakes, and the burned slashes
