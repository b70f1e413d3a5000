"""The case study's learning part: training and security of every system, the protocol simulated off-chain.

`python -m benchmarks.casestudy --parts learning [--quick]` runs it as a part of the study.

Every cell (dataset, split, clients, seed, attack, malicious fraction) is one federation per system, all on the same
clients, validators, start model and local-training seeds:
  (a) qflchain   7 validators score every update (`qfl.fl.judge.judge_round`), the contract's seat-weighted median
                 combines the bytes (`qfl.fl.committee.combine`); accepted updates are averaged weighted by
                 samples x combined score (what the contract pays), rejected ones are slashed and dropped;
  (b) fedavg     a trusted server averages every update by samples; (c) BlockFL-style averaging of every revealed
                 update is the same arithmetic, so (b) stands for both;
  (d) median / krum  the committee replaced by coordinate median or Krum(f);
  (e) classical  a small tanh network of comparable parameter count (`classical.py`), FedAvg, same attacks;
  (f) local      each client trains alone for rounds x local epochs.
The four quantum federations of a cell train in one vmapped call (one start model per client row).
"""

from __future__ import annotations

import hashlib
import math
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from benchmarks.casestudy import classical
from qfl.data.datasets import BUILTINS
from qfl.fl.aggregate import coordinate_median, fedavg, krum
from qfl.fl.attacks import colluding, label_flip, sign_flip
from qfl.fl.committee import ACCEPTED, REJECTED, combine
from qfl.fl.judge import JudgeMemory, geometry, grade, label_balance, loss_changes
from qfl.fl.judging import SPLITS, Condition, setup
from qfl.quantum.codec import encode_weights
from qfl.quantum.model import init_params
from qfl.quantum.spec import PARAMS_PER_QUBIT_LAYER, ModelSpec
from qfl.quantum.train import TrainConfig, evaluate, evaluate_many, train_clients

PART = "learning"
QUANTUM = ("qflchain", "fedavg", "median", "krum")
SYSTEMS = (*QUANTUM, "classical")
LABELS = {
    "qflchain": "(a) QFLchain",
    "fedavg": "(b) FedAvg = (c) BlockFL",
    "median": "(d) median",
    "krum": "(d) Krum",
    "classical": "(e) classical FedAvg",
    "local": "(f) local only",
}
ATTACKS = ("label_flip", "sign_flip", "free_rider", "colluding")
ATTACK_LABELS = {
    "label_flip": "label flipping",
    "sign_flip": "sign flipping",
    "free_rider": "free riding",
    "colluding": "colluding group",
}


# ----------------------------------------------------------------------------------------------------------------
# configuration


def model_spec(common: dict, dataset: str, noise: float = 0.0, shots: int | None = None) -> ModelSpec:
    """The dataset's VQC from common.yaml (classes from the dataset)."""
    m = common["datasets"][dataset]["model"]
    return ModelSpec(**m, n_classes=BUILTINS[dataset].n_classes, noise=float(noise), shots=shots)


def local_config(common: dict) -> TrainConfig:
    t = common["training"]
    return TrainConfig(
        epochs=int(t["epochs"]),
        batch_size=int(t["batch_size"]),
        learning_rate=float(t["learning_rate"]),
        optimizer=str(t["optimizer"]),
    )


def check_config(cfg: dict) -> None:
    """One-line errors for settings this part cannot run."""
    common, mine = cfg["common"], cfg[PART]
    for d in mine["datasets"]:
        if d not in common["datasets"]:
            raise ValueError(
                f"learning.yaml: dataset {d!r} is not in common.yaml datasets {sorted(common['datasets'])}"
            )
    for s in [*mine["splits"], *mine["noise"]["splits"]]:
        if s not in SPLITS:
            raise ValueError(f"learning.yaml: split {s!r} unknown; choose from {sorted(SPLITS)}")
    for a in mine["attacks"]:
        if a not in ATTACKS:
            raise ValueError(f"learning.yaml: attack {a!r} unknown; choose from {list(ATTACKS)}")
    for n in mine["clients"]:
        f = math.floor(mine["krum_f"] * n)
        if n - f - 2 < 1:
            raise ValueError(
                f"learning.yaml: Krum needs clients >= f + 3; {n} clients with krum_f={mine['krum_f']}"
            )
    if int(common["n_features"]) != 4 and any(
        common["datasets"][d]["model"]["n_qubits"] != 4 for d in mine["datasets"]
    ):
        raise ValueError("common.yaml: n_features must equal the datasets' n_qubits")


# ----------------------------------------------------------------------------------------------------------------
# one federation of every system


def attackers(n: int, fraction: float, seed: int) -> np.ndarray:
    """Indices of the ceil(fraction x n) malicious clients (the same set for every attack of a seed)."""
    k = math.ceil(fraction * n - 1e-9) if fraction > 0 else 0
    rng = np.random.default_rng(10_007 + seed)
    return np.sort(rng.choice(n, size=k, replace=False)) if k else np.array([], np.int64)


def model_attack(attack: str | None, U: np.ndarray, g: np.ndarray, att: np.ndarray) -> np.ndarray:
    """The updates sent: the attackers' rows of U replaced (label flipping already acted on their labels)."""
    if attack is None or not len(att) or attack == "label_flip":
        return U
    U = U.copy()
    if attack == "sign_flip":
        U[att] = np.stack([sign_flip(U[i], g, 1.0) for i in att])
    elif attack == "free_rider":
        U[att] = np.repeat(np.asarray(g, np.float32)[None], len(att), 0)
    elif attack == "colluding":  # one shared step: minus the mean of the group's honest steps
        U[att] = colluding(U[att], g, scale=1.0)
    else:
        raise ValueError(f"unknown attack {attack!r}; choose from {list(ATTACKS)}")
    return U


