"""The RPC node restarted mid-round under two `qflchain node` processes: they wait it out and finish.

anvil keeps its chain in a state file (`Anvil(state_path=...)`: loaded at start, dumped every second and on
SIGTERM). It is stopped in the middle of round 1, left down for a few seconds (every node must stay up,
saying so in one line), and started again on the same port and state. Every round must complete with
nothing slashed, money conserved, and no traceback in any node's log.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from small_configs import LONG_PERIODS, small_config

from qfl.chain.toolchain import PROJECT_ROOT, configure_environment
from qfl.orchestration.multiproc import Anvil, network_choice, qflchain, spawn_node, wait_all

N = 2
CONFIG = small_config("rpc-restart", N, rounds=2, protocol=LONG_PERIODS)
DOWN_SECONDS = 4.0


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.fault(area="chain", fault="RPC node restarted mid-round", outcome="recovered", tries=1)
def test_nodes_survive_the_rpc_node_restarting_mid_round(tmp_path: Path):
    configure_environment()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    deployment = tmp_path / "deployment.json"
    store = str(tmp_path / "store")
    t0 = time.monotonic()
    anvil = Anvil(state_path=tmp_path / "anvil-state.json").start()
    procs: dict[int, subprocess.Popen] = {}
    try:
        subprocess.run(
            qflchain("deploy", "--config", str(config), "--network", anvil.url, "--store", store,
                     "--out", str(deployment)),
            check=True, cwd=PROJECT_ROOT, capture_output=True, timeout=120,
        )  # fmt: skip
        times = {"deployed": time.monotonic() - t0}
        logs = {i: tmp_path / f"node{i}.log" for i in range(N)}
        procs = {i: spawn_node(config, anvil.url, deployment, i, store, tmp_path, logs[i]) for i in range(N)}
        # Mid-round: the committee is drawn and scoring (the updates are committed and revealed).
        _wait_for(
            lambda: any(
                "round 1: draw committee" in log.read_text() for log in logs.values() if log.exists()
            ),
            150,
            "round 1's committee draw",
        )
        times["anvil stopped"] = time.monotonic() - t0
        anvil.stop()  # SIGTERM: anvil dumps its chain to the state file on the way out
        time.sleep(DOWN_SECONDS)
        running = {i: p.poll() for i, p in procs.items()}
        assert all(code is None for code in running.values()), (
            f"nodes exited while the RPC node was down: {running}",
            {i: logs[i].read_text()[-1500:] for i in range(N)},
        )
        anvil.start()
        times["anvil restarted"] = time.monotonic() - t0
        codes = wait_all(procs, timeout=240)
        times["nodes done"] = time.monotonic() - t0
        texts = {i: logs[i].read_text() for i in range(N)}
        assert codes == dict.fromkeys(range(N), 0), {i: texts[i][-2000:] for i in range(N)}
        noticed = 0
        for i, text in texts.items():
            assert "Traceback" not in text, text[-3000:]
            down = [line for line in text.splitlines() if "RPC node unavailable" in line]
            # One line each (a node busy training through the whole outage may not notice it at all).
            assert len(down) <= 1, f"client {i} said {len(down)} lines about the outage:\n{text[-2000:]}"
            assert ("RPC node back after" in text) == bool(down), text[-2000:]
            noticed += len(down)
        assert noticed, "no node noticed the RPC node going away"
        print(", ".join(f"{k} at {v:.0f} s" for k, v in times.items()) + f"; client 0's log:\n{texts[0]}")

        import ape

        from qfl.chain import Federation, RoundPhase

        record = json.loads(deployment.read_text())
        with ape.networks.parse_network_choice(network_choice(anvil.url)):
            from qfl.chain.toolchain import project

            fed = Federation.at(project(), record["address"], record["block"])
            assert fed.current_round() == CONFIG["protocol"]["rounds"]
            events = fed.events_since(fed.from_block)
            clients = [ape.accounts.test_accounts[i + 1].address for i in range(N)]
            for r in range(1, CONFIG["protocol"]["rounds"] + 1):
                view = fed.round_view(r)
                assert view.phase == RoundPhase.DONE and view.fully_settled and view.reserve_left == 0
                assert any(view.global_model), f"round {r} has no global model"
                for client in clients:
                    commits = [e for e in events if e.name == "UpdateCommitted" and e["client"] == client]
                    reveals = [e for e in events if e.name == "UpdateRevealed" and e["client"] == client]
                    assert [e["round"] for e in commits].count(r) == 1, f"{client} round {r}: {commits}"
                    assert [e["round"] for e in reveals].count(r) == 1, f"{client} round {r}: {reveals}"
            slashed = [e for e in events if e.name in ("TrainerSettled", "ValidatorSettled") and e["slashed"]]
            assert not slashed, slashed
            money = fed.accounting()
            parts = ("total_staked", "total_withdrawable", "pool", "reserved", "burned")
            assert money["balance"] == sum(money[k] for k in parts) and money["burned"] == 0
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        anvil.stop()
