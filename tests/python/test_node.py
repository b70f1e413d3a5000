"""The node's state machine on the in-process chain: crash safety of hidden scores, refused reveals.

One federation of five clients and one round: client 4 free-rides (resubmits the global model, a CID the
chain refuses), and a committee member "crashes" right after saving its scores, before committing them.
"""

from __future__ import annotations

import json

import pytest

from qfl.chain.toolchain import configure_environment
from qfl.orchestration.config import ExperimentConfig

WEI = 10**18


class Crash(Exception):
    """Stands in for SIGKILL at a crash point (the process would die there)."""


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    import ape

    import qfl.orchestration.node
    from qfl.chain import RoundPhase
    from qfl.orchestration.federation_setup import load_federated_data, make_node
    from qfl.orchestration.sim import build_in_process, phase_deadline, round_complete
    from qfl.storage import EmbeddedStore

    configure_environment()
    cfg = ExperimentConfig.model_validate(
        {
            "name": "node-test",
            "n_clients": 5,
            "model": {"n_qubits": 4, "n_layers": 1},
            "protocol": {"rounds": 1, "committee_size": 3, "stake_eth": 2.0, "fund_eth": 5.0},
            "attacks": [{"kind": "free_rider", "clients": [4]}],
        }
    )
    root = tmp_path_factory.mktemp("node")
    with ape.networks.parse_network_choice("ethereum:local:test"):
        sim = build_in_process(cfg, EmbeddedStore(root / "store"), root / "state")
        fed = sim.federation

        def play(until) -> None:
            """Every node steps until `until()`; when none can act, the clock jumps past the deadline."""
            for _ in range(200):
                view = fed.round_view(fed.current_round())
                if until():
                    return
                if view.round and view.phase == RoundPhase.COMMIT:
                    sim._batch_train(1, view)
                if view.round and view.phase.votes_closed and view.unsettled_committers():
                    sim._batch_settle(view)
                if not any([node.step() for node in sim.nodes]):
                    sim.warp(
                        phase_deadline(fed.round_view(fed.current_round()), cfg.protocol.attest_seconds) + 1
                    )
            raise AssertionError(f"round stuck in {fed.round_view(fed.current_round())}")

        play(lambda: fed.current_round() == 1 and fed.round_view(1).phase >= RoundPhase.VOTE_COMMIT)
        view = fed.round_view(1)
        victim = next(n for n in sim.nodes if n.address == view.committee[0])

        def crash_point(name, round_):
            if name == "vote-saved":
                raise Crash(name)

        original = qfl.orchestration.node.crash_point
        qfl.orchestration.node.crash_point = crash_point
        try:
            with pytest.raises(Crash):
                victim.step()
        finally:
            qfl.orchestration.node.crash_point = original
        saved = json.loads((victim.identity.state_dir / "vote-1.json").read_text())
        assert fed.round_view(1).vote_commits == 0, "the crash came before the commitment left"
        # Restart: a fresh node on the same account and state folder.
        _, parts = load_federated_data(cfg)
        restarted = make_node(
            cfg, fed, sim.store, sim.spec, victim.identity.account, victim.identity.index, parts,
            victim.identity.state_dir, min_members=1,
        )  # fmt: skip
        sim.nodes[sim.nodes.index(victim)] = restarted
        first_action = restarted.step()
        play(lambda: round_complete(fed.round_view(1)))
        view = fed.round_view(1)
        events = fed.events_since(fed.from_block)
        members = {n.identity.index: fed.client_view(n.address) for n in sim.nodes}
        index_of = {n.address: n.identity.index for n in sim.nodes}
    return saved, first_action, restarted, view, events, members, index_of


def test_scores_saved_before_a_crash_are_committed_and_revealed_after_restart(played):
    saved, first_action, restarted, view, events, members, _ = played
    assert first_action == "commit vote (resumed)"
    revealed = next(e for e in events if e.name == "VoteRevealed" and e["validator"] == restarted.address)
    assert revealed["scores"].hex() == saved["scores"]
    assert view.validator_settlements[restarted.address].slashed == 0
    assert members[restarted.identity.index].stake == 2 * WEI


def test_a_refused_reveal_settles_as_a_silent_commit_and_the_round_goes_on(played):
    _, _, _, view, events, members, index_of = played
    free_rider = next(a for a, i in index_of.items() if i == 4)
    assert view.committed(free_rider) and view.reveal_of(free_rider) is None
    assert view.settlements[free_rider].outcome.name == "SILENT_COMMITTER"
    assert members[4].stake < 2 * WEI and members[4].reputation < 100
    assert view.reveal_count == 4 and any(view.accepted) and any(view.global_model)
    assert sum(1 for e in events if e.name == "UpdateCommitted" and e["client"] == free_rider) == 1
