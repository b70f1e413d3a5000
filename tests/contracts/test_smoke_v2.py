"""One whole round on the raw contract: commit, reveal, draw, hidden scores, settle, attest, withdraw."""

from eth_abi import encode
from eth_utils import keccak

ETHER = 10**18


def params(**kw):
    p = dict(
        modelSpec=b"\xaa" * 32,
        initialModel=b"\xbb" * 32,
        numRounds=3,
        minStake=ETHER,
        commitPeriod=100,
        revealPeriod=100,
        votePeriod=100,
        attestPeriod=100,
        committeeSize=3,
        cohortSize=100,
        rewardPerRound=ETHER // 10,
        slashFractionBps=1000,
        maxSamples=10_000,
        maxShareBps=5000,
        rejoinCooldown=0,
    )
    p.update(kw)
    return tuple(p.values())


def commitment(cid, salt, samples, sender, round_):
    return keccak(encode(["bytes32", "bytes32", "uint32", "address", "uint256"], [cid, salt, samples, sender, round_]))


def vote_commitment(scores, salt, sender, round_):
    return keccak(encode(["bytes", "bytes32", "address", "uint256"], [scores, salt, sender, round_]))


def test_one_round(project, accounts, chain):
    sponsor = accounts[0]
    fed = sponsor.deploy(project.QFLFederation, params(), value=ETHER)
    clients = [accounts[i] for i in range(1, 6)]
    for c in clients:
        fed.register(sender=c, value=2 * ETHER)
    fed.startRound(sender=sponsor)
    cids = [bytes([i + 1]) * 32 for i in range(5)]
    salt = b"\x07" * 32
    gas = []
    for c, cid in zip(clients, cids):
        gas.append(fed.commitUpdate(1, commitment(cid, salt, 100, c.address, 1), sender=c).gas_used)
    assert fed.phase(1) == 2
    for i, (c, cid) in enumerate(zip(clients, cids)):
        gas[i] = (gas[i], fed.revealUpdate(1, cid, salt, 100, sender=c).gas_used)
    print("commit+reveal", gas)
    assert fed.phase(1) == 3
    print("draw", fed.drawCommittee(1, sender=sponsor).gas_used)
    v = fed.getRound(1)
    assert v.phase == 4, v
    committee = list(v.committee)
    assert sum(v.seats) == 3
    by_addr = {c.address: c for c in clients}
    # client 4 (index 4) is bad: everybody scores it 0
    scores = bytes([255, 255, 255, 255, 0])
    for m in committee:
        fed.commitVote(1, vote_commitment(scores, salt, m, 1), sender=by_addr[m])
    assert fed.phase(1) == 5
    for m in committee:
        fed.revealVote(1, scores, salt, sender=by_addr[m])
    assert fed.phase(1) == 6
    receipt = fed.settle(1, [c.address for c in clients], sender=sponsor)
    outcomes = {log.client: log.outcome for log in receipt.decode_logs() if log.event_name == "TrainerSettled"}
    print(outcomes, receipt.gas_used)
    assert outcomes[clients[4].address] == 1
    assert all(outcomes[c.address] == 0 for c in clients[:4])
    for m in committee:
        fed.settleValidator(1, m, sender=sponsor)
    fed.postGlobalModel(1, b"\xcc" * 32, sender=by_addr[committee[0]])
    for m in committee:
        if fed.phase(1) == 6:
            fed.attestGlobalModel(1, 1, True, sender=by_addr[m])
    assert fed.phase(1) == 7
    assert fed.globalModelOf(1) == b"\xcc" * 32
    fed.releaseReserve(1, sender=sponsor)
    acc = fed.totalStaked() + fed.totalWithdrawable() + fed.pool() + fed.reserved() + fed.burned()
    assert acc == fed.balance
    assert fed.burned() == 2 * ETHER // 10
    for c in clients[:4]:
        fed.withdraw(sender=c)
    fed.startRound(sender=sponsor)
    gas2 = []
    for i, c in enumerate(clients[:4]):
        cid = bytes([i + 50]) * 32
        g1 = fed.commitUpdate(2, commitment(cid, salt, 100, c.address, 2), sender=c).gas_used
        gas2.append(g1)
    print("round2 commit", gas2)
