"""qfl.api: a federation run from Python prints nothing, gives its results as data, reruns to the same
numbers in one process, keeps a resumable run folder on request, and raises (never exits) on a bad config.
The example in docs/api.md runs as written.

Real runs on ape's in-process chain with the embedded store: three clients, one round, a 2-qubit model.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from small_configs import small_config

from qfl.api import (
    ConfigError,
    ExperimentConfig,
    ResumeError,
    as_config,
    load_config,
    rounds_table,
    run_experiment,
    to_dataframe,
)
from qfl.orchestration.sim import Simulation

DOCS = Path(__file__).resolve().parents[3] / "docs" / "api.md"
# Per-round numbers that must not depend on the run (timings and byte counts of the store may).
TIMING = {"train_seconds", "store_seconds", "chain_seconds", "other_seconds", "bytes_stored", "bytes_fetched"}


def tiny() -> ExperimentConfig:
    return ExperimentConfig(**small_config("api", 3, seed=5, n_qubits=2, rounds=1))


def numbers(report) -> dict:
    return {
        "initial": report.initial_accuracy,
        "rounds": [{k: v for k, v in asdict(r).items() if k not in TIMING} for r in report.rounds],
        "clients": [asdict(c) for c in report.clients],
        "gas": report.gas_by_method,
        "money": report.money,
    }


def test_a_run_prints_nothing_returns_data_and_reruns_to_the_same_numbers(capsys):
    cfg = tiny()
    first = run_experiment(cfg)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert len(first.rounds) == 1 and first.rounds[0].round == 1
    assert all(0.0 <= r.accuracy <= 1.0 for r in first.rounds) and 0.0 <= first.initial_accuracy <= 1.0
    assert first.money_conserved and len(first.clients) == 3
    assert first.rounds[0].accepted + first.rounds[0].rejected + first.rounds[0].undecided == 3

    lines: list[str] = []
    as_dict = cfg.model_dump(mode="json", exclude_defaults=True)  # a dict of settings works too
    second = run_experiment(as_dict, progress=lines.append)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert len(lines) == 1 and lines[0].startswith("round 1/1: accuracy")
    assert numbers(second) == numbers(first)

    rows = rounds_table(second)
    assert [row["round"] for row in rows] == [0, 1] and rows[1]["wall_seconds"] >= 0
    frame = to_dataframe(second)  # pandas is in the dev environment
    assert list(frame.index) == [0, 1] and frame.loc[1, "accuracy"] == second.rounds[0].accuracy


def test_out_dir_is_a_run_folder_like_the_cli_saved_on_a_stop_and_resumable(tmp_path, capsys, monkeypatch):
    cfg = ExperimentConfig(**small_config("api", 3, seed=5, n_qubits=2, rounds=2))
    out = tmp_path / "run"
    train = Simulation._batch_train

    def interrupted(self, round_, view):  # the kernel's interrupt button, in round 2's training
        if round_ == 2:
            raise KeyboardInterrupt
        return train(self, round_, view)

    monkeypatch.setattr(Simulation, "_batch_train", interrupted)
    with pytest.raises(KeyboardInterrupt) as caught:
        run_experiment(cfg, out)
    assert "1 of 2 rounds done and saved" in "".join(caught.value.__notes__)
    assert json.loads((out / "state.json").read_text())["rounds_done"] == 1
    with pytest.raises(ResumeError, match="holds an unfinished run"):  # a new run would throw round 1 away
        run_experiment(cfg, out)
    monkeypatch.setattr(Simulation, "_batch_train", train)

    report = run_experiment(cfg, out, resume=True)
    assert capsys.readouterr() == ("", "")
    assert [r.round for r in report.rounds] == [1, 2] and report.money_conserved
    assert report.calls_by_method["register"] == 3  # the same federation, not deployed again
    for name in ("config.yaml", "state.json", "rounds.csv", "clients.csv", "report.json"):
        assert (out / name).is_file(), name
    assert not (out / "rounds.png").exists()  # plots only on request
    state = json.loads((out / "state.json").read_text())
    assert state["finished"] and state["rounds_done"] == 2 and state["reproducible"]
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(report.to_json()))
    assert load_config(out / "config.yaml") == cfg  # the copy kept beside the run is the same config
    with pytest.raises(ResumeError, match="finished all 2 rounds"):
        run_experiment(cfg, out, resume=True)


def test_bad_config_or_arguments_raise_instead_of_exiting(tmp_path):
    bad = small_config("bad", 3, n_qubits=2) | {"n_clientz": 3}
    bad["model"] = bad["model"] | {"n_qubits": 0}
    with pytest.raises(ConfigError) as caught:
        run_experiment(bad)
    assert "model.n_qubits" in str(caught.value) and "n_clientz" in str(caught.value)
    with pytest.raises(ConfigError, match="does not exist"):
        run_experiment(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError):
        as_config(42)
    with pytest.raises(ValueError, match="need an out_dir"):
        run_experiment(tiny(), plots=True)
    with pytest.raises(ValueError, match="unknown chain"):
        run_experiment(tiny(), chain="mainnet")
    with pytest.raises(ResumeError, match="nothing to resume"):
        run_experiment(tiny(), tmp_path / "empty", resume=True)


def test_the_docs_example_runs(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert blocks, "docs/api.md has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    report = namespace["report"]
    assert len(report.rounds) == namespace["cfg"].protocol.rounds and report.money_conserved
