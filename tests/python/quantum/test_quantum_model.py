"""Circuits against a direct numpy state-vector reference; logits shapes, noise and shots."""

import numpy as np
import pytest

from qfl.quantum.model import init_params, logits
from qfl.quantum.spec import ModelSpec


def _ry(t):
    c, s = np.cos(t / 2), np.sin(t / 2)
    return np.array([[c, -s], [s, c]], dtype=complex)


def _rz(t):
    return np.diag([np.exp(-1j * t / 2), np.exp(1j * t / 2)])


def _apply1(psi, gate, q, n):
    psi = psi.reshape((2,) * n)
    psi = np.moveaxis(np.tensordot(gate, psi, axes=([1], [q])), 0, q)
    return psi.reshape(-1)


def _cnot(psi, c, t, n):
    psi = psi.reshape((2,) * n).copy()
    idx = [slice(None)] * n
    idx[c] = 1
    sub = psi[tuple(idx)]
    t_axis = t if t < c else t - 1
    psi[tuple(idx)] = np.flip(sub, axis=t_axis)
    return psi.reshape(-1)


def _reference_logits(spec, params, x):
    """Slow, independent simulation of the documented circuit."""
    n = spec.n_qubits
    per = 2 if spec.ansatz == "hea" else 3
    w = params[: spec.n_circuit_params].reshape(spec.n_layers, per, n)
    psi = np.zeros(2**n, complex)
    psi[0] = 1
    for layer in range(spec.n_layers):
        if layer == 0 or spec.encoding == "reupload":
            for q in range(n):
                psi = _apply1(psi, _ry(x[q]), q, n)
        for q in range(n):
            if spec.ansatz == "hea":
                psi = _apply1(psi, _rz(w[layer, 1, q]) @ _ry(w[layer, 0, q]), q, n)
            else:
                psi = _apply1(psi, _rz(w[layer, 2, q]) @ _ry(w[layer, 1, q]) @ _rz(w[layer, 0, q]), q, n)
        r = 1 if spec.ansatz == "hea" else layer % (n - 1) + 1
        for q in range(n):
            psi = _cnot(psi, q, (q + r) % n, n)
    probs = (np.abs(psi) ** 2).reshape((2,) * n)
    z = np.array([probs.take(0, axis=k).sum() - probs.take(1, axis=k).sum() for k in range(spec.n_classes)])
    p = spec.n_circuit_params
    return params[p : p + spec.n_classes] * z + params[p + spec.n_classes :]


@pytest.mark.parametrize("encoding, ansatz", [("angle", "hea"), ("reupload", "sel"), ("angle", "sel")])
def test_logits_match_reference_simulator(encoding, ansatz):
    spec = ModelSpec(n_qubits=3, n_layers=3, encoding=encoding, ansatz=ansatz, n_classes=3)
    params = init_params(spec, 7)
    X = np.random.default_rng(1).uniform(0, np.pi, size=(4, 3)).astype(np.float32)
    got = np.asarray(logits(spec, params, X))
    want = np.stack([_reference_logits(spec, params.astype(np.float64), x) for x in X])
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_amplitude_encoding_of_basis_state():
    spec = ModelSpec(n_qubits=2, n_layers=1, encoding="amplitude", ansatz="hea", n_classes=2)
    params = np.zeros(spec.n_params, np.float32)
    params[spec.n_circuit_params : spec.n_circuit_params + 2] = 1.0
    # |10> (qubit 0 set); zero angles, then CNOT(0,1) -> |11>: <Z0> = <Z1> = -1
    out = np.asarray(logits(spec, params, np.array([[0.0, 0.0, 1.0, 0.0]])))
    np.testing.assert_allclose(out, [[-1.0, -1.0]], atol=1e-6)


def test_init_params_deterministic_flat_float32():
    spec = ModelSpec(n_qubits=4, n_layers=2, encoding="angle", ansatz="hea", n_classes=2)
    a, b = init_params(spec, 3), init_params(spec, 3)
    assert a.dtype == np.float32 and a.shape == (spec.n_params,)
    assert np.array_equal(a, b) and not np.array_equal(a, init_params(spec, 4))


def test_depolarizing_noise_shrinks_expectations():
    exact = ModelSpec(n_qubits=3, n_layers=2, encoding="angle", ansatz="hea", n_classes=2)
    noisy = ModelSpec(n_qubits=3, n_layers=2, encoding="angle", ansatz="hea", n_classes=2, noise=0.1)
    params = init_params(exact, 0)
    params[exact.n_circuit_params :] = [1.0, 1.0, 0.0, 0.0]
    X = np.random.default_rng(0).uniform(0, np.pi, (6, 3))
    z_exact, z_noisy = (
        np.abs(np.asarray(logits(exact, params, X))),
        np.abs(np.asarray(logits(noisy, params, X))),
    )
    assert np.all(z_noisy <= z_exact + 1e-6) and z_noisy.mean() < 0.95 * z_exact.mean()


def test_shots_add_seeded_sampling_noise():
    spec = ModelSpec(n_qubits=3, n_layers=1, encoding="angle", ansatz="hea", n_classes=2, shots=50)
    exact = spec.model_copy(update={"shots": None})
    params, X = init_params(spec, 0), np.random.default_rng(0).uniform(0, np.pi, (8, 3))
    a, b = np.asarray(logits(spec, params, X, seed=1)), np.asarray(logits(spec, params, X, seed=1))
    assert np.array_equal(a, b)
    diff = np.abs(a - np.asarray(logits(exact, params, X)))
    assert 0 < diff.max() < 1.5


def test_wrong_shapes_are_explained():
    spec = ModelSpec(n_qubits=2, n_layers=1, encoding="angle", ansatz="hea", n_classes=2)
    with pytest.raises(ValueError, match="at most 2"):
        logits(spec, init_params(spec, 0), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="last axis of"):
        logits(spec, np.zeros(3), np.zeros((1, 2)))


@pytest.mark.parametrize(
    "n, layers, encoding, ansatz",
    [
        (2, 2, "reupload", "hea"),
        (5, 3, "angle", "sel"),
        (6, 2, "amplitude", "sel"),
        (7, 3, "reupload", "hea"),
    ],
)
def test_dense_statevector_path_equals_tensorcircuit(n, layers, encoding, ansatz):
    """The fast noise-free path (kron matmuls, permutations) gives TensorCircuit's expectations and gradients."""
    import jax
    import jax.numpy as jnp

    from qfl.quantum.circuits import tc_z_expectations, z_expectations

    spec = ModelSpec(n_qubits=n, n_layers=layers, encoding=encoding, ansatz=ansatz, n_classes=2)
    w = jnp.asarray(init_params(spec, 5)[: spec.n_circuit_params])
    x = jnp.asarray(np.random.default_rng(n).uniform(0, np.pi, spec.n_features).astype(np.float32))
    fast = jax.value_and_grad(lambda w: jnp.sum(z_expectations(spec, w, x) * jnp.array([1.0, -0.5])))(w)
    ref = jax.value_and_grad(lambda w: jnp.sum(tc_z_expectations(spec, w, x) * jnp.array([1.0, -0.5])))(w)
    np.testing.assert_allclose(fast[0], ref[0], atol=2e-6)
    np.testing.assert_allclose(fast[1], ref[1], atol=2e-5)
