"""An outside client written only from docs/outside-client.md: it recomputes a round's global model CID from
the chain (events read with web3 and the committed abi/QFLFederation.json) and the content bytes.

It uses nothing from qfl except a way to fetch bytes by CID (passed in as `fetch`): numpy, hashlib, a
hand-written protobuf / multihash / base58, and web3. Sections of the doc are cited as "doc §N".
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

ABI_FILE = Path(__file__).resolve().parents[3] / "abi" / "QFLFederation.json"

# ---------------------------------------------------------------- doc §5: CIDs
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
CHUNK = 262_144
LINKS = 174


def b58encode(raw: bytes) -> str:
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def cid_of_digest(digest: bytes) -> str:
    return b58encode(b"\x12\x20" + digest)


def varint(n: int) -> bytes:
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def pb_bytes(field: int, value: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(value)) + value


def pb_int(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def _node(links: list[tuple[bytes, int, int]], data: bytes | None, filesize: int, sizes: list[int]):
    """(multihash, filesize, tsize) of one dag-pb block; links are (multihash, filesize, tsize)."""
    unixfs = pb_int(1, 2) + (pb_bytes(2, data) if data else b"") + pb_int(3, filesize)
    unixfs += b"".join(pb_int(4, s) for s in sizes)
    block = b"".join(pb_bytes(2, pb_bytes(1, mh) + pb_bytes(2, b"") + pb_int(3, ts)) for mh, _, ts in links)
    block += pb_bytes(1, unixfs)
    return b"\x12\x20" + hashlib.sha256(block).digest(), filesize, len(block) + sum(t for _, _, t in links)


def cid_digest(data: bytes) -> bytes:
    """The 32-byte digest the chain stores for `data` (doc §5)."""
    level = [_node([], c, len(c), []) for c in (data[i : i + CHUNK] for i in range(0, len(data), CHUNK))]
    level = level or [_node([], b"", 0, [])]
    while len(level) > 1:
        level = [
            _node(group, None, sum(f for _, f, _ in group), [f for _, f, _ in group])
            for group in (level[i : i + LINKS] for i in range(0, len(level), LINKS))
        ]
    return level[0][0][2:]


# ---------------------------------------------------------------- doc §4: weight files
HEADER = struct.Struct("<4sBBBB32s")
WIRE = {0: np.dtype("<f4"), 1: np.dtype("<f2"), 2: np.dtype("i1")}


def decode(blob: bytes) -> tuple[bytes, np.ndarray]:
    """(spec digest, float32 values) of a weight file; ValueError if it is not one."""
    magic, version, code, ndim, reserved, spec = HEADER.unpack_from(blob)
    if magic != b"QFLW" or version not in (1, 2) or code not in WIRE or reserved != 0:
        raise ValueError("not a version-1 or -2 QFLW weight file")
    h = HEADER.size + (32 if version == 2 else 0)  # version 2: the parent digest, skipped here
    shape = struct.unpack_from(f"<{ndim}I", blob, h)
    (scale,) = struct.unpack_from("<f", blob, h + 4 * ndim)
    start = h + 4 * ndim + 4
    count = int(np.prod(shape, dtype=object))
    if len(blob) - start != count * WIRE[code].itemsize:
        raise ValueError("payload length does not match the shape")
    raw = np.frombuffer(blob, dtype=WIRE[code], count=count, offset=start).reshape(shape)
    if code == 2:
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError("bad int8 scale")
        return spec, (raw.astype(np.float64) * scale).astype(np.float32)
    if scale != 0.0:
        raise ValueError("scale must be 0 for float dtypes")
    return spec, raw.astype(np.float32)


def encode(values: np.ndarray, spec: bytes) -> bytes:
    """A 1-D float32 weight file (doc §4): how every global model is written."""
    v = np.asarray(values, dtype=np.float32) + np.float32(0.0)  # -0.0 -> +0.0
    return (
        HEADER.pack(b"QFLW", 1, 0, 1, 0, spec) + struct.pack("<If", v.size, 0.0) + v.astype("<f4").tobytes()
    )


# ---------------------------------------------------------------- doc §3: the arithmetic
def water_fill(weights: list[int], bps: int) -> list[float]:
    """Doc §3.2: lower the largest integer weights to one level so none is above bps / 10000 of the total."""
    positive = [w for w in weights if w > 0]
    if not positive:
        return [0.0] * len(weights)
    level: Fraction = Fraction(min(positive))
    if len(positive) * bps >= 10_000:
        ordered = sorted(weights, reverse=True)
        rest = sum(ordered)
        for k, w in enumerate(ordered):
            if 10_000 - k * bps <= 0:
                break
            t = Fraction(bps * rest, 10_000 - k * bps)
            if w <= t:
                level = t
                break
            rest -= w
    return [float(min(Fraction(w), level)) if w > 0 else 0.0 for w in weights]


def weighted_mean(updates: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Doc §3.3: float64 accumulation in reveal order, one division, rounded once to float32."""
    acc = np.zeros(updates[0].shape, dtype=np.float64)
    total = 0.0
    for u, w in zip(updates, weights, strict=True):
        acc = acc + np.float64(w) * u.astype(np.float64)
        total = total + w
    return (acc / total).astype(np.float32)


