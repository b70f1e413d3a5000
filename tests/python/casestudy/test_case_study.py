"""The case study end to end: `python -m benchmarks.casestudy --quick` runs every part and writes a page that
is exactly its results' rendering; the committed docs/case-study.md is its results' rendering; bad input gets
one line and loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.casestudy.config import MEASURED_PARTS, ROOT

SECTIONS = ("## Verdict", "## Setup", "## Energy")


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.casestudy", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("case-study")
    done = _run("--quick", "--out", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_quick_run_writes_every_part_and_section(quick_run):
    results = json.loads((quick_run / "case-study" / "results.json").read_text())
    assert results["quick"] is True
    assert set(results["parts"]) == set(MEASURED_PARTS)
    assert all(results["seconds"][p] > 0 for p in MEASURED_PARTS)
    page = (quick_run / "case-study.md").read_text()
    for heading in SECTIONS:
        assert heading in page, heading
    for png in (quick_run / "case-study").glob("*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"
    linked = [
        line.split("(case-study/")[1].split(")")[0] for line in page.splitlines() if "(case-study/" in line
    ]
    assert linked, "the page links no figure"
    for name in linked:
        assert (quick_run / "case-study" / name).is_file(), name
    assert str(ROOT) not in page, "the page names a path of this machine"


def test_page_is_exactly_the_rendering_of_its_results(quick_run):
    assert _run("--check", "--out", str(quick_run)).returncode == 0
    page = quick_run / "case-study.md"
    original = page.read_text()
    page.write_text(original.replace("## Setup", "## Set-up", 1))
    done = _run("--check", "--out", str(quick_run))
    page.write_text(original)
    assert done.returncode == 2
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_committed_case_study_is_current():
    """docs/case-study.md is what its committed results.json renders to (regenerated, never hand-edited)."""
    done = _run("--check")
    assert done.returncode == 0, done.stderr


def test_bad_config_is_one_line_and_writes_nothing(tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    for source in (ROOT / "experiments" / "case-study").glob("*.yaml"):
        (config / source.name).write_text(source.read_text())
    (config / "common.yaml").write_text("seeds: [0\n")
    out = tmp_path / "out"
    done = _run("--quick", "--config", str(config), "--out", str(out), timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "common.yaml: not valid YAML at line" in done.stderr
    assert not out.exists()
    done = _run("--parts", "nonsense", "--out", str(out), timeout=120)
    assert done.returncode == 2 and "unknown part(s) ['nonsense']" in done.stderr
    done = _run("--render-only", "--out", str(out), timeout=120)
    assert done.returncode == 2 and "no saved results" in done.stderr
