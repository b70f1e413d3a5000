"""Multi-process mode: anvil as the chain, each client its own OS process with its own account.

The processes share nothing but the chain (JSON-RPC over loopback) and the content store (a store
directory, or a Kubo RPC address): no hidden shared state. This module only launches processes and waits;
every protocol step is taken by `qflchain node`, the same command a client on another machine runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from qfl.toolchain import PROJECT_ROOT, configure_environment

# ape treats an ad-hoc local RPC URL as chain 1337 and signs for it, so our anvil uses that id.
LOCAL_CHAIN_ID = 1337


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Anvil:
    """An anvil JSON-RPC node on a loopback port, started and stopped by us."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Anvil:
        configure_environment()
        binary = shutil.which("anvil")
        if binary is None:
            raise RuntimeError(
                "anvil not found: run `npm ci` in the project root (it installs @foundry-rs/anvil)"
            )
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--silent",
                "--accounts",
                "20",
                "--chain-id",
                str(LOCAL_CHAIN_ID),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"anvil exited with code {self.process.returncode} on port {self.port}")
            try:
                request = urllib.request.Request(
                    self.url,
                    data=json.dumps(
                        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
                    ).encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"anvil did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def qflchain(*args: str) -> list[str]:
    """The argv of a `qflchain` subcommand run with this interpreter."""
    return [sys.executable, "-m", "qfl.cli", *args]


def network_choice(url: str) -> str:
    """An RPC URL as ape's ad-hoc network choice."""
    return f"ethereum:local:{url}"


def spawn_node(
    config: Path,
    network: str,
    deployment: Path,
    index: int,
    store: str,
    state_dir: Path,
    log_path: Path,
    crash_at: str | None = None,
) -> subprocess.Popen:
    """Start `qflchain node` for client `index` (account test:index+1) as its own process."""
    env = dict(os.environ)
    if crash_at:
        env["QFL_CRASH_AT"] = crash_at
    else:
        env.pop("QFL_CRASH_AT", None)
    argv = qflchain(
        "node",
        "--config",
        str(config),
        "--network",
        network,
        "--deployment",
        str(deployment),
        "--client-index",
        str(index),
        "--account",
        f"test:{index + 1}",
        "--store",
        store,
        "--state-dir",
        str(state_dir / f"client-{index}"),
    )
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)


def wait_all(processes: dict[int, subprocess.Popen], timeout: float) -> dict[int, int]:
    """Wait for every process; kill the rest and raise if the timeout passes."""
    deadline = time.monotonic() + timeout
    codes = {}
    for index, proc in processes.items():
        try:
            codes[index] = proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p in processes.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
            raise TimeoutError(
                f"node processes still running after {timeout}s (client {index} first)"
            ) from None
    return codes
