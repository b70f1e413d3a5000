"""Memory of a node process: peak RSS of real `qflchain node` processes, and what their imports cost.

Run: .venv/bin/python -m benchmarks.memory [--nodes 4] [--rounds 2]
Writes benchmarks/results/memory.md.

The nodes run as the launcher runs them (`qflchain node --data` on each node's own private file, anvil
mining per transaction, the embedded store); a watcher reads /proc/<pid>/status every 0.2 s and keeps the
highest VmHWM (the kernel's peak resident set) of each node, so the figure is the peak over the node's
whole life, first round and later ones included. The import table measures, in fresh interpreters, the
resident set after importing what a node imports, one layer at a time.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.round_blocks import Federation
from qfl.toolchain import PROJECT_ROOT

OUT = Path(__file__).parent / "results" / "memory.md"
MACHINE_GIB = 24  # the budget goal 5 sizes nodes against
# Cumulative import layers of a node process (qfl.cli node), measured each in a fresh interpreter.
IMPORT_LAYERS = (
    ("python + numpy", "import numpy"),
    ("+ jax", "import numpy, jax, jax.numpy"),
    ("+ ape, web3 (chain binding)", "import numpy, jax, jax.numpy, ape, qfl.chain"),
    ("+ qfl.node (node, training, scoring)", "import numpy, jax, jax.numpy, ape, qfl.chain, qfl.node"),
    ("+ tensorcircuit (not loaded by a dense-path node)", "import qfl.node, tensorcircuit"),
    ("+ scikit-learn (built-in datasets only)", "import qfl.node, sklearn.decomposition"),
)


def rss_after(code: str) -> tuple[float, list[str]]:
    """(RSS in MB after running `code` in a fresh interpreter, heavy modules it loaded)."""
    probe = (
        f"{code}\nimport sys\n"
        "rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]\n"
        "print(rss, ' '.join(m for m in ('tensorcircuit', 'sklearn', 'scipy', 'sympy', 'ape', 'jax') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    ).stdout.split()
    return int(out[0]) / 1024, out[1:]


def node_peaks(nodes: int, rounds: int) -> tuple[list[float], float]:
    """Peak RSS (MB) of every node process over a whole run with private data files, and the run's wall s."""
    with tempfile.TemporaryDirectory(prefix="qfl-memory-") as tmp:
        folder = Path(tmp)
        fed = Federation(nodes, rounds, None, folder, private_data=True)
        try:
            wall, watch = fed.play()
        finally:
            fed.close()
    return [watch.peak[pid] / 1024 for pid in fed.pids.values()], wall


def report(layers: list[tuple[str, float, list[str]]], peaks: list[float], nodes: int, rounds: int, wall: float,
           command: str) -> str:  # fmt: skip
    worst = max(peaks)
    fit = int(MACHINE_GIB * 1024 // worst)
    lines = [
        "# Node memory",
        "",
        f"Command: `{command}` ({platform.machine()}, Python {platform.python_version()}).",
        "",
        f"{nodes} `qflchain node --data` processes, {rounds} rounds (wall {wall:.0f} s), anvil per transaction, "
        "embedded store, configs/multiprocess.yaml's model (4 qubits, dense path). Peak RSS is each process's "
        "VmHWM over its whole life (first round and later).",
        "",
        "| node | peak RSS (MB) |",
        "|---:|---:|",
        *[f"| {i} | {p:.0f} |" for i, p in enumerate(peaks)],
        "",
        f"Worst node: {worst:.0f} MB ({'meets' if worst <= 250 else 'misses'} the 250 MB goal"
        f"{'' if worst <= 250 else f' by {worst - 250:.0f} MB'}); {fit} such nodes fit in {MACHINE_GIB} GiB.",
        "",
        "Resident set after imports alone (fresh interpreter each):",
        "",
        "| imports | RSS (MB) | heavy modules loaded |",
        "|---|---:|---|",
        *[f"| {name} | {mb:.0f} | {' '.join(mods)} |" for name, mb, mods in layers],
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    layers = [(name, *rss_after(code)) for name, code in IMPORT_LAYERS]
    for row in layers:
        print(row, flush=True)
    peaks, wall = node_peaks(args.nodes, args.rounds)
    print(json.dumps({"peaks_mb": peaks, "wall": wall}), flush=True)
    command = f".venv/bin/python -m benchmarks.memory --nodes {args.nodes} --rounds {args.rounds}"
    text = report(layers, peaks, args.nodes, args.rounds, wall, command)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
