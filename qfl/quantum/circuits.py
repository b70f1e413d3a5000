"""Circuit construction: encodings, ansatz layers and Pauli-Z readout for one input."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qfl.quantum.backend import tc
from qfl.quantum.spec import PARAMS_PER_QUBIT_LAYER, ModelSpec


def _encode_angles(c, x: jnp.ndarray, n: int) -> None:
    """Angle encoding: RY(x_q) on qubit q."""
    for q in range(n):
        c.ry(q, theta=x[q])


def _hea_layer(c, w: jnp.ndarray, n: int) -> None:
    """Hardware-efficient layer: RY, RZ on every qubit, then a CNOT ring."""
    for q in range(n):
        c.ry(q, theta=w[0, q])
        c.rz(q, theta=w[1, q])
    _cnot_ring(c, n, 1)


def _sel_layer(c, w: jnp.ndarray, n: int, layer: int) -> None:
    """Strongly entangling layer: RZ RY RZ on every qubit, then a CNOT ring of range layer % (n-1) + 1."""
    for q in range(n):
        c.rz(q, theta=w[0, q])
        c.ry(q, theta=w[1, q])
        c.rz(q, theta=w[2, q])
    _cnot_ring(c, n, layer % max(n - 1, 1) + 1)


def _cnot_ring(c, n: int, r: int) -> None:
    """CNOT(q, q+r mod n) for every q; a single CNOT for two qubits, none for one."""
    if n == 2:
        c.cnot(0, 1)
    elif n > 2:
        for q in range(n):
            c.cnot(q, (q + r) % n)


def _depolarize(c, n: int, p: float) -> None:
    """Single-qubit depolarizing channel of total probability p on every qubit."""
    for q in range(n):
        c.depolarizing(q, px=p / 3, py=p / 3, pz=p / 3)


def z_expectations(spec: ModelSpec, weights: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """<Z_k> for k < n_classes after encoding x and applying the ansatz with `weights` (circuit part only)."""
    n = spec.n_qubits
    w = weights.reshape(spec.n_layers, PARAMS_PER_QUBIT_LAYER[spec.ansatz], n)
    noisy = spec.noise > 0
    if spec.encoding == "amplitude":
        amp = x.astype(jnp.float32)
        amp = amp / jnp.sqrt(jnp.sum(amp**2) + 1e-12)
        state = amp.astype(jnp.complex64)
        c = tc.DMCircuit(n, inputs=state) if noisy else tc.Circuit(n, inputs=state)
    else:
        c = tc.DMCircuit(n) if noisy else tc.Circuit(n)
        _encode_angles(c, x, n)
    for layer in range(spec.n_layers):
        if spec.encoding == "reupload" and layer > 0:
            _encode_angles(c, x, n)
        if spec.ansatz == "hea":
            _hea_layer(c, w[layer], n)
        else:
            _sel_layer(c, w[layer], n, layer)
        if noisy:
            _depolarize(c, n, spec.noise)
    if noisy:
        probs = jnp.real(jnp.diagonal(c.densitymatrix()))
    else:
        probs = jnp.abs(c.state()) ** 2
    probs = probs.reshape((2,) * n)
    zs = []
    for k in range(spec.n_classes):
        marginal = jnp.sum(probs, axis=tuple(a for a in range(n) if a != k))
        zs.append(marginal[0] - marginal[1])
    return jnp.stack(zs)


def shot_noise(z: jnp.ndarray, shots: int, key: jax.Array) -> jnp.ndarray:
    """Finite-shot estimate of <Z> (Gaussian approximation); gradients pass straight through."""
    std = jnp.sqrt(jnp.clip(1.0 - z**2, 0.0, 1.0) / shots)
    noise = jax.lax.stop_gradient(std * jax.random.normal(key, z.shape, dtype=z.dtype))
    return jnp.clip(z + noise, -1.0, 1.0)
