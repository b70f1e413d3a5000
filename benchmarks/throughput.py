"""Training throughput (samples x steps / s) of QFLchain's TensorCircuit-NG trainer vs PennyLane default.qubit.

Run: .venv-bench/bin/python -m benchmarks.throughput [--qubits 8]   (PennyLane lives only in .venv-bench)
Writes benchmarks/results/throughput.md (throughput-<qubits>.md for a subset). Same circuit (angle encoding,
hardware-efficient RY/RZ + CNOT ring, <Z_k> readout with trainable scale/bias), same data, same Adam steps, in
the same process.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qfl.data import load_dataset
from qfl.quantum.model import init_params, logits
from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import TrainConfig, train_clients

QUBITS = (4, 8, 12)
LAYERS = 2
BATCH = 16
ONE_CLIENT_ROWS = 256
MANY_CLIENTS = 50
ROWS_PER_CLIENT = 64
LR = 0.05
REPEATS = 6  # alternating timed calls of each trainer per setting (compiled already)
OUT = Path(__file__).parent / "results" / "throughput.md"


def pennylane_model(spec: ModelSpec):
    """The same circuit written in PennyLane, batched by parameter broadcasting over the rows of X."""
    import pennylane as qml

    n = spec.n_qubits
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="jax", diff_method="backprop")
    def circuit(w, X):
        for q in range(n):
            qml.RY(X[:, q], wires=q)
        for layer in range(spec.n_layers):
            for q in range(n):
                qml.RY(w[layer, 0, q], wires=q)
                qml.RZ(w[layer, 1, q], wires=q)
            for q in range(n):
                qml.CNOT(wires=[q, (q + 1) % n])
        return [qml.expval(qml.PauliZ(k)) for k in range(spec.n_classes)]

    def model_logits(params, X):
        p = spec.n_circuit_params
        z = jnp.stack(circuit(params[:p].reshape(spec.n_layers, 2, n), X), axis=-1)
        return params[p : p + spec.n_classes] * z + params[p + spec.n_classes :]

    return model_logits, qml.__version__


def pennylane_trainer(model_logits, steps: int):
    """Jitted Adam training over `steps` fixed mini-batches (rows in order), one client."""
    opt = optax.adam(LR)

    def loss(params, Xb, yb):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(model_logits(params, Xb), yb))

    @jax.jit
    def train(params, X, y):
        Xs, ys = X.reshape(steps, BATCH, -1), y.reshape(steps, BATCH)

        def step(carry, batch):
            p, s = carry
            g = jax.grad(loss)(p, *batch)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), (Xs, ys))
        return params

    return train


def pennylane_eager_rate(model_logits, params, Xs, ys, max_clients: int = 5) -> float:
    """Samples/s of plain (un-jitted) PennyLane training, as in its tutorials: jax.grad + optax per step."""
    opt = optax.adam(LR)
    grad = jax.grad(
        lambda p, Xb, yb: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(model_logits(p, Xb), yb))
    )
    samples, seconds = 0, 0.0
    for X, y in list(zip(Xs, ys, strict=True))[:max_clients]:
        p = jnp.asarray(params)
        state = opt.init(p)
        jax.block_until_ready(grad(p, jnp.asarray(X[:BATCH]), jnp.asarray(y[:BATCH])))  # warm op caches
        t0 = time.perf_counter()
        for i in range(len(y) // BATCH):
            g = grad(
                p, jnp.asarray(X[i * BATCH : (i + 1) * BATCH]), jnp.asarray(y[i * BATCH : (i + 1) * BATCH])
            )
            u, state = opt.update(g, state, p)
            p = optax.apply_updates(p, u)
        jax.block_until_ready(p)
        seconds += time.perf_counter() - t0
        samples += (len(y) // BATCH) * BATCH
    return samples / seconds


def timed(fn, repeats: int = 2) -> tuple[float, float]:
    """(first call incl. compile, best later call) in seconds."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return first, best


