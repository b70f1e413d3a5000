"""Case study, scaling: per-round gas, time, transactions, bytes and memory from 10 to 1,000 clients, fitted
growth rates, and the gas of settling 10,000 updates against the EIP-7825 per-transaction cap.

Run it as a part of the study: `python -m benchmarks.casestudy --parts scaling`.

Rounds: `benchmarks.rounds.in_process` (the simulator, every client in one process, on anvil), one child
process per client count (`--point`), so that each count's resident memory is its own. After the set-up and
after each round a probe (outside the round's timing) reads the process's RSS and peak RSS, anvil's RSS, and
every transaction of the round's blocks (calldata bytes). Settlement: `benchmarks.gas.run_size` (its
federation of clones, 64 committee seats, settle batches of 32).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.casestudy.config import ROOT

PART = "scaling"
TX_CAP = 16_777_216  # EIP-7825: the most gas one transaction may use

# Steady-round metrics that get a fit: key -> (label, unit).
METRICS = {
    "wall": ("round wall time", "s"),
    "train": ("train time", "s"),
    "store": ("store time", "s"),
    "chain": ("chain time", "s"),
    "other": ("other time", "s"),
    "txs": ("transactions", "tx"),
    "gas": ("gas", "gas"),
    "bytes_stored": ("store bytes up (put)", "B"),
    "bytes_fetched": ("store bytes down (get)", "B"),
    "calldata": ("on-chain calldata", "B"),
    "rss_mb": ("simulator RSS after the round", "MB"),
    "anvil_rss_mb": ("anvil RSS after the round", "MB"),
}


# ------------------------------------------------------------------ one client count (in a child process)


def _proc_kb(pid: int | str, field: str) -> int:
    """A /proc/<pid>/status field in kB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


def _anvil_pid() -> int | None:
    """The anvil process this process started (the simulator's chain), from /proc."""
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if comm == "anvil" and rest[1] == me:
            return int(entry.name)
    return None


class Probe:
    """Called after the set-up and after each round: memory, and the calldata of every transaction mined
    since the last call (a JSON-RPC batch of eth_getBlockByNumber over the new blocks)."""

    def __init__(self) -> None:
        self.block = 0
        self.anvil: int | None = None

    def __call__(self, sim: Any) -> dict:
        import ape
        import requests

        provider = ape.chain.provider
        url = provider.web3.provider.endpoint_uri
        head = provider.web3.eth.block_number
        calldata = txs = 0
        numbers = list(range(self.block + 1, head + 1))
        with requests.Session() as http:
            for i in range(0, len(numbers), 500):
                batch = [
                    {"jsonrpc": "2.0", "id": b, "method": "eth_getBlockByNumber", "params": [hex(b), True]}
                    for b in numbers[i : i + 500]
                ]
                for reply in http.post(url, json=batch, timeout=600).json():
                    for tx in reply["result"]["transactions"]:
                        calldata += (len(tx["input"]) - 2) // 2
                        txs += 1
        self.block = head
        self.anvil = self.anvil or _anvil_pid()
        return {
            "calldata": calldata,
            "chain_txs": txs,
            "blocks": len(numbers),
            "rss_mb": _proc_kb("self", "VmRSS") / 1024,
            "hwm_mb": _proc_kb("self", "VmHWM") / 1024,
            "anvil_rss_mb": _proc_kb(self.anvil, "VmRSS") / 1024 if self.anvil else 0.0,
        }


def experiment_for(n: int, rounds: int, data: Path, common: dict, part: dict):
    """benchmarks.rounds' experiment (committee of 10, every member in every round's cohort) with the
    case study's model and local training."""
    from benchmarks.rounds import experiment
    from qfl.orchestration.config import ExperimentConfig

    base = experiment(n, rounds, data, f"scaling-{n}").model_dump(mode="json", exclude_unset=True)
    seed = common["seeds"][0]
    base.update(
        seed=seed,
        model=common["datasets"][part["dataset"]]["model"],
        training=common["training"],
        data=base["data"] | {"seed": seed},
    )
    return ExperimentConfig.model_validate(base)