def median(updates: list[np.ndarray]) -> np.ndarray:
    """Doc §3.5: per coordinate, sorted in float64: the middle value, or the mean of the two middle ones."""
    s = np.sort(np.stack(updates).astype(np.float64), axis=0)
    k = len(updates)
    return (s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) / 2.0).astype(np.float32)


def trimmed(updates: list[np.ndarray], fraction: float) -> np.ndarray:
    """Doc §3.5: drop floor(fraction x n) largest and smallest per coordinate, then §3.3 with weight 1."""
    s = np.sort(np.stack(updates).astype(np.float64), axis=0)
    t = int(np.floor(fraction * len(updates)))
    kept = s[t : len(updates) - t]
    return weighted_mean(list(kept), [1.0] * len(kept))


# ---------------------------------------------------------------- doc §2: the accepted set from the votes
ACCEPT, REJECT = 128, 64


def judge(index: int, trainer: str, committee: list[str], seats: list[int], scores: dict[str, bytes]) -> str:
    """Doc §2.2: 'accepted' | 'rejected' | 'neutral' | 'unvalidated' for the update at reveal order `index`."""
    votes, own = [], 0
    for member, s in zip(committee, seats, strict=True):
        if member.lower() == trainer.lower():
            own = s
        elif member.lower() in scores:
            votes.append((scores[member.lower()][index], s))
    cast = sum(s for _, s in votes)
    if cast == 0 or 2 * cast <= sum(seats) - own:
        return "unvalidated"
    acc, lo, hi = 0, None, None
    for score, s in sorted(votes):
        acc += s
        if lo is None and 2 * acc >= cast:
            lo = score
        if 2 * acc > cast:
            hi = score
            break
    if lo >= ACCEPT:
        return "accepted"
    if hi < REJECT:
        return "rejected"
    if lo >= REJECT and hi < ACCEPT:
        return "neutral"
    return "unvalidated"


# ---------------------------------------------------------------- doc §1: reading the round
@dataclass
class Reveal:
    client: str
    order: int
    digest: bytes
    samples: int
    reputation: int


@dataclass
class Recomputed:
    cid: str  # what this client computes
    on_chain: str  # globalModelOf(round) as a CID
    accepted: list[int]  # reveal orders that entered the aggregate
    weights: list[float]  # their weights after water-filling
    settled_outcomes: dict[str, str]  # client -> outcome, from TrainerSettled (what settlement said)
    judged_outcomes: dict[str, str]  # client -> outcome, recomputed from the votes


OUTCOMES = ("accepted", "rejected", "neutral", "unvalidated")


