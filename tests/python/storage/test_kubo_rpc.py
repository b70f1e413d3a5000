"""KuboRPCStore against a real Kubo-compatible RPC server (js-ipfs daemon), plus real bad servers."""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import base58
import pytest
from storage_helpers import free_port, random_bytes

from qfl.storage import (
    ContentMismatch,
    EmbeddedStore,
    InvalidCID,
    KuboRPCStore,
    NodeUnavailable,
    ObjectNotFound,
    ObjectTooLarge,
    StoreError,
    compute_cid,
)
from qfl.storage.unixfs import CHUNK_SIZE


@pytest.fixture
def node(ipfs_rpc: dict) -> Iterator[KuboRPCStore]:
    """A client of the session's js-ipfs daemon, with short timeouts for fast negative tests."""
    with KuboRPCStore(ipfs_rpc["url"], timeout=2.0, has_timeout=0.5, retries=1, backoff=0.05) as store:
        yield store


def block_file(repo: Path, cid: str) -> Path:
    """Where js-ipfs's flatfs keeps the block of a CIDv0 (base32 multihash, next-to-last/2 shards)."""
    name = base64.b32encode(base58.b58decode(cid)).decode().rstrip("=")
    return repo / "blocks" / name[-3:-1] / f"{name}.data"


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * 1024 * 1024])
def test_node_cids_equal_embedded_and_round_trip(node: KuboRPCStore, size: int) -> None:
    data = random_bytes(size, seed=100 + size)
    cid = node.put(data)
    assert cid == compute_cid(data)
    assert node.get(cid) == data
    assert node.has(cid)
    assert node.stat(cid).size == size
    node.pin(cid)


def test_missing_object(node: KuboRPCStore) -> None:
    cid = compute_cid(b"nobody ever added this")
    started = time.monotonic()
    assert not node.has(cid)
    with pytest.raises(ObjectNotFound, match=cid):
        node.get(cid)
    assert time.monotonic() - started < 10


def test_tampered_block_on_the_node_is_refused(node: KuboRPCStore, ipfs_rpc: dict) -> None:
    data = b"Q"  # one byte: a single block whose payload sits at a known offset
    cid = node.put(data)
    path = block_file(ipfs_rpc["repo"], cid)
    block = bytearray(path.read_bytes())
    assert block[6:7] == data
    block[6] ^= 0xFF
    path.write_bytes(bytes(block))
    try:
        with pytest.raises(ContentMismatch, match=cid):
            node.get(cid)
    finally:
        block[6] ^= 0xFF
        path.write_bytes(bytes(block))
    assert node.get(cid) == data  # the good block back in place: nothing lost


def test_export_embedded_to_real_node(node: KuboRPCStore, tmp_path: Path) -> None:
    local = EmbeddedStore(tmp_path)
    cids = [local.put(random_bytes(size, seed=size)) for size in (3, 700_000)]
    local.pin(cids[0])
    assert sorted(local.export_to(node)) == sorted(cids)
    assert all(node.get(cid) == local.get(cid) for cid in cids)


def test_unreachable_node_raises_node_unavailable_and_nothing_is_lost(
    tmp_path: Path, node: KuboRPCStore
) -> None:
    local = EmbeddedStore(tmp_path)
    cid = local.put(b"weights of round 7")
    dead = KuboRPCStore(f"http://127.0.0.1:{free_port()}", timeout=1.0, retries=2, backoff=0.05)
    started = time.monotonic()
    with pytest.raises(NodeUnavailable, match=r"did not answer /api/v0/add after 3 attempts.*ConnectError"):
        local.export_to(dead)
    assert time.monotonic() - started < 5
    for op in (dead.get, dead.has, dead.stat, dead.pin):
        with pytest.raises(NodeUnavailable, match="start it"):
            op(cid)
    assert dead.counters.snapshot()["errors"]["put"] == 1
    assert local.get(cid) == b"weights of round 7"  # still here, exported once a node is up
    assert local.export_to(node) == [cid] and node.get(cid) == b"weights of round 7"


def test_oversized_and_malformed_input(node: KuboRPCStore) -> None:
    small = KuboRPCStore(node.api_url, timeout=2.0, retries=0, max_object_size=1000)
    with pytest.raises(ObjectTooLarge, match="1001 bytes"):
        small.put(b"x" * 1001)
    cid = node.put(random_bytes(5000, seed=7))
    with pytest.raises(ObjectTooLarge, match=cid):
        small.get(cid)
    with pytest.raises(InvalidCID):
        node.get("Qm-not-a-cid")
    with pytest.raises(StoreError, match="takes bytes"):
        node.put("text")  # type: ignore[arg-type]


def test_traffic_counters(node: KuboRPCStore) -> None:
    node.counters.reset()
    data = random_bytes(70_000, seed=8)
    cid = node.put(data)
    node.get(cid)
    node.get(cid)
    snap = node.counters.snapshot()
    assert (snap["bytes_in"], snap["bytes_out"]) == (70_000, 140_000)
    assert snap["ops"] == {"put": 1, "get": 2}


class _BadNode(http.server.BaseHTTPRequestHandler):
    """A real HTTP server that is not an IPFS node: HTML for /add, 503 for /cat."""

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.calls += 1  # type: ignore[attr-defined]
        status, body = (503, b"busy") if "/cat" in self.path else (200, b"<html>router login</html>")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bad_node() -> Iterator[http.server.HTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BadNode)
    server.calls = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_garbage_answers_and_retries(bad_node: http.server.HTTPServer) -> None:
    store = KuboRPCStore(f"http://127.0.0.1:{bad_node.server_port}", timeout=1.0, retries=2, backoff=0.01)
    with pytest.raises(StoreError, match="not Kubo RPC JSON.*really an IPFS API address"):
        store.put(b"abc")
    assert bad_node.calls == 1  # a garbage 200 is not retried
    with pytest.raises(NodeUnavailable, match="after 3 attempts \\(HTTP 503\\)"):
        store.get(compute_cid(b"abc"))
    assert bad_node.calls == 4
