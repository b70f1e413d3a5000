"""The content-store interface every backend implements: put bytes -> CID, get CID -> verified bytes."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from qfl.storage.counters import TrafficCounters
from qfl.storage.errors import ContentMismatch, ObjectTooLarge, StoreError
from qfl.storage.unixfs import compute_cid

DEFAULT_MAX_OBJECT_SIZE = 256 * 1024 * 1024


@dataclass(frozen=True)
class ObjectStat:
    """What a store knows of one object: its CIDv0 and its size in bytes."""

    cid: str
    size: int


def verify(cid: str, data: bytes) -> bytes:
    """Return `data` if it is exactly the content of `cid` (recomputed as Kubo would), else ContentMismatch."""
    actual = compute_cid(data)
    if actual != cid:
        raise ContentMismatch(cid, actual, len(data))
    return data


class ContentStore(abc.ABC):
    """put(bytes) -> CIDv0 as `ipfs add` gives it; get(cid) verifies the bytes; pin, has, stat; counters."""

    max_object_size: int = DEFAULT_MAX_OBJECT_SIZE
    counters: TrafficCounters

    @staticmethod
    def _as_bytes(data: bytes) -> bytes:
        """`data` as bytes; StoreError for anything that is not a bytes-like object."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise StoreError(f"put() takes bytes, got {type(data).__name__}; encode the object first")
        return bytes(data)

    def _check_size(self, size: int) -> None:
        """Raise ObjectTooLarge if `size` exceeds max_object_size."""
        if size > self.max_object_size:
            raise ObjectTooLarge(size, self.max_object_size)

    @abc.abstractmethod
    def put(self, data: bytes) -> str:
        """Store `data`; return its CIDv0 (Kubo defaults: dag-pb UnixFS, 256 KiB chunks, balanced DAG)."""

    @abc.abstractmethod
    def get(self, cid: str) -> bytes:
        """Return the bytes of `cid`, verified against it (ContentMismatch if they do not match)."""

    @abc.abstractmethod
    def pin(self, cid: str) -> None:
        """Keep `cid` from garbage collection (ObjectNotFound if the store cannot get it)."""

    @abc.abstractmethod
    def has(self, cid: str) -> bool:
        """Whether the store holds `cid` locally."""

    @abc.abstractmethod
    def stat(self, cid: str) -> ObjectStat:
        """Size of the object `cid` (ObjectNotFound if absent)."""
