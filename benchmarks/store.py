"""Put/get throughput of the embedded content store (CID computation, fsync'd atomic writes, verified reads).

Run: .venv/bin/python -m benchmarks.store     Writes benchmarks/results/store.md.
Each put stores new bytes (no deduplication shortcut); each get re-hashes the bytes against the CID.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from qfl.storage import EmbeddedStore, compute_cid

SIZES = {"1 KiB": 1024, "64 KiB": 64 * 1024, "16 MiB": 16 * 1024 * 1024}
REPS = {"1 KiB": 1000, "64 KiB": 300, "16 MiB": 8}
OUT = Path(__file__).parent / "results" / "store.md"


def timed(fn, items) -> list[float]:
    """Wall time of fn(item) for every item, in seconds."""
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return times


def row(label: str, op: str, size: int, times: list[float]) -> str:
    """One markdown table row: ops/s, MiB/s and median latency."""
    total = sum(times)
    mib_s = size * len(times) / total / 2**20
    return (
        f"| {label} | {op} | {len(times)} | {len(times) / total:,.1f} | {mib_s:,.1f} | "
        f"{statistics.median(times) * 1e3:,.3f} |"
    )


def main() -> None:
    """Measure and write the report."""
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="store-bench-") as root:
        store = EmbeddedStore(Path(root))
        for label, size in SIZES.items():
            payloads = [rng.bytes(size) for _ in range(REPS[label])]
            cid_times = timed(compute_cid, payloads)
            put_times = timed(store.put, payloads[1:])
            cids = [store.put(payloads[0]), *map(compute_cid, payloads[1:])]
            get_times = timed(store.get, cids)
            rows += [
                row(label, "CID only (hash + dag-pb)", size, cid_times),
                row(label, "put (CID + fsync + rename)", size, put_times),
                row(label, "get (read + verify CID)", size, get_times),
            ]
    report = "\n".join(
        [
            "# Embedded content store throughput",
            "",
            "`.venv/bin/python -m benchmarks.store` "
            f"on {platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d', time.gmtime())}. Temp dir on the local disk "
            f"({tempfile.gettempdir()}).",
            "",
            "Every put stores new random bytes (no dedup shortcut) with an fsync'd temp file + os.replace;",
            "every get re-computes the Kubo CIDv0 of the bytes read and compares it with the one asked for.",
            "",
            "| object | operation | n | ops/s | MiB/s | median ms |",
            "|---|---|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
