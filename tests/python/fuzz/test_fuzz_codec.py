"""Fuzz target: the weight codec (qfl/quantum/codec.py).

A peer can put any bytes in the store under a CID the chain names, so `decode_weights` must, for ANY input,
either return finite float32 weights or raise CodecError (one line): never another exception, never hang,
never allocate by a declared size larger than the input. `encode_weights` must round trip.
Brief in `make test` (profile "ci"), at length in `make fuzz` (HYPOTHESIS_PROFILE=fuzz)."""

from __future__ import annotations

import os
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from qfl.quantum.codec import (
    _FIXED,
    DTYPES,
    MAGIC,
    CodecError,
    DecodedWeights,
    decode_weights,
    encode_weights,
)

PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
TRIES = PROFILE.max_examples
AREA = "content from peers"
REJECTED = "rejected with a one-line error"

HEADER = _FIXED.size  # magic, version, dtype, ndim, reserved, spec digest
DTYPE_NAMES = sorted(DTYPES)
FLOAT16_MAX = 65504.0

digests = st.binary(min_size=32, max_size=32)
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)


@st.composite
def weights(draw, dtype: str | None = None):
    """(params, dtype): finite float32 arrays (subnormals, -0.0 and extremes included) encodable as dtype."""
    dtype = dtype or draw(st.sampled_from(DTYPE_NAMES))
    bound = FLOAT16_MAX if dtype == "float16" else float(np.finfo(np.float32).max)
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=32)
    return draw(hnp.arrays(np.float32, draw(shapes), elements=elements)), dtype


def valid_blobs():
    return st.tuples(weights(), digests).map(lambda t: encode_weights(t[0][0], t[1], t[0][1]))


