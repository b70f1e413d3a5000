"""A node's own data file (`qflchain node --data`): what loads, and what is refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from small_configs import small_config

from qfl.orchestration.config import ExperimentConfig
from qfl.orchestration.private_data import PrivateDataError, load_private_data, write_client_files

CFG = ExperimentConfig.model_validate(
    small_config("private", 2, n_qubits=2)
)  # digits01: 2 classes, 2 features


def _rows(n: int = 20, features: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, features)), np.arange(n) % 2


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text, text
    return text


def test_csv_and_npz_with_the_models_feature_count_load(tmp_path: Path):
    X, y = _rows()
    npz = tmp_path / "mine.npz"
    np.savez(npz, X=X, y=y)
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(f"{a},{b},{c}" for (a, b), c in zip(X, y, strict=True)) + "\n")
    header = tmp_path / "header.csv"  # the label named in a header, first column
    header.write_text("label,f0,f1\n" + "\n".join(f"{c},{a},{b}" for (a, b), c in zip(X, y, strict=True)))
    loaded = [load_private_data(p, CFG, seed=3) for p in (npz, plain, header)]
    for data in loaded:
        assert len(data.y_train) == 16 and len(data.y_val) == 4  # 20 % held out for validation
        assert data.X_train.dtype == np.float32 and data.X_train.shape[1] == 2
        assert 0 <= data.X_train.min() and data.X_train.max() <= np.pi
        np.testing.assert_allclose(data.X_val, loaded[0].X_val, rtol=1e-6)  # same rows, same split
        np.testing.assert_array_equal(data.y_val, loaded[0].y_val)
    # The fixed, declared map: x in [0, 1] -> x * pi, fitted on nothing.
    row = int(np.flatnonzero(np.all(np.isclose(X, loaded[0].X_val[0] / np.pi, atol=1e-6), axis=1))[0])
    np.testing.assert_allclose(loaded[0].X_val[0], X[row] * np.pi, rtol=1e-6)
    again = load_private_data(npz, CFG, seed=3)
    np.testing.assert_array_equal(again.X_val, loaded[0].X_val)  # deterministic from the node's seed
    other = load_private_data(npz, CFG, seed=4)
    assert not np.array_equal(other.X_val, loaded[0].X_val)


def test_split_data_files_load_as_private_data(tmp_path: Path):
    paths = write_client_files(CFG, tmp_path)
    assert [p.name for p in paths] == ["client-0.npz", "client-1.npz"]
    sizes = [len(load_private_data(p, CFG, seed=i).y_train) for i, p in enumerate(paths)]
    assert all(s > 50 for s in sizes)


@pytest.mark.fault(
    area="data", fault="private data with the wrong feature count", outcome="rejected with a one-line error"
)
def test_wrong_feature_count_is_rejected(tmp_path: Path):
    X, y = _rows(features=5)
    path = tmp_path / "wide.npz"
    np.savez(path, X=X, y=y)
    with pytest.raises(PrivateDataError) as exc:
        load_private_data(path, CFG, seed=0)
    assert "5 features per row but the model takes 2" in _one_line(exc)
    amplitude = ExperimentConfig.model_validate(
        small_config("amp", 2, n_qubits=2, model={"n_qubits": 2, "n_layers": 1, "encoding": "amplitude"})
    )
    with pytest.raises(PrivateDataError) as exc:
        load_private_data(path, amplitude, seed=0)
    assert "takes 4 (amplitude encoding on 2 qubits)" in _one_line(exc)


@pytest.mark.fault(
    area="data", fault="private data with missing labels", outcome="rejected with a one-line error"
)
def test_missing_labels_are_rejected(tmp_path: Path):
    X, _ = _rows()
    npz = tmp_path / "nolabels.npz"
    np.savez(npz, X=X)
    with pytest.raises(PrivateDataError) as exc:
        load_private_data(npz, CFG, seed=0)
    assert "no labels (array 'y')" in _one_line(exc)
    csv = tmp_path / "gap.csv"
    csv.write_text("0.1,0.2,0\n0.3,0.4,\n0.5,0.6,1\n")
    with pytest.raises(PrivateDataError) as exc:
        load_private_data(csv, CFG, seed=0)
    assert "data row 2 has no label" in _one_line(exc)
    header = tmp_path / "nolabelcol.csv"
    header.write_text("a,b,c\n0.1,0.2,0\n0.3,0.4,1\n")
    with pytest.raises(PrivateDataError) as exc:
        load_private_data(header, CFG, seed=0)
    assert "names no 'label' column" in _one_line(exc)


@pytest.mark.fault(
    area="data",
    fault="private data with a label outside the classes",
    outcome="rejected with a one-line error",
)
def test_label_outside_the_classes_is_rejected(tmp_path: Path):
    X, y = _rows()
    y[3] = 2  # digits01 has classes 0 and 1
    path = tmp_path / "three.npz"
    np.savez(path, X=X, y=y)
    with pytest.raises(PrivateDataError) as exc:
        load_private_data(path, CFG, seed=0)
    assert "label 2 is outside the federation's classes 0..1" in _one_line(exc)
    y = y.astype(float)
    y[3] = 0.5
    np.savez(path, X=X, y=y)
    with pytest.raises(PrivateDataError) as exc:
        load_private_data(path, CFG, seed=0)
    assert "integer class codes" in _one_line(exc)


@pytest.mark.fault(
    area="data", fault="private features outside the declared range", outcome="rejected with a one-line error"
)
def test_features_outside_the_declared_range_are_rejected(tmp_path: Path):
    X, y = _rows()
    X[0, 1] = 7.5  # raw, unscaled: the owner must map by the agreed bounds [0, 1]
    path = tmp_path / "raw.npz"
    np.savez(path, X=X, y=y)
    with pytest.raises(PrivateDataError) as exc:
        load_private_data(path, CFG, seed=0)
    assert "declared range is [0, 1]" in _one_line(exc)


@pytest.mark.fault(
    area="data",
    fault="node given a private file that does not fit the model",
    outcome="rejected with a one-line error",
)
def test_node_command_refuses_a_bad_data_file_in_one_line(tmp_path: Path):
    import yaml

    from qfl.cli import main

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(small_config("private", 2, n_qubits=2)))
    X, y = _rows(features=3)
    path = tmp_path / "wide.npz"
    np.savez(path, X=X, y=y)
    result = CliRunner().invoke(
        main,
        ["node", "--config", str(config), "--client-index", "0", "--account", "test:1", "--store",
         str(tmp_path / "store"), "--state-dir", str(tmp_path / "state"), "--data", str(path),
         "--deployment", str(tmp_path / "none.json")],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [f"Error: {path}: 3 features per row but the model takes 2 (angle encoding on 2 qubits)"]
