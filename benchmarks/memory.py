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
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.round_blocks import Federation
from qfl.chain.toolchain import PROJECT_ROOT

OUT = Path(__file__).parent / "results" / "memory.md"
MACHINE_GIB = 24  # the budget goal 5 sizes nodes against
# Cumulative import layers of a node process (qfl.cli node), measured each in a fresh interpreter.
IMPORT_LAYERS = (
    ("python + numpy", "import numpy"),
    ("+ jax", "import numpy, jax, jax.numpy"),
    ("+ ape, web3 (chain binding)", "import numpy, jax, jax.numpy, ape, qfl.chain"),
    (
        "+ qfl.orchestration.node (node, training, scoring)",
        "import numpy, jax, jax.numpy, ape, qfl.chain, qfl.orchestration.node",
    ),
    ("+ tensorcircuit (not loaded by a dense-path node)", "import qfl.orchestration.node, tensorcircuit"),
    ("+ scikit-learn (built-in datasets only)", "import qfl.orchestration.node, sklearn.decomposition"),
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


def node_peaks(nodes: int, rounds: int, folder: Path) -> tuple[list[float], list[float], list[float], float]:
    """Per node process of a whole run with private data files: peak RSS, RSS and PSS after its rounds (MB),
    and the run's wall seconds. Runs in `folder`, whose jax-cache a later run finds warm."""
    fed = Federation(nodes, rounds, None, folder, private_data=True)
    try:
        wall, watch = fed.play()
    finally:
        fed.close()
    pids = list(fed.pids.values())
    last = [watch.rss[pid][-1][1] / 1024 for pid in pids]  # the last sample before it exited
    pss = [watch.pss[pid] / 1024 for pid in pids]
    return [watch.peak[pid] / 1024 for pid in pids], last, pss, wall


def report(layers: list, runs: dict, nodes: int, rounds: int, command: str) -> str:
    lines = [
        "# Node memory",
        "",
        f"Command: `{command}` ({platform.machine()}, Python {platform.python_version()}).",
        "",
        f"{nodes} `qflchain node --data` processes, {rounds} rounds, anvil per transaction, embedded store, "
        "configs/multiprocess.yaml's model (4 qubits, dense path). 'cold': the nodes start with an empty XLA "
        "compile cache and all compile; 'warm': the same federation again, the nodes loading the programs the "
        "first run left in the on-disk cache (qfl.orchestration.multiproc.spawn_node points every node of a machine at one). "
        "RSS and PSS after the rounds are the last samples (every 0.2 s) before the process exited; PSS splits "
        "shared pages (the mapped jaxlib and Python libraries) between the processes that map them, so it is "
        "what each extra node costs the machine. Peak = the process's VmHWM over its whole life.",
        "",
        "| cache | node | RSS after its rounds (MB) | PSS after its rounds (MB) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (peaks, last, pss, _wall) in runs.items():
        for i, (a, p, k) in enumerate(zip(last, pss, peaks, strict=True)):
            lines.append(f"| {name} | {i} | {a:.0f} | {p:.0f} | {k:.0f} |")
    lines.append("")
    for name, (peaks, last, pss, wall) in runs.items():
        worst = max(last)
        verdict = "meets" if worst <= 250 else f"misses by {worst - 250:.0f} MB"
        lines.append(
            f"- {name} cache (run {wall:.0f} s): worst RSS after its rounds {worst:.0f} MB ({verdict} the 250 MB "
            f"goal), worst peak {max(peaks):.0f} MB; nodes that fit in {MACHINE_GIB} GiB: "
            f"{int(MACHINE_GIB * 1024 // worst)} by RSS, {int(MACHINE_GIB * 1024 // max(pss))} by PSS."
        )
    lines += [
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
    runs = {}
    with tempfile.TemporaryDirectory(prefix="qfl-memory-") as tmp:
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(Path(tmp) / "jax-cache")  # the nodes inherit it
        for name in ("cold", "warm"):
            (Path(tmp) / name).mkdir()
            runs[name] = node_peaks(args.nodes, args.rounds, Path(tmp) / name)
            print(name, json.dumps(runs[name]), flush=True)
    command = f".venv/bin/python -m benchmarks.memory --nodes {args.nodes} --rounds {args.rounds}"
    text = report(layers, runs, args.nodes, args.rounds, command)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
