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


def atomic_write(path: Path, data: bytes, *, temp_prefix: str | None = None) -> None:
    """Write `data` to `path` via a temp file in the same directory, fsync, os.replace: all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix or f".{path.name}.", suffix=".partial")
    try:
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


def atomic_write_text(path: Path, text: str) -> None:
    """atomic_write of UTF-8 text."""
    atomic_write(path, text.encode())


def atomic_write_json(path: Path, payload: dict) -> None:
    """atomic_write of indented, key-sorted JSON."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