def batch_for(local: TrainConfig, sizes) -> TrainConfig:
    """The local schedule with the batch cut to the largest client's rows (next power of two) when every client
    fits in one batch: the same full-batch steps (padding rows are masked out of the loss either way), without
    computing the padding rows of a 64-row batch for clients holding a few rows."""
    need = 1 << max(3, (int(max(sizes)) - 1).bit_length())
    return local if need >= local.batch_size else local.model_copy(update={"batch_size": need})


def _r(x: float) -> float:
    return round(float(x), 5)


def federation(
    spec: ModelSpec,
    hidden: int,
    local: TrainConfig,
    ds,
    clients,
    validators,
    rounds: int,
    seed: int,
    attack: str | None,
    fraction: float,
    systems=SYSTEMS,
    krum_f: float = 0.3,
) -> dict:
    """Accuracy/loss per round of every system in `systems` and the committee's tally, for one cell."""
    n = len(clients)
    att = attackers(n, fraction, seed) if attack else np.array([], np.int64)
    is_att = np.zeros(n, bool)
    is_att[att] = True
    Xs = [c.X_train for c in clients]
    ys = [
        label_flip(c.y_train, spec.n_classes) if attack == "label_flip" and is_att[i] else c.y_train
        for i, c in enumerate(clients)
    ]
    samples = np.array([len(c.y_train) for c in clients])
    local_steps = local.epochs * np.ceil(samples / local.batch_size)
    local = batch_for(local, samples)
    qsys = [s for s in systems if s in QUANTUM]
    g = {s: init_params(spec, seed) for s in qsys}
    shape = (spec.n_features, hidden, spec.n_classes)
    gc = classical.init_params(*shape, seed)
    memory = JudgeMemory()
    f = math.floor(krum_f * n)
    hist = {s: {"accuracy": [], "loss": []} for s in systems}
    t = dict(tp=0, fp=0, fn=0, tn=0, attacker_pay=0.0, total_pay=0.0, honest_accepted=0, attack_accepted=0)
    for r in range(rounds):
        seeds = [10_000 * seed + 100 * r + i for i in range(n)]
        if qsys:
            starts = np.concatenate([np.repeat(g[s][None], n, 0) for s in qsys])
            U_all = train_clients(spec, starts, Xs * len(qsys), ys * len(qsys), local, seeds * len(qsys))
            for j, s in enumerate(qsys):
                U = model_attack(attack, U_all[j * n : (j + 1) * n], g[s], att)
                if s == "fedavg":
                    g[s] = fedavg(U, samples)
                elif s == "median":
                    g[s] = coordinate_median(U)
                elif s == "krum":
                    g[s] = krum(U, f)
                else:
                    # judge_round per validator, with the data-free geometry computed once: it depends only on
                    # the updates, the public models and the memory, which every validator holds alike
                    geo = geometry(g[s], U, memory, range(n), local_steps)
                    matrix = np.stack(
                        [
                            grade(
                                geo,
                                loss_changes(spec, g[s], U, v.X_val, v.y_val),
                                balance=label_balance(v.y_val, spec.n_classes),
                            )
                            for v in validators
                        ]
                    )
                    memory.remember(g[s], U, range(n))
                    outcomes, combined = combine(matrix, [1] * len(validators))
                    acc = np.array([o == ACCEPTED for o in outcomes])
                    rej = np.array([o == REJECTED for o in outcomes])
                    t["tp"] += int((rej & is_att).sum())
                    t["fp"] += int((rej & ~is_att).sum())
                    t["fn"] += int((~rej & is_att).sum())
                    t["tn"] += int((~rej & ~is_att).sum())
                    t["honest_accepted"] += int((acc & ~is_att).sum())
                    t["attack_accepted"] += int((acc & is_att).sum())
                    pay = np.where(acc, samples * combined, 0).astype(np.float64)
                    t["attacker_pay"] += float(pay[is_att].sum())
                    t["total_pay"] += float(pay.sum())
                    if acc.any():
                        g[s] = fedavg(U[acc], (samples * combined)[acc])
                m = evaluate(spec, g[s], ds.X_test, ds.y_test)
                hist[s]["accuracy"].append(_r(m["accuracy"]))
                hist[s]["loss"].append(_r(m["loss"]))
        if "classical" in systems:
            Uc = classical.train_clients(shape, np.repeat(gc[None], n, 0), Xs, ys, local, seeds)
            gc = fedavg(model_attack(attack, Uc, gc, att), samples)
            m = classical.evaluate(shape, gc, ds.X_test, ds.y_test)
            hist["classical"]["accuracy"].append(_r(m["accuracy"]))
            hist["classical"]["loss"].append(_r(m["loss"]))
    out = {"systems": hist, "attackers": len(att)}
    if "qflchain" in systems:
        out["committee"] = {k: (_r(v) if isinstance(v, float) else v) for k, v in t.items()}
    return out


def local_only(spec: ModelSpec, local: TrainConfig, ds, clients, rounds: int, seed: int) -> list[float]:
    """Test accuracy of every client trained alone for rounds x local epochs (system f)."""
    cfg = batch_for(local, [len(c.y_train) for c in clients]).model_copy(
        update={"epochs": local.epochs * rounds}
    )
    seeds = [10_000 * seed + i for i in range(len(clients))]
    U = train_clients(
        spec, init_params(spec, seed), [c.X_train for c in clients], [c.y_train for c in clients], cfg, seeds
    )
    return [_r(a) for a in evaluate_many(spec, U, ds.X_test, ds.y_test)["accuracy"]]


# ----------------------------------------------------------------------------------------------------------------
# the grid, the noise subset, the energy and communication inputs


def _conditions(mine: dict, fractions) -> list[tuple[str | None, float]]:
    return [(None, 0.0)] + [(a, float(fr)) for a in mine["attacks"] for fr in fractions]


