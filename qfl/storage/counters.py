"""Traffic counters: bytes and seconds per store operation, for the simulator's communication overhead."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class TrafficCounters:
    """bytes_in: payload bytes put into the store; bytes_out: payload bytes got out of it; ops/seconds per op."""

    bytes_in: int = 0
    bytes_out: int = 0
    ops: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @contextmanager
    def measure(self, op: str) -> Iterator[None]:
        """Count one `op` and the wall time it took (also when it raises, then it counts as an error)."""
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            with self._lock:
                self.errors[op] += 1
            raise
        finally:
            with self._lock:
                self.ops[op] += 1
                self.seconds[op] += time.perf_counter() - start

    def add_bytes(self, *, into_store: int = 0, out_of_store: int = 0) -> None:
        """Add payload bytes moved by a successful put (into_store) or get (out_of_store)."""
        with self._lock:
            self.bytes_in += into_store
            self.bytes_out += out_of_store

    def snapshot(self) -> dict:
        """A plain-dict copy, safe to log or serialise."""
        with self._lock:
            return {
                "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out,
                "ops": dict(self.ops),
                "seconds": dict(self.seconds),
                "errors": dict(self.errors),
            }

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.bytes_in = self.bytes_out = 0
            self.ops.clear()
            self.seconds.clear()
            self.errors.clear()
