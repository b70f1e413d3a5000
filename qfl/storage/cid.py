"""CIDv0 helpers: the chain stores only the 32-byte sha2-256 digest of a CIDv0 ("Qm...")."""

from __future__ import annotations

import base58
import cid as pycid
import multihash

from qfl.storage.errors import InvalidCID

DIGEST_SIZE = 32
# Longer than any CID this store maps (a sha2-256 dag-pb CIDv1 is at most 289 characters, in base2): longer
# strings are refused before multibase decoding, which is quadratic in the length (100 kB took minutes).
MAX_CID_CHARS = 512


def _parse(cid: str):
    """Parse a CID string with py-cid, mapping every failure to InvalidCID."""
    if not isinstance(cid, str) or not cid:
        raise InvalidCID(f"CID must be a non-empty string, got {cid!r:.80}")
    if len(cid) > MAX_CID_CHARS:
        raise InvalidCID(
            f"{cid!r:.80} is {len(cid)} characters, longer than any CID ({MAX_CID_CHARS}); "
            "expected a CIDv0 like 'Qm...'"
        )
    try:
        return pycid.make_cid(cid.strip())
    except Exception as exc:  # py-cid raises ValueError/KeyError/TypeError on garbage
        raise InvalidCID(
            f"{cid!r:.80} is not a valid CID ({exc!s:.120}); expected a CIDv0 like 'Qm...'"
        ) from exc


def validate_cid(cid: str) -> str:
    """Return the canonical CIDv0 of `cid` (a CIDv0, or a dag-pb sha2-256 CIDv1), else raise InvalidCID."""
    parsed = _parse(cid)
    if parsed.version == 1:
        if parsed.codec != "dag-pb":
            raise InvalidCID(
                f"{cid!r:.80} is a CIDv1 with codec {parsed.codec!r}; only dag-pb content maps to a CIDv0 "
                "(add the bytes with `ipfs add --cid-version=0`)"
            )
    try:
        mh = multihash.decode(bytes(parsed.multihash))
    except Exception as exc:
        raise InvalidCID(f"{cid!r:.80} carries a malformed multihash ({exc!s:.120})") from exc
    if mh.func != multihash.Func.sha2_256 or len(mh.digest) != DIGEST_SIZE:
        raise InvalidCID(
            f"{cid!r:.80} uses multihash {getattr(mh.func, 'name', mh.func)} with a {len(mh.digest)}-byte digest; "
            "only sha2-256 (32 bytes) CIDs are supported"
        )
    return digest_to_cid(mh.digest)


def cid_to_digest(cid: str) -> bytes:
    """Return the 32-byte sha2-256 digest inside a CIDv0 (what the chain stores as bytes32)."""
    canonical = validate_cid(cid)
    return base58.b58decode(canonical)[2:]


def digest_to_cid(digest: bytes) -> str:
    """Return the CIDv0 ("Qm...") of a 32-byte sha2-256 digest of a dag-pb block."""
    if not isinstance(digest, bytes | bytearray) or len(digest) != DIGEST_SIZE:
        raise InvalidCID(f"a CIDv0 digest is exactly {DIGEST_SIZE} bytes of sha2-256, got {digest!r:.80}")
    return base58.b58encode(bytes([0x12, DIGEST_SIZE]) + bytes(digest)).decode("ascii")
