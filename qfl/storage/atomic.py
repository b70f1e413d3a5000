"""All-or-nothing file writes: a reader (or a restart after a crash) sees the old file or the new one.

Hand-written because the one library for it (`atomicwrites`) is archived; it is fifteen lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path


def _fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (best effort: not every filesystem allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: os.umask can only be read by setting it, racing other threads


def atomic_write(path: Path, data: bytes, *, temp_prefix: str | None = None, private: bool = False) -> None:
    """Write `data` to `path` via a temp file in the same directory, fsync, os.replace: all or nothing.
    The file gets the mode a plain `open` would give (0666 less the umask), or 0600 if `private`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix or f".{path.name}.", suffix=".partial")
    try:
        os.fchmod(fd, 0o600 if private else 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, *, private: bool = False) -> None:
    """atomic_write of UTF-8 text."""
    atomic_write(path, text.encode(), private=private)


def atomic_write_json(path: Path, payload: dict, *, private: bool = False) -> None:
    """atomic_write of indented, key-sorted JSON."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n", private=private)
