"""Canonical weight bytes: same weights -> same bytes -> same CID.

Layout (all little-endian):
  magic  b"QFLW" | version u8 (1 or 2) | dtype u8 (0 float32, 1 float16, 2 int8) | ndim u8 | reserved u8 = 0
  spec digest 32 bytes (sha256 of ModelSpec.to_bytes())
  version 2 only: parent digest 32 bytes (the CID digest of the global model an update was trained from)
  ndim x u32 shape | int8 scale float32 (0 for other dtypes) | payload (prod(shape) values of dtype)

Weights without a parent (global models) are version 1, byte for byte what they always were; an update names its
parent (version 2), so a validator can refuse one that was not trained from the round's start model.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Literal

import numpy as np

MAGIC = b"QFLW"
VERSION = 1
VERSION_WITH_PARENT = 2
DTYPES: dict[str, tuple[int, np.dtype]] = {
    "float32": (0, np.dtype("<f4")),
    "float16": (1, np.dtype("<f2")),
    "int8": (2, np.dtype("i1")),
}
_CODES = {code: name for name, (code, _) in DTYPES.items()}
_FIXED = struct.Struct("<4sBBBB32s")
_F32_MAX = float(np.finfo(np.float32).max)
_MAX_NDIM = 32  # numpy 1.x arrays have at most 32 dimensions; every node must read every blob

WeightDtype = Literal["float32", "float16", "int8"]


class CodecError(ValueError):
    """Bytes that are not a valid weight blob, or weights that cannot be encoded."""


@dataclass(frozen=True)
class DecodedWeights:
    """Decoded weights (float32), the spec digest they were made for, and the wire dtype."""

    params: np.ndarray
    spec_digest: bytes
    dtype: str
    parent: bytes | None = None  # version 2: the digest of the model the update was trained from


def _quantize(params: np.ndarray, dtype: str) -> tuple[np.ndarray, float]:
    if dtype == "int8":
        peak = float(np.max(np.abs(params))) if params.size else 0.0
        scale = np.float32(peak / 127.0)
        while 127.0 * float(scale) > _F32_MAX:  # 127 * scale must decode to a finite float32
            scale = np.nextafter(scale, np.float32(0))
        # No weight, or weights so small (< 1.5e-36) that the scale would be subnormal, too coarse to round
        # trip: they are stored as 0 with scale 1.
        scale = float(scale) if scale >= np.finfo(np.float32).tiny else 1.0
        q = np.clip(np.rint(params.astype(np.float64) / scale), -127, 127).astype(np.int8)
        return q, scale
    wire = DTYPES[dtype][1]
    if dtype == "float16" and params.size and np.max(np.abs(params)) > 65504:
        raise CodecError("weights exceed the float16 range (65504); encode as float32")
    return params.astype(wire) + wire.type(0.0), 0.0  # a tiny negative float16 is -0.0: store it as 0.0


def encode_weights(
    params, spec_digest: bytes, dtype: WeightDtype = "float32", parent: bytes | None = None
) -> bytes:
    """Canonical bytes for weights (NaN/inf rejected, -0.0 stored as 0.0); `parent` (32-byte digest) makes a
    version-2 blob that names the model the weights were trained from."""
    if dtype not in DTYPES:
        raise CodecError(f"dtype={dtype!r} not supported; use one of {sorted(DTYPES)}")
    if not isinstance(spec_digest, bytes | bytearray) or len(spec_digest) != 32:
        raise CodecError("spec_digest must be the 32-byte sha256 from ModelSpec.digest()")
    if parent is not None and (not isinstance(parent, bytes | bytearray) or len(parent) != 32):
        raise CodecError("parent must be the 32-byte CID digest of the model the update was trained from")
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32 is inf, refused just below
        arr = np.asarray(params, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise CodecError("weights contain NaN or inf; refuse to publish them")
    if arr.ndim > _MAX_NDIM:
        raise CodecError(f"too many dimensions ({arr.ndim}); weights have at most {_MAX_NDIM}")
    arr = arr + np.float32(0.0)  # -0.0 + 0.0 == +0.0: one byte pattern per value
    payload, scale = _quantize(arr, dtype)
    version = VERSION if parent is None else VERSION_WITH_PARENT
    header = _FIXED.pack(MAGIC, version, DTYPES[dtype][0], arr.ndim, 0, bytes(spec_digest))
    header += b"" if parent is None else bytes(parent)
    shape = struct.pack(f"<{arr.ndim}I", *arr.shape) + struct.pack("<f", scale)
    return header + shape + np.ascontiguousarray(payload).tobytes()


def decode_weights(data: bytes) -> DecodedWeights:
    """Parse and check a weight blob; CodecError says which part is wrong."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _FIXED.size:
        raise CodecError(f"truncated header: {len(data)} bytes, need at least {_FIXED.size}")
    magic, version, code, ndim, reserved, digest = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise CodecError(f"bad magic {magic!r}: not a QFLchain weight blob (expected {MAGIC!r})")
    if version not in (VERSION, VERSION_WITH_PARENT):
        raise CodecError(
            f"unsupported codec version {version}; this node reads versions {VERSION} and {VERSION_WITH_PARENT}"
        )
    if code not in _CODES:
        raise CodecError(f"unknown dtype code {code}")
    if reserved != 0:
        raise CodecError("reserved header byte must be 0")
    if ndim > _MAX_NDIM:
        raise CodecError(f"ndim={ndim} exceeds {_MAX_NDIM} dimensions: not a weight blob this node can read")
    off = _FIXED.size
    parent = None
    if version == VERSION_WITH_PARENT:
        if len(data) < off + 32:
            raise CodecError(f"truncated parent digest: {len(data)} bytes, need {off + 32}")
        parent = data[off : off + 32]
        off += 32
    need = off + 4 * ndim + 4
    if len(data) < need:
        raise CodecError(f"truncated shape: {len(data)} bytes, need {need}")
    shape = struct.unpack_from(f"<{ndim}I", data, off)
    (scale,) = struct.unpack_from("<f", data, off + 4 * ndim)
    name = _CODES[code]
    wire = DTYPES[name][1]
    count = math.prod(shape)  # exact: a declared shape must not wrap around to match a short payload
    if len(data) - need != count * wire.itemsize:
        raise CodecError(
            f"payload is {len(data) - need} bytes but shape {shape} of {name} needs {count * wire.itemsize}"
        )
    if math.prod(d for d in shape if d) * 8 > np.iinfo(np.intp).max:  # float64 temporaries must be possible
        raise CodecError(f"shape {shape} is too large for an array: not a weight blob this node can read")
    raw = np.frombuffer(data, dtype=wire, count=count, offset=need).reshape(shape)
    if name == "int8":
        if not (np.isfinite(scale) and scale > 0):
            raise CodecError(f"int8 scale must be a positive finite float, got {scale}")
        with np.errstate(over="ignore"):  # an overflow is inf, rejected below
            params = np.asarray((raw.astype(np.float64) * scale).astype(np.float32))
    else:
        if scale != 0.0:
            raise CodecError(f"scale must be 0 for {name}, got {scale}")
        params = raw.astype(np.float32)
    if not np.all(np.isfinite(params)):
        raise CodecError("decoded weights contain NaN or inf")
    return DecodedWeights(params=params, spec_digest=digest, dtype=name, parent=parent)


def quantization_error(params, dtype: WeightDtype) -> dict[str, float]:
    """Max and RMS absolute error of an encode/decode round trip at the given dtype."""
    arr = np.asarray(params, dtype=np.float32)
    back = decode_weights(encode_weights(arr, b"\0" * 32, dtype)).params
    err = np.abs(back.astype(np.float64) - arr.astype(np.float64))
    return {
        "max_abs": float(err.max(initial=0.0)),
        "rms": float(np.sqrt(np.mean(err**2))) if err.size else 0.0,
    }
