"""Attack models: what each does to labels or weights, and the registry the simulator uses."""

import numpy as np
import pytest

from qfl.fl.attacks import (
    ATTACKS,
    apply_attack,
    colluding,
    free_rider,
    gaussian_noise,
    label_flip,
    scaling,
    sign_flip,
)

G = np.array([1.0, 2.0, 3.0], np.float32)
U = np.array([1.5, 1.0, 3.0], np.float32)


def test_label_flip_maps_c_to_k_minus_1_minus_c():
    np.testing.assert_array_equal(label_flip(np.array([0, 1, 2, 2]), 3), [2, 1, 0, 0])


def test_model_side_attacks():
    np.testing.assert_allclose(sign_flip(U, G, 2.0), G - 2.0 * (U - G))
    np.testing.assert_allclose(scaling(U, G, 10.0), G + 10.0 * (U - G))
    np.testing.assert_array_equal(free_rider(G), G)
    assert free_rider(G) is not G
    a, b = gaussian_noise(U, 0.5, seed=1), gaussian_noise(U, 0.5, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, U)


def test_colluders_submit_one_shared_malicious_update():
    ups = np.stack([U, U + 1, U - 0.5])
    out = colluding(ups, G, scale=1.0)
    assert out.shape == ups.shape
    assert np.all(out == out[0])
    np.testing.assert_allclose(out[0], G - (ups - G).mean(axis=0))


def test_registry_dispatch():
    assert {a.kind for a in ATTACKS.values()} == {"data", "model", "group"}
    assert ATTACKS["label_flip"].kind == "data"
    np.testing.assert_allclose(
        apply_attack("sign_flip", update=U, global_params=G, scale=1.0, seed=3), 2 * G - U
    )
    np.testing.assert_array_equal(apply_attack("free_rider", global_params=G, update=U), G)
    with pytest.raises(ValueError, match="unknown attack"):
        apply_attack("ddos")
    with pytest.raises(TypeError, match="needs"):
        apply_attack("scaling", update=U)
