"""The hand-written stake tree (contracts/lib/StakeTree.sol) against a plain list: weighted search and growth."""

import bisect
import itertools

import ape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _expected(weights: dict[int, int], x: int) -> int:
    """The slot whose interval [prefix(slot - 1), prefix(slot)) holds x, by a linear scan."""
    slots = sorted(weights)
    bounds = list(itertools.accumulate(weights[s] for s in slots))
    return slots[bisect.bisect_right(bounds, x)]


ops = st.lists(st.tuples(st.integers(1, 300), st.integers(1, 10**18), st.booleans()), min_size=1, max_size=25)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=ops, probes=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=8))
def test_find_matches_a_linear_scan(project, accounts, ops, probes):
    tree = accounts[0].deploy(project.StakeTreeHarness)
    weights: dict[int, int] = {}
    for index, amount, remove in ops:
        if remove and weights.get(index, 0) > 0:
            take = min(amount, weights[index])
            tree.sub(index, take, sender=accounts[0])
            weights[index] -= take
        else:
            tree.add(index, amount, sender=accounts[0])
            weights[index] = weights.get(index, 0) + amount
    live = {s: w for s, w in weights.items() if w > 0}
    total = sum(live.values())
    assert tree.total() == total
    if not total:
        return
    points = {0, total - 1} | {int(p * total) for p in probes}
    for x in points:
        assert tree.find(x) == _expected(live, x), x


def test_growth_keeps_earlier_weights(project, accounts):
    """Slots far apart force the tree to double several times; earlier weights stay findable."""
    tree = accounts[0].deploy(project.StakeTreeHarness)
    tree.add(3, 5, sender=accounts[0])
    tree.add(1000, 7, sender=accounts[0])
    tree.add(2, 1, sender=accounts[0])
    assert [tree.find(x) for x in (0, 1, 5, 6, 12)] == [2, 3, 3, 1000, 1000]
    tree.reserveNext(sender=accounts[0])  # slot 1001, no weight yet: growth must not disturb the rest
    tree.add(1001, 4, sender=accounts[0])
    assert [tree.find(x) for x in (12, 13, 16)] == [1000, 1001, 1001]
    with ape.reverts():
        tree.add(0, 1, sender=accounts[0])
    with ape.reverts():
        tree.add(2**20 + 1, 1, sender=accounts[0])


def test_members_joining_during_a_round_get_their_own_slots(project, accounts):
    """Their stake waits for the round's draw, but each must still own a distinct slot (audit finding)."""
    ether = 10**18
    params = (
        b"\xaa" * 32,
        b"\xbb" * 32,
        3,
        ether,
        100,
        100,
        100,
        100,
        3,
        100,
        ether // 10,
        1000,
        10_000,
        5000,
        0,
    )
    fed = accounts[0].deploy(project.QFLFederation, params, value=ether)
    for a in accounts[1:3]:
        fed.register(sender=a, value=ether)
    fed.startRound(sender=accounts[0])
    fed.register(sender=accounts[3], value=ether)  # the draw of round 1 is ahead: weight waits
    fed.register(sender=accounts[4], value=3 * ether)
    owners = [fed.stakeSlot(i).member for i in range(1, 5)]
    assert owners == [a.address for a in accounts[1:5]]
    assert fed.getClient(accounts[4]).drawWeight == 0
    assert fed.stakeSlot(1).total == 2 * ether
