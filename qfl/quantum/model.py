"""Model functions: weight initialisation and jitted, batch-vmapped class logits."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from qfl.quantum.circuits import shot_noise, z_expectations
from qfl.quantum.spec import ModelSpec

READOUT_SCALE_INIT = 2.0


def init_params(spec: ModelSpec, seed: int) -> np.ndarray:
    """Flat float32 weights: angles ~ U(-pi, pi), readout scales = 2, biases = 0 (deterministic in seed)."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(-np.pi, np.pi, size=spec.n_circuit_params)
    scales = np.full(spec.n_classes, READOUT_SCALE_INIT)
    biases = np.zeros(spec.n_classes)
    return np.concatenate([angles, scales, biases]).astype(np.float32)


def single_logits(spec: ModelSpec, params: jnp.ndarray, x: jnp.ndarray, key: jax.Array) -> jnp.ndarray:
    """Class scores of one input: scale_k * <Z_k> + bias_k."""
    p = spec.n_circuit_params
    z = z_expectations(spec, params[:p], x)
    if spec.shots is not None:
        z = shot_noise(z, spec.shots, key)
    return params[p : p + spec.n_classes] * z + params[p + spec.n_classes :]


def batch_logits(spec: ModelSpec, params: jnp.ndarray, X: jnp.ndarray, key: jax.Array) -> jnp.ndarray:
    """Class scores of a batch (vmap over rows; one shot-noise key per row)."""
    if spec.shots is None:  # exact expectations: no per-row keys to split (a threefry call per step saved)
        return jax.vmap(lambda x: single_logits(spec, params, x, key))(X)
    keys = jax.random.split(key, X.shape[0])
    return jax.vmap(lambda x, k: single_logits(spec, params, x, k))(X, keys)


def prepare_inputs(spec: ModelSpec, X) -> jnp.ndarray:
    """Float32 inputs zero-padded to spec.n_features; rejects wider inputs."""
    return jnp.asarray(prepare_inputs_np(spec, X))


def prepare_inputs_np(spec: ModelSpec, X) -> np.ndarray:
    """prepare_inputs on the host (numpy), for callers that stack many clients before one device transfer."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[1] > spec.n_features:
        raise ValueError(
            f"X has {X.shape[1]} features but a {spec.encoding} encoding on {spec.n_qubits} qubits takes at most "
            f"{spec.n_features}; reduce features (load_dataset n_features=) or add qubits"
        )
    if X.shape[1] < spec.n_features:
        X = np.pad(X, ((0, 0), (0, spec.n_features - X.shape[1])))
    return X


def check_params(spec: ModelSpec, params) -> jnp.ndarray:
    """Float32 flat weights of the right length, or a ValueError that says the expected length."""
    params = jnp.asarray(params, dtype=jnp.float32)
    if params.shape[-1:] != (spec.n_params,):
        raise ValueError(f"params have shape {params.shape}; this spec needs a last axis of {spec.n_params}")
    return params


@functools.lru_cache(maxsize=64)
def _jitted_logits(spec: ModelSpec):
    return jax.jit(lambda params, X, key: batch_logits(spec, params, X, key))


def logits(spec: ModelSpec, params, X, seed: int = 0) -> jnp.ndarray:
    """(n, n_classes) class scores; `seed` only matters for finite-shot specs."""
    return _jitted_logits(spec)(check_params(spec, params), prepare_inputs(spec, X), jax.random.PRNGKey(seed))
