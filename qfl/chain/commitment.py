"""Pure-Python mirrors of the contract's hashing and bitmap encodings."""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode
from eth_utils import keccak, to_checksum_address


def make_commitment(cid_digest: bytes, salt: bytes, sender: str, round_: int) -> bytes:
    """keccak256(abi.encode(cidDigest, salt, sender, round)), exactly as `QFLFederation.revealUpdate` checks."""
    if len(cid_digest) != 32 or len(salt) != 32:
        raise ValueError("cid_digest and salt must be 32 bytes each")
    return keccak(
        encode(
            ["bytes32", "bytes32", "address", "uint256"],
            [bytes(cid_digest), bytes(salt), to_checksum_address(str(sender)), int(round_)],
        )
    )


def bits_to_words(bits: Sequence[bool]) -> list[int]:
    """Pack booleans (bit i = update i in reveal order) into uint256 words, low bit first."""
    words = [0] * ((len(bits) + 255) // 256)
    for i, bit in enumerate(bits):
        if bit:
            words[i // 256] |= 1 << (i % 256)
    return words


def words_to_bits(words: Sequence[int], n: int) -> list[bool]:
    """Unpack the first `n` bits of uint256 words into booleans."""
    return [bool((int(words[i // 256]) >> (i % 256)) & 1) for i in range(n)]
