"""Local training with optax: mini-batches, epochs, FedProx, and every client of a simulation in one vmap."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import BaseModel, ConfigDict, model_validator

from qfl.quantum.model import batch_logits, check_params, prepare_inputs_np
from qfl.quantum.spec import ModelSpec


class TrainConfig(BaseModel):
    """Local training hyper-parameters (hashable: compiled trainers are cached per config)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 0.05
    optimizer: str = "adam"
    prox_mu: float = 0.0
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        """Reject values optax or the batching cannot use."""
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs={self.epochs} and batch_size={self.batch_size} must be >= 1")
        if self.learning_rate <= 0 or self.prox_mu < 0:
            raise ValueError("learning_rate must be > 0 and prox_mu >= 0")
        if not callable(getattr(optax, self.optimizer, None)):
            raise ValueError(
                f"optimizer={self.optimizer!r} is not an optax optimiser (try 'adam', 'sgd', 'adamw')"
            )
        return self


def masked_loss(spec: ModelSpec, params, X, y, mask, key) -> jnp.ndarray:
    """Mean softmax cross-entropy over the rows where mask is 1."""
    ce = optax.softmax_cross_entropy_with_integer_labels(batch_logits(spec, params, X, key), y)
    return jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _train_one(spec: ModelSpec, cfg: TrainConfig, params0, X, y, n, key):
    """Train one client on its first n rows of (X, y); rows past n are padding and never sampled."""
    opt = getattr(optax, cfg.optimizer)(cfg.learning_rate)
    B = cfg.batch_size
    N = X.shape[0]
    steps_per_epoch = N // B
    own_steps = (n + B - 1) // B
    rows = jnp.arange(N)

    def loss_fn(params, Xb, yb, mb, k):
        loss = masked_loss(spec, params, Xb, yb, mb, k)
        if cfg.prox_mu > 0:
            loss = loss + 0.5 * cfg.prox_mu * jnp.sum((params - params0) ** 2)
        return loss

    def epoch(carry, e):
        ek = jax.random.fold_in(key, e)
        # per-row random sort keys that do not depend on the padded length, so padding never changes the order
        r = jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(ek, i)))(rows)
        perm = jnp.argsort(jnp.where(rows < n, r, 2.0))
        noise_key = jax.random.fold_in(ek, -1)

        def step(carry, s):
            params, state = carry
            idx = jax.lax.dynamic_slice(perm, (s * B,), (B,))
            mb = (s * B + jnp.arange(B) < n).astype(jnp.float32)
            g = jax.grad(loss_fn)(params, X[idx], y[idx], mb, jax.random.fold_in(noise_key, s))
            upd, new_state = opt.update(g, state, params)
            new_params = optax.apply_updates(params, upd)
            active = s < own_steps
            params = jnp.where(active, new_params, params)
            state = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new_state, state)
            return (params, state), None

        carry, _ = jax.lax.scan(step, carry, jnp.arange(steps_per_epoch))
        return carry, None

    (params, _), _ = jax.lax.scan(epoch, (params0, opt.init(params0)), jnp.arange(cfg.epochs))
    return params


@functools.lru_cache(maxsize=64)
def _clients_trainer(spec: ModelSpec, cfg: TrainConfig, own_start: bool = False):
    """Jitted trainer over a stack of clients (each from its own start model when own_start); one compile per
    (spec, cfg, own_start, shapes)."""
    one = functools.partial(_train_one, spec, cfg)
    return jax.jit(jax.vmap(one, in_axes=(0 if own_start else None, 0, 0, 0, 0)))


_PRNG_KEYS = jax.jit(jax.vmap(jax.random.PRNGKey))


def _client_keys(seeds: list[int]) -> jnp.ndarray:
    """jax.random.PRNGKey(s) for every seed, in one dispatch when all seeds fit in int32 (one call each otherwise)."""
    if all(-(2**31) <= s < 2**31 for s in seeds):
        return _PRNG_KEYS(np.asarray(seeds, np.int32))
    return jnp.stack([jax.random.PRNGKey(s) for s in seeds])