def grid_task(cfg: dict, dataset: str, noisy: bool, split: str | None = None) -> dict:
    """Every cell of one dataset (exact simulation), or of one split of the noise subset (noisy): cells,
    local-only accuracies, seconds."""
    t0 = time.perf_counter()
    common, mine = cfg["common"], cfg[PART]
    local = local_config(common)
    nz = mine["noise"]
    rounds = int(mine["rounds"])
    if noisy:
        spec = model_spec(common, dataset, nz["depolarizing"], int(nz["shots"]))
        splits, sizes, fractions, systems = [split], nz["clients"], nz["fractions"], tuple(nz["systems"])
        rounds = int(nz["rounds"])
    else:
        spec = model_spec(common, dataset)
        splits, sizes, fractions, systems = mine["splits"], mine["clients"], mine["fractions"], SYSTEMS
    cells, local_rows = [], []
    for n in sizes:
        for split in splits:
            for seed in common["seeds"]:
                ds, clients, validators = setup(Condition(dataset, split, n), seed, int(common["n_features"]))
                validators = validators[: int(mine["validators"])]
                if not noisy:
                    local_rows.append(
                        {
                            "dataset": dataset,
                            "split": split,
                            "clients": n,
                            "seed": seed,
                            "accuracy": local_only(spec, local, ds, clients, rounds, seed),
                        }
                    )
                for attack, fraction in _conditions(mine, fractions):
                    res = federation(
                        spec,
                        int(mine["classical_hidden"]),
                        local,
                        ds,
                        clients,
                        validators,
                        rounds,
                        seed,
                        attack,
                        fraction,
                        systems,
                        float(mine["krum_f"]),
                    )
                    cells.append(
                        {
                            "dataset": dataset,
                            "split": split,
                            "clients": n,
                            "seed": seed,
                            "attack": attack or "none",
                            "fraction": fraction,
                            **res,
                        }
                    )
    return {"cells": cells, "local": local_rows, "seconds": round(time.perf_counter() - t0, 1)}


def gate_counts(spec: ModelSpec) -> dict:
    """Gates of one circuit execution (one input row, one forward pass) as the spec declares them."""
    n, layers = spec.n_qubits, spec.n_layers
    encode_layers = layers if spec.encoding == "reupload" else (1 if spec.encoding == "angle" else 0)
    ring = n if n > 2 else (1 if n == 2 else 0)
    one_q = n * (encode_layers + layers * PARAMS_PER_QUBIT_LAYER[spec.ansatz])
    # per layer: [encoding RY] + the ansatz rotations in sequence, then the CNOT ring (sequential: each CNOT
    # shares a qubit with the next)
    depth = layers * (PARAMS_PER_QUBIT_LAYER[spec.ansatz] + ring) + encode_layers
    return {
        "one_qubit_gates": one_q,
        "two_qubit_gates": layers * ring,
        "depth": depth,
        "measured_qubits": n,
        "depolarizing_channels": layers * n,
        "parameter_shift_executions_per_gradient": 2 * spec.n_circuit_params + 1,
    }


def energy_inputs(cfg: dict) -> dict:
    """CPU seconds per client-round of local training (VQC exact, VQC noisy, classical), rows, gate counts."""
    common, mine = cfg["common"], cfg[PART]
    e = mine["energy"]
    local = local_config(common)
    _, clients, _ = setup(
        Condition(e["dataset"], e["split"], int(e["clients"])), 0, int(common["n_features"])
    )
    Xs, ys = [c.X_train for c in clients], [c.y_train for c in clients]
    n, reps = len(clients), int(e["repeats"])
    seeds = list(range(n))
    out = {"dataset": e["dataset"], "split": e["split"], "clients": n, "repeats": reps}
    nz = mine["noise"]
    variants = {"vqc": model_spec(common, e["dataset"])}
    if e.get("noisy", True):
        variants["vqc_noisy"] = model_spec(common, e["dataset"], nz["depolarizing"], int(nz["shots"]))
    local = batch_for(local, [len(y) for y in ys])  # as the federations train (no padding rows computed)
    for name, spec in variants.items():
        g = init_params(spec, 0)
        train_clients(spec, g, Xs, ys, local, seeds)  # compile outside the measurement
        c0 = time.process_time()
        for _ in range(reps):
            train_clients(spec, g, Xs, ys, local, seeds)
        out[f"{name}_cpu_s_per_client_round"] = (time.process_time() - c0) / (reps * n)
    shape = (variants["vqc"].n_features, int(mine["classical_hidden"]), variants["vqc"].n_classes)
    starts = np.repeat(classical.init_params(*shape, 0)[None], n, 0)
    classical.train_clients(shape, starts, Xs, ys, local, seeds)
    c0 = time.process_time()
    for _ in range(reps):
        classical.train_clients(shape, starts, Xs, ys, local, seeds)
    out["classical_cpu_s_per_client_round"] = (time.process_time() - c0) / (reps * n)
    samples = np.array([len(y) for y in ys])
    out["batch_size"] = local.batch_size
    out["rows_per_client_round"] = float(local.epochs * samples.mean())
    out = {k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in out.items()}
    out["circuits"] = {d: gate_counts(model_spec(common, d)) for d in mine["datasets"]}
    return out


def communication(cfg: dict) -> dict:
    """Parameter counts and encoded bytes (qfl.quantum.codec) of each dataset's VQC and classical network."""
    common, mine = cfg["common"], cfg[PART]
    out = {}
    for d in mine["datasets"]:
        spec = model_spec(common, d)
        shape = (spec.n_features, int(mine["classical_hidden"]), spec.n_classes)
        vqc = init_params(spec, 0)
        mlp = classical.init_params(*shape, 0)
        digest = hashlib.sha256(f"classical mlp {shape}".encode()).digest()
        row = {"vqc_params": int(vqc.size), "classical_params": int(mlp.size)}
        for dt in ("float32", "float16", "int8"):
            row[f"vqc_bytes_{dt}"] = len(encode_weights(vqc, spec.digest(), dt))
            row[f"classical_bytes_{dt}"] = len(encode_weights(mlp, digest, dt))
        out[d] = row
    return out


