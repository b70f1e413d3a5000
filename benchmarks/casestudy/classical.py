"""The case study's classical baseline (system e): a one-hidden-layer tanh network in JAX + optax, a flat float32
weight vector like the VQC's, trained with the same local schedule (shuffled mini-batches, epochs, optimiser)."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qfl.quantum.train import TrainConfig


def n_params(n_features: int, hidden: int, n_classes: int) -> int:
    """Weights and biases of features -> hidden (tanh) -> classes."""
    return n_features * hidden + hidden + hidden * n_classes + n_classes


def init_params(n_features: int, hidden: int, n_classes: int, seed: int) -> np.ndarray:
    """Glorot-uniform weights, zero biases, flat float32 (deterministic in seed)."""
    rng = np.random.default_rng(seed)

    def glorot(a: int, b: int) -> np.ndarray:
        lim = math.sqrt(6.0 / (a + b))
        return rng.uniform(-lim, lim, size=a * b)

    parts = [glorot(n_features, hidden), np.zeros(hidden), glorot(hidden, n_classes), np.zeros(n_classes)]
    return np.concatenate(parts).astype(np.float32)


def _logits(shape: tuple[int, int, int], params: jnp.ndarray, X: jnp.ndarray) -> jnp.ndarray:
    f, h, k = shape
    w1 = params[: f * h].reshape(f, h)
    b1 = params[f * h : f * h + h]
    w2 = params[f * h + h : f * h + h + h * k].reshape(h, k)
    b2 = params[f * h + h + h * k :]
    return jnp.tanh(X @ w1 + b1) @ w2 + b2


def _train_one(shape, cfg: TrainConfig, params0, X, y, n, key):
    """One client on its first n rows (the rest is padding), the batching of qfl.quantum.train."""
    opt = getattr(optax, cfg.optimizer)(cfg.learning_rate)
    B = cfg.batch_size
    N = X.shape[0]
    own_steps = (n + B - 1) // B
    rows = jnp.arange(N)

    def loss_fn(params, Xb, yb, mb):
        ce = optax.softmax_cross_entropy_with_integer_labels(_logits(shape, params, Xb), yb)
        return jnp.sum(ce * mb) / jnp.maximum(jnp.sum(mb), 1.0)

    def epoch(carry, e):
        r = jax.random.uniform(jax.random.fold_in(key, e), (N,))
        perm = jnp.argsort(jnp.where(rows < n, r, 2.0))

        def step(carry, s):
            params, state = carry
            idx = jax.lax.dynamic_slice(perm, (s * B,), (B,))
            mb = (s * B + jnp.arange(B) < n).astype(jnp.float32)
            upd, new_state = opt.update(jax.grad(loss_fn)(params, X[idx], y[idx], mb), state, params)
            active = s < own_steps
            params = jnp.where(active, optax.apply_updates(params, upd), params)
            state = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new_state, state)
            return (params, state), None

        carry, _ = jax.lax.scan(step, carry, jnp.arange(N // B))
        return carry, None

    (params, _), _ = jax.lax.scan(epoch, (params0, opt.init(params0)), jnp.arange(cfg.epochs))
    return params


_KEYS = jax.jit(jax.vmap(jax.random.PRNGKey))


@functools.lru_cache(maxsize=16)
def _trainer(shape, cfg: TrainConfig):
    return jax.jit(jax.vmap(functools.partial(_train_one, shape, cfg)))


def train_clients(shape, starts, Xs, ys, cfg: TrainConfig, seeds) -> np.ndarray:
    """Train client i from starts[i] on (Xs[i], ys[i]) -> (n_clients, n_params); shape = (features, hidden, classes)."""
    B = cfg.batch_size
    sizes = [len(y) for y in ys]
    N = math.ceil(max(sizes) / B) * B
    X = np.zeros((len(Xs), N, shape[0]), np.float32)
    Y = np.zeros((len(Xs), N), np.int32)
    for i, (x, yy) in enumerate(zip(Xs, ys, strict=True)):
        X[i, : len(yy)] = x
        Y[i, : len(yy)] = yy
    keys = _KEYS(np.asarray(seeds, np.int32))
    starts = jnp.asarray(np.asarray(starts, np.float32))
    out = _trainer(tuple(shape), cfg.model_copy(update={"seed": 0}))(
        starts, X, Y, jnp.asarray(sizes, jnp.int32), keys
    )
    return np.array(out, dtype=np.float32)


@functools.lru_cache(maxsize=16)
def _metrics(shape):
    def metrics(params, X, y):
        lg = _logits(shape, params, X)
        ce = optax.softmax_cross_entropy_with_integer_labels(lg, y)
        return jnp.mean(ce), jnp.mean((jnp.argmax(lg, -1) == y).astype(jnp.float32))

    return jax.jit(metrics)


def evaluate(shape, params, X, y) -> dict[str, float]:
    """Mean cross-entropy 'loss' and 'accuracy' of one weight vector on (X, y)."""
    loss, acc = _metrics(tuple(shape))(jnp.asarray(params, jnp.float32), jnp.asarray(X), jnp.asarray(y))
    return {"loss": float(loss), "accuracy": float(acc)}
