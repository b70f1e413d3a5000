"""Multi-process mode end to end: anvil as its own process, four client processes, three rounds, a crash.

Client 2 is killed (SIGKILL) right after its round-2 commit lands, client 1 right after saving its round-3
commitment but before sending it. Both are restarted; the federation must finish every round with nothing
lost: no double commit, no slash, every reveal made, money conserved.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from qfl.chain.toolchain import PROJECT_ROOT, configure_environment
from qfl.orchestration.multiproc import Anvil, network_choice, qflchain, spawn_node, wait_all

CONFIG = PROJECT_ROOT / "configs" / "multiprocess.yaml"
WEI = 10**18


@pytest.fixture(scope="module")
def anvil():
    with Anvil() as node:
        yield node


def test_four_processes_three_rounds_with_crashes(anvil, tmp_path: Path):
    configure_environment()
    deployment = tmp_path / "deployment.json"
    store = str(tmp_path / "store")
    subprocess.run(
        qflchain(
            "deploy",
            "--config",
            str(CONFIG),
            "--network",
            anvil.url,
            "--store",
            store,
            "--out",
            str(deployment),
        ),
        check=True,
        cwd=PROJECT_ROOT,
        capture_output=True,
        timeout=120,
    )
    logs = {i: tmp_path / f"node{i}.log" for i in range(4)}
    crash = {1: "saved:3", 2: "commit:2"}
    procs = {
        i: spawn_node(CONFIG, anvil.url, deployment, i, store, tmp_path, logs[i], crash_at=crash.get(i))
        for i in range(4)
    }
    # The crashing clients die by SIGKILL at their crash point; restart each as soon as it is gone.
    waiting = set(crash)
    deadline = time.monotonic() + 300
    while waiting and time.monotonic() < deadline:
        for i in sorted(waiting):
            code = procs[i].poll()
            if code is None:
                continue
            assert code == -9, (
                f"client {i} should have died at {crash[i]}; log:\n{logs[i].read_text()[-3000:]}"
            )
            procs[i] = spawn_node(CONFIG, anvil.url, deployment, i, store, tmp_path, logs[i])
            waiting.discard(i)
        time.sleep(0.2)
    assert not waiting, f"clients {waiting} never reached their crash points"
    codes = wait_all(procs, timeout=300)
    assert codes == {0: 0, 1: 0, 2: 0, 3: 0}, {i: logs[i].read_text()[-2000:] for i in range(4)}

    import ape

    from qfl.chain import Federation, RoundPhase, TrainerOutcome
    from qfl.chain.toolchain import project

    address = json.loads(deployment.read_text())["address"]
    with ape.networks.parse_network_choice(network_choice(anvil.url)):
        fed = Federation.at(project(), address, json.loads(deployment.read_text())["block"])
        assert fed.current_round() == 3
        for r in (1, 2, 3):
            view = fed.round_view(r)
            assert view.phase == RoundPhase.DONE
            assert any(fed.global_model(r)), f"round {r} has no global model"
        events = fed.events_since(0)
        clients = [ape.accounts.test_accounts[i + 1].address for i in range(4)]
        for client in clients:
            commits = [e for e in events if e.name == "UpdateCommitted" and e["client"] == client]
            reveals = [e for e in events if e.name == "UpdateRevealed" and e["client"] == client]
            assert sorted(e["round"] for e in commits) == [1, 2, 3], (
                f"{client} committed {len(commits)} times"
            )
            assert sorted(e["round"] for e in reveals) == [1, 2, 3], f"{client} did not reveal every round"
            view = fed.client_view(client)
            assert view.stake == 2 * WEI, f"{client} lost stake"
            assert view.reputation > 100
        slashes = [e for e in events if e.name == "TrainerSettled" and e.args.get("slashed", 0)]
        assert not slashes, slashes
        # Off the path to the next startRound: rewards are pulled after the last round only (every 10 rounds
        # otherwise), and a round's leftover reserve goes back during the next round, before its draw.
        block = {(e.name, e["round"]): e.block_number for e in events if "round" in e.args}
        withdrawals = [e.block_number for e in events if e.name == "Withdrawn"]
        assert withdrawals and min(withdrawals) > block[("RoundStarted", 3)], "withdrew before the last round"
        for r in (1, 2):  # (a round whose reserve was paid out in full releases nothing)
            released = block.get(("ReserveReleased", r), block[("RoundStarted", r + 1)])
            assert block[("RoundStarted", r + 1)] <= released <= block[("CommitteeSelected", r + 1)], r
        for r in (1, 2, 3):
            view = fed.round_view(r)
            assert view.fully_settled and view.reserve_left == 0, f"round {r} left unsettled: {view}"
            outcomes = [s.outcome for s in view.settlements.values()]
            # A restarted node can miss its vote window: its seats stay silent and an update may then lack a
            # quorum (unvalidated: no pay, no slash). Honest updates are never rejected, and each round
            # accepts some.
            assert TrainerOutcome.ACCEPTED in outcomes, f"round {r}: {outcomes}"
            assert set(outcomes) <= {
                TrainerOutcome.ACCEPTED,
                TrainerOutcome.UNVALIDATED,
                TrainerOutcome.NEUTRAL,
            }, f"round {r}: {outcomes}"
            assert len(view.scores) == len(view.committee), f"round {r}: a committee member never revealed"
        money = fed.accounting()
        parts = ("total_staked", "total_withdrawable", "pool", "reserved", "burned")
        assert money["balance"] == sum(money[k] for k in parts) and money["burned"] == 0
    # The restarted nodes said so in their logs: resumed from the chain, not from scratch.
    assert "commit (resumed)" in logs[1].read_text()
    assert "client 2 round 2: reveal" in logs[2].read_text()
