"""Circuit construction for one input: encodings, ansatz layers, Pauli-Z readout; dense fast path and TensorCircuit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

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


FAST_MAX_QUBITS = 10
"""Noise-free circuits up to this width take the dense state-vector path; wider or noisy ones run on TensorCircuit."""


def _cnot_ring_map(n: int, r: int) -> np.ndarray:
    """Basis index b -> index after the CNOT ring (each CNOT flips the target bit when the control bit is set)."""
    b = np.arange(2**n)
    pairs = [(0, 1)] if n == 2 else [(q, (q + r) % n) for q in range(n) if n > 2]
    for ctrl, tgt in pairs:
        b = b ^ (((b >> (n - 1 - ctrl)) & 1) << (n - 1 - tgt))
    return b


def _ring_offset(spec: ModelSpec, layer: int) -> int:
    return 1 if spec.ansatz == "hea" else layer % max(spec.n_qubits - 1, 1) + 1


def _permutation(f: np.ndarray):
    """psi -> P psi for the basis map f, i.e. psi[argsort(f)]; its gradient is the inverse gather g[f], which is
    cheaper than the scatter-add JAX would otherwise emit for a gather."""
    src = np.argsort(f)

    @jax.custom_vjp
    def permute(psi):
        return psi[..., src]

    permute.defvjp(lambda psi: (psi[..., src], None), lambda _, g: (g[..., f],))
    return permute


def _kron_all(mats: jnp.ndarray) -> jnp.ndarray:
    """kron(mats[0], mats[1], ...) with qubit 0 as the most significant index."""
    out = mats[0]
    for m in mats[1:]:
        out = jnp.kron(out, m)
    return out


def _ry_real(t: jnp.ndarray) -> jnp.ndarray:
    """RY(t) as real (k, 2, 2) matrices."""
    c, s = jnp.cos(t / 2), jnp.sin(t / 2)
    return jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2)


def _kron_apply(grid: jnp.ndarray, mats: jnp.ndarray, n: int) -> jnp.ndarray:
    """kron(mats) applied to states (..., 2^n) as two Kronecker halves K_A . S . K_B^T (one matmul for n <= 4)."""
    if n <= 4:
        return grid @ _kron_all(mats).T
    a = n // 2
    s = grid.reshape(*grid.shape[:-1], 2**a, 2 ** (n - a))
    s = jnp.einsum("ij,...jk->...ik", _kron_all(mats[:a]), s) @ _kron_all(mats[a:]).T
    return s.reshape(grid.shape)


def _product_state(factors: jnp.ndarray) -> jnp.ndarray:
    """kron of n single-qubit states (n, 2): two half products (2^(n/2) each) and one outer product."""
    n = factors.shape[0]
    halves = []
    for part in (factors[: n // 2], factors[n // 2 :]):
        v = jnp.ones((1,), factors.dtype)
        for f in part:
            v = (v[:, None] * f[None, :]).reshape(-1)
        halves.append(v)
    return (halves[0][:, None] * halves[1][None, :]).reshape(-1)


def _fused_layer(spec: ModelSpec, w: jnp.ndarray, x: jnp.ndarray, layer: int) -> tuple[jnp.ndarray, bool]:
    """The layer's per-qubit 2x2 gates fused into one (n, 2, 2) stack, and whether it is real.

    hea: RZ(w1) RY(w0) [RY(x)] = RZ(w1) RY(w0 + x); sel: RZ(w2) RY(w1) RZ(w0) [RY(x)]. The last layer drops its
    closing RZ: a phase right before the final CNOT ring and the Z-basis measurement changes no probability.
    """
    n = spec.n_qubits
    encode = spec.encoding == "reupload" or (spec.encoding == "angle" and layer == 0)
    last = layer == spec.n_layers - 1
    if spec.ansatz == "hea":
        angle = w[layer, 0] + x[:n] if encode else w[layer, 0]
        if last:
            return _ry_real(angle), True
        return _chain(_ry(angle), _rz(w[layer, 1])), False
    gates = ([_ry(x[:n])] if encode else []) + [_rz(w[layer, 0]), _ry(w[layer, 1])]
    if not last:
        gates.append(_rz(w[layer, 2]))
    return _chain(*gates), False


def _statevector_z(spec: ModelSpec, w: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """Same circuit as the TensorCircuit path, as dense linear algebra on the 2^n amplitudes.

    The state is kept as stacked real and imaginary parts (2, 2^n). Each layer's single-qubit gates are fused per
    qubit into one 2x2 matrix; from |0..0> (angle / re-uploading encodings) the first layer gives a product state
    built directly; later layers apply the Kronecker product of their 2x2 gates as one or two small matmuls
    (real ones on both parts at once); every CNOT ring is a fixed permutation of amplitudes, and the last one is
    folded into the Pauli-Z sign table instead of moving the state.
    """
    n = spec.n_qubits
    maps = [_cnot_ring_map(n, _ring_offset(spec, layer)) for layer in range(spec.n_layers)]
    state = None
    if spec.encoding == "amplitude":
        amp = x.astype(jnp.float32)
        amp = amp / jnp.sqrt(jnp.sum(amp**2) + 1e-12)
        state = jnp.stack([amp, jnp.zeros_like(amp)])
    for layer in range(spec.n_layers):
        gates, real = _fused_layer(spec, w, x, layer)
        if state is None:
            psi = _product_state(gates[:, :, 0])
            state = (
                jnp.stack([psi, jnp.zeros_like(psi)]) if real else jnp.stack([jnp.real(psi), jnp.imag(psi)])
            )
        elif real:
            state = _kron_apply(state, gates, n)
        else:
            psi = _kron_apply((state[0] + 1j * state[1]).astype(jnp.complex64), gates, n)
            state = jnp.stack([jnp.real(psi), jnp.imag(psi)])
        if layer < spec.n_layers - 1:
            state = _permutation(maps[layer])(state)
    probs = jnp.sum(state**2, axis=0)
    return probs @ jnp.asarray(_z_signs(n, spec.n_classes)[maps[-1]])


def tc_z_expectations(spec: ModelSpec, weights: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """<Z_k> simulated by TensorCircuit-NG gate by gate (state vector, or density matrix when noisy).

    Each layer is: [RY(x) re-upload] -> per-qubit rotations -> CNOT ring [-> depolarizing channel on every
    qubit]; consecutive single-qubit gates on a qubit are fused into one 2x2 TensorCircuit gate.
    """
    # Imported here, not at module level: TensorCircuit (with SciPy and SymPy) costs a node ~110 MB of memory,
    # and noise-free circuits up to FAST_MAX_QUBITS never reach this function.
    from qfl.quantum.backend import tc

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
        _cnot_ring(c, n, _ring_offset(spec, layer))
        if noisy:
            for q in range(n):
                c.depolarizing(q, px=spec.noise / 3, py=spec.noise / 3, pz=spec.noise / 3)
    if noisy:
        probs = jnp.real(jnp.diagonal(c.densitymatrix()))
    else:
        probs = jnp.abs(c.state()) ** 2
    return probs @ jnp.asarray(_z_signs(n, spec.n_classes))


def z_expectations(spec: ModelSpec, weights: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """<Z_k> for k < n_classes after encoding x and applying the ansatz with `weights` (circuit part only).

    Noise-free circuits of at most FAST_MAX_QUBITS qubits use the dense state-vector path (same unitary,
    checked against TensorCircuit in the tests); noisy or wider ones are simulated by TensorCircuit-NG.
    """
    if spec.noise == 0 and spec.n_qubits <= FAST_MAX_QUBITS:
        w = weights.reshape(spec.n_layers, PARAMS_PER_QUBIT_LAYER[spec.ansatz], spec.n_qubits)
        return _statevector_z(spec, w, x)
    return tc_z_expectations(spec, weights, x)


def shot_noise(z: jnp.ndarray, shots: int, key: jax.Array) -> jnp.ndarray:
    """Finite-shot estimate of <Z> (Gaussian approximation); gradients pass straight through."""
    std = jnp.sqrt(jnp.clip(1.0 - z**2, 0.0, 1.0) / shots)
    noise = jax.lax.stop_gradient(std * jax.random.normal(key, z.shape, dtype=z.dtype))
    return jnp.clip(z + noise, -1.0, 1.0)