def bench_qubits(n: int) -> list[dict]:
    spec = ModelSpec(n_qubits=n, n_layers=LAYERS, encoding="angle", ansatz="hea", n_classes=2)
    ds = load_dataset("digits01", n_features=n, test_fraction=0.25, seed=0)
    rng = np.random.default_rng(0)
    X1 = ds.X_train[rng.integers(0, len(ds.y_train), ONE_CLIENT_ROWS)]
    y1 = ds.y_train[rng.integers(0, len(ds.y_train), ONE_CLIENT_ROWS)]
    idx = rng.integers(0, len(ds.y_train), (MANY_CLIENTS, ROWS_PER_CLIENT))
    Xm, ym = ds.X_train[idx], ds.y_train[idx]
    params = init_params(spec, 0)
    pl_logits, pl_version = pennylane_model(spec)
    np.testing.assert_allclose(  # identical circuit: same logits from both simulators
        np.asarray(pl_logits(jnp.asarray(params), jnp.asarray(X1[:8]))),
        np.asarray(logits(spec, params, X1[:8])),
        atol=1e-4,
    )
    cfg = TrainConfig(epochs=1, batch_size=BATCH, learning_rate=LR, optimizer="adam")
    rows = []
    for label, Xs, ys in (("1 client", [X1], [y1]), (f"{MANY_CLIENTS} clients", list(Xm), list(ym))):
        samples = sum(len(y) for y in ys)
        tc_run = lambda Xs=Xs, ys=ys: train_clients(spec, params, Xs, ys, cfg)  # noqa: E731
        tc_first, tc_best = timed(tc_run, repeats=1)
        steps = len(ys[0]) // BATCH
        pl_train = pennylane_trainer(pl_logits, steps)
        p0 = jnp.asarray(params)
        try:
            many = jax.jit(jax.vmap(pl_train, in_axes=(None, 0, 0)))
            stackX, stackY = jnp.asarray(np.stack(Xs)), jnp.asarray(np.stack(ys))
            pl_run = lambda f=many, a=p0, b=stackX, c=stackY: f(a, b, c)  # noqa: E731
            pl_first, pl_best = timed(pl_run, repeats=1)
            pl_mode = "jit+vmap over clients"
        except Exception as exc:  # noqa: BLE001 - PennyLane may refuse vmap; fall back to a loop
            print(f"PennyLane vmap over clients failed ({type(exc).__name__}); looping", file=sys.stderr)
            pl_run = lambda f=pl_train, a=p0, Xs=Xs, ys=ys: [  # noqa: E731
                f(a, jnp.asarray(x), jnp.asarray(y)) for x, y in zip(Xs, ys, strict=True)
            ]
            pl_first, pl_best = timed(pl_run, 1)
            pl_mode = "jit, loop over clients"
        # On a shared machine other work slows any one call: alternate the two trainers and keep each one's
        # best, so a busy spell cannot favour either side.
        for _ in range(REPEATS):
            tc_best = min(tc_best, timed(tc_run, repeats=1)[0])
            pl_best = min(pl_best, timed(pl_run, repeats=1)[0])
        pl_eager = pennylane_eager_rate(pl_logits, params, Xs, ys)
        row = dict(
            qubits=n,
            setting=label,
            samples=samples,
            tc_rate=samples / tc_best,
            tc_compile=tc_first - tc_best,
            pl_rate=samples / pl_best,
            pl_compile=pl_first - pl_best,
            pl_eager_rate=pl_eager,
            pl_mode=pl_mode,
            pl_version=pl_version,
        )
        print(row, flush=True)
        rows.append(row)
    return rows


