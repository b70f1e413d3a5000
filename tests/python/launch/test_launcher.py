"""`qflchain launch`: one process per node, each on its own private file, on the launcher's own anvil."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from small_configs import LONG_PERIODS, small_config

from qfl.orchestration import launcher, multiproc
from qfl.orchestration.launcher import LaunchError, launch

N = 2
CONFIG = small_config("launch", N, n_qubits=2, protocol=LONG_PERIODS)


def _config(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **changes}))
    return path


def _data_args(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "--data"]


def test_each_node_is_given_only_its_own_file(tmp_path: Path, monkeypatch):
    """The launcher's split writes one file per client and hands node i the path of client-i only (no
    chain: anvil, deploy and the node processes are stand-ins recording what they were given)."""
    spawned: dict[int, list[str]] = {}

    class FakeAnvil:
        url = "http://127.0.0.1:1"

        def __init__(self, state_path, optimism=False):
            self.state_path = state_path

        def start(self):
            return self

        def stop(self):
            pass

    def fake_spawn(config, network, deployment, index, store, state_dir, log_path, crash_at=None, data=None):
        proc = subprocess.Popen(["true"])
        proc.args = multiproc.qflchain("node", "--client-index", str(index), "--data", str(data))
        spawned[index] = proc.args
        return proc

    def fake_qflchain(*args, timeout):
        if args[0] == "deploy":
            Path(args[args.index("--out") + 1]).write_text("{}")
        return subprocess.CompletedProcess(args, 0, "round 1: DONE\n", "")

    monkeypatch.setattr(multiproc, "Anvil", FakeAnvil)
    monkeypatch.setattr(multiproc, "spawn_node", fake_spawn)
    monkeypatch.setattr(launcher, "_qflchain", fake_qflchain)
    n = 3
    data_dir = tmp_path / "data"
    result = launch(
        _config(tmp_path), data_dir, tmp_path / "run", nodes=n, split_from_config=True, echo=lambda s: None
    )
    written = sorted(p.name for p in data_dir.iterdir())
    assert written == [f"client-{i}.npz" for i in range(n)]
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["n_clients"] == n
    for i in range(n):
        assert _data_args(spawned[i]) == [str(data_dir / f"client-{i}.npz")]
        assert not [a for a in spawned[i] if any(f"client-{j}." in a for j in range(n) if j != i)]
    assert result.codes == dict.fromkeys(range(n), 0)


@pytest.mark.fault(
    area="data",
    fault="launch without a private file for every node",
    outcome="rejected with a one-line error",
)
def test_a_missing_client_file_is_refused_before_anything_starts(tmp_path: Path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "client-0.npz").write_bytes(b"")
    monkeypatch.setattr(multiproc, "Anvil", None)  # nothing may be started
    with pytest.raises(LaunchError) as exc:
        launch(_config(tmp_path), data_dir, tmp_path / "run", echo=lambda s: None)
    assert str(exc.value).startswith(f"no data file for client 1: expected {data_dir / 'client-1.npz'}")
    assert "\n" not in str(exc.value)


def test_launch_plays_a_round_with_private_files(tmp_path: Path):
    """The real thing: anvil, `qflchain deploy`, N `qflchain node --data` processes, one round accepted."""
    data_dir = tmp_path / "data"
    lines: list[str] = []
    result = launch(
        _config(tmp_path), data_dir, tmp_path / "run", split_from_config=True, timeout=240, echo=lines.append
    )
    assert result.codes == dict.fromkeys(range(N), 0), lines
    logs = {i: result.logs[i].read_text() for i in range(N)}
    for i in range(N):
        own = str(data_dir / f"client-{i}.npz")
        assert _data_args(result.argv[i]) == [own]
        assert f"client {i}: private data {own}:" in logs[i], logs[i][-1500:]
        others = [str(data_dir / f"client-{j}.npz") for j in range(N) if j != i]
        assert not any(o in logs[i] or o in result.argv[i] for o in others)
        assert "Traceback" not in logs[i] and f"client {i} done" in logs[i], logs[i][-1500:]
    assert len(result.summary) == 1 and result.summary[0].startswith("round 1: DONE"), result.summary
    # The committee drawn decides whether a validator's own update is scored ("other") or accepted.
    accepted = re.search(r"accepted (\d+), rejected 0, other (\d+), unsettled 0", result.summary[0])
    assert accepted and int(accepted[1]) >= 1 and int(accepted[1]) + int(accepted[2]) == N, result.summary
    assert any(line.startswith("logs: ") for line in lines)
    # anvil was stopped and its chain kept for a rerun.
    assert (tmp_path / "run" / "anvil-state.json").is_file()