def _check_labels(spec: ModelSpec, y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or (y.size and (y.min() < 0 or y.max() >= spec.n_classes)):
        raise ValueError(f"labels must be a 1-D array of ints in [0, {spec.n_classes}); got shape {y.shape}")
    return y.astype(np.int32)


def train_clients(
    spec: ModelSpec,
    global_params,
    Xs: list[np.ndarray],
    ys: list[np.ndarray],
    cfg: TrainConfig,
    seeds: list[int] | None = None,
) -> np.ndarray:
    """Train every client from global_params at once -> (n_clients, n_params); seeds default to cfg.seed + i.

    global_params is one start model for all, or (n_clients, n_params): one each (several federations, e.g.
    one per aggregation rule, trained in one call)."""
    if len(Xs) != len(ys) or not Xs:
        raise ValueError(
            f"need one label array per client and at least one client; got {len(Xs)} X, {len(ys)} y"
        )
    seeds = [cfg.seed + i for i in range(len(Xs))] if seeds is None else list(seeds)
    if len(seeds) != len(Xs):
        raise ValueError(f"got {len(seeds)} seeds for {len(Xs)} clients")
    params0 = check_params(spec, global_params)
    if params0.ndim not in (1, 2) or (params0.ndim == 2 and params0.shape[0] != len(Xs)):
        raise ValueError(
            f"global_params must be (n_params,) or (n_clients={len(Xs)}, n_params), got {params0.shape}"
        )
    prepared = [prepare_inputs_np(spec, X) for X in Xs]
    labels = [_check_labels(spec, y) for y in ys]
    sizes = [x.shape[0] for x in prepared]
    if min(sizes) < 1 or any(x.shape[0] != yy.shape[0] for x, yy in zip(prepared, labels, strict=True)):
        raise ValueError(f"every client needs >= 1 sample and as many labels as rows; sizes {sizes}")
    B = cfg.batch_size
    N = math.ceil(max(sizes) / B) * B
    X = np.zeros((len(sizes), N, spec.n_features), np.float32)
    Y = np.zeros((len(sizes), N), np.int32)
    for i, (x, yy) in enumerate(zip(prepared, labels, strict=True)):
        X[i, : len(yy)] = x
        Y[i, : len(yy)] = yy
    keys = _client_keys(seeds)
    # The seed reaches the trainer through `keys`; keep it out of the cache key so a new seed never recompiles.
    out = _clients_trainer(spec, cfg.model_copy(update={"seed": 0}), params0.ndim == 2)(
        params0, X, Y, jnp.asarray(sizes, jnp.int32), keys
    )
    return np.array(out, dtype=np.float32)


def train_local(spec: ModelSpec, params, X: np.ndarray, y: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """Train one client from params on (X, y) with seed cfg.seed -> flat float32 weights."""
    return train_clients(spec, params, [X], [y], cfg, seeds=[cfg.seed])[0]


@functools.lru_cache(maxsize=1)
def _libc_trim():
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "malloc_trim", None)
    except OSError:
        return None


def trim_host_memory() -> None:
    """Hand the heap memory freed after an XLA compile back to the OS (~30 MB a node process): glibc keeps it
    mapped otherwise, and a long-lived node would carry its compile peak as resident memory."""
    trim = _libc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=64)
def _evaluator(spec: ModelSpec):
    def metrics(params, X, y, mask):
        lg = batch_logits(spec, params, X, jax.random.PRNGKey(0))
        ce = optax.softmax_cross_entropy_with_integer_labels(lg, y)
        hit = (jnp.argmax(lg, axis=-1) == y).astype(jnp.float32)
        n = jnp.sum(mask)
        # where, not multiply: a padded all-zero row may give NaN logits (amplitude encoding normalises)
        return jnp.sum(jnp.where(mask, ce, 0.0)) / n, jnp.sum(jnp.where(mask, hit, 0.0)) / n

    return jax.jit(metrics), jax.jit(jax.vmap(metrics, in_axes=(0, None, None, None)))


_ROWS_BUCKET = 16  # evaluation sets are padded to a multiple of this: one compile serves many set sizes
_MODELS_BUCKET = 8


def _bucket(n: int, size: int) -> int:
    return max(size, -(-n // size) * size)


def _padded_set(spec: ModelSpec, X: np.ndarray, y: np.ndarray):
    """(X, y, mask) padded with masked rows to the next bucket, so every validator shares compiled code."""
    X = prepare_inputs_np(spec, X)
    y = _check_labels(spec, y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} labels")
    n = y.shape[0]
    rows = _bucket(n, _ROWS_BUCKET)
    Xp = np.zeros((rows, X.shape[1]), np.float32)
    Xp[:n] = X
    yp = np.zeros(rows, np.int32)
    yp[:n] = y
    return Xp, yp, np.arange(rows) < n


def evaluate(spec: ModelSpec, params, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Mean cross-entropy 'loss' and 'accuracy' of one weight vector on (X, y)."""
    loss, acc = _evaluator(spec)[0](check_params(spec, params), *_padded_set(spec, X, y))
    return {"loss": float(loss), "accuracy": float(acc)}


def evaluate_many(spec: ModelSpec, params_stack, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """'loss' and 'accuracy' arrays (one entry per row of params_stack) on the same (X, y)."""
    stack = check_params(spec, params_stack)
    if stack.ndim != 2:
        raise ValueError(f"params_stack must be 2-D (n_models, n_params), got shape {stack.shape}")
    m = stack.shape[0]
    padded = np.zeros((_bucket(m, _MODELS_BUCKET), stack.shape[1]), np.float32)
    padded[:m] = np.asarray(stack)
    loss, acc = _evaluator(spec)[1](padded, *_padded_set(spec, X, y))
    loss, acc = np.asarray(loss)[:m], np.asarray(acc)[:m]
    return {"loss": np.asarray(loss, np.float64), "accuracy": np.asarray(acc, np.float64)}
