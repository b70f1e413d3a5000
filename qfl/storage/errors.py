"""Errors of the content store: every one subclasses StoreError and says what to do."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every content-store error (also: a node answered something that is not a valid reply)."""


class InvalidCID(StoreError, ValueError):
    """The string is not a CID this store can address (bad encoding, wrong multihash, unmappable CIDv1)."""


class ContentMismatch(StoreError):
    """Bytes read back do not hash to the CID they were asked for (tampered or truncated content)."""

    def __init__(self, cid: str, actual: str, size: int) -> None:
        self.cid, self.actual, self.size = cid, actual, size
        super().__init__(
            f"content of {cid} failed verification: the {size} bytes returned hash to {actual}; "
            "the object is tampered or truncated and was not used. Re-put the original bytes or fetch from "
            "another node."
        )


class ObjectNotFound(StoreError, KeyError):
    """The store does not hold the requested CID."""

    def __init__(self, cid: str, where: str) -> None:
        self.cid = cid
        super().__init__(f"{cid} is not in {where}; put the bytes first or point to a node that has them")

    def __str__(self) -> str:
        return str(self.args[0])


class ObjectTooLarge(StoreError):
    """An object is bigger than the store's max_object_size."""

    def __init__(self, size: int, limit: int, what: str = "object") -> None:
        self.size, self.limit = size, limit
        super().__init__(
            f"{what} of {size} bytes exceeds max_object_size={limit} bytes; split it or raise max_object_size"
        )


class NodeUnavailable(StoreError):
    """The IPFS node could not be reached after all retries."""