def recompute(
    w3, address: str, round_: int, fetch: Callable[[str], bytes], from_block: int = 0
) -> Recomputed:
    """The global model CID of `round_` of the federation at `address`, recomputed with the spec's rule."""
    fed = w3.eth.contract(address=address, abi=json.loads(ABI_FILE.read_text()))

    def logs(event: str) -> list:
        found = getattr(fed.events, event).get_logs(from_block=from_block, argument_filters={"round": round_})
        return sorted(found, key=lambda e: (e.blockNumber, e.logIndex))

    spec_bytes = fetch(cid_of_digest(fed.functions.modelSpec().call()))
    spec_digest = hashlib.sha256(spec_bytes).digest()
    spec_fields = json.loads(spec_bytes)
    n_params = _n_params(spec_fields)
    rule = spec_fields["aggregation"]  # doc §3.5: the rule and its parameter are in the spec
    bps = fed.functions.maxShareBps().call()

    reveals = sorted(
        (
            Reveal(
                e.args.client, e.args.revealOrder, bytes(e.args.cidDigest), e.args.samples, e.args.reputation
            )
            for e in logs("UpdateRevealed")
        ),
        key=lambda r: r.order,
    )
    (drawn,) = logs("CommitteeSelected")
    committee, seats = list(drawn.args.committee), list(drawn.args.seats)
    scores = {e.args.validator.lower(): bytes(e.args.scores) for e in logs("VoteRevealed")}
    copies = Counter(r.digest for r in reveals)
    judged = {}
    for r in reveals:
        outcome = judge(r.order, r.client, committee, seats, scores)
        judged[r.client] = "neutral" if outcome == "accepted" and copies[r.digest] > 1 else outcome
    settled = {e.args.client: OUTCOMES[e.args.outcome] for e in logs("TrainerSettled")}

    usable: list[tuple[Reveal, np.ndarray]] = []
    for r in reveals:
        if judged[r.client] != "accepted":
            continue
        try:
            blob = fetch(cid_of_digest(r.digest))
            spec, values = decode(blob)
        except Exception:
            continue  # doc §3.1: missing or undecodable bytes leave the update out
        if spec == spec_digest and values.shape == (n_params,) and np.all(np.isfinite(values)):
            usable.append((r, values))

    (started,) = logs("RoundStarted")
    start_model = bytes(started.args.startModel)
    values = [v for _, v in usable]
    raw = [r.samples * (r.reputation if rule == "reputation_weighted_fedavg" else 1) for r, _ in usable]
    weights = (
        water_fill(raw, bps) if rule in ("reputation_weighted_fedavg", "fedavg") else [1.0] * len(usable)
    )
    if not usable or sum(weights) <= 0:
        digest = cid_digest(encode(decode(fetch(cid_of_digest(start_model)))[1], spec_digest))
    elif rule in ("reputation_weighted_fedavg", "fedavg"):
        digest = cid_digest(encode(weighted_mean(values, weights), spec_digest))
    elif rule == "coordinate_median":
        digest = cid_digest(encode(median(values), spec_digest))
    elif rule == "trimmed_mean":
        digest = cid_digest(encode(trimmed(values, spec_fields["trim_fraction"]), spec_digest))
    else:
        raise NotImplementedError(
            f"this client implements §3.3 and §3.5's median and trimmed mean, not {rule}"
        )
    return Recomputed(
        cid=cid_of_digest(digest),
        on_chain=cid_of_digest(bytes(fed.functions.globalModelOf(round_).call())),
        accepted=[r.order for r, _ in usable],
        weights=weights,
        settled_outcomes=settled,
        judged_outcomes=judged,
    )


def _n_params(spec: dict) -> int:
    """Doc §4: layers x qubits x (2 for hea, 3 for sel) + 2 x classes."""
    per = {"hea": 2, "sel": 3}[spec["ansatz"]]
    return spec["n_layers"] * spec["n_qubits"] * per + 2 * spec["n_classes"]
