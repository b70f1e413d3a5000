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
from urllib.parse import urlsplit

from qfl.chain.toolchain import PROJECT_ROOT, configure_environment

# ape treats an ad-hoc local RPC URL as chain 1337 and signs for it, so our anvil uses that id.
LOCAL_CHAIN_ID = 1337


def rpc_chain_id(url: str, timeout: float) -> tuple[int | None, str]:
    """(chain id, "") from the JSON-RPC node at `url`, or (None, why not). A websocket URL only has its port
    checked (chain id 0: unknown)."""
    parts = urlsplit(url)
    if parts.scheme in ("ws", "wss"):
        try:
            port = parts.port or (443 if parts.scheme == "wss" else 80)
            with socket.create_connection((parts.hostname or "", port), timeout=timeout):
                return 0, ""
        except (OSError, ValueError) as exc:
            return None, str(getattr(exc, "strerror", None) or exc)
    request = urllib.request.Request(
        url,
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(json.loads(response.read())["result"], 16), ""
    except OSError as exc:
        reason = getattr(exc, "reason", None) or exc
        return None, str(getattr(reason, "strerror", None) or reason)
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"the answer to eth_chainId is not JSON-RPC ({type(exc).__name__})"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Anvil:
    """An anvil JSON-RPC node on a loopback port, started and stopped by us.

    With `state_path` the chain outlives the process: anvil loads the file at start (if it exists), dumps it
    every `state_interval` seconds and on a clean exit (SIGTERM), so `restart()` (or a new Anvil on the same
    port and file) carries on from the same blocks, logs and balances."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    state_path: Path | None = None
    state_interval: int | None = 1  # seconds between dumps of `state_path` (a SIGKILL loses at most this)
    optimism: bool = False  # `anvil --optimism`: the OP-stack stand-in (docs/l2.md)
    chain_id: int = LOCAL_CHAIN_ID
    block_time: float | None = None  # mine every this many seconds (a live chain's cadence); None: per tx

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
                str(self.chain_id),
                *(["--optimism"] if self.optimism else []),
                *self._state_args(),
                *(["--block-time", f"{self.block_time:g}"] if self.block_time else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"anvil exited with code {self.process.returncode} on port {self.port}")
            if rpc_chain_id(self.url, timeout=1)[0] is not None:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"anvil did not answer on {self.url} within {timeout}s")

    def _state_args(self) -> list[str]:
        if self.state_path is None:
            return []
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        interval = ["--state-interval", str(self.state_interval)] if self.state_interval else []
        return ["--state", str(self.state_path), *interval]

    def stop(self) -> None:
        """SIGTERM (anvil dumps `state_path` on the way out), SIGKILL if it has not exited within 10 s."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self, pause: float = 0.0, timeout: float = 30.0) -> Anvil:
        """Stop anvil, wait `pause` seconds, start it again on the same port (with `state_path`, on the same
        chain: without one, the restarted node begins a fresh chain)."""
        self.stop()
        time.sleep(pause)
        return self.start(timeout)

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def qflchain(*args: str) -> list[str]:
    """The argv of a `qflchain` subcommand run with this interpreter."""
    return [sys.executable, "-m", "qfl.cli", *args]


def network_choice(url: str, network: str = "local") -> str:
    """An RPC URL as ape's network choice: ethereum:local:URL (ad-hoc, chain id 1337) unless the node at `url`
    serves another ethereum `network` (e.g. sepolia)."""
    return f"ethereum:{network}:{url}"


def spawn_node(
    config: Path,
    network: str,
    deployment: Path,
    index: int,
    store: str,
    state_dir: Path,
    log_path: Path,
    crash_at: str | None = None,
    data: Path | None = None,
) -> subprocess.Popen:
    """Start `qflchain node` for client `index` (account test:index+1) as its own process; with `data`, on
    that private file only (`--data`) instead of the config's shard."""
    env = dict(os.environ)
    # Nodes on one machine share XLA's compiled programs on disk: all but the first skip the compile and its
    # ~60 MB of resident memory (JAX reads these variables at import).
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(state_dir / "jax-cache"))
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
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
        *(["--data", str(data)] if data is not None else []),
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
