"""KuboRPCStore: a thin httpx client for the Kubo RPC API (ipfshttpclient refuses Kubo >= 0.8, so not that)."""

from __future__ import annotations

import json
import time

import httpx

from qfl.storage.base import DEFAULT_MAX_OBJECT_SIZE, ContentStore, ObjectStat, verify
from qfl.storage.cid import validate_cid
from qfl.storage.counters import TrafficCounters
from qfl.storage.errors import NodeUnavailable, ObjectNotFound, ObjectTooLarge, StoreError
from qfl.storage.unixfs import CHUNK_SIZE, compute_cid

_RETRY_STATUS = {502, 503, 504}
# Kubo's import defaults, spelled out so a node configured otherwise still gives the CIDs the chain expects.
_ADD_PARAMS = {
    "cid-version": "0",
    "chunker": f"size-{CHUNK_SIZE}",
    "raw-leaves": "false",
    "hash": "sha2-256",
    "quieter": "true",
}
_NOT_FOUND_HINTS = (
    "not found",
    "no link named",
    "could not resolve",
    "does not exist",
    "timed out",
    "deadline",
)


class KuboRPCStore(ContentStore):
    """Content store on any node that speaks the Kubo RPC API (Kubo, IPFS Desktop, pinning services)."""

    def __init__(
        self,
        api_url: str = "http://127.0.0.1:5001",
        timeout: float = 30.0,
        has_timeout: float = 1.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_object_size: int = DEFAULT_MAX_OBJECT_SIZE,
        pin_on_put: bool = True,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout, self.has_timeout = timeout, has_timeout
        self.retries, self.backoff, self.pin_on_put = retries, backoff, pin_on_put
        self.max_object_size = max_object_size
        self.counters = TrafficCounters()
        # the node gives up searching after `timeout` (its own `timeout` option); the socket waits a bit longer
        http_timeout = httpx.Timeout(timeout + 5.0, connect=min(timeout, 5.0))
        self._client = httpx.Client(base_url=f"{self.api_url}/api/v0", timeout=http_timeout)

    def __repr__(self) -> str:
        return f"KuboRPCStore({self.api_url!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> KuboRPCStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(
        self, command: str, params: dict, files: dict | None = None, stream: bool = False
    ) -> httpx.Response:
        """POST one RPC command, retrying transport failures and 502/503/504 with exponential back-off."""
        params = {"timeout": f"{self.timeout}s", **params}
        last: str = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                request = self._client.build_request("POST", f"/{command}", params=params, files=files)
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in _RETRY_STATUS:
                last = f"HTTP {response.status_code}"
                response.close()
                continue
            if response.status_code != 200:
                response.read()
                self._raise_for_answer(command, params, response)
            return response
        raise NodeUnavailable(
            f"IPFS node at {self.api_url} did not answer /api/v0/{command} after {self.retries + 1} attempts "
            f"({last}); start it (`ipfs daemon`) or give the right API address. Nothing was stored or lost."
        )

    def _raise_for_answer(self, command: str, params: dict, response: httpx.Response) -> None:
        """Turn a non-200 answer into ObjectNotFound or StoreError with the node's own message."""
        try:
            message = str(response.json().get("Message", response.text))
        except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
            message = response.text[:200]
        arg = params.get("arg", "")
        if arg and any(hint in message.lower() for hint in _NOT_FOUND_HINTS):
            raise ObjectNotFound(str(arg).removeprefix("/ipfs/"), f"{self!r} ({message})")
        target = f" {arg}" if arg else ""
        raise StoreError(
            f"{self!r} refused /api/v0/{command}{target} (HTTP {response.status_code}): {message}"
        )

    def _json(self, command: str, response: httpx.Response) -> dict:
        """The last JSON object of an answer (Kubo streams one per line), or StoreError on garbage."""
        lines = [line for line in response.text.splitlines() if line.strip()]
        try:
            answer = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError) as exc:
            raise StoreError(
                f"{self!r} answered /api/v0/{command} with something that is not Kubo RPC JSON: "
                f"{response.text[:120]!r}; is {self.api_url} really an IPFS API address?"
            ) from exc
        if not isinstance(answer, dict):
            raise StoreError(f"{self!r} answered /api/v0/{command} with {answer!r}, not a JSON object")
        return answer

    def put(self, data: bytes) -> str:
        """Add `data` with Kubo's defaults and check the node's CID equals the one computed locally."""
        data = self._as_bytes(data)
        with self.counters.measure("put"):
            self._check_size(len(data))
            expected = compute_cid(data)
            params = {**_ADD_PARAMS, "pin": str(self.pin_on_put).lower()}
            files = {"file": ("object", data, "application/octet-stream")}
            answer = self._json("add", self._send("add", params, files=files))
            got = answer.get("Hash")
            if got != expected:
                raise StoreError(
                    f"{self!r} stored the object as {got!r} but Kubo's defaults give {expected}; "
                    "the node does not import as `ipfs add --cid-version=0` does"
                )
            self.counters.add_bytes(into_store=len(data))
        return expected

    def get(self, cid: str) -> bytes:
        """`cat` the object, refusing more than max_object_size bytes, and verify it against `cid`."""
        with self.counters.measure("get"):
            cid = validate_cid(cid)
            response = self._send("cat", {"arg": cid}, stream=True)
            try:
                buffer, size = [], 0
                for piece in response.iter_bytes():
                    size += len(piece)
                    if size > self.max_object_size:
                        raise ObjectTooLarge(size, self.max_object_size, what=f"object {cid}")
                    buffer.append(piece)
            except httpx.TransportError as exc:
                raise NodeUnavailable(f"{self!r} broke off while sending {cid}: {exc}; try again") from exc
            finally:
                response.close()
            data = verify(cid, b"".join(buffer))
            self.counters.add_bytes(out_of_store=len(data))
        return data

    def pin(self, cid: str) -> None:
        """Pin `cid` recursively on the node."""
        with self.counters.measure("pin"):
            cid = validate_cid(cid)
            answer = self._json("pin/add", self._send("pin/add", {"arg": cid}))
            if not isinstance(answer.get("Pins"), list):
                raise StoreError(f"{self!r} answered pin/add {cid} with {answer!r}, not a Pins list")

    def has(self, cid: str) -> bool:
        """Whether the node holds the root block of `cid` locally (asked offline, for at most has_timeout s)."""
        with self.counters.measure("has"):
            cid = validate_cid(cid)
            params = {"arg": cid, "offline": "true", "timeout": f"{self.has_timeout}s"}
            try:
                self._json("block/stat", self._send("block/stat", params))
            except ObjectNotFound:
                return False
            return True

    def stat(self, cid: str) -> ObjectStat:
        """File size of `cid` from the node's UnixFS metadata."""
        with self.counters.measure("stat"):
            cid = validate_cid(cid)
            answer = self._json("files/stat", self._send("files/stat", {"arg": f"/ipfs/{cid}"}))
            size = answer.get("Size")
            if not isinstance(size, int) or size < 0:
                raise StoreError(f"{self!r} answered files/stat {cid} with {answer!r}, without a valid Size")
            return ObjectStat(cid, size)
