"""Fuzz target: the CID parser (qfl/storage/cid.py).

CID strings come from users, from Kubo's replies and from file names in the embedded store; `validate_cid`
(and `cid_to_digest` on top of it) must, for ANY input, either return a canonical CIDv0 that round trips or
raise InvalidCID with a one-line message: never another exception, never hang on a long string.
Brief in `make test` (profile "ci"), at length in `make fuzz` (HYPOTHESIS_PROFILE=fuzz)."""

from __future__ import annotations

import os
import time

import base58
import cid as pycid
import multibase
import multihash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qfl.storage import InvalidCID, cid_to_digest, digest_to_cid, validate_cid

PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
TRIES = PROFILE.max_examples
AREA = "content from peers"
REJECTED = "rejected with a one-line error"

BASES = [e.encoding for e in multibase.ENCODINGS if e.encoding != "identity"]
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
CID_CHARS = BASE58 + "0Il=-_/+ \n\t" + "".join(chr(c) for c in range(0x20, 0x7F))

digests = st.binary(min_size=32, max_size=32)


def parse_checked(value) -> str | None:
    """validate_cid(value), held to the contract: a canonical round-tripping CIDv0 or a one-line InvalidCID."""
    try:
        canonical = validate_cid(value)
    except InvalidCID as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 1000, message
        with pytest.raises(InvalidCID):
            cid_to_digest(value)
        return None
    assert isinstance(canonical, str) and canonical.startswith("Qm") and len(canonical) == 46
    digest = cid_to_digest(value)
    assert len(digest) == 32 and digest_to_cid(digest) == canonical
    assert validate_cid(canonical) == canonical
    return canonical


# ---------------------------------------------------------------------------------------------- round trip
@PROFILE
@given(digests, st.sampled_from(BASES))
def test_digest_cid_round_trip(digest, base):
    cid = digest_to_cid(digest)
    assert cid.startswith("Qm") and len(cid) == 46
    assert cid_to_digest(cid) == digest
    assert parse_checked(cid) == cid
    # the same content as a dag-pb CIDv1, in any multibase, names the same digest
    v1 = pycid.make_cid(cid).to_v1().encode(base).decode()
    assert parse_checked(v1) == cid


@PROFILE
@given(
    st.one_of(st.binary(max_size=64), st.text(max_size=40)).filter(
        lambda d: len(d) != 32 or isinstance(d, str)
    )
)
def test_digest_of_wrong_size_or_type_is_rejected(digest):
    with pytest.raises(InvalidCID, match="32 bytes"):
        digest_to_cid(digest)


# ---------------------------------------------------------------------------------------------- peer input
@pytest.mark.fault(
    area=AREA, fault="malformed CID string (fuzzed: random text)", outcome=REJECTED, tries=TRIES
)
@PROFILE
@given(
    st.text(max_size=120)
    | st.text(alphabet=CID_CHARS, max_size=120)
    | st.text(alphabet=BASE58, min_size=44, max_size=48).map(lambda s: "Qm" + s)
)
def test_random_text(text):
    parse_checked(text)


@PROFILE
@given(st.one_of(st.none(), st.integers(), st.binary(max_size=60), st.lists(st.text(max_size=5), max_size=3)))
def test_non_strings_are_rejected(value):
    with pytest.raises(InvalidCID, match="non-empty string"):
        validate_cid(value)


@st.composite
def multibase_garbage(draw):
    """Arbitrary bytes in any multibase: the CIDv1 path (version, codec, multihash varints) sees garbage."""
    prefix = draw(
        st.sampled_from([b"", b"\x01", b"\x01\x70", b"\x01\x70\x12\x20", b"\x01\x55\x12\x20", b"\x12\x20"])
    )
    body = draw(st.binary(max_size=48))
    return multibase.encode(draw(st.sampled_from(BASES)), prefix + body).decode()


@st.composite
def mutated_cids(draw):
    digest = draw(digests)
    cid = digest_to_cid(digest)
    if draw(st.booleans()):
        cid = pycid.make_cid(cid).to_v1().encode(draw(st.sampled_from(BASES))).decode()
    chars = list(cid)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "substitute", "insert", "delete", "case", "pad", "repeat"]))
        if kind == "truncate":
            del chars[draw(st.integers(0, len(chars))) :]
        elif kind == "substitute" and chars:
            chars[draw(st.integers(0, len(chars) - 1))] = draw(st.sampled_from(CID_CHARS))
        elif kind == "insert":
            chars.insert(draw(st.integers(0, len(chars))), draw(st.characters()))
        elif kind == "delete" and chars:
            del chars[draw(st.integers(0, len(chars) - 1))]
        elif kind == "case":
            chars = list("".join(chars).swapcase())
        elif kind == "pad":
            chars = (
                [draw(st.sampled_from(["", " ", "\n", "\t"]))]
                + chars
                + [draw(st.sampled_from(["", " ", "\n"]))]
            )
        elif kind == "repeat":
            chars = chars * draw(st.integers(2, 4))
    return "".join(chars)


@pytest.mark.fault(
    area=AREA,
    fault="malformed CID string (fuzzed: truncated, substituted, inserted, case-flipped CIDv0/CIDv1; "
    "garbage in every multibase)",
    outcome=REJECTED,
    tries=TRIES,
)
@PROFILE
@given(mutated_cids() | multibase_garbage())
def test_mutated_cids(text):
    parse_checked(text)


@pytest.mark.fault(
    area=AREA, fault="CID with another multihash or codec (fuzzed)", outcome=REJECTED, tries=TRIES
)
@PROFILE
@given(
    st.sampled_from(["sha2_512", "sha3_256", "sha3_512", "sha1"]) | st.just("sha2_256"),
    st.sampled_from(["dag-pb", "raw", "dag-cbor"]),
    st.binary(max_size=64),
    st.none() | st.integers(1, 40),
    st.sampled_from(BASES),
)
def test_other_hashes_and_codecs(func, codec, data, keep, base):
    """Only a 32-byte sha2-256 multihash in a dag-pb CIDv1 maps to a CIDv0; the rest are refused."""
    full = multihash.digest(data, func)
    digest = full.digest[:keep]
    mh = multihash.Multihash(full.func, digest).encode()
    text = pycid.CIDv1(codec, mh).encode(base).decode()
    canonical = parse_checked(text)
    assert (canonical is not None) == (func == "sha2_256" and codec == "dag-pb" and len(digest) == 32)
    if canonical:
        assert cid_to_digest(text) == digest


@pytest.mark.fault(area=AREA, fault="very long CID string (100 kB)", outcome=REJECTED)
@pytest.mark.parametrize(
    "text",
    ["Qm" + "z" * 100_000, "z" + "2" * 100_000, "b" + "a" * 100_000, "Qm" + " " * 100_000],
    ids=["cidv0", "base58btc", "base32", "spaces"],
)
def test_long_strings_are_rejected_at_once(text):
    """base58/multibase decoding is quadratic: a long string must be refused before it is decoded."""
    start = time.monotonic()
    with pytest.raises(InvalidCID, match="characters"):
        validate_cid(text)
    assert time.monotonic() - start < 1.0


def test_every_valid_encoding_fits_the_length_limit():
    cid = digest_to_cid(b"\xff" * 32)
    for base in BASES:
        v1 = pycid.make_cid(cid).to_v1().encode(base).decode()
        assert validate_cid(v1) == cid
    assert base58.b58decode(cid)[:2] == b"\x12\x20"