def _run_task(args) -> dict:
    return grid_task(*args)


def run(cfg: dict, out: Path, log: Callable[[str], None]) -> dict:
    """Every system on every cell of learning.yaml, the noise subset, energy and communication inputs."""
    check_config(cfg)
    t0, c0 = time.perf_counter(), time.process_time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ch0 = before.ru_utime + before.ru_stime
    common, mine = cfg["common"], cfg[PART]
    log("learning: measuring CPU time of local training (energy inputs)")
    energy = energy_inputs(cfg)
    nz = mine["noise"]
    tasks = [(cfg, d, False, None) for d in mine["datasets"]]
    tasks += [(cfg, d, True, sp) for d in nz["datasets"] for sp in nz["splits"]]
    workers = max(1, min(int(mine.get("workers", 1)), len(tasks)))
    log(f"learning: {len(tasks)} tasks on {workers} process(es)")
    if workers == 1:
        results = []
        for task in tasks:
            results.append(_run_task(task))
            log(
                f"learning: {task[1]}{f' (noisy, {task[3]})' if task[2] else ''} done in {results[-1]['seconds']} s"
            )
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(_run_task, tasks))
        for task, res in zip(tasks, results, strict=True):
            log(f"learning: {task[1]}{f' (noisy, {task[3]})' if task[2] else ''} done in {res['seconds']} s")
    exact = [r for r, t in zip(results, tasks, strict=True) if not t[2]]
    noisy = [r for r, t in zip(results, tasks, strict=True) if t[2]]
    res = {
        "setup": {
            "datasets": list(mine["datasets"]),
            "models": {d: model_spec(common, d).model_dump() for d in mine["datasets"]},
            "training": dict(common["training"]),
            "n_features": int(common["n_features"]),
            "seeds": list(common["seeds"]),
            "splits": list(mine["splits"]),
            "clients": list(mine["clients"]),
            "rounds": int(mine["rounds"]),
            "attacks": list(mine["attacks"]),
            "fractions": list(mine["fractions"]),
            "validators": int(mine["validators"]),
            "krum_f": float(mine["krum_f"]),
            "classical_hidden": int(mine["classical_hidden"]),
            "targets": {d: float(common["datasets"][d]["target_accuracy"]) for d in mine["datasets"]},
            "noise": dict(nz),
            "workers": workers,
        },
        "cells": [c for r in exact for c in r["cells"]],
        "local": [c for r in exact for c in r["local"]],
        "noise_cells": [c for r in noisy for c in r["cells"]],
        "task_seconds": [r["seconds"] for r in results],
        "energy_inputs": energy,
        "communication": communication(cfg),
    }
    res["seconds"] = round(time.perf_counter() - t0, 1)
    # CPU seconds of this process and its finished workers: the wall time above depends on what else runs
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    res["cpu_seconds"] = round(time.process_time() - c0 + children.ru_utime + children.ru_stime - ch0, 1)
    return res


# ----------------------------------------------------------------------------------------------------------------
# rendering


def _ms(values, digits: int = 3) -> str:
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return "–"
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"


def _final(cell: dict, system: str) -> float:
    return cell["systems"][system]["accuracy"][-1]


def _index(cells: list[dict]) -> dict:
    return {(c["dataset"], c["split"], c["clients"], c["seed"], c["attack"], c["fraction"]): c for c in cells}


def _rounds_to(acc: list[float], target: float) -> int | None:
    return next((i + 1 for i, a in enumerate(acc) if a >= target), None)


