"""A node killed at any crash point of a round and restarted on its state folder loses nothing.

In-process chain (EthTester), four honest clients, one round, every crash point of the round armed at once
with QFL_CRASH_MODE=raise: the first node to reach a point "dies" there (SimulatedCrash), is dropped, and a
fresh Node is built on the same account and state_dir, as a restarted process would be; the point is then
disarmed. One round plays through all of them (a round per point would cost minutes); each point's test
then checks what the round left: the crashed node committed once, revealed, voted if on the committee, was
not slashed and was paid, every round settled, and the contract's money conserved.

Points not reached by a round of honest nodes are not armed here: "release" (a reserve left after
settlement), "activate" (stake waiting outside the draw), "reveal-refused" (a duplicate update).
"""

from __future__ import annotations

import os
import time

import pytest
from small_configs import small_config

from qfl.chain.toolchain import configure_environment
from qfl.orchestration.config import ExperimentConfig

WEI = 10**18
POINTS = {  # crash point -> what the node had just done
    "start": "opening the round",
    "saved": "saving its commitment, before sending it",
    "commit": "committing its update",
    "reveal": "revealing its update",
    "draw": "calling the committee draw",
    "vote-saved": "saving its scores, before committing them",
    "vote": "committing its vote",
    "vote-reveal": "revealing its vote",
    "settle": "settling its update",
    "propose": "proposing the global model",
    "attest": "attesting a proposal",
    "settle-seat": "settling its committee seat",
    "withdraw": "withdrawing its reward",
}
CFG = small_config("crash-points", 4, protocol={"stake_eth": 2.0, "fund_eth": 5.0})


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """Play one round with every point armed; return what crashed where, and the chain afterwards."""
    import ape

    from qfl.orchestration.federation_setup import load_federated_data, make_node
    from qfl.orchestration.node import CRASH_AFTER, SimulatedCrash
    from qfl.orchestration.sim import build_in_process, phase_deadline
    from qfl.storage import EmbeddedStore

    assert set(POINTS) <= {"saved", "vote-saved", *CRASH_AFTER.values()}
    configure_environment()
    started = time.perf_counter()
    cfg = ExperimentConfig.model_validate(CFG)
    root = tmp_path_factory.mktemp("crash-points")
    armed = [f"{p}:1" for p in POINTS]
    crashed: dict[str, int] = {}  # point -> index of the client that died there
    resumed_with: dict[str, str | None] = {}  # point -> the restarted node's first action
    first_step: dict[int, str] = {}  # node slot -> the point it restarted from, until its first step
    with ape.networks.parse_network_choice("ethereum:local:test"), pytest.MonkeyPatch.context() as env:
        env.setenv("QFL_CRASH_MODE", "raise")
        env.setenv("QFL_CRASH_AT", ",".join(armed))
        sim = build_in_process(cfg, EmbeddedStore(root / "store"), root / "state")
        fed = sim.federation
        _, parts = load_federated_data(cfg)
        for _ in range(300):
            if all(node.finished() for node in sim.nodes):
                break
            acted = False
            for i, node in enumerate(sim.nodes):
                try:
                    action = node.step()
                except SimulatedCrash as crash:
                    point = str(crash).split(":")[0]
                    crashed[point] = node.identity.index
                    armed.remove(str(crash))
                    os.environ["QFL_CRASH_AT"] = ",".join(armed)
                    # The dead process's Node is gone; a new one knows only its state_dir and the chain.
                    sim.nodes[i] = make_node(
                        cfg, fed, sim.store, sim.spec, node.identity.account, node.identity.index, parts,
                        node.identity.state_dir, min_members=1,
                    )  # fmt: skip
                    first_step[i] = point
                    acted = True
                    continue
                if i in first_step:
                    resumed_with[first_step.pop(i)] = action
                acted = bool(action) or acted
            if not acted:
                view = fed.round_view(fed.current_round())
                deadline = phase_deadline(view, cfg.protocol.attest_seconds)
                assert deadline is not None, f"round stuck: {view}"
                sim.warp(deadline + 1)
        else:
            raise AssertionError(f"the round never finished: {fed.round_view(fed.current_round())}")
        view = fed.round_view(1)
        events = fed.events_since(fed.from_block)
        clients = {n.identity.index: n.address for n in sim.nodes}
        standing = {i: fed.client_view(a) for i, a in clients.items()}
        money = fed.accounting()
    print(f"one round through {len(crashed)} crashes in {time.perf_counter() - started:.1f}s: {crashed}")
    return {
        "crashed": crashed,
        "resumed_with": resumed_with,
        "view": view,
        "events": events,
        "clients": clients,
        "standing": standing,
        "money": money,
        "stake": int(cfg.protocol.stake_eth * WEI),
    }


@pytest.mark.parametrize(
    "point",
    [
        pytest.param(
            p,
            marks=pytest.mark.fault(
                area="node", fault=f"node killed after {what} ({p})", outcome="nothing lost", tries=1
            ),
        )
        for p, what in POINTS.items()
    ],
)
def test_node_killed_at_a_point_of_the_round_loses_nothing(played, point):
    from qfl.chain import RoundPhase

    assert point in played["crashed"], f"no node reached crash point {point}:1"
    index = played["crashed"][point]
    me = played["clients"][index]
    view, events = played["view"], played["events"]
    assert view.phase == RoundPhase.DONE and view.fully_settled and view.reserve_left == 0
    assert any(view.global_model), "the round has no global model"
    mine = [e for e in events if e.args.get("client", e.args.get("validator", e.args.get("account"))) == me]
    assert [e["round"] for e in mine if e.name == "UpdateCommitted"] == [1], (
        "committed more or less than once"
    )
    assert [e["round"] for e in mine if e.name == "UpdateRevealed"] == [1], "its update was never revealed"
    if me in view.committee:
        assert me in view.scores, "a committee member that crashed never revealed its scores"
        assert view.validator_settlements[me].slashed == 0
    assert view.settlements[me].outcome.name == "ACCEPTED" and view.settlements[me].slashed == 0
    paid = sum(e["amount"] for e in mine if e.name == "Withdrawn")
    assert paid > 0 and played["standing"][index].withdrawable == 0, "the crashed node was not paid"
    assert played["standing"][index].stake == played["stake"], "the crashed node lost stake"
    money = played["money"]
    parts = ("total_staked", "total_withdrawable", "pool", "reserved", "burned")
    assert money["balance"] == sum(money[k] for k in parts) and money["burned"] == 0
    if point == "saved":  # the commitment was on disk, not on chain: the restart sends that one, no new one
        assert played["resumed_with"][point] == "commit (resumed)"
    if point == "vote-saved":
        assert played["resumed_with"][point] == "commit vote (resumed)"
