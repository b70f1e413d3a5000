"""The case study end to end: `python -m benchmarks.casestudy --quick` runs every part and writes a page that
is exactly its results' rendering; the committed docs/case-study.md is its results' rendering; bad input gets
one line and loses nothing."""

from __future__ import annotations

from benchmarks.casestudy.config import MEASURED_PARTS, ROOT

SECTIONS = ("## Verdict", "## Setup", "## Energy")


def test_quick_run_writes_every_part_and_section(quick_run):
    results = quick_run.results
    assert results["quick"] is True
    assert set(results["parts"]) == set(MEASURED_PARTS)
    assert all(results["seconds"][p] > 0 for p in MEASURED_PARTS)
    page = (quick_run.out / "case-study.md").read_text()
    for heading in SECTIONS:
        assert heading in page, heading
    for png in (quick_run.out / "case-study").glob("*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"
    linked = [
        line.split("(case-study/")[1].split(")")[0] for line in page.splitlines() if "(case-study/" in line
    ]
    assert linked, "the page links no figure"
    for name in linked:
        assert (quick_run.out / "case-study" / name).is_file(), name
    assert str(ROOT) not in page, "the page names a path of this machine"


def test_page_is_exactly_the_rendering_of_its_results(quick_run, case_study_cli):
    _run = case_study_cli
    assert _run("--check", "--out", str(quick_run.out)).returncode == 0
    page = quick_run.out / "case-study.md"
    original = page.read_text()
    page.write_text(original.replace("## Setup", "## Set-up", 1))
    done = _run("--check", "--out", str(quick_run.out))
    page.write_text(original)
    assert done.returncode == 2
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_committed_case_study_is_current(case_study_cli):
    """docs/case-study.md is what its committed results.json renders to (regenerated, never hand-edited)."""
    done = case_study_cli("--check")
    assert done.returncode == 0, done.stderr


def test_bad_config_is_one_line_and_writes_nothing(tmp_path, case_study_cli):
    _run = case_study_cli
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
