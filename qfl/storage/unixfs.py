"""The CID `ipfs add` gives with Kubo's defaults: CIDv0, dag-pb UnixFS files, 256 KiB chunks, balanced DAG.

No maintained Python library encodes UnixFS/dag-pb, so the few protobuf fields needed are hand-written here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from qfl.storage.cid import digest_to_cid

CHUNK_SIZE = 262_144  # Kubo's default chunker: size-262144
MAX_LINKS = 174  # Kubo's balanced layout: at most 174 links per node
_UNIXFS_FILE = 2  # unixfs.pb Data.DataType.File
_MH_SHA2_256 = b"\x12\x20"


@dataclass(frozen=True)
class DagNode:
    """One node of the file DAG: its multihash, the file bytes below it, and its cumulative block size."""

    multihash: bytes
    filesize: int
    tsize: int


def _varint(n: int) -> bytes:
    """Protobuf base-128 varint of a non-negative integer."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field_bytes(number: int, value: bytes) -> bytes:
    """Protobuf length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _field_varint(number: int, value: int) -> bytes:
    """Protobuf varint field (wire type 0)."""
    return _varint(number << 3) + _varint(value)


def _unixfs_file(data: bytes | None, filesize: int, blocksizes: list[int]) -> bytes:
    """unixfs.pb Data{Type=File, Data, filesize, blocksizes} in field order, as go-unixfs writes it."""
    out = _field_varint(1, _UNIXFS_FILE)
    if data:
        out += _field_bytes(2, data)
    out += _field_varint(3, filesize)
    return out + b"".join(_field_varint(4, size) for size in blocksizes)


def _dag_pb(links: list[DagNode], data: bytes) -> bytes:
    """dag-pb PBNode: Links (field 2, each Hash + empty Name + Tsize) serialised before Data (field 1)."""
    encoded_links = b"".join(
        _field_bytes(2, _field_bytes(1, link.multihash) + _field_bytes(2, b"") + _field_varint(3, link.tsize))
        for link in links
    )
    return encoded_links + _field_bytes(1, data)


def _block(block: bytes, filesize: int, tsize_below: int) -> DagNode:
    """Hash one encoded block into a DagNode."""
    return DagNode(_MH_SHA2_256 + hashlib.sha256(block).digest(), filesize, len(block) + tsize_below)


def leaf_node(chunk: bytes) -> DagNode:
    """A leaf: a UnixFS File node holding one chunk (Kubo's CIDv0 default: no raw leaves)."""
    return _block(_dag_pb([], _unixfs_file(chunk, len(chunk), [])), len(chunk), 0)


def parent_node(children: list[DagNode]) -> DagNode:
    """An inner node linking to its children, with their file sizes as blocksizes."""
    filesize = sum(child.filesize for child in children)
    data = _unixfs_file(None, filesize, [child.filesize for child in children])
    return _block(_dag_pb(children, data), filesize, sum(child.tsize for child in children))


def balanced_root(leaves: list[DagNode], max_links: int = MAX_LINKS) -> DagNode:
    """Root of go-unixfs's balanced layout: a tree of depth d holds max_links**d leaves, filled left to right."""
    if len(leaves) == 1:
        return leaves[0]
    depth, capacity = 1, max_links
    while capacity < len(leaves):
        depth, capacity = depth + 1, capacity * max_links
    level = leaves
    for _ in range(depth):
        # every level groups max_links consecutive nodes; a short last group still gets its own parent
        level = [parent_node(level[i : i + max_links]) for i in range(0, len(level), max_links)]
    return level[0]


def file_root(data: bytes, chunk_size: int = CHUNK_SIZE) -> DagNode:
    """Root DagNode of `data` imported as `ipfs add` does with Kubo's defaults."""
    view = memoryview(data)
    leaves = [leaf_node(bytes(view[i : i + chunk_size])) for i in range(0, len(data), chunk_size)]
    return balanced_root(leaves or [leaf_node(b"")])


def compute_cid(data: bytes) -> str:
    """CIDv0 that `ipfs add` (Kubo defaults) prints for `data`."""
    return digest_to_cid(file_root(data).multihash[2:])
