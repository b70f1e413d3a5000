"""Pure-Python mirrors of the contract's commitment hashes (update commit-reveal, hidden scores)."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

UINT32_MAX = 2**32 - 1


def make_commitment(cid_digest: bytes, salt: bytes, samples: int, sender: str, round_: int) -> bytes:
    """keccak256(abi.encode(cidDigest, salt, samples, sender, round)), as `Rounds.revealUpdate` checks it."""
    if len(cid_digest) != 32 or len(salt) != 32:
        raise ValueError("cid_digest and salt must be 32 bytes each")
    if not 0 <= int(samples) <= UINT32_MAX:
        raise ValueError(f"samples={samples} does not fit a uint32")
    return keccak(
        encode(
            ["bytes32", "bytes32", "uint32", "address", "uint256"],
            [bytes(cid_digest), bytes(salt), int(samples), to_checksum_address(str(sender)), int(round_)],
        )
    )


def make_vote_commitment(scores: bytes, salt: bytes, sender: str, round_: int) -> bytes:
    """keccak256(abi.encode(scores, salt, sender, round)), as `Committee.revealVote` checks it."""
    if len(salt) != 32:
        raise ValueError("salt must be 32 bytes")
    return keccak(
        encode(
            ["bytes", "bytes32", "address", "uint256"],
            [bytes(scores), bytes(salt), to_checksum_address(str(sender)), int(round_)],
        )
    )
