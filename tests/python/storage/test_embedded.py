"""EmbeddedStore: verified reads, crash-safe writes, clear errors, counters, export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from storage_helpers import REPO_ROOT, random_bytes

from qfl.storage import (
    ContentMismatch,
    EmbeddedStore,
    InvalidCID,
    KuboRPCStore,
    ObjectNotFound,
    ObjectTooLarge,
    StoreError,
    compute_cid,
    open_store,
)


def object_file(store: EmbeddedStore, cid: str) -> Path:
    """The file an object lives in (tests reach past the API to damage it)."""
    return store._path(cid)


def test_put_get_has_stat_pin(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    data = random_bytes(300_000)
    cid = store.put(data)
    assert cid == compute_cid(data)
    assert store.has(cid) and store.get(cid) == data
    assert store.stat(cid).size == len(data) and store.stat(cid).cid == cid
    store.pin(cid)
    assert store.pins() == [cid]
    assert list(store.cids()) == [cid]
    assert EmbeddedStore(tmp_path).get(cid) == data  # survives reopening


def test_missing_object(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    cid = compute_cid(b"never stored")
    assert not store.has(cid)
    for op in (store.get, store.stat, store.pin):
        with pytest.raises(ObjectNotFound, match=cid):
            op(cid)


def test_tampered_object_is_refused_and_repaired_by_put(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    data = random_bytes(600_000, seed=1)
    cid = store.put(data)
    path = object_file(store, cid)
    tampered = bytearray(data)
    tampered[12345] ^= 0xFF
    path.write_bytes(bytes(tampered))
    with pytest.raises(ContentMismatch, match=cid) as err:
        store.get(cid)
    assert err.value.cid == cid and err.value.actual == compute_cid(bytes(tampered))
    assert store.put(data) == cid  # re-putting the original bytes replaces the damaged copy
    assert store.get(cid) == data


def test_truncated_object_is_refused(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    data = random_bytes(262_145, seed=2)
    cid = store.put(data)
    other = store.put(b"an object that must survive")
    with open(object_file(store, cid), "r+b") as handle:
        handle.truncate(262_144)
    with pytest.raises(ContentMismatch, match=f"{cid} failed verification: the 262144 bytes"):
        store.get(cid)
    assert store.get(other) == b"an object that must survive"


def test_crash_at_rename_leaves_no_object_and_keeps_old_ones(tmp_path: Path, monkeypatch) -> None:
    store = EmbeddedStore(tmp_path)
    kept = store.put(b"already stored")
    data = random_bytes(1000, seed=3)
    cid = compute_cid(data)

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StoreError, match=f"could not write {cid}.*No space left.*unchanged"):
        store.put(data)
    assert store.put(b"already stored") == kept  # an identical object is never rewritten, so no rename
    monkeypatch.undo()
    assert not store.has(cid)
    assert store.get(kept) == b"already stored"
    assert not list(tmp_path.rglob(".tmp-*")), "the temp file of the failed write was not removed"
    assert store.put(data) == cid and store.get(cid) == data


def test_failed_overwrite_keeps_the_good_object(tmp_path: Path, monkeypatch) -> None:
    store = EmbeddedStore(tmp_path)
    data = b"weights v1"
    cid = store.put(data)
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError("disk gone")))
    assert store.put(data) == cid  # same bytes: nothing written, nothing at risk
    monkeypatch.undo()
    assert store.get(cid) == data


def test_process_killed_between_write_and_rename(tmp_path: Path) -> None:
    """SIGKILL a writer after its temp file is fsynced but before os.replace: no object, old ones intact."""
    store = EmbeddedStore(tmp_path)
    kept = store.put(b"survivor")
    data_size = 3 * 1024 * 1024
    child = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from qfl.storage import EmbeddedStore
        def stall(src, dst):
            print("renaming", src, flush=True)
            time.sleep(120)
        os.replace = stall
        EmbeddedStore(Path({str(tmp_path)!r})).put(os.urandom({data_size}))
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    line = proc.stdout.readline()
    assert line.startswith("renaming"), f"child did not reach the rename: {line!r}"
    temp = Path(line.split()[1])
    assert temp.stat().st_size == data_size  # fully written and fsynced, not yet renamed
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()

    reopened = EmbeddedStore(tmp_path)
    assert list(reopened.cids()) == [kept]  # the half-done write is not an object
    assert reopened.get(kept) == b"survivor"
    assert reopened.remove_stale_temp_files(older_than_s=0) == 1
    assert not temp.exists()


def test_oversized_input_is_refused(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path, max_object_size=1024)
    with pytest.raises(ObjectTooLarge, match="1025 bytes exceeds max_object_size=1024"):
        store.put(b"x" * 1025)
    assert list(store.cids()) == []
    assert store.put(b"x" * 1024)


def test_oversized_object_on_disk_is_not_read(tmp_path: Path) -> None:
    big = random_bytes(4096, seed=4)
    cid = EmbeddedStore(tmp_path).put(big)
    with pytest.raises(ObjectTooLarge):
        EmbeddedStore(tmp_path, max_object_size=1024).get(cid)


@pytest.mark.parametrize(
    "bad", ["", "Qm123", "not a cid", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"]
)
def test_malformed_cids(tmp_path: Path, bad: str) -> None:
    store = EmbeddedStore(tmp_path)
    for op in (store.get, store.has, store.stat, store.pin):
        with pytest.raises(InvalidCID):
            op(bad)


def test_put_refuses_non_bytes(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="takes bytes, got str"):
        EmbeddedStore(tmp_path).put("text")  # type: ignore[arg-type]


def test_traffic_counters_count_bytes_and_ops(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    a, b = random_bytes(1000, seed=5), random_bytes(70_000, seed=6)
    cid_a, cid_b = store.put(a), store.put(b)
    store.get(cid_a)
    store.get(cid_b)
    store.get(cid_b)
    with pytest.raises(ObjectNotFound):
        store.get(compute_cid(b"absent"))
    snap = store.counters.snapshot()
    assert snap["bytes_in"] == 71_000
    assert snap["bytes_out"] == 1000 + 2 * 70_000
    assert snap["ops"] == {"put": 2, "get": 4}
    assert snap["errors"] == {"get": 1}
    assert snap["seconds"]["put"] > 0
    store.counters.reset()
    assert store.counters.snapshot()["bytes_in"] == 0


def test_export_to_another_store(tmp_path: Path) -> None:
    source = EmbeddedStore(tmp_path / "a")
    cids = [source.put(random_bytes(size, seed=size)) for size in (0, 10, 300_000)]
    source.pin(cids[1])
    target = EmbeddedStore(tmp_path / "b")
    assert sorted(source.export_to(target)) == sorted(cids)
    assert target.pins() == [cids[1]]
    assert all(target.get(cid) == source.get(cid) for cid in cids)


def test_export_refuses_a_damaged_object(tmp_path: Path) -> None:
    source = EmbeddedStore(tmp_path / "a")
    cid = source.put(b"honest update")
    object_file(source, cid).write_bytes(b"poisoned update")
    target = EmbeddedStore(tmp_path / "b")
    with pytest.raises(ContentMismatch, match=cid):
        source.export_to(target)
    assert not target.has(cid) and list(target.cids()) == []


def test_open_store(tmp_path: Path) -> None:
    assert isinstance(open_store(None, tmp_path), EmbeddedStore)
    assert isinstance(open_store("embedded", tmp_path), EmbeddedStore)
    kubo = open_store("http://127.0.0.1:5001", tmp_path)
    assert isinstance(kubo, KuboRPCStore) and kubo.api_url == "http://127.0.0.1:5001"
    with pytest.raises(StoreError, match="unknown content-store address"):
        open_store("ipfs.io", tmp_path)