def measure_point(n: int, rounds: int, cfg: dict, folder: Path) -> dict:
    """Play `rounds` rounds with `n` clients in this process; per-round split, bytes, memory."""
    from ape.logging import logger

    from benchmarks.rounds import in_process, parity_digits
    from qfl.chain.toolchain import configure_environment

    configure_environment()
    logger.set_level("WARNING")  # ape logs every confirmed transaction at INFO
    data = parity_digits(folder, n)
    exp = experiment_for(n, rounds, data, cfg["common"], cfg[PART])
    started = time.perf_counter()
    res = in_process(exp, folder, f"ethereum:local:{cfg[PART]['chain']}", probe=Probe())
    res["seconds"] = time.perf_counter() - started
    return res


def _child(args: argparse.Namespace) -> None:
    cfg = json.loads(Path(args.config).read_text())
    with tempfile.TemporaryDirectory(prefix="qfl-scaling-") as tmp:
        res = measure_point(args.point, args.rounds, cfg, Path(tmp))
    Path(args.result).write_text(json.dumps(res))


def run_point(n: int, rounds: int, cfg: dict, out: Path, log: Callable[[str], None]) -> dict:
    """measure_point in a fresh interpreter (its RSS is this count's alone); its output lines go to `log`."""
    config, result = out / "config.json", out / f"point-{n}.json"
    config.write_text(json.dumps(cfg))
    cmd = [sys.executable, "-m", "benchmarks.casestudy.scaling", "--point", str(n), "--rounds", str(rounds)]
    cmd += ["--config", str(config), "--result", str(result)]
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"scaling point {n} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(result.read_text())


# ------------------------------------------------------------------ the 10,000-update settlement


