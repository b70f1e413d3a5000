"""One quick case study for the whole folder: `python -m benchmarks.casestudy --quick` runs once (about two
minutes), and each part's tests check its share of the results, the log and the page it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.casestudy.config import ROOT


def run_case_study(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.casestudy", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class QuickRun:
    """The quick run's output folder, results and progress lines."""

    def __init__(self, out: Path, stdout: str):
        self.out = out
        self.results = json.loads((out / "case-study" / "results.json").read_text())
        self.lines = stdout.splitlines()

    def part(self, name: str) -> tuple[dict, dict, list[str]]:
        """(config, that part's results, its progress lines) as the part's `run` saw and returned them."""
        lines = [line for line in self.lines if f"[{name}]" in line]
        return self.results["config"], self.results["parts"][name], lines


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> QuickRun:
    out = tmp_path_factory.mktemp("case-study")
    done = run_case_study("--quick", "--out", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return QuickRun(out, done.stdout)


@pytest.fixture
def case_study_cli():
    """`python -m benchmarks.casestudy ARGS...` as a function returning the finished process."""
    return run_case_study
