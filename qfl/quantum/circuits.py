"""Circuit construction: encodings, ansatz layers and Pauli-Z readout for one input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from qfl.quantum.backend import tc
from qfl.quantum.spec import PARAMS_PER_QUBIT_LAYER, ModelSpec


def _ry(t: jnp.ndarray) -> jnp.ndarray:
    """RY(t) = exp(-i t Y / 2) for a vector of angles -> (k, 2, 2)."""
    c, s = jnp.cos(t / 2), jnp.sin(t / 2)
    return jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2).astype(jnp.complex64)


def _rz(t: jnp.ndarray) -> jnp.ndarray:
    """RZ(t) = exp(-i t Z / 2) for a vector of angles -> (k, 2, 2)."""
    e = jnp.exp(-0.5j * t.astype(jnp.complex64))
    z = jnp.zeros_like(e)
    return jnp.stack([jnp.stack([e, z], -1), jnp.stack([z, jnp.conj(e)], -1)], -2)


def _chain(*mats: jnp.ndarray) -> jnp.ndarray:
    """Product of per-qubit gate stacks applied left to right in time: mats[-1] @ ... @ mats[0]."""
    out = mats[0]
    for m in mats[1:]:
        out = jnp.einsum("qij,qjk->qik", m, out)
    return out


def _layer_rotations(spec: ModelSpec, w: jnp.ndarray, layer: int) -> jnp.ndarray:
    """The layer's single-qubit rotations fused per qubit: hea RZ.RY, sel RZ.RY.RZ -> (n, 2, 2)."""
    if spec.ansatz == "hea":
        return _chain(_ry(w[layer, 0]), _rz(w[layer, 1]))
    return _chain(_rz(w[layer, 0]), _ry(w[layer, 1]), _rz(w[layer, 2]))


def _cnot_ring(c, n: int, r: int) -> None:
    """CNOT(q, q+r mod n) for every q; a single CNOT for two qubits, none for one."""
    if n == 2:
        c.cnot(0, 1)
    elif n > 2:
        for q in range(n):
            c.cnot(q, (q + r) % n)


def _z_signs(n: int, k: int) -> np.ndarray:
    """(2^n, k) matrix of +1/-1: the eigenvalue of Z on qubit j (qubit 0 = most significant bit) per basis state."""
    basis = np.arange(2**n)[:, None]
    return (1 - 2 * ((basis >> (n - 1 - np.arange(k))) & 1)).astype(np.float32)


def z_expectations(spec: ModelSpec, weights: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """<Z_k> for k < n_classes after encoding x and applying the ansatz with `weights` (circuit part only).

    Each layer is: [RY(x) re-upload] -> per-qubit rotations -> CNOT ring; consecutive single-qubit gates on a
    qubit are fused into one 2x2 TensorCircuit gate (same unitary, fewer passes over the state).
    """
    n = spec.n_qubits
    w = weights.reshape(spec.n_layers, PARAMS_PER_QUBIT_LAYER[spec.ansatz], n)
    noisy = spec.noise > 0
    if spec.encoding == "amplitude":
        amp = x.astype(jnp.float32)
        state = (amp / jnp.sqrt(jnp.sum(amp**2) + 1e-12)).astype(jnp.complex64)
        c = tc.DMCircuit(n, inputs=state) if noisy else tc.Circuit(n, inputs=state)
    else:
        c = tc.DMCircuit(n) if noisy else tc.Circuit(n)
    for layer in range(spec.n_layers):
        rot = _layer_rotations(spec, w, layer)
        if spec.encoding == "reupload" or (spec.encoding == "angle" and layer == 0):
            rot = _chain(_ry(x[:n]), rot)
        for q in range(n):
            c.any(q, unitary=rot[q])
        _cnot_ring(c, n, 1 if spec.ansatz == "hea" else layer % max(n - 1, 1) + 1)
        if noisy:
            for q in range(n):
                c.depolarizing(q, px=spec.noise / 3, py=spec.noise / 3, pz=spec.noise / 3)
    if noisy:
        probs = jnp.real(jnp.diagonal(c.densitymatrix()))
    else:
        probs = jnp.abs(c.state()) ** 2
    return probs @ jnp.asarray(_z_signs(n, spec.n_classes))


def shot_noise(z: jnp.ndarray, shots: int, key: jax.Array) -> jnp.ndarray:
    """Finite-shot estimate of <Z> (Gaussian approximation); gradients pass straight through."""
    std = jnp.sqrt(jnp.clip(1.0 - z**2, 0.0, 1.0) / shots)
    noise = jax.lax.stop_gradient(std * jax.random.normal(key, z.shape, dtype=z.dtype))
    return jnp.clip(z + noise, -1.0, 1.0)
