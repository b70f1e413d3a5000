"""`make bench`: every measurement behind the README's numbers, each writing benchmarks/results/<name>.md.

Run: .venv/bin/python -m benchmarks.run_all [--only gas,committee,store,rounds,tx_cost,throughput,blocks,memory]
gas: a full round at 10, 200, 1,000 and 10,000 revealed updates on anvil (~3 min; `-m benchmarks.gas --quick`
for 10 and 200 only); committee: Monte Carlo of the committee draw, one account vs many, validated against
the contract on anvil (~2 min); blocks: rounds of 4 and 10 node processes on anvil mining a block a second
(~10 min); memory: peak and steady RSS/PSS of 4 node processes, cold and warm compile cache (~4 min).
The throughput comparison needs PennyLane, which lives only in .venv-bench (`make bench` builds it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
STEPS = {
    "gas": [sys.executable, "-m", "benchmarks.gas"],
    "committee": [sys.executable, "-m", "benchmarks.committee_draw"],
    "store": [sys.executable, "-m", "benchmarks.store"],
    "rounds": [sys.executable, "-m", "benchmarks.rounds"],
    "tx_cost": [sys.executable, "-m", "benchmarks.tx_cost"],
    "throughput": [str(BENCH_PYTHON), "-m", "benchmarks.throughput"],
    "blocks": [sys.executable, "-m", "benchmarks.round_blocks"],
    "memory": [sys.executable, "-m", "benchmarks.memory"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(STEPS), help="comma-separated subset of " + ", ".join(STEPS)
    )
    args = parser.parse_args()
    chosen = [s for s in args.only.split(",") if s]
    unknown = sorted(set(chosen) - set(STEPS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(STEPS)}")
    if "throughput" in chosen and not BENCH_PYTHON.exists():
        parser.error(".venv-bench is missing: run `make bench` (it installs PennyLane there, not in .venv)")
    failed = []
    for name in chosen:
        start = time.perf_counter()
        print(f"== {name}: {' '.join(STEPS[name][1:])}", flush=True)
        code = subprocess.run(STEPS[name], cwd=ROOT).returncode
        print(f"== {name}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
