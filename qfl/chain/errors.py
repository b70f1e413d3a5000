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
    """The RPC node did not answer (down, restarting, timing out). Nothing is known to have been changed; the
    caller may wait and retry, reading the chain state again first. A transaction that may have reached the
    node is remembered by the binding and resolved (found mined, re-sent or replaced) on the next send from
    the same account, never sent twice."""


class TransactionNotMined(ChainUnavailable):
    """A transaction was signed and handed to the node but no receipt came within the wait (chain not mining,
    fee too low, node restarting). It may still land: the binding remembers it (`tx_hash`, `nonce`) and the
    next send from the same account first looks for its receipt, and re-sends or replaces it at the same
    nonce, so the call is never applied twice. Retry like any ChainUnavailable."""

    def __init__(self, message: str, tx_hash: str = "", nonce: int = -1):
        super().__init__(message)
        self.tx_hash = tx_hash
        self.nonce = nonce