def report(rows: list[dict], seconds: float, command: str) -> str:
    """Markdown table of the measurements."""
    import tensorcircuit as tc

    lines = [
        "# Training throughput: TensorCircuit-NG (QFLchain) vs PennyLane default.qubit",
        "",
        f"Command: `{command}` (total run "
        f"{seconds:.0f} s on {os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}, "
        f"jax {jax.__version__}, tensorcircuit-ng {tc.__version__}, pennylane {rows[0]['pl_version']}).",
        "",
        f"Circuit: angle encoding, {LAYERS} hardware-efficient layers (RY, RZ, CNOT ring), <Z_0>, <Z_1> readout with "
        f"trainable scale and bias, softmax cross-entropy, Adam lr {LR}, batch {BATCH}, one epoch. Data: sklearn "
        f"digits 0-vs-1, PCA to n_qubits features. '1 client' = {ONE_CLIENT_ROWS} rows; "
        f"'{MANY_CLIENTS} clients' = {MANY_CLIENTS} x {ROWS_PER_CLIENT} rows trained at once. Both sides are "
        "checked to give the same logits before timing. Throughput = samples x steps per second = rows processed "
        "by training steps per second of wall time (best of 7 calls of each trainer, alternating between the two, compile excluded and shown apart). "
        "'PennyLane jit' is PennyLane at its fastest: the whole epoch under jax.jit (lax.scan over steps), rows "
        "batched by parameter broadcasting, clients by jax.vmap. 'PennyLane eager' is the tutorial style: "
        "jax.grad + optax per step without jit (first 5 clients, rate extrapolates). TC = the QFLchain trainer "
        "(qfl.quantum.train.train_clients): up to 10 qubits its noise-free circuits run on the dense state-vector "
        "path of qfl.quantum.circuits (Kronecker-factored matmuls, CNOT ring as a permutation), at 12 qubits on "
        "TensorCircuit-NG gate by gate.",
        "",
        "| qubits | setting | QFLchain TC samples/s | PennyLane jit samples/s | speed-up vs PL jit | "
        "PennyLane eager samples/s | speed-up vs PL eager | TC compile s | PL compile s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['qubits']} | {r['setting']} | {r['tc_rate']:,.0f} | {r['pl_rate']:,.0f} | "
            f"{r['tc_rate'] / r['pl_rate']:.1f}x | {r['pl_eager_rate']:,.0f} | {r['tc_rate'] / r['pl_eager_rate']:.0f}x | "
            f"{r['tc_compile']:.1f} | {r['pl_compile']:.1f} |"
        )
    lines += ["", "Verdict on the target (>= 10x PennyLane default.qubit, JAX interface, at 8 qubits):", ""]
    for n in sorted({r["qubits"] for r in rows}):
        mine = [r for r in rows if r["qubits"] == n]
        jit = min(r["tc_rate"] / r["pl_rate"] for r in mine)
        eager = min(r["tc_rate"] / r["pl_eager_rate"] for r in mine)
        lines.append(
            f"- {n} qubits: at least {jit:.1f}x PennyLane jit ({'met' if jit >= 10 else 'missed'} against jit), "
            f"at least {eager:.0f}x PennyLane eager ({'met' if eager >= 10 else 'missed'} against eager)."
        )
    lines += [
        "",
        "Why not 10x against PennyLane jit: under jax.jit both sides end up as XLA CPU programs over the same "
        "2^n amplitudes, so the gap is what the formulation saves, not interpreter overhead (that is the gap to "
        "eager PennyLane). At 8 qubits and batch 16 a step is a few hundred microseconds of small fused "
        "element-wise loops, gathers and 16x16 matmuls on a shared 2-core CPU; what is left is XLA's per-element "
        "cost of those loops (index arithmetic of reshapes and broadcasts), not flops.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qubits", default=",".join(map(str, QUBITS)), help="comma-separated widths")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = [row for n in (int(q) for q in args.qubits.split(",")) for row in bench_qubits(n)]
    command = ".venv-bench/bin/python -m benchmarks.throughput" + (
        f" --qubits {args.qubits}" if args.qubits != ",".join(map(str, QUBITS)) else ""
    )
    text = report(rows, time.perf_counter() - t0, command)
    out = OUT if args.qubits == ",".join(map(str, QUBITS)) else OUT.with_name(f"throughput-{args.qubits}.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
