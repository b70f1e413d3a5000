"""The hot parts of sending a transaction on a node reached by URL, without ape on the path.

`Federation._send` (re-send, replacement, at-most-once) uses these: a local signer for accounts whose key
is in memory (ape's test accounts, or any eth_account key), fees read once per FEE_TTL seconds, and the next
nonce of each account kept here after the first read. Per transaction that leaves one `eth_estimateGas`,
one `eth_sendRawTransaction` and the receipt poll (benchmarks/tx_cost.py measures it against the floor).

anvil 1.7.1 serves `eth_sendRawTransactionSync` (EIP-7966) but takes no timeout with it and holds the
request open while the transaction is pending (30 s and more with mining paused or a nonce gap), which would
stop the re-send and replacement of a stuck transaction; the receipt is polled instead, first at once, then
every few milliseconds.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from eth_account import Account
from eth_account.signers.local import LocalAccount

# `coincurve` (a dependency) makes eth_keys sign with libsecp256k1: ~0.1 ms instead of ~8 ms in pure Python.


def local_signer(account: Any) -> LocalAccount | None:
    """An eth_account signer for `account` when its key is already in memory: an eth_account LocalAccount,
    or an ape account that holds its key as a plain field (ape's test accounts). None for accounts that
    must be unlocked or sign elsewhere (keyfiles, hardware wallets): those sign through ape."""
    if isinstance(account, LocalAccount):
        return account
    from ape_accounts.accounts import ApeSigner  # the base of ape's test accounts: the key is a field

    if isinstance(account, ApeSigner) and type(account).__name__ != "KeyfileAccount":
        key = getattr(account, "private_key", None)
        if key:
            signer = Account.from_key(key)
            if signer.address.lower() == str(account.address).lower():
                return signer
    return None


def sign_raw(signer: LocalAccount, tx: dict) -> bytes:
    """The signed EIP-1559 transaction `tx` (keys as eth_account wants them) as raw bytes."""
    return bytes(signer.sign_transaction(tx).raw_transaction)


class FeeCache:
    """The node's tip and max fee, read at most once per `ttl` seconds (two RPCs saved per transaction).

    max fee = 2 x gas price + tip: room for the base fee to rise ~6 full blocks in a row before a
    transaction signed from a cached price waits; one the node rejects as underpriced refreshes it."""

    def __init__(self, web3: Any, ttl: float = 2.0):
        self._web3 = web3
        self.ttl = ttl
        self._read_at = -float("inf")
        self._fees = (0, 0)

    def get(self) -> tuple[int, int]:
        """(tip, max_fee) in wei."""
        now = time.monotonic()
        if now - self._read_at >= self.ttl:
            tip = int(self._web3.eth.max_priority_fee)
            self._fees = (tip, 2 * int(self._web3.eth.gas_price) + tip)
            self._read_at = now
        return self._fees

    def forget(self) -> None:
        self._read_at = -float("inf")


class NonceBook:
    """The next nonce of each account this process sends from: read from the node (pending) once, then
    counted up as our transactions land. Forgotten on anything unexpected (a rejection, a nonce another
    sender took, a node that may have lost blocks), so the next send reads it again."""

    def __init__(self, web3: Any):
        self._web3 = web3
        self._next: dict[str, int] = {}

    def cached(self, address: str) -> bool:
        return address.lower() in self._next

    def next(self, address: str) -> int:
        key = address.lower()
        if key not in self._next:
            self._next[key] = int(self._web3.eth.get_transaction_count(address, "pending"))
        return self._next[key]

    def landed(self, address: str, nonce: int) -> None:
        """A transaction of ours at `nonce` was mined: the next one is nonce + 1."""
        key = address.lower()
        self._next[key] = max(self._next.get(key, 0), nonce + 1)

    def forget(self, address: str | None = None) -> None:
        if address is None:
            self._next.clear()
        else:
            self._next.pop(address.lower(), None)


class JsonRpc:
    """JSON-RPC over one kept-alive HTTP connection per thread (the standard library's http.client): one
    write per request and no per-request work beyond json. requests (under web3) costs ~1-2 ms of CPU per
    request here (environment proxy scan, ~/.netrc lookup, header merging, two socket writes), more than a
    local node takes to answer. Failures raise `unavailable(message)`; a request on a connection the node
    closed (restart, idle timeout) is sent once more on a new one."""

    def __init__(self, url: str, timeout: float, unavailable: Callable[[str], Exception]):
        parts = urlsplit(url)
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/json"}
        if parts.username:  # https://user:secret@host/ as hosted endpoints hand out
            token = base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode())
            self._headers["Authorization"] = "Basic " + token.decode()
        self.timeout = timeout
        self.unavailable = unavailable  # also raised for answers that are not JSON-RPC (receipt_of)
        self._local = threading.local()
        self._ids = itertools.count(1)

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self.timeout)
        conn.connect()
        # http.client writes the headers and the body separately: without this Nagle holds the body back.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._local.conn = conn
        return conn, False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def request(self, method: str, params: list) -> dict:
        """The node's whole answer to `method(params)` (a dict with 'result' or 'error')."""
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        for attempt in range(2):
            reused = getattr(self._local, "conn", None) is not None  # also defined when connecting fails
            try:
                conn, reused = self._connection()
                conn.request("POST", self._path, body, self._headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                stale = isinstance(
                    exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
                )
                if attempt == 0 and reused and stale:
                    continue  # the node closed a kept-alive connection: once more on a new one
                raise self.unavailable(f"RPC node {self.url} did not answer {method}: {exc}") from exc
            if response.status != 200:
                self._drop()
                raise self.unavailable(
                    f"RPC node {self.url} answered {method} with HTTP {response.status} {response.reason}"
                )
            return json.loads(data)
        raise AssertionError("unreachable")

    def make_request(self, method: str, params: list) -> dict:  # the provider interface `rpc` uses
        return self.request(method, params)


def rpc(provider: Any, method: str, params: list) -> Any:
    """One JSON-RPC request through `provider` (a JsonRpc; no web3 formatters). An error answer raises
    web3's ContractLogicError (a revert of a call or an estimate, with its data) or Web3RPCError (anything
    else), as web3 itself would."""
    from web3.exceptions import ContractLogicError, Web3RPCError

    response = provider.make_request(method, params)
    error = response.get("error")
    if error is not None:
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        data = error.get("data") if isinstance(error, dict) else None
        if method in ("eth_estimateGas", "eth_call") and (data or "revert" in message.lower()):
            raise ContractLogicError(message, data=data if isinstance(data, str) else None)
        raise Web3RPCError(message, rpc_response=response)
    return response.get("result")


def receipt_of(provider: Any, tx_hash: str) -> dict | None:
    """The mined receipt of `tx_hash` with the numbers the binding reads as ints; None if not mined. A
    receipt of another transaction is not ours (None); one that cannot be read raises the provider's
    `unavailable` error (ChainUnavailable: the node backs off, and the next send resolves the nonce)."""
    found = rpc(provider, "eth_getTransactionReceipt", [tx_hash])
    if not found:
        return None
    try:
        if found.get("blockNumber") is None:
            return None
        if str(found.get("transactionHash", "")).lower() != tx_hash.lower():
            return None  # a node answering with another transaction's receipt: keep waiting for ours
        logs = [
            {**log, "blockNumber": int(log["blockNumber"], 16), "logIndex": int(log["logIndex"], 16)}
            for log in found["logs"]
        ]
        return {
            **found,
            "status": int(found["status"], 16),
            "gasUsed": int(found["gasUsed"], 16),
            "blockNumber": int(found["blockNumber"], 16),
            "logs": logs,
        }
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a broken or hostile node
        unavailable = getattr(provider, "unavailable", ValueError)
        raise unavailable(
            f"RPC node sent a malformed receipt for {tx_hash} ({exc!r}); try another node"
        ) from exc
