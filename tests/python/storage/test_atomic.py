"""Atomic writes give results the mode a plain open would, and secrets 0600."""

from __future__ import annotations

import os
import stat

from qfl.storage.atomic import atomic_write_json, atomic_write_text


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_results_are_readable_by_others_and_secrets_are_not(tmp_path):
    old = os.umask(0o022)
    try:
        import importlib

        import qfl.storage.atomic

        importlib.reload(qfl.storage.atomic)  # it reads the umask at import
        qfl.storage.atomic.atomic_write_text(tmp_path / "rounds.csv", "round\n1\n")
        qfl.storage.atomic.atomic_write_json(tmp_path / "round-1.json", {"salt": "0x00"}, private=True)
    finally:
        os.umask(old)
        importlib.reload(qfl.storage.atomic)
    assert _mode(tmp_path / "rounds.csv") == 0o644
    assert _mode(tmp_path / "round-1.json") == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_a_rewrite_replaces_the_whole_file(tmp_path):
    atomic_write_text(tmp_path / "f.txt", "a much longer first version\n")
    atomic_write_json(tmp_path / "f.txt", {"k": 1})
    assert (tmp_path / "f.txt").read_text() == '{\n  "k": 1\n}\n'
