"""The exceptions of the binding: a reverted call, and a chain that cannot be reached."""

from __future__ import annotations

from typing import Any


class FederationError(RuntimeError):
    """A federation call reverted; `error` is the contract's custom error name, `args_` its arguments."""

    def __init__(self, method: str, error: str, args_: dict[str, Any] | None = None, message: str = ""):
        self.method = method
        self.error = error
        self.args_ = dict(args_ or {})
        detail = ", ".join(f"{k}={v}" for k, v in self.args_.items())
        super().__init__(f"{method} reverted with {error}({detail}){': ' + message if message else ''}")


class ChainUnavailable(ConnectionError):
    """The RPC node did not answer (down, restarting, timing out). Nothing is known to have been sent or
    changed; the caller may wait and retry, reading the chain state again first."""
