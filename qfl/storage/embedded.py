"""EmbeddedStore: a content-addressed store on disk, no daemon, same CIDs as Kubo, crash-safe writes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from qfl.storage.atomic import atomic_write
from qfl.storage.base import DEFAULT_MAX_OBJECT_SIZE, ContentStore, ObjectStat, verify
from qfl.storage.cid import validate_cid
from qfl.storage.counters import TrafficCounters
from qfl.storage.errors import InvalidCID, ObjectNotFound, StoreError
from qfl.storage.unixfs import compute_cid

_TEMP_PREFIX = ".tmp-"
_STALE_TEMP_SECONDS = 3600.0


class EmbeddedStore(ContentStore):
    """Objects stored whole under root/objects/<cid[-3:-1]>/<cid>; pins under root/pins/<cid>."""

    def __init__(self, root: Path | str, max_object_size: int = DEFAULT_MAX_OBJECT_SIZE) -> None:
        self.root = Path(root)
        self.max_object_size = max_object_size
        self.counters = TrafficCounters()
        self._objects = self.root / "objects"
        self._pins = self.root / "pins"
        try:
            self._objects.mkdir(parents=True, exist_ok=True)
            self._pins.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the embedded store at {self.root}: {exc}; pick a writable path"
            ) from exc
        self.remove_stale_temp_files()

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.root)!r})"

    def _path(self, cid: str) -> Path:
        """On-disk path of a canonical CIDv0 (sharded like Kubo's flatfs next-to-last/2)."""
        return self._objects / cid[-3:-1] / cid

    def put(self, data: bytes) -> str:
        """Store `data` atomically and return its CIDv0; an existing identical object is left untouched."""
        data = self._as_bytes(data)
        with self.counters.measure("put"):
            self._check_size(len(data))
            cid = compute_cid(data)
            path = self._path(cid)
            if not self._holds_exactly(path, data):  # a missing or damaged object is (re)written whole
                try:
                    atomic_write(path, data, temp_prefix=_TEMP_PREFIX)
                except OSError as exc:
                    raise StoreError(
                        f"could not write {cid} to {path}: {exc}; nothing was stored and every object already "
                        "in the store is unchanged. Free disk space or fix permissions and put again"
                    ) from exc
            self.counters.add_bytes(into_store=len(data))
        return cid

    @staticmethod
    def _holds_exactly(path: Path, data: bytes) -> bool:
        """Whether `path` already holds exactly `data`."""
        try:
            return path.stat().st_size == len(data) and path.read_bytes() == data
        except FileNotFoundError:
            return False

    def get(self, cid: str) -> bytes:
        """Return the verified bytes of `cid` (ContentMismatch if the file on disk was tampered or truncated)."""
        with self.counters.measure("get"):
            cid = validate_cid(cid)
            path = self._path(cid)
            try:
                self._check_size(path.stat().st_size)
                data = path.read_bytes()
            except FileNotFoundError:
                raise ObjectNotFound(cid, repr(self)) from None
            verify(cid, data)
            self.counters.add_bytes(out_of_store=len(data))
        return data

    def has(self, cid: str) -> bool:
        """Whether an object file for `cid` exists (get() still verifies its bytes)."""
        with self.counters.measure("has"):
            return self._path(validate_cid(cid)).is_file()

    def stat(self, cid: str) -> ObjectStat:
        """CID and size of a stored object."""
        with self.counters.measure("stat"):
            cid = validate_cid(cid)
            try:
                return ObjectStat(cid, self._path(cid).stat().st_size)
            except FileNotFoundError:
                raise ObjectNotFound(cid, repr(self)) from None

    def pin(self, cid: str) -> None:
        """Record a pin for a stored object (the embedded store never collects garbage; pins travel on export)."""
        with self.counters.measure("pin"):
            cid = validate_cid(cid)
            if not self._path(cid).is_file():
                raise ObjectNotFound(cid, repr(self))
            (self._pins / cid).touch()

    def pins(self) -> list[str]:
        """Pinned CIDs, sorted."""
        return sorted(p.name for p in self._pins.iterdir() if not p.name.startswith("."))

    def cids(self) -> Iterator[str]:
        """Every CID with an object file (temp files of interrupted writes are not objects)."""
        for shard in sorted(p for p in self._objects.iterdir() if p.is_dir()):
            for path in sorted(shard.iterdir()):
                if path.name.startswith(_TEMP_PREFIX):
                    continue
                try:
                    yield validate_cid(path.name)
                except InvalidCID:
                    continue

    def remove_stale_temp_files(self, older_than_s: float = _STALE_TEMP_SECONDS) -> int:
        """Delete temp files left by writes that crashed more than `older_than_s` ago; return how many."""
        removed, cutoff = 0, time.time() - older_than_s
        for tmp in self._objects.glob(f"*/{_TEMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
        return removed

    def export_to(self, other: ContentStore) -> list[str]:
        """Put every object (verified) into `other`, e.g. a real node, and pin what is pinned here."""
        exported, pinned = [], set(self.pins())
        for cid in self.cids():
            got = other.put(self.get(cid))
            if got != cid:
                raise StoreError(f"{other!r} stored {cid} as {got}; it does not import with Kubo's defaults")
            if cid in pinned:
                other.pin(cid)
            exported.append(cid)
        return exported
