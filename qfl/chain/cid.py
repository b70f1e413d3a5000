"""CIDv0 <-> 32-byte sha2-256 digest, the compact form the contracts store."""

from __future__ import annotations

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {ch: i for i, ch in enumerate(_ALPHABET)}
_SHA2_256_PREFIX = bytes([0x12, 0x20])


def _b58encode(data: bytes) -> str:
    """Base58btc-encode bytes (leading zero bytes become '1')."""
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _ALPHABET[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _b58decode(text: str) -> bytes:
    """Base58btc-decode a string; raises ValueError on a character outside the alphabet."""
    n = 0
    for ch in text:
        if ch not in _INDEX:
            raise ValueError(f"{ch!r} is not a base58 character; a CIDv0 looks like 'Qm...' (46 chars)")
        n = n * 58 + _INDEX[ch]
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def cid_to_digest(cid: str) -> bytes:
    """The 32-byte sha2-256 digest inside a CIDv0 ('Qm...')."""
    raw = _b58decode(cid)
    if len(raw) != 34 or raw[:2] != _SHA2_256_PREFIX:
        raise ValueError(f"{cid!r} is not a CIDv0 (base58 sha2-256 multihash); use a 'Qm...' CID")
    return raw[2:]


def digest_to_cid(digest: bytes) -> str:
    """The CIDv0 ('Qm...') whose sha2-256 digest is `digest`."""
    if len(digest) != 32:
        raise ValueError(f"a CID digest is 32 bytes, got {len(digest)}")
    return _b58encode(_SHA2_256_PREFIX + bytes(digest))