def decode_checked(data: bytes) -> DecodedWeights | None:
    """decode_weights(data), holding it to the contract: a valid result or a one-line CodecError, and a
    peak allocation bounded by the input's size (never by a size the input merely declares)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            decoded = decode_weights(data)
        except CodecError as exc:
            message = str(exc)
            assert message and "\n" not in message and len(message) < 4000, message
            decoded = None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # bytes copy + frombuffer view + float64/float32 temporaries: at most ~13 bytes per input byte
    assert peak <= 16 * len(data) + (1 << 20), f"decode of {len(data)} bytes allocated {peak} bytes"
    if decoded is not None:
        assert isinstance(decoded.params, np.ndarray) and decoded.params.dtype == np.float32
        assert np.all(np.isfinite(decoded.params))
        assert decoded.params.size * DTYPES[decoded.dtype][1].itemsize <= len(data)
        assert isinstance(decoded.spec_digest, bytes) and len(decoded.spec_digest) == 32
    return decoded


def blob(shape, code=0, scale=0.0, payload=b"", ndim=None, digest=b"\0" * 32) -> bytes:
    """A hand-made blob whose header may lie about anything."""
    ndim = len(shape) if ndim is None else ndim
    return (
        _FIXED.pack(MAGIC, 1, code, ndim, 0, digest)
        + struct.pack(f"<{len(shape)}I", *shape)
        + struct.pack("<f", scale)
        + payload
    )


# ---------------------------------------------------------------------------------------------- round trip
@PROFILE
@given(weights(), digests)
def test_round_trip(item, digest):
    params, dtype = item
    data = encode_weights(params, digest, dtype)
    decoded = decode_checked(data)
    assert decoded is not None
    assert decoded.spec_digest == digest and decoded.dtype == dtype
    assert decoded.params.shape == params.shape
    want = params + np.float32(0.0)
    if dtype == "float32":
        assert np.array_equal(decoded.params, want)
    elif dtype == "float16":
        assert np.array_equal(decoded.params, want.astype(np.float16).astype(np.float32))
    else:
        # |error| <= scale / 2, up to float32 rounding (and subnormal scales, which are coarse)
        (scale,) = struct.unpack_from("<f", data, HEADER + 4 * params.ndim)
        peak = float(np.max(np.abs(want), initial=0.0))
        err = float(np.max(np.abs(decoded.params.astype(np.float64) - want), initial=0.0))
        assert err <= scale / 2 * (1 + 1e-6) + peak * 2**-22 + 127 * float(np.finfo(np.float32).tiny)
        assert scale == 1.0 or scale <= peak / 127 * (1 + 2**-23) + 2**-149
    # canonical: the decoded weights encode back to the very same bytes (same weights -> same CID)
    assert encode_weights(decoded.params, digest, dtype) == data
    # -0.0 and +0.0 are one value, hence one byte pattern
    assert encode_weights(-want, digest, dtype) == encode_weights(-want + np.float32(0.0), digest, dtype)


@PROFILE
@given(st.sampled_from(DTYPE_NAMES), digests, st.lists(st.floats(width=64), min_size=1, max_size=8))
def test_encode_rejects_or_encodes_any_floats(dtype, digest, values):
    """NaN, inf and out-of-range values (a float64 1e300 is inf as float32) are refused with CodecError."""
    arr = np.array(values, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        finite32 = np.all(np.isfinite(arr.astype(np.float32)))
    try:
        data = encode_weights(arr, digest, dtype)
    except CodecError as exc:
        assert "\n" not in str(exc)
        assert not finite32 or dtype == "float16"
        return
    assert finite32
    assert decode_checked(data) is not None


# ---------------------------------------------------------------------------------------------- peer input
@pytest.mark.fault(
    area=AREA, fault="malformed weight file (fuzzed: random bytes)", outcome=REJECTED, tries=TRIES
)
@PROFILE
@given(
    st.binary(max_size=512) | st.binary(min_size=HEADER, max_size=HEADER + 64).map(lambda b: MAGIC + b[4:])
)
def test_random_bytes(data):
    decode_checked(data)


MUTATIONS = ("truncate", "flip", "overwrite", "append", "shape", "ndim", "scale", "field")


@st.composite
def mutated_blobs(draw):
    data = bytearray(draw(valid_blobs()))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(MUTATIONS))
        ndim = data[6] if len(data) > 6 else 0
        if kind == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif kind == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite" and data:
            i = draw(st.integers(0, len(data) - 1))
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[i : i + len(chunk)] = chunk
        elif kind == "append":
            data += draw(st.binary(min_size=1, max_size=64))
        elif kind == "shape" and ndim and len(data) >= HEADER + 4 * ndim:
            # a declared size far beyond the input: huge dims, products overflowing 32 and 64 bits
            i = draw(st.integers(0, ndim - 1))
            dim = draw(
                st.sampled_from([0, 1, 2**16, 2**31 - 1, 2**31, 2**32 - 1]) | st.integers(0, 2**32 - 1)
            )
            struct.pack_into("<I", data, HEADER + 4 * i, dim)
        elif kind == "ndim" and len(data) > 6:
            data[6] = draw(st.integers(0, 255))
        elif kind == "scale" and len(data) >= HEADER + 4 * ndim + 4:
            value = draw(
                st.sampled_from([np.nan, np.inf, -np.inf, -1.0, 0.0, 1e-45, 3.4e38]) | st.floats(width=32)
            )
            struct.pack_into("<f", data, HEADER + 4 * ndim, value)
        elif kind == "field" and len(data) >= 8:
            # magic, version, dtype code, ndim or reserved byte set to anything
            data[draw(st.integers(0, 7))] = draw(st.integers(0, 255))
    return bytes(data)


@pytest.mark.fault(
    area=AREA,
    fault="malformed weight file (fuzzed: truncated, bit-flipped, overwritten, extended, huge declared shape, "
    "bad scale, wrong magic/version/dtype)",
    outcome=REJECTED,
    tries=TRIES,
)
@PROFILE
@given(mutated_blobs())
def test_mutated_valid_blobs(data):
    decode_checked(data)


@st.composite
def nonfinite_blobs(draw):
    """Well-formed blobs whose weights decode to NaN or inf (a peer publishing them)."""
    n = draw(st.integers(1, 16))
    bad = draw(st.sampled_from([np.nan, -np.nan, np.inf, -np.inf]))
    at = draw(st.integers(0, n - 1))
    dtype = draw(st.sampled_from(DTYPE_NAMES))
    if dtype == "int8":
        q = draw(st.binary(min_size=n, max_size=n))
        scale = draw(st.sampled_from([np.nan, np.inf, 3.4e38]))
        if scale == 3.4e38:  # finite scale, but q * scale overflows float32 for |q| >= 2
            q = q[:at] + b"\x7f" + q[at + 1 :]
        return blob((n,), code=DTYPES[dtype][0], scale=scale, payload=q)
    values = np.array(draw(st.lists(st.floats(-1e4, 1e4), min_size=n, max_size=n)), dtype=DTYPES[dtype][1])
    values[at] = bad
    return blob((n,), code=DTYPES[dtype][0], payload=values.tobytes())


@pytest.mark.fault(area=AREA, fault="weight file holding NaN or inf (fuzzed)", outcome=REJECTED, tries=TRIES)
@PROFILE
@given(nonfinite_blobs())
def test_nonfinite_weights_are_rejected(data):
    assert decode_checked(data) is None
    with pytest.raises(CodecError, match="NaN or inf|scale"):
        decode_weights(data)


@pytest.mark.fault(area=AREA, fault="weight file declaring a huge shape (> 2**64 values)", outcome=REJECTED)
@pytest.mark.parametrize(
    "shape", [(2**32 - 1,) * 3, (2**16,) * 4, (2**32 - 1,) * 2 + (2,), (2**16, 2**16, 2**16, 2**16, 4)]
)
def test_huge_declared_shape_is_rejected(shape):
    """Products that wrap around 64 bits must not match a short payload by accident."""
    for payload in (b"", b"\0" * 4, b"\0" * 64):
        data = blob(shape, payload=payload)
        assert decode_checked(data) is None
        with pytest.raises(CodecError, match="payload is"):
            decode_weights(data)


@pytest.mark.parametrize("shape", [(0, 2**31, 2**31), (0, 2**32 - 1, 2**32 - 1), (2**32 - 1, 0, 2**30, 8)])
def test_empty_shape_too_large_for_an_array_is_rejected(shape):
    """No values, but dimensions whose product numpy cannot index: CodecError, not numpy's ValueError."""
    for code in (0, 1, 2):
        data = blob(shape, code=code, scale=1.0 if code == 2 else 0.0)
        assert decode_checked(data) is None
        with pytest.raises(CodecError, match="too large"):
            decode_weights(data)


def test_tiny_int8_weights_round_trip_as_zero():
    """Weights so small the int8 scale would be subnormal are stored as 0 (scale 1) and re-encode identically."""
    for value in (8.02e-43, -1e-40, 1e-37, 1.4e-45):
        data = encode_weights(np.array([value, -value / 2], np.float32), b"\0" * 32, "int8")
        decoded = decode_checked(data)
        assert decoded is not None and np.array_equal(decoded.params, [0.0, 0.0])
        assert encode_weights(decoded.params, b"\0" * 32, "int8") == data


def test_empty_dimension_with_huge_sibling_is_empty():
    """A zero-sized array with a huge declared dimension allocates nothing and is a valid (empty) result."""
    decoded = decode_checked(blob((0, 2**32 - 1)))
    assert decoded is not None and decoded.params.shape == (0, 2**32 - 1)
