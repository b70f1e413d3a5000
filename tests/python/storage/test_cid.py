"""CIDv0 helpers: round trips and clear errors for strings that are not CIDv0-addressable."""

from __future__ import annotations

import base58
import cid as pycid
import multihash
import pytest

from qfl.storage import InvalidCID, cid_to_digest, compute_cid, digest_to_cid, validate_cid

HELLO = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"  # `ipfs add` of b"hello world\n"


def test_digest_round_trip() -> None:
    digest = cid_to_digest(HELLO)
    assert len(digest) == 32
    assert digest == base58.b58decode(HELLO)[2:]
    assert digest_to_cid(digest) == HELLO


def test_known_kubo_cids() -> None:
    assert compute_cid(b"hello world\n") == HELLO
    assert compute_cid(b"") == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"


def test_dag_pb_cidv1_maps_to_v0() -> None:
    v1 = pycid.make_cid(HELLO).to_v1().encode("base32").decode()
    assert v1.startswith("bafy")
    assert validate_cid(v1) == HELLO
    assert cid_to_digest(v1) == cid_to_digest(HELLO)


@pytest.mark.parametrize(
    ("bad", "hint"),
    [
        ("", "non-empty"),
        ("Qm123", "not a valid CID"),
        ("hello world", "not a valid CID"),
        (HELLO[:-1] + "0", "not a valid CID"),  # '0' is not in the base58 alphabet
        ("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "codec 'raw'"),
    ],
)
def test_malformed_cids_raise_invalid_cid(bad: str, hint: str) -> None:
    with pytest.raises(InvalidCID, match=hint):
        validate_cid(bad)


def test_wrong_multihash_is_rejected() -> None:
    sha512 = multihash.digest(b"x", "sha2_512").encode()
    v1 = pycid.CIDv1("dag-pb", sha512).encode("base32").decode()
    with pytest.raises(InvalidCID, match="sha2_512"):
        validate_cid(v1)


def test_non_string_and_bad_digest() -> None:
    with pytest.raises(InvalidCID):
        validate_cid(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidCID, match="32 bytes"):
        digest_to_cid(b"\x00" * 31)