def measure_settlement(updates: int, members: int, log: Callable[[str], None]) -> dict:
    from benchmarks import gas as g

    started = time.perf_counter()
    arts = g.load_artifacts(g.compile_contracts())
    r = g.run_size(arts, updates, log=lambda *a: log(" ".join(str(x) for x in a).strip()), members=members)
    rows = r.gas.rows
    batch = f"settle, batch of {g.SETTLE_BATCH}"
    settle_rows = [k for k in rows if k.startswith(("settle own update", "settle, "))]  # round 1 only
    fixed = max((max(v), k) for k, v in rows.items() if not k.startswith("settle, "))
    largest = r.gas.largest()
    batches = rows.get(batch, [])
    worst_per_update = (
        max(batches) / g.SETTLE_BATCH
        + max(
            0.0,
            (r.gas.mean("settle own update, batch of 1 (rejected)") or 0)
            - (r.gas.mean("settle own update, batch of 1 (accepted)") or 0),
        )
        if batches
        else 0.0
    )
    return {
        "updates": updates,
        "members": r.members,
        "lottery": r.lottery,
        "committee_members": r.committee_len,
        "seats": r.seats,
        "settle_batch": g.SETTLE_BATCH,
        "settle_transactions": sum(len(rows[k]) for k in settle_rows),
        "settle_gas_total": sum(sum(rows[k]) for k in settle_rows),
        "settle_batch_mean": float(np.mean(batches)) if batches else 0.0,
        "settle_batch_max": max(batches) if batches else 0,
        "settle_per_update": float(np.mean(batches)) / g.SETTLE_BATCH if batches else 0.0,
        "largest_batch_under_cap": int(TX_CAP // worst_per_update) if worst_per_update else 0,
        "settle_validator_total": sum(rows.get("settleValidator", [])),
        "reveal_vote_mean": float(r.gas.mean("revealVote") or 0),
        "reveal_vote_max": r.gas.max("revealVote") or 0,
        "commit_reveal_per_client": float(
            r.gas.mean("commitUpdate (first round)") + r.gas.mean("revealUpdate (first round)")
        ),
        "draw": r.gas.max("drawCommittee (draw)") or 0,
        "round_total": r.round_total,
        "largest_gas": largest[0],
        "largest_label": largest[1],
        "largest_unchosen_gas": fixed[0],
        "largest_unchosen_label": fixed[1],
        "cap": TX_CAP,
        "blocks": r.blocks,
        "seconds": time.perf_counter() - started,
    }


# ------------------------------------------------------------------ fits


def steady(rounds: list[dict], key: str) -> float:
    """Mean over rounds 2.. (round 1 also compiles), or round 1 when it is the only one."""
    later = rounds[1:] or rounds
    return float(sum(r[key] for r in later) / len(later))


def fit(ns: list[int], ys: list[float]) -> dict:
    """Log-log slope (y ~ c n^k) and least squares y = a + b n with its largest |residual| / fitted value."""
    x, y = np.array(ns, dtype=float), np.array(ys, dtype=float)
    b, a = np.polyfit(x, y, 1)
    fitted = a + b * x
    worst = float(np.max(np.abs(y - fitted) / np.abs(fitted))) if np.all(fitted != 0) else None
    out = {"intercept": float(a), "per_client": float(b), "worst_residual": worst}
    if np.all(y > 0):
        k, logc = np.polyfit(np.log(x), np.log(y), 1)
        out |= {"slope": float(k), "coef": float(math.exp(logc))}
    return out


# ------------------------------------------------------------------ run / render


def run(cfg: dict, out: Path, log: Callable[[str], None]) -> dict:
    part = cfg[PART]
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    points = []
    rounds_at = {int(k): int(v) for k, v in (part.get("rounds_at") or {}).items()}
    isolate = bool(part.get("isolate", True))
    for n in part["clients"]:
        rounds = rounds_at.get(int(n), int(part["rounds"]))
        t = time.perf_counter()
        if isolate:
            res = run_point(int(n), rounds, cfg, out, log)
        else:  # the quick config: no interpreter start per count (RSS then accumulates across counts)
            (out / f"point-{n}").mkdir(exist_ok=True)
            res = json.loads(json.dumps(measure_point(int(n), rounds, cfg, out / f"point-{n}")))
        row = {"clients": int(n), "rounds": len(res["rounds"]), "setup": res["setup"]}
        row["round1_wall"] = res["rounds"][0]["wall"]
        row |= {k: steady(res["rounds"], k) for k in METRICS}
        row["hwm_mb"] = max(r["hwm_mb"] for r in res["rounds"])
        row["chain_txs"] = steady(res["rounds"], "chain_txs")
        row["accuracy"] = res["rounds"][-1]["accuracy"]
        row["per_round"] = res["rounds"]
        row["setup_rss_mb"] = res["probe"]["rss_mb"]
        row["load_1min"] = os.getloadavg()[0]  # other work on the machine slows every figure above
        points.append(row)
        log(
            f"scaling: {n} clients, {rounds} round(s) in {time.perf_counter() - t:.0f} s: steady round "
            f"{row['wall']:.1f} s, gas {row['gas']:,.0f}, RSS {row['rss_mb']:.0f} MB"
        )
    ns = [p["clients"] for p in points]
    fits = {k: fit(ns, [p[k] for p in points]) for k in METRICS} if len(points) >= 2 else {}
    from benchmarks.memory import IMPORT_LAYERS, rss_after

    layer, code = IMPORT_LAYERS[3]  # what a `qflchain node` process imports before its first round
    node_rss = rss_after(code)[0]
    log(f"scaling: a fresh interpreter after a node's imports ({layer}) holds {node_rss:.0f} MB")
    s = part["settlement"]
    log(f"scaling: settling {s['updates']:,} updates among {s['members']:,} members")
    settlement = measure_settlement(int(s["updates"]), int(s["members"]), log)
    log(f"scaling: settlement measured in {settlement['seconds']:.0f} s")
    common = cfg["common"]
    return {
        "points": points,
        "fits": fits,
        "settlement": settlement,
        "node_import_rss_mb": node_rss,
        "parameters": {
            "clients": ns,
            "rounds": {str(p["clients"]): p["rounds"] for p in points},
            "dataset": part["dataset"],
            "model": common["datasets"][part["dataset"]]["model"],
            "training": common["training"],
            "seed": common["seeds"][0],
            "chain": part["chain"],
            "isolate": isolate,
            "committee": "min(10, clients) seats",
            "settlement": {"updates": int(s["updates"]), "members": int(s["members"])},
        },
        "seconds": time.perf_counter() - started,
    }


def _n(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def _bytes(x: float) -> str:
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if abs(x) >= size:
            return f"{x / size:,.1f} {unit}"
    return f"{x:,.0f} B"


def _plots(results: dict, figures: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points, fits = results["points"], results["fits"]
    ns = np.array([p["clients"] for p in points], dtype=float)
    grid = np.geomspace(ns.min(), ns.max(), 50)
    figures.mkdir(parents=True, exist_ok=True)

    def panel(ax, keys: list[str], ylabel: str, scale: float = 1.0) -> None:
        for key in keys:
            ys = np.array([p[key] for p in points]) / scale
            (line,) = ax.plot(ns, ys, "o", label=METRICS[key][0])
            f = fits.get(key, {})
            if "slope" in f:
                ax.plot(
                    grid,
                    f["coef"] * grid ** f["slope"] / scale,
                    "--",
                    color=line.get_color(),
                    label=f"fit ~ n^{f['slope']:.2f}",
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("clients")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)

    names = []
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    panel(
        ax,
        [k for k in ("wall", "chain", "store", "other", "train") if "slope" in fits.get(k, {})],
        "s per round",
    )
    ax.set_title("Steady round wall time and its split")
    fig.tight_layout()
    fig.savefig(figures / "scaling-time.png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    names.append("scaling-time.png")

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    panel(axes[0][0], ["gas"], "gas per round (millions)", 1e6)
    panel(axes[0][1], ["txs"], "transactions per round")
    panel(axes[1][0], ["bytes_stored", "bytes_fetched", "calldata"], "bytes per round (kB)", 1e3)
    panel(axes[1][1], ["rss_mb", "anvil_rss_mb"], "MB")
    fig.suptitle("Per-round resources against clients (dashed: power-law fits)")
    fig.tight_layout()
    fig.savefig(figures / "scaling-resources.png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    names.append("scaling-resources.png")
    return names


def render(results: dict, cfg: dict, figures: Path) -> list[str]:
    points, fits, s, par = results["points"], results["fits"], results["settlement"], results["parameters"]
    model = par["model"]
    tr = par["training"]
    rounds_note = ", ".join(f"{n}: {r}" for n, r in par["rounds"].items())
    lines = [
        "## Scalability: a round from "
        f"{_n(points[0]['clients'])} to {_n(points[-1]['clients'])} clients, and settling "
        f"{_n(s['updates'])} updates",
        "",
        "Command: the `scaling` part of `make case-study` (alone: `python -m benchmarks.casestudy --parts scaling`;"
        " configs `experiments/case-study/common.yaml`, "
        f"`experiments/case-study/scaling.yaml`); the part took {results['seconds'] / 60:.1f} min on this 2-core "
        "machine.",
        "",
        f"Grid: {', '.join(_n(n) for n in par['clients'])} clients; rounds played per count ({rounds_note}); "
        f"seed {par['seed']}. "
        + (
            "Each count runs in its own process: "
            if par.get("isolate", True)
            else "Every count runs in this one process (so RSS accumulates from count to count): "
        )
        + "the in-process simulator "
        "(`benchmarks/rounds.py`: every client in one process, local training vectorised over clients, the "
        "embedded content store) on anvil mining one block per transaction. Data: sklearn digits even-vs-odd "
        "(rows repeated with a little noise beyond ~600 clients so every client holds some), IID split. "
        f"Model: {model['n_qubits']} qubits, {model['n_layers']} {model['ansatz'].upper()} layers, "
        f"{model['encoding']} encoding ({par['dataset']}'s model); local training {tr['epochs']} epochs, batch "
        f"{tr['batch_size']}, {tr['optimizer']} at {tr['learning_rate']}. Committee: {par['committee']}; "
        "every member trains every round; reputation-weighted FedAvg.",
        "",
        "'Steady' is the mean of rounds 2 and later (round 1 also compiles the circuits with XLA); where only "
        "one round was played (to fit the part's 15-minute budget) it is round 1, compile included. Train time "
        "includes the committee scoring the updates; chain is every contract call and read by the nodes; "
        "store is every put and get of weights; other is the simulator's own work (codec, aggregation, clock "
        "warps). Bytes up/down: the content store's put/get bytes in the round; calldata: the input bytes of "
        "every transaction mined in the round. RSS: the simulating process (all clients) and anvil after "
        "the round; peak: the process's VmHWM."
        + (
            " The machine's 1-minute load average after each count (2 cores; above 2, other work was "
            "competing): " + ", ".join(f"{_n(p['clients'])}: {p['load_1min']:.1f}" for p in points) + "."
            if all("load_1min" in p for p in points)
            else ""
        ),
        "",
        "| clients | rounds | set-up s | round 1 s | steady round s | train s | store s | chain s | other s "
        "| transactions | gas per round | gas per client | store up | store down | calldata | RSS MB "
        "| peak RSS MB | anvil RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        lines.append(
            f"| {_n(p['clients'])} | {p['rounds']} | {p['setup']:.1f} | {p['round1_wall']:.1f} | {p['wall']:.2f} "
            f"| {p['train']:.2f} | {p['store']:.2f} | {p['chain']:.2f} | {p['other']:.2f} | {_n(p['txs'])} "
            f"| {_n(p['gas'])} | {_n(p['gas'] / p['clients'])} | {_bytes(p['bytes_stored'])} "
            f"| {_bytes(p['bytes_fetched'])} | {_bytes(p['calldata'])} | {p['rss_mb']:.0f} | {p['hwm_mb']:.0f} "
            f"| {p['anvil_rss_mb']:.0f} |"
        )
    if fits:
        ns = [p["clients"] for p in points]
        lines += [
            "",
            f"Growth fits over {', '.join(_n(n) for n in ns)} clients: the log-log slope k of y ~ c n^k (1 = "
            "linear, 2 = quadratic) and the least-squares line y = a + b n with its largest residual "
            "relative to the line.",
            "",
            "| metric | unit | log-log slope k | a (intercept) | b (per client) | largest residual |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for key, (label, unit) in METRICS.items():
            f = fits[key]
            slope = f"{f['slope']:.2f}" if "slope" in f else "-"
            digits = 0 if unit in ("gas", "B", "tx") else 3
            lines.append(
                f"| {label} | {unit} | {slope} | {_n(f['intercept'], digits)} | {_n(f['per_client'], digits)} "
                f"| {'-' if f['worst_residual'] is None else format(f['worst_residual'], '.0%')} |"
            )
    names = _plots(results, figures) if len(points) >= 2 else []
    lines += [""] + [f"![{name[:-4]}](case-study/{name})" for name in names]

    lines += [
        "",
        f"### Settling {_n(s['updates'])} updates",
        "",
        "Command: `benchmarks.gas.run_size` (as `python -m benchmarks.gas` plays it) with "
        f"{_n(s['updates'])} revealed updates among {_n(s['members'])} members (cohort lottery "
        f"{'on' if s['lottery'] else 'off'}), a committee of {s['seats']} seats ({s['committee_members']} "
        "members), every tenth update scored 0 (rejected, slashed) and the rest 200; eight members settle "
        f"their own update alone, a keeper settles the rest in batches of {s['settle_batch']}. Every "
        f"transaction was sent with gas limit {_n(s['cap'])} (EIP-7825), so none could have used more. Took "
        f"{s['seconds']:.0f} s.",
        "",
        "| what | gas | share of the cap |",
        "|---|---:|---:|",
        f"| settle all {_n(s['updates'])} updates ({_n(s['settle_transactions'])} transactions) "
        f"| {_n(s['settle_gas_total'])} | - |",
        f"| ... per update | {_n(s['settle_gas_total'] / s['updates'])} | - |",
        f"| settle, batch of {s['settle_batch']} (mean) | {_n(s['settle_batch_mean'])} "
        f"| {s['settle_batch_mean'] / s['cap']:.0%} |",
        f"| settle, batch of {s['settle_batch']} (max) | {_n(s['settle_batch_max'])} "
        f"| {s['settle_batch_max'] / s['cap']:.0%} |",
        f"| revealVote ({_n(s['updates'])} score bytes, max) | {_n(s['reveal_vote_max'])} "
        f"| {s['reveal_vote_max'] / s['cap']:.0%} |",
        f"| drawCommittee ({s['seats']} seats) | {_n(s['draw'])} | {s['draw'] / s['cap']:.0%} |",
        f"| settleValidator, all {s['committee_members']} members | {_n(s['settle_validator_total'])} | - |",
        f"| commit + reveal, one client | {_n(s['commit_reveal_per_client'])} | - |",
        f"| whole round (every transaction; the crowd's commit+reveal at the measured gas) "
        f"| {_n(s['round_total'])} | - |",
        f"| **largest single transaction**: {s['largest_label']} | **{_n(s['largest_gas'])}** "
        f"| **{s['largest_gas'] / s['cap']:.0%}** |",
        f"| largest whose size no caller chooses: {s['largest_unchosen_label']} "
        f"| {_n(s['largest_unchosen_gas'])} | {s['largest_unchosen_gas'] / s['cap']:.0%} |",
    ]
    lines += ["", "Reading:", ""] + _reading(results)
    return lines


def _reading(results: dict) -> list[str]:
    points, fits, s = results["points"], results["fits"], results["settlement"]
    lo, hi = points[0], points[-1]
    out = []
    if fits:
        k = fits["wall"].get("slope")
        per_tx = [p["chain"] / p["txs"] * 1e3 for p in (lo, hi)]
        out.append(
            f"- Time is where QFLchain loses. A steady round takes {hi['wall']:.1f} s at {_n(hi['clients'])} "
            f"clients against {lo['wall']:.2f} s at {_n(lo['clients'])}: {hi['wall'] / lo['wall']:.1f}x for "
            f"{hi['clients'] / lo['clients']:.0f}x the clients (log-log slope "
            + (f"{k:.2f}" if k is not None else "-")
            + f"). The chain takes {hi['chain'] / hi['wall']:.0%} of it at {_n(hi['clients'])} clients, and "
            f"its cost per transaction grows too ({per_tx[0]:.0f} ms at {_n(lo['clients'])} clients, "
            f"{per_tx[1]:.0f} ms at {_n(hi['clients'])}): in this set-up one anvil and one Python process carry "
            "every client's transactions and reads. Training, what a centralised FedAvg server's round would "
            "mostly be, is "
            f"{hi['train']:.2f} s of the {hi['wall']:.1f} s: the protocol's overhead is "
            f"{hi['wall'] / max(hi['train'], 1e-9):.1f}x the training time at {_n(hi['clients'])} clients "
            f"({lo['wall'] / max(lo['train'], 1e-9):.1f}x at {_n(lo['clients'])}; an estimate from the split, "
            "not a measured baseline).",
        )
        g, tx, cd = fits["gas"], fits["txs"], fits["calldata"]
        out.append(
            f"- Gas and transactions grow about linearly (a little less: the committee's votes and the round's "
            f"fixed transactions are shared by more clients): about {_n(g['per_client'])} gas and "
            f"{tx['per_client']:.2f} transactions per extra client per round (slopes "
            f"{g.get('slope', float('nan')):.2f} and {tx.get('slope', float('nan')):.2f}); a "
            f"{_n(hi['clients'])}-client round costs {_n(hi['gas'])} gas, {hi['gas'] / TX_CAP:.1f}x one "
            f"transaction's cap, spread over {_n(hi['txs'])} transactions. Calldata is about "
            f"{_n(cd['per_client'])} bytes per client per round; the weights stay off-chain "
            f"({_bytes(hi['bytes_stored'] / hi['clients'])} put per client per round)."
        )
        m = fits["rss_mb"]
        out.append(
            f"- Memory: the process simulating every client holds {hi['rss_mb']:.0f} MB at "
            f"{_n(hi['clients'])} clients ({lo['rss_mb']:.0f} MB at {_n(lo['clients'])}): about "
            f"{m['per_client']:.2f} MB per extra in-process client. anvil holds {hi['anvil_rss_mb']:.0f} MB. A "
            "client run as its own `qflchain node` process holds at least "
            f"{results.get('node_import_rss_mb', float('nan')):.0f} MB before its first round (a fresh "
            "interpreter after a node's imports; `benchmarks/memory.py` measures whole node runs)."
        )
        if any(p["rounds"] == 1 for p in points):
            one = ", ".join(_n(p["clients"]) for p in points if p["rounds"] == 1)
            two = [p for p in points if p["rounds"] > 1]
            extra = ""
            if two:
                first, later = two[-1]["per_round"][0]["train"], two[-1]["train"]
                extra = (
                    f" (at {_n(two[-1]['clients'])} clients round 1's training took {first:.1f} s against "
                    f"{later:.1f} s in the steady round)"
                )
            out.append(
                f"- Cut: {one} clients played one round only (the 15-minute budget), so their steady figures "
                f"are round 1's and their train time includes XLA compilation{extra}; the fits include them."
            )
    out.append(
        f"- Settling {_n(s['updates'])} updates takes {_n(s['settle_transactions'])} transactions and "
        f"{_n(s['settle_gas_total'])} gas in all; the largest single transaction ({s['largest_label']}, "
        f"{_n(s['largest_gas'])} gas) is {s['largest_gas'] / s['cap']:.0%} of the EIP-7825 cap, and the "
        f"largest whose size no caller chooses ({s['largest_unchosen_label']}"
        + (", one score byte per update" if s["largest_unchosen_label"].startswith("revealVote") else "")
        + f") is {s['largest_unchosen_gas'] / s['cap']:.0%}: every transaction fits. A settle batch could hold about "
        f"{s['largest_batch_under_cap']} updates before reaching the cap (every update slashed, the worst case)."
    )
    return out


def main() -> None:
    """One client count in a fresh interpreter (`run_point` starts these children); the study runs the part."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--point", type=int, required=True)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--config")
    ap.add_argument("--result")
    _child(ap.parse_args())


if __name__ == "__main__":
    main()
