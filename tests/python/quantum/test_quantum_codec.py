"""Weight codec: exact round trip, canonical bytes across processes, quantisation error, malformed input."""

import subprocess
import sys

import numpy as np
import pytest

from qfl.quantum.codec import CodecError, decode_weights, encode_weights, quantization_error
from qfl.quantum.model import init_params
from qfl.quantum.spec import ModelSpec

SPEC = ModelSpec(n_qubits=4, n_layers=2, encoding="angle", ansatz="hea", n_classes=2)

_ENCODE_IN_SUBPROCESS = """
import sys
from qfl.quantum.codec import encode_weights
from qfl.quantum.model import init_params
from qfl.quantum.spec import ModelSpec
spec = ModelSpec(n_qubits=4, n_layers=2, encoding="angle", ansatz="hea", n_classes=2)
sys.stdout.buffer.write(encode_weights(init_params(spec, 42), spec.digest(), sys.argv[1]))
"""


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_bytes_identical_across_processes(dtype):
    runs = [
        subprocess.run(
            [sys.executable, "-c", _ENCODE_IN_SUBPROCESS, dtype], capture_output=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] == encode_weights(init_params(SPEC, 42), SPEC.digest(), dtype)


def test_float32_round_trip_is_exact():
    params = np.random.default_rng(0).normal(size=SPEC.n_params).astype(np.float32)
    blob = encode_weights(params, SPEC.digest())
    out = decode_weights(blob)
    assert np.array_equal(out.params, params) and out.params.dtype == np.float32
    assert out.spec_digest == SPEC.digest() and out.dtype == "float32"
    assert encode_weights(out.params, out.spec_digest) == blob
    assert len(blob) == 4 + 4 + 32 + 4 + 4 + 4 * SPEC.n_params


def test_negative_zero_is_canonical():
    assert encode_weights(np.array([-0.0, 1.0]), b"\1" * 32) == encode_weights(
        np.array([0.0, 1.0]), b"\1" * 32
    )


@pytest.mark.parametrize("dtype, bound", [("float16", 2e-3), ("int8", 2e-2)])
def test_quantisation_error_is_bounded(dtype, bound):
    params = np.random.default_rng(1).uniform(-np.pi, np.pi, 1000).astype(np.float32)
    err = quantization_error(params, dtype)
    assert 0 < err["rms"] <= err["max_abs"] < bound
    if dtype == "int8":
        assert err["max_abs"] <= np.abs(params).max() / 127 / 2 + 1e-6
    blob = encode_weights(params, SPEC.digest(), dtype)
    assert decode_weights(blob).dtype == dtype
    assert encode_weights(decode_weights(blob).params, SPEC.digest(), dtype) == blob


def test_malformed_blobs_are_named():
    good = encode_weights(np.ones(4, np.float32), SPEC.digest())
    with pytest.raises(CodecError, match="bad magic"):
        decode_weights(b"XXXX" + good[4:])
    with pytest.raises(CodecError, match="version"):
        decode_weights(good[:4] + b"\x09" + good[5:])
    with pytest.raises(CodecError, match="payload is"):
        decode_weights(good[:-1])
    with pytest.raises(CodecError, match="truncated header"):
        decode_weights(good[:10])
    with pytest.raises(CodecError, match="unknown dtype"):
        decode_weights(good[:5] + b"\x07" + good[6:])
    with pytest.raises(CodecError, match="NaN"):
        encode_weights(np.array([np.nan]), SPEC.digest())
    with pytest.raises(CodecError, match="32-byte"):
        encode_weights(np.ones(2), b"short")


def test_an_update_names_its_parent_and_global_models_keep_their_bytes():
    w = np.linspace(-1, 1, 8, dtype=np.float32)
    plain = encode_weights(w, SPEC.digest())
    parent = bytes(range(32))
    named = encode_weights(w, SPEC.digest(), parent=parent)
    assert plain[4] == 1 and named[4] == 2 and named[5:] == plain[5:40] + parent + plain[40:]
    assert decode_weights(plain).parent is None
    back = decode_weights(named)
    assert back.parent == parent and np.array_equal(back.params, w)
    assert encode_weights(back.params, SPEC.digest(), parent=back.parent) == named  # canonical
    with pytest.raises(CodecError, match="truncated parent"):
        decode_weights(named[:50])
    with pytest.raises(CodecError, match="parent must be"):
        encode_weights(w, SPEC.digest(), parent=b"short")
