"""Committee judgment under non-IID data, attacks, free riders and DP: `python -m qfl.fl.judging [--quick] [--out F]`.

Simulates the protocol's judging off-chain: every round each client trains from the global model g; a fraction of
clients attack; a committee of validators, each with its own held-out rows (a split of a validator pool by the same
non-IID rule as the clients'), scores every update with `qfl.fl.judge.judge_round`; the bytes are combined by the
contract's seat-weighted median (`qfl.fl.committee`); the accepted updates are averaged, weighted by samples x
combined score (pay in proportion to the score), into the next global model.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from qfl.data import load_dataset, split_dirichlet, split_iid, split_shards
from qfl.fl.aggregate import fedavg
from qfl.fl.attacks import colluding, gaussian_noise, label_flip, scaling, sign_flip
from qfl.fl.committee import ACCEPTED, REJECTED, combine
from qfl.fl.judge import ACCEPT_SCORE, JudgeMemory, judge_round
from qfl.fl.privacy import client_epsilon, privatize
from qfl.quantum.model import init_params
from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import TrainConfig, evaluate, train_clients

LOCAL = TrainConfig(epochs=5, batch_size=64, learning_rate=0.3, optimizer="sgd")  # 5 full-batch steps
SPECS = {
    "digits01": ModelSpec(n_qubits=4, n_layers=2, encoding="angle", ansatz="hea", n_classes=2),
    "wine": ModelSpec(n_qubits=4, n_layers=2, encoding="reupload", ansatz="hea", n_classes=3),
}
SPLITS: dict[str, Callable] = {
    "IID": lambda X, y, n, s: split_iid(X, y, n, s),
    "Dirichlet(1.0)": lambda X, y, n, s: split_dirichlet(X, y, n, 1.0, s),
    "Dirichlet(0.3)": lambda X, y, n, s: split_dirichlet(X, y, n, 0.3, s),
    "Dirichlet(0.1)": lambda X, y, n, s: split_dirichlet(X, y, n, 0.1, s),
    "1-label shards": lambda X, y, n, s: split_shards(X, y, n, 1, s),
}
ATTACKS = [
    "sign-flip x1",
    "sign-flip x3",
    "label-flip",
    "scaling x10",
    "noise sigma=1",
    "free rider",
    "momentum",
    "copy earlier",
    "30% colluding",
]
N_VALIDATORS = 7
ATTACK_FRACTION = 0.2  # of the clients, for every attack but the colluding group (30%)
DP_CLIP = 0.5


@dataclass
class Tally:
    """Outcome counts of one run."""

    honest: int = 0
    honest_accepted: int = 0
    honest_rejected: int = 0
    attack: int = 0
    attack_rejected: int = 0
    attack_accepted: int = 0
    validator_right: list = field(default_factory=lambda: [0] * N_VALIDATORS)
    validator_seen: int = 0
    accuracy: float = 0.0


def _attack_rows(name, U, g, g_prev, U_prev, att, clients, spec, r, n_classes):
    """The updates the attackers `att` send instead of their honest rows of U."""
    if name == "sign-flip x1":
        return np.stack([sign_flip(U[i], g, 1.0) for i in att])
    if name == "sign-flip x3":
        return np.stack([sign_flip(U[i], g, 3.0) for i in att])
    if name == "scaling x10":
        return np.stack([scaling(U[i], g, 10.0) for i in att])
    if name == "noise sigma=1":
        return np.stack([gaussian_noise(U[i], 1.0, 1000 * r + int(i)) for i in att])
    if name == "free rider":
        return np.stack([g.copy() for _ in att])
    if name == "momentum":
        return np.stack([(g + (g - g_prev)).astype(np.float32) for _ in att])
    if name == "copy earlier":  # each copies the previous-round update of a different, honest client
        honest = [j for j in range(len(U)) if j not in set(att)]
        return np.stack([U_prev[honest[k % len(honest)]] for k in range(len(att))])
    if name == "label-flip":
        Xs = [clients[i].X_train for i in att]
        ys = [label_flip(clients[i].y_train, n_classes) for i in att]
        return train_clients(spec, g, Xs, ys, LOCAL, [100 * r + int(i) for i in att])
    if name == "30% colluding":
        return colluding(U[att], g, scale=1.0)
    raise ValueError(f"unknown attack {name!r}")


def run(
    ds,
    spec: ModelSpec,
    clients,
    validators,
    rounds: int,
    seed: int,
    attack: str | None = None,
    dp_noise: float | None = None,
    judged: bool = True,
) -> Tally:
    """One federation: `rounds` rounds, attackers from round 1 on; returns the tally and final test accuracy."""
    n = len(clients)
    rng = np.random.default_rng(seed)
    k = math.ceil((0.3 if attack == "30% colluding" else ATTACK_FRACTION) * n) if attack else 0
    att = np.sort(rng.choice(n, size=k, replace=False)) if k else np.array([], int)
    is_att = np.zeros(n, bool)
    is_att[att] = True
    Xs, ys = [c.X_train for c in clients], [c.y_train for c in clients]
    samples = np.array([len(y) for y in ys])
    local_steps = None if dp_noise is not None else LOCAL.epochs * np.ceil(samples / LOCAL.batch_size)
    memories = [JudgeMemory() for _ in validators]
    g = init_params(spec, seed)
    g_prev, U_prev = g, None
    t = Tally()
    for r in range(rounds):
        U = train_clients(spec, g, Xs, ys, LOCAL, [10_000 * seed + 100 * r + i for i in range(n)])
        if dp_noise is not None:
            U = np.stack(
                [privatize(U[i], g, DP_CLIP, dp_noise, 10_000 * seed + 100 * r + i) for i in range(n)]
            )
        attacking = attack is not None and r >= 1
        if attacking:
            U[att] = _attack_rows(attack, U, g, g_prev, U_prev, att, clients, spec, r, spec.n_classes)
        if not judged:
            g_prev, U_prev, g = g, U, fedavg(U, samples)
            continue
        matrix = np.stack(
            [
                judge_round(spec, g, U, v.X_val, v.y_val, memory=m, owners=range(n), local_steps=local_steps)
                for v, m in zip(validators, memories, strict=True)
            ]
        )
        outcomes, combined = combine(matrix, [1] * len(validators))
        bad = is_att if attacking else np.zeros(n, bool)
        for i, o in enumerate(outcomes):
            if bad[i]:
                t.attack += 1
                t.attack_rejected += o == REJECTED
                t.attack_accepted += o == ACCEPTED
            else:
                t.honest += 1
                t.honest_accepted += o == ACCEPTED
                t.honest_rejected += o == REJECTED
        for v in range(len(validators)):
            t.validator_right[v] += int(((matrix[v] >= ACCEPT_SCORE) != bad).sum())
        t.validator_seen += n
        keep = np.array([o == ACCEPTED for o in outcomes])
        g_prev, U_prev = g, U
        if keep.any():
            g = fedavg(U[keep], samples[keep] * combined[keep])
    t.accuracy = evaluate(spec, g, ds.X_test, ds.y_test)["accuracy"]
    return t


@dataclass(frozen=True)
class Condition:
    dataset: str
    split: str
    n_clients: int


def setup(cond: Condition, seed: int, n_features: int = 4):
    """Dataset (test part = the second half of the hold-out), clients, and N_VALIDATORS validators' rows."""
    ds = load_dataset(cond.dataset, n_features=n_features, test_fraction=0.4, seed=0)
    split = SPLITS[cond.split]
    pool_X, pool_y = ds.X_test[0::2], ds.y_test[0::2]  # validators' rows; the rest is the test set
    ds = type(ds)(**{**ds.__dict__, "X_test": ds.X_test[1::2], "y_test": ds.y_test[1::2]})
    clients = split(ds.X_train, ds.y_train, cond.n_clients, seed)
    parts = split(pool_X, pool_y, N_VALIDATORS, seed + 1000)
    validators = [
        type(p)(
            p.X_train, p.y_train, np.concatenate([p.X_train, p.X_val]), np.concatenate([p.y_train, p.y_val])
        )
        for p in parts
    ]
    return ds, clients, validators


