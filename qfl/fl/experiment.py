"""Accuracy experiments behind docs/learning.md: `python -m qfl.fl.experiment [--out FILE]` prints markdown tables."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from qfl.data import ClientData, load_dataset, split_dirichlet, split_iid, split_shards
from qfl.fl.aggregate import coordinate_median, fedavg, krum, multi_krum, trimmed_mean
from qfl.fl.attacks import gaussian_noise, label_flip, scaling, sign_flip
from qfl.fl.scoring import decide_votes, score_updates
from qfl.quantum.model import init_params
from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import TrainConfig, evaluate, train_clients, train_local

SPEC = ModelSpec(n_qubits=4, n_layers=2, encoding="angle", ansatz="hea", n_classes=2)
LOCAL = TrainConfig(epochs=1, batch_size=8, learning_rate=0.1)


def federated_run(
    clients: list[ClientData],
    ds,
    rounds: int,
    aggregate: Callable[[np.ndarray, np.ndarray], np.ndarray],
    cfg: TrainConfig = LOCAL,
    n_attackers: int = 0,
    flip_scale: float = 4.0,
    spec: ModelSpec = SPEC,
) -> list[float]:
    """Test accuracy after each round; the first n_attackers clients sign-flip their update."""
    g = init_params(spec, 0)
    n = np.array([len(c.y_train) for c in clients])
    history = []
    for r in range(rounds):
        seeds = [100 * r + i for i in range(len(clients))]
        U = train_clients(spec, g, [c.X_train for c in clients], [c.y_train for c in clients], cfg, seeds)
        for i in range(n_attackers):
            U[i] = sign_flip(U[i], g, flip_scale)
        g = aggregate(U, n)
        history.append(evaluate(spec, g, ds.X_test, ds.y_test)["accuracy"])
    return history


def central_table() -> list[str]:
    """Centrally trained models on the built-in datasets."""
    rows = [
        "| dataset | qubits | layers | encoding | ansatz | epochs | test accuracy |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    setups = [
        ("digits01", 4, 2, "angle", "hea", 3),
        ("digits01", 4, 2, "reupload", "sel", 3),
        ("iris", 4, 3, "reupload", "sel", 30),
        ("wine", 4, 3, "reupload", "sel", 30),
        ("breast_cancer", 4, 2, "reupload", "hea", 5),
    ]
    for name, q, layers, enc, ans, epochs in setups:
        ds = load_dataset(name, n_features=q, test_fraction=0.25, seed=0)
        spec = ModelSpec(n_qubits=q, n_layers=layers, encoding=enc, ansatz=ans, n_classes=ds.n_classes)
        params = train_local(
            spec, init_params(spec, 0), ds.X_train, ds.y_train, TrainConfig(epochs=epochs, learning_rate=0.1)
        )
        acc = evaluate(spec, params, ds.X_test, ds.y_test)["accuracy"]
        rows.append(f"| {name} | {q} | {layers} | {enc} | {ans} | {epochs} | {acc:.3f} |")
    return rows


def federated_table(ds) -> list[str]:
    """FedAvg / FedProx on IID and Dirichlet splits: accuracy after 5, 10, 20 rounds."""
    rows = [
        "| split (10 clients) | rule | round 5 | round 10 | round 20 | first round >= 95% |",
        "|---|---|---:|---:|---:|---:|",
    ]
    prox = LOCAL.model_copy(update={"prox_mu": 0.1})
    for label, clients in (
        ("IID", split_iid(ds.X_train, ds.y_train, 10, seed=0)),
        ("Dirichlet(1.0)", split_dirichlet(ds.X_train, ds.y_train, 10, 1.0, seed=0)),
        ("Dirichlet(0.3)", split_dirichlet(ds.X_train, ds.y_train, 10, 0.3, seed=0)),
        ("Dirichlet(0.3), seed 1", split_dirichlet(ds.X_train, ds.y_train, 10, 0.3, seed=1)),
    ):
        for rule, cfg in (("FedAvg", LOCAL), ("FedProx mu=0.1", prox)):
            h = federated_run(clients, ds, 20, fedavg, cfg)
            first = next((i + 1 for i, a in enumerate(h) if a >= 0.95), None)
            rows.append(f"| {label} | {rule} | {h[4]:.3f} | {h[9]:.3f} | {h[19]:.3f} | {first or 'never'} |")
    return rows


def multiclass_table() -> list[str]:
    """A harder task where label skew shows: wine (3 classes), 4 qubits, re-uploading SEL, 30 rounds."""
    ds = load_dataset("wine", n_features=4, test_fraction=0.25, seed=0)
    spec = ModelSpec(n_qubits=4, n_layers=3, encoding="reupload", ansatz="sel", n_classes=3)
    cfg = TrainConfig(epochs=2, batch_size=8, learning_rate=0.1)
    rows = ["| split (5 clients) | rule | round 10 | round 30 | best |", "|---|---|---:|---:|---:|"]
    prox = cfg.model_copy(update={"prox_mu": 0.1})
    for label, clients in (
        ("IID", split_iid(ds.X_train, ds.y_train, 5, seed=0)),
        ("Dirichlet(0.3)", split_dirichlet(ds.X_train, ds.y_train, 5, 0.3, seed=0)),
        ("shards, 1 label/client", split_shards(ds.X_train, ds.y_train, 5, 1, seed=0)),
    ):
        for rule, c in (("FedAvg", cfg), ("FedProx mu=0.1", prox)):
            h = federated_run(clients, ds, 30, fedavg, c, spec=spec)
            rows.append(f"| {label} | {rule} | {h[9]:.3f} | {h[29]:.3f} | {max(h):.3f} |")
    return rows


def robust_table(ds) -> list[str]:
    """30% sign-flipping clients (scale 4) against each aggregation rule, IID split, 10 rounds."""
    clients = split_iid(ds.X_train, ds.y_train, 10, seed=0)
    rules = {
        "fedavg": fedavg,
        "coordinate_median": lambda u, n: coordinate_median(u),
        "trimmed_mean(0.3)": lambda u, n: trimmed_mean(u, 0.3),
        "krum(f=3)": lambda u, n: krum(u, 3),
        "multi_krum(f=3, m=5)": lambda u, n: multi_krum(u, 3, 5),
    }
    rows = ["| rule | no attack | 3/10 sign-flip x4 |", "|---|---:|---:|"]
    for name, rule in rules.items():
        clean = federated_run(clients, ds, 10, rule)[-1]
        attacked = federated_run(clients, ds, 10, rule, n_attackers=3)[-1]
        rows.append(f"| {name} | {clean:.3f} | {attacked:.3f} |")
    return rows


def scoring_table(ds) -> list[str]:
    """Validator votes over rounds 1-4: honest acceptance and attack acceptance, per split."""
    rows = [
        "| split | honest accepted | sign-flip x1 | sign-flip x3 | scaling x10 | noise sigma=1 | free-rider | label-flip |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    X_val, y_val = ds.X_test[:45], ds.y_test[:45]
    for label, split in (
        ("IID", lambda s: split_iid(ds.X_train, ds.y_train, 10, s)),
        ("Dirichlet(1.0)", lambda s: split_dirichlet(ds.X_train, ds.y_train, 10, 1.0, s)),
        ("Dirichlet(0.3)", lambda s: split_dirichlet(ds.X_train, ds.y_train, 10, 0.3, s)),
    ):
        honest, attacked = [], []
        for seed in range(3):
            clients = split(seed)
            Xs, ys = [c.X_train for c in clients], [c.y_train for c in clients]
            g = init_params(SPEC, 0)
            for r in range(5):
                U = train_clients(SPEC, g, Xs, ys, LOCAL, [100 * r + i for i in range(10)])
                if r > 0:
                    flipped = train_clients(SPEC, g, Xs[:1], [label_flip(ys[0], 2)], LOCAL)[0]
                    A = [
                        sign_flip(U[0], g, 1.0),
                        sign_flip(U[1], g, 3.0),
                        scaling(U[2], g, 10.0),
                        gaussian_noise(U[3], 1.0, r),
                        g.copy(),
                        flipped,
                    ]
                    honest.append(decide_votes(score_updates(SPEC, g, U, X_val, y_val)).mean())
                    votes = [
                        decide_votes(
                            score_updates(SPEC, g, np.concatenate([U[3:], np.stack([a] * 3)]), X_val, y_val)
                        )[7:].mean()
                        for a in A
                    ]
                    attacked.append(votes)
                g = fedavg(U, [len(y) for y in ys])
        a = np.mean(attacked, axis=0)
        rows.append(f"| {label} | {np.mean(honest):.2f} | " + " | ".join(f"{v:.2f}" for v in a) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", help="also write the markdown to this file")
    args = parser.parse_args()
    t0 = time.perf_counter()
    ds = load_dataset("digits01", n_features=4, test_fraction=0.25, seed=0)
    parts = [
        "### Central training (test accuracy)",
        *central_table(),
        "",
        "### Federated, digits 0-vs-1, 4 qubits (test accuracy)",
        *federated_table(ds),
        "",
        "### Federated, wine (3 classes), 4 qubits (test accuracy)",
        *multiclass_table(),
        "",
        "### Robust aggregation under attack (test accuracy after 10 rounds)",
        *robust_table(ds),
        "",
        "### Validator votes (fraction accepted; 3 attackers of 10, rounds 1-4, 3 split seeds)",
        *scoring_table(ds),
        "",
        f"_{time.perf_counter() - t0:.0f} s on this machine._",
    ]
    text = "\n".join(parts) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