def _rounds_cell(cells: list[dict], system: str, target: float) -> str:
    hits = [_rounds_to(c["systems"][system]["accuracy"], target) for c in cells]
    got = [h for h in hits if h is not None]
    if not got:
        return "never"
    text = f"{np.mean(got):.1f}"
    return text if len(got) == len(hits) else f"{text} ({len(got)}/{len(hits)} seeds)"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _plot_curves(results: dict, figures: Path) -> list[str]:
    """Test accuracy per round for a few conditions, every system: learning-curves.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = results["cells"]
    s = results["setup"]
    big = max(s["fractions"]) if s["fractions"] else 0.0
    wanted = [(s["datasets"][0], s["splits"][0], None, 0.0)]
    for d in s["datasets"]:
        for split, attack in (
            (s["splits"][-1], None),
            (s["splits"][min(1, len(s["splits"]) - 1)], "sign_flip"),
        ):
            if attack is None or attack in s["attacks"]:
                wanted.append((d, split, attack, big if attack else 0.0))
    panels = []
    for d, split, attack, fr in wanted:
        n = s["clients"][0]
        sel = [
            c
            for c in cells
            if (c["dataset"], c["split"], c["clients"], c["attack"], c["fraction"])
            == (d, split, n, attack or "none", fr)
        ]
        if sel and (d, split, attack, fr) not in [p[0] for p in panels]:
            panels.append(((d, split, attack, fr), sel, n))
    panels = panels[:4]
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 6.2), squeeze=False)
    rounds = np.arange(1, s["rounds"] + 1)
    styles = {"qflchain": {"lw": 2.5, "zorder": 3}, "fedavg": {"ls": "--", "zorder": 4}}
    for col, ((d, split, attack, fr), sel, n) in enumerate(panels):
        for row, metric in enumerate(("accuracy", "loss")):
            ax = axes[row][col]
            for system in SYSTEMS:
                y = np.array([c["systems"][system][metric] for c in sel])
                ax.plot(rounds, y.mean(0), marker="o", ms=3, label=LABELS[system], **styles.get(system, {}))
            if metric == "accuracy":
                ax.axhline(s["targets"][d], color="grey", ls=":", lw=1)
                what = f"{_pct(fr)} {ATTACK_LABELS[attack]}" if attack else "no attackers"
                ax.set_title(f"{d}, {split}, {n} clients\n{what}", fontsize=9)
                ax.set_ylim(0, 1.02)
            else:
                ax.set_xlabel("round")
    axes[0][0].set_ylabel("test accuracy (mean over seeds)")
    axes[1][0].set_ylabel("test loss (mean over seeds)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    figures.mkdir(parents=True, exist_ok=True)
    fig.savefig(figures / "learning-curves.png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return [
        f"{d}, {split}, {n} clients, {f'{_pct(fr)} {ATTACK_LABELS[a]}' if a else 'no attackers'}"
        for (d, split, a, fr), _, n in panels
    ]


def _plot_attack_loss(rows: list[tuple[str, str, list[float]]], figures: Path) -> None:
    """Accuracy lost at the largest malicious fraction, per attack and system: learning-attacks.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r[0] for r in rows})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 3.4), squeeze=False)
    for ax, d in zip(axes[0], datasets, strict=True):
        mine = [r for r in rows if r[0] == d]
        x = np.arange(len(mine))
        width = 0.8 / len(SYSTEMS)
        for j, system in enumerate(SYSTEMS):
            ax.bar(x + j * width, [r[2][j] for r in mine], width, label=LABELS[system])
        ax.set_xticks(x + 0.4 - width / 2, [r[1] for r in mine], fontsize=8)
        ax.set_title(d, fontsize=9)
        ax.axhline(0, color="black", lw=0.5)
        ax.set_ylabel("accuracy lost (points)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(figures / "learning-attacks.png", dpi=110, metadata={"Software": None})
    plt.close(fig)


def render(results: dict, cfg: dict, figures: Path) -> list[str]:
    """Markdown of the learning sections (deterministic in `results`) and the learning-*.png figures."""
    s = results["setup"]
    cells = results["cells"]
    idx = _index(cells)
    seeds = s["seeds"]
    L: list[str] = []
    quick = "--quick" if len(seeds) == 1 and s["rounds"] <= 3 else ""
    cmd = f"python -m benchmarks.casestudy --parts learning {quick}".strip()
    models = "; ".join(
        f"{d}: {m['n_qubits']} qubits, {m['n_layers']} layers, {m['encoding']} encoding, {m['ansatz']} ansatz, "
        f"{m['n_classes']} classes"
        for d, m in s["models"].items()
    )
    tr = s["training"]
    cpu = f" and {results['cpu_seconds']:.0f} CPU seconds" if "cpu_seconds" in results else ""
    krum_fs = ", ".join(f"f = {math.floor(s['krum_f'] * c)} at {c}" for c in s["clients"])
    L += [
        "## Learning: accuracy and security of every system",
        "",
        f"Every number in these sections comes from `{cmd}` (configs `experiments/case-study/common.yaml` and "
        f"`learning.yaml`), which took {results['seconds']:.0f} s on this 2-core machine with {s['workers']} "
        f"process(es){cpu}. It simulates the protocol's judging off-chain (no chain, no store: the chain part measures "
        "their costs).",
        "",
        f"- Grid: datasets {', '.join(s['datasets'])}; splits {', '.join(s['splits'])}; "
        f"{' and '.join(str(c) for c in s['clients'])} clients; seeds {', '.join(str(x) for x in seeds)} "
        f"(mean ± std over seeds); {s['rounds']} rounds; attacks "
        f"{', '.join(ATTACK_LABELS[a] for a in s['attacks'])} at "
        f"{', '.join(_pct(f) for f in s['fractions'])} malicious clients (ceil(fraction × clients), malicious "
        "in every round), and no attackers.",
        f"- Models: {models}; inputs are {s['n_features']} PCA features scaled to [0, π]; 40% of each dataset "
        "is held out, half of it split among the validators by the clients' rule, half the test set.",
        f"- Local training: {tr['epochs']} epochs, batch {tr['batch_size']}, {tr['optimizer']} at learning rate "
        f"{tr['learning_rate']}, the same for every system and client.",
        f"- (a) QFLchain: {s['validators']} validators, one seat each, each scoring every update on its own rows "
        "(`qfl.fl.judge`); the contract's seat-weighted median decides; accepted updates are averaged weighted by "
        "samples × combined score (what the contract pays), rejected ones slashed and left out. "
        "(b) FedAvg by a trusted server; (c) BlockFL-style averaging of every revealed update is the same "
        "arithmetic as (b), so one column stands for both (the chain part measures how their costs differ). "
        f"(d) coordinate median, and Krum with f = floor({s['krum_f']} × clients) "
        f"({krum_fs}). "
        f"(e) a classical network (features → {s['classical_hidden']} tanh → classes, JAX + optax), FedAvg, "
        "same attacks on its flat weight vector. (f) each client alone for rounds × epochs local epochs.",
        "",
    ]
    # --- clean accuracy and rounds to target
    L += [
        "### Final test accuracy without attackers",
        "",
        "| dataset | split | clients | " + " | ".join(LABELS[x] for x in (*SYSTEMS, "local")) + " |",
        "|---|---|---:|" + "---:|" * (len(SYSTEMS) + 1),
    ]
    local_rows = results["local"]
    for d in s["datasets"]:
        for split in s["splits"]:
            for n in s["clients"]:
                clean = [idx[(d, split, n, sd, "none", 0.0)] for sd in seeds]
                loc = [
                    a
                    for r in local_rows
                    if (r["dataset"], r["split"], r["clients"]) == (d, split, n)
                    for a in r["accuracy"]
                ]
                L.append(
                    f"| {d} | {split} | {n} | "
                    + " | ".join(_ms([_final(c, x) for c in clean]) for x in SYSTEMS)
                    + f" | {_ms(loc)} |"
                )
    L += [
        "",
        "(f) is the mean ± std over every client of every seed: what a client gets without federating.",
        "",
        "### Rounds to the target accuracy (no attackers)",
        "",
        "Target: "
        + ", ".join(f"{d} {t:.2f}" for d, t in s["targets"].items())
        + f"; mean over the seeds that reached it within {s['rounds']} rounds.",
        "",
        "| dataset | split | clients | " + " | ".join(LABELS[x] for x in SYSTEMS) + " |",
        "|---|---|---:|" + "---:|" * len(SYSTEMS),
    ]
    for d in s["datasets"]:
        for split in s["splits"]:
            for n in s["clients"]:
                clean = [idx[(d, split, n, sd, "none", 0.0)] for sd in seeds]
                L.append(
                    f"| {d} | {split} | {n} | "
                    + " | ".join(_rounds_cell(clean, x, s["targets"][d]) for x in SYSTEMS)
                    + " |"
                )
    panels = _plot_curves(results, figures)
    L += [
        "",
        "![learning curves](case-study/learning-curves.png)",
        "",
        f"_Test accuracy (top) and cross-entropy loss (bottom) per round, mean over seeds: {'; '.join(panels)}. "
        "The dotted line is the target; "
        "where QFLchain accepts every update its curve is FedAvg's (dashed, on top)._",
        "",
    ]
    # --- security
    L += [
        "### Final test accuracy under attack",
        "",
        "Mean ± std over splits × clients × seeds.",
        "",
        "| dataset | attack | malicious | " + " | ".join(LABELS[x] for x in SYSTEMS) + " |",
        "|---|---|---:|" + "---:|" * len(SYSTEMS),
    ]
    for d in s["datasets"]:
        for a, fr in [("none", 0.0)] + [(a, fr) for a in s["attacks"] for fr in s["fractions"]]:
            sel = [c for c in cells if c["dataset"] == d and c["attack"] == a and c["fraction"] == fr]
            what = "none" if a == "none" else ATTACK_LABELS[a]
            L.append(
                f"| {d} | {what} | {_pct(fr)} | "
                + " | ".join(_ms([_final(c, x) for c in sel]) for x in SYSTEMS)
                + " |"
            )
    L += [
        "",
        "### Accuracy lost to each attack",
        "",
        "Final test accuracy at 0% minus under attack, same system, split, clients and seed; mean ± std over "
        "splits × clients × seeds (points of accuracy; negative = the attack did not hurt).",
        "",
        "| dataset | attack | malicious | " + " | ".join(LABELS[x] for x in SYSTEMS) + " |",
        "|---|---|---:|" + "---:|" * len(SYSTEMS),
    ]
    bars = []
    big = max(s["fractions"]) if s["fractions"] else None
    losses: dict = {}
    for d in s["datasets"]:
        for a in s["attacks"]:
            for fr in s["fractions"]:
                drops = {x: [] for x in SYSTEMS}
                for split in s["splits"]:
                    for n in s["clients"]:
                        for sd in seeds:
                            base, hit = idx[(d, split, n, sd, "none", 0.0)], idx[(d, split, n, sd, a, fr)]
                            for x in SYSTEMS:
                                drops[x].append(100 * (_final(base, x) - _final(hit, x)))
                losses[(d, a, fr)] = {x: float(np.mean(v)) for x, v in drops.items()}
                L.append(
                    f"| {d} | {ATTACK_LABELS[a]} | {_pct(fr)} | "
                    + " | ".join(_ms(drops[x], 1) for x in SYSTEMS)
                    + " |"
                )
                if fr == big:
                    bars.append((d, ATTACK_LABELS[a], [float(np.mean(drops[x])) for x in SYSTEMS]))
    if bars:
        _plot_attack_loss(bars, figures)
        L += [
            "",
            "![accuracy lost to attacks](case-study/learning-attacks.png)",
            "",
            f"_Accuracy lost at {_pct(big)} malicious clients, mean over splits, clients and seeds._",
        ]
    L += [
        "",
        "### The committee's judgment under attack",
        "",
        "Over every round of every split, client count and seed. Flagged = rejected (slashed). Precision: "
        "attackers among the rejected; recall: attackers' updates rejected; honest rejected: honest updates "
        "slashed; attackers' reward share: their part of the pay (∝ samples × combined score) of all accepted "
        "updates (stake in ETH is measured by the chain part).",
        "",
        "| dataset | attack | malicious | precision | recall | honest rejected | attackers' updates accepted "
        "| attackers' reward share |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]

    def tally(sel: list[dict]) -> dict:
        t = {k: sum(c["committee"][k] for c in sel) for k in sel[0]["committee"]}
        att_updates = t["tp"] + t["fn"]
        return {
            "precision": t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else None,
            "recall": t["tp"] / att_updates if att_updates else None,
            "honest_rejected": t["fp"] / (t["fp"] + t["tn"]) if t["fp"] + t["tn"] else 0.0,
            "attack_accepted": t["attack_accepted"] / att_updates if att_updates else None,
            "share": t["attacker_pay"] / t["total_pay"] if t["total_pay"] else 0.0,
        }

    def f3(x) -> str:
        return "–" if x is None else f"{x:.3f}"

    for d in s["datasets"]:
        sel = [c for c in cells if c["dataset"] == d and c["attack"] == "none"]
        t = tally(sel)
        L.append(f"| {d} | none | 0% | – | – | {f3(t['honest_rejected'])} | – | – |")
        for a in s["attacks"]:
            for fr in s["fractions"]:
                t = tally(
                    [c for c in cells if c["dataset"] == d and c["attack"] == a and c["fraction"] == fr]
                )
                L.append(
                    f"| {d} | {ATTACK_LABELS[a]} | {_pct(fr)} | {f3(t['precision'])} | {f3(t['recall'])} | "
                    f"{f3(t['honest_rejected'])} | {f3(t['attack_accepted'])} | {f3(t['share'])} |"
                )
    for d in s["datasets"]:
        recall = {}
        for a in s["attacks"]:
            t = tally([c for c in cells if c["dataset"] == d and c["attack"] == a])
            recall[a] = t["recall"] or 0.0
        caught = [a for a in s["attacks"] if recall[a] >= 0.8]
        missed = [a for a in s["attacks"] if recall[a] < 0.5]
        worst_fp = max(
            tally([c for c in cells if (c["dataset"], c["attack"], c["fraction"]) == (d, a, fr)])[
                "honest_rejected"
            ]
            for a, fr in [("none", 0.0)] + [(a, fr) for a in s["attacks"] for fr in s["fractions"]]
        )
        text = f"Reading, {d}: the committee rejects " + ", ".join(
            f"{_pct(recall[a])} of the {ATTACK_LABELS[a]} updates" for a in s["attacks"]
        )
        text += f" (all fractions pooled); at most {_pct(worst_fp)} of honest updates are slashed in any condition."
        if caught:
            share = max(
                tally([c for c in cells if (c["dataset"], c["attack"], c["fraction"]) == (d, a, fr)])["share"]
                for a in caught
                for fr in s["fractions"]
            )
            text += (
                f" It stops {' and '.join(ATTACK_LABELS[a] for a in caught)}: their reward share is at most "
                f"{share:.3f}."
            )
        if missed:
            text += (
                f" It mostly misses {' and '.join(ATTACK_LABELS[a] for a in missed)}: such a step looks like an "
                "honest step on other data, is accepted and paid, and QFLchain then loses about as much accuracy "
                "as FedAvg (table above)."
            )
        L += ["", text]
    L += [
        "",
        "By split and client count (every attack and fraction pooled; honest rejected also counts the runs "
        "without attackers):",
        "",
        "| dataset | split | clients | precision | recall | honest rejected | attackers' reward share |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for d in s["datasets"]:
        for split in s["splits"]:
            for n in s["clients"]:
                t = tally([c for c in cells if (c["dataset"], c["split"], c["clients"]) == (d, split, n)])
                L.append(
                    f"| {d} | {split} | {n} | {f3(t['precision'])} | {f3(t['recall'])} | "
                    f"{f3(t['honest_rejected'])} | {f3(t['share'])} |"
                )
    # --- communication
    com = results["communication"]
    L += [
        "",
        "### Communication inputs: the quantum model's bytes against the classical model's",
        "",
        "Weights encoded by `qfl.quantum.codec` (40-byte header with the spec digest, shape, payload); an "
        "update (version 2) adds a 32-byte parent digest. Accuracy: final test accuracy without attackers, "
        "FedAvg, mean over splits × clients × seeds.",
        "",
        "| dataset | model | parameters | bytes float32 | bytes float16 | bytes int8 | accuracy (FedAvg, 0%) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for d in s["datasets"]:
        c = com[d]
        clean = [x for x in cells if x["dataset"] == d and x["attack"] == "none"]
        for label, key, system in (("VQC", "vqc", "fedavg"), ("classical", "classical", "classical")):
            L.append(
                f"| {d} | {label} | {c[f'{key}_params']} | {c[f'{key}_bytes_float32']} | "
                f"{c[f'{key}_bytes_float16']} | {c[f'{key}_bytes_int8']} | "
                f"{_ms([_final(x, system) for x in clean])} |"
            )
    # --- energy
    e = results["energy_inputs"]
    L += [
        "",
        "### Energy inputs (measured here; the energy model multiplies them)",
        "",
        f"CPU seconds (`time.process_time`) per client-round of local training, {e['dataset']}, {e['split']}, "
        f"{e['clients']} clients trained in one call (batch {e['batch_size']}: every client's rows in one batch, "
        f"as in the federations), {e['repeats']} repeats after compiling; "
        f"{e['rows_per_client_round']:.1f} rows processed per client-round ({tr['epochs']} epochs × mean samples).",
        "",
        "| model | CPU s per client-round |",
        "|---|---:|",
        f"| VQC, exact state-vector simulation | {e['vqc_cpu_s_per_client_round']:.3g} |",
    ]
    if "vqc_noisy_cpu_s_per_client_round" in e:
        L.append(
            f"| VQC, density-matrix simulation (noise {s['noise']['depolarizing']}, {s['noise']['shots']} shots) "
            f"| {e['vqc_noisy_cpu_s_per_client_round']:.3g} |"
        )
    L += [
        f"| classical network | {e['classical_cpu_s_per_client_round']:.3g} |",
        "",
        "Gates of one circuit execution (one row, one forward pass), from the spec; a parameter-shift gradient "
        "on hardware takes 2 × circuit parameters + 1 executions per row:",
        "",
        "| dataset | 1-qubit gates | 2-qubit gates (CNOT) | depth | measured qubits | depolarizing channels | "
        "executions per gradient |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for d, g in e["circuits"].items():
        L.append(
            f"| {d} | {g['one_qubit_gates']} | {g['two_qubit_gates']} | {g['depth']} | {g['measured_qubits']} | "
            f"{g['depolarizing_channels']} | {g['parameter_shift_executions_per_gradient']} |"
        )
    # --- noise
    L += _render_noise(results, idx)
    # --- where QFLchain does not win
    L += _render_losses(results, idx, losses)
    return L


def _noise_cost(results: dict) -> str:
    """How many times the exact simulation's CPU time the noisy one took (energy inputs of this run)."""
    e = results["energy_inputs"]
    noisy, exact = e.get("vqc_noisy_cpu_s_per_client_round"), e.get("vqc_cpu_s_per_client_round")
    return f"about {noisy / exact:.0f} times" if noisy and exact else "many times"


def _render_noise(results: dict, idx: dict) -> list[str]:
    nc = results["noise_cells"]
    if not nc:
        return []
    s = results["setup"]
    nz = s["noise"]
    systems = list(nz["systems"])
    nidx = _index(nc)
    keys = sorted({(c["dataset"], c["split"], c["clients"], c["attack"], c["fraction"]) for c in nc}, key=str)
    seeds = sorted({c["seed"] for c in nc})
    L = [
        "",
        "### With quantum noise: depolarizing channels and finite shots",
        "",
        "A subset of the main grid (the rows below; density-matrix simulation costs"
        f" {_noise_cost(results)} the exact state vector's CPU time per client-round, so the whole grid would not"
        " fit the study's hour), simulated as density matrices with"
        f" depolarizing probability {nz['depolarizing']} on "
        f"every qubit after every layer and {nz['shots']} shots per expectation (validators and the test "
        f"evaluation see the same noise); test accuracy after {nz['rounds']} rounds, exact | noisy, mean ± std "
        f"over seeds {', '.join(str(x) for x in seeds)}.",
        "",
        "| dataset | split | clients | attack | " + " | ".join(LABELS[x] for x in systems) + " |",
        "|---|---|---:|---|" + "---|" * len(systems),
    ]
    order = {a: i for i, a in enumerate(("none", *ATTACKS))}
    keys.sort(
        key=lambda k: (k[0], s["splits"].index(k[1]) if k[1] in s["splits"] else 9, k[2], order[k[3]], k[4])
    )
    for d, split, n, a, fr in keys:
        what = "none" if a == "none" else f"{_pct(fr)} {ATTACK_LABELS[a]}"
        row = []
        for x in systems:
            exact = [idx[k] for sd in seeds if (k := (d, split, n, sd, a, fr)) in idx]
            noisy = [nidx[(d, split, n, sd, a, fr)] for sd in seeds]
            at = int(nz["rounds"]) - 1
            row.append(
                f"{_ms([c['systems'][x]['accuracy'][at] for c in exact])} \\| "
                f"{_ms([c['systems'][x]['accuracy'][at] for c in noisy])}"
            )
        L.append(f"| {d} | {split} | {n} | {what} | " + " | ".join(row) + " |")
    at = int(nz["rounds"]) - 1
    shifts = [
        abs(nidx[k]["systems"][x]["accuracy"][at] - idx[k]["systems"][x]["accuracy"][at])
        for k in nidx
        if k in idx
        for x in systems
    ]
    if shifts:
        L += [
            "",
            f"Reading: noise and finite shots move a cell's accuracy (one seed, one system) by "
            f"{100 * float(np.mean(shifts)):.1f} points on average and {100 * max(shifts):.1f} at most.",
        ]
    return L


def _render_losses(results: dict, idx: dict, losses: dict) -> list[str]:
    """Plain statements of where (a) does worse than another system, computed from the tables above."""
    s = results["setup"]
    cells = results["cells"]
    L = [
        "",
        "### Where QFLchain does not win",
        "",
        "Computed from the cells above: a condition is one dataset, split, client count, attack and fraction "
        "(or no attackers), QFLchain's final test accuracy (mean over seeds) against another system's; "
        "behind = more than 1 point lower.",
        "",
    ]
    groups: dict = {}
    for c in cells:
        groups.setdefault((c["dataset"], c["split"], c["clients"], c["attack"], c["fraction"]), []).append(c)
    for d in s["datasets"]:
        clean = [c for c in cells if c["dataset"] == d and c["attack"] == "none"]
        a = np.mean([_final(c, "qflchain") for c in clean])
        for x in ("fedavg", "median", "krum", "classical"):
            b = np.mean([_final(c, x) for c in clean])
            verdict = f"{100 * (b - a):.1f} points better than QFLchain" if b > a else "QFLchain not behind"
            L.append(
                f"- {d}, no attackers, mean over splits × clients × seeds: QFLchain {a:.3f}, {LABELS[x]} {b:.3f} "
                f"({verdict})."
            )
        for x in ("fedavg", "median", "krum", "classical"):
            gaps = []
            for key, sel in groups.items():
                if key[0] != d:
                    continue
                gap = np.mean([_final(c, x) for c in sel]) - np.mean([_final(c, "qflchain") for c in sel])
                gaps.append((round(float(gap), 6), key))
            behind = sorted([g for g in gaps if g[0] > 0.01], reverse=True)
            if not behind:
                L.append(f"- {d}: QFLchain is never behind {LABELS[x]} in any of {len(gaps)} conditions.")
                continue
            gap, (_, split, n, att, fr) = behind[0]
            where = "no attackers" if att == "none" else f"{_pct(fr)} {ATTACK_LABELS[att]}"
            L.append(
                f"- {d}: QFLchain is behind {LABELS[x]} in {len(behind)} of {len(gaps)} conditions, by "
                f"{100 * np.mean([g[0] for g in behind]):.1f} points on average there; most ({100 * gap:.1f} "
                f"points) at {split}, {n} clients, {where}."
            )
        worse = sorted(
            (
                (v["qflchain"] - v[x], att, fr, x)
                for (dd, att, fr), v in losses.items()
                if dd == d
                for x in ("median", "krum", "fedavg")
                if v[x] < v["qflchain"] - 1.0
            ),
            reverse=True,
        )
        base = {x: np.mean([_final(c, x) for c in clean]) for x in ("qflchain", "median", "krum", "fedavg")}
        for gap, att, fr, x in worse:
            L.append(
                f"- {d}, {_pct(fr)} {ATTACK_LABELS[att]}: {LABELS[x]} loses {losses[(d, att, fr)][x]:.1f} points "
                f"to the attack, QFLchain {losses[(d, att, fr)]['qflchain']:.1f} ({gap:.1f} more; without "
                f"attackers {LABELS[x]} is at {base[x]:.3f}, QFLchain at {base['qflchain']:.3f})."
            )
    return L