def _cell(values) -> str:
    v = np.asarray(values, np.float64)
    return f"{v.mean():.2f} ± {v.std():.2f}"


def measure(conds: list[Condition], seeds: list[int], rounds: int, dp_noises: list[float]):
    """Rows of the judgment table, the accuracy table and the DP table (markdown)."""
    judge_rows = [
        "| dataset | split | clients | honest accepted | honest slashed | "
        + " | ".join(ATTACKS)
        + " | validator accuracy |",
        "|---|---|---:|" + "---:|" * (len(ATTACKS) + 3),
    ]
    acc_rows = [
        "| dataset | split | clients | FedAvg, no attackers | judged, no attackers | judged, worst attack | worst attack "
        "| paid: sign-flip x1 | paid: sign-flip x3 | paid: label-flip | paid: any other attack (max) |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    dp_rows = [
        "| dataset | split | clients | noise z | epsilon (delta=1e-5) | honest accepted | honest slashed | accuracy | FedAvg without DP |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cond in conds:
        spec = SPECS[cond.dataset]
        per = {k: [] for k in ("h_acc", "h_rej", "val", "fedavg", "clean")}
        rej = {a: [] for a in ATTACKS}
        paid = {a: [] for a in ATTACKS}
        acc_att = {a: [] for a in ATTACKS}
        dp = {z: {"acc": [], "h_acc": [], "h_rej": []} for z in dp_noises}
        for seed in seeds:
            ds, clients, validators = setup(cond, seed)
            base = run(ds, spec, clients, validators, rounds, seed, judged=False)
            per["fedavg"].append(base.accuracy)
            tallies = {None: run(ds, spec, clients, validators, rounds, seed)}
            for a in ATTACKS:
                tallies[a] = run(ds, spec, clients, validators, rounds, seed, attack=a)
                rej[a].append(tallies[a].attack_rejected / max(tallies[a].attack, 1))
                paid[a].append(tallies[a].attack_accepted / max(tallies[a].attack, 1))
                acc_att[a].append(tallies[a].accuracy)
            per["clean"].append(tallies[None].accuracy)
            h = sum(t.honest for t in tallies.values())
            per["h_acc"].append(sum(t.honest_accepted for t in tallies.values()) / h)
            per["h_rej"].append(sum(t.honest_rejected for t in tallies.values()) / h)
            seen = sum(t.validator_seen for t in tallies.values())
            per["val"].append(
                np.mean(
                    [sum(t.validator_right[v] for t in tallies.values()) / seen for v in range(N_VALIDATORS)]
                )
            )
            for z in dp_noises:
                t = run(ds, spec, clients, validators, rounds, seed, dp_noise=z)
                dp[z]["acc"].append(t.accuracy)
                dp[z]["h_acc"].append(t.honest_accepted / t.honest)
                dp[z]["h_rej"].append(t.honest_rejected / t.honest)
        head = f"| {cond.dataset} | {cond.split} | {cond.n_clients} |"
        judge_rows.append(
            f"{head} {_cell(per['h_acc'])} | {_cell(per['h_rej'])} | "
            + " | ".join(_cell(rej[a]) for a in ATTACKS)
            + f" | {_cell(per['val'])} |"
        )
        worst = min(ATTACKS, key=lambda a: np.mean(acc_att[a]))
        flips = ["sign-flip x1", "sign-flip x3", "label-flip"]
        others = max((a for a in ATTACKS if a not in flips), key=lambda a: np.mean(paid[a]))
        acc_rows.append(
            f"{head} {_cell(per['fedavg'])} | {_cell(per['clean'])} | {_cell(acc_att[worst])} | {worst} | "
            + " | ".join(_cell(paid[a]) for a in [*flips, others])
            + " |"
        )
        for z in dp_noises:
            eps = client_epsilon(z, rounds)
            dp_rows.append(
                f"{head} {z} | {eps:.1f} | {_cell(dp[z]['h_acc'])} | {_cell(dp[z]['h_rej'])} | "
                f"{_cell(dp[z]['acc'])} | {_cell(per['fedavg'])} |"
            )
        print(judge_rows[-1], acc_rows[-1], *dp_rows[-len(dp_noises) :], sep="\n", flush=True)
    return judge_rows, acc_rows, dp_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one seed, 10 clients, 3 rounds, three splits")
    parser.add_argument("--out", help="also write the markdown to this file")
    parser.add_argument("--datasets", default="digits01,wine")
    parser.add_argument("--clients", default="10,50")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    datasets = args.datasets.split(",")
    unknown = [d for d in datasets if d not in SPECS]
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; choose from {sorted(SPECS)}")
    if args.quick:
        splits, sizes, seeds, rounds = ["IID", "Dirichlet(0.3)", "1-label shards"], [10], [0], 3
    else:
        splits, sizes = list(SPLITS), [int(c) for c in args.clients.split(",")]
        seeds, rounds = list(range(args.seeds)), args.rounds
    conds = [Condition(d, s, n) for d in datasets for n in sizes for s in splits]
    t0 = time.perf_counter()
    judge_rows, acc_rows, dp_rows = measure(conds, seeds, rounds, [0.3, 1.0])
    cmd = "python -m qfl.fl.judging" + (" --quick" if args.quick else "") + f" --datasets {args.datasets}"
    text = "\n".join(
        [
            f"### Committee judgment: fraction of updates per outcome ({len(seeds)} seeds, {rounds} rounds, "
            f"{N_VALIDATORS} validators)",
            "",
            *judge_rows,
            "",
            "### Test accuracy of the judged global model",
            "",
            *acc_rows,
            "",
            f"### Client-level DP (clip {DP_CLIP}, noise z x clip per weight, {rounds} rounds)",
            "",
            *dp_rows,
            "",
            f"_`{cmd}`: {time.perf_counter() - t0:.0f} s on this machine._",
        ]
    )
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
