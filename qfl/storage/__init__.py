"""Content store: put bytes -> CIDv0 as `ipfs add` gives it, get CID -> verified bytes; embedded or Kubo RPC."""

from __future__ import annotations

from pathlib import Path

from qfl.storage.base import ContentStore, ObjectStat, verify
from qfl.storage.cid import cid_to_digest, digest_to_cid, validate_cid
from qfl.storage.counters import TrafficCounters
from qfl.storage.embedded import EmbeddedStore
from qfl.storage.errors import (
    ContentMismatch,
    InvalidCID,
    NodeUnavailable,
    ObjectNotFound,
    ObjectTooLarge,
    StoreError,
)
from qfl.storage.kubo import KuboRPCStore
from qfl.storage.unixfs import compute_cid

__all__ = [
    "ContentMismatch",
    "ContentStore",
    "EmbeddedStore",
    "InvalidCID",
    "KuboRPCStore",
    "NodeUnavailable",
    "ObjectNotFound",
    "ObjectStat",
    "ObjectTooLarge",
    "StoreError",
    "TrafficCounters",
    "cid_to_digest",
    "compute_cid",
    "digest_to_cid",
    "open_store",
    "validate_cid",
    "verify",
]


def open_store(address: str | None, root: Path) -> ContentStore:
    """None or "embedded" -> EmbeddedStore(root); "http(s)://host:port" -> KuboRPCStore at that API address."""
    if address is None or address.strip().lower() == "embedded":
        return EmbeddedStore(root)
    if address.startswith(("http://", "https://")):
        return KuboRPCStore(address)
    raise StoreError(
        f"unknown content-store address {address!r}: use 'embedded' (the default, on disk under {root}) "
        "or a Kubo RPC API URL such as http://127.0.0.1:5001"
    )
