"""The reliability table: every test marked `fault` is one fault or user mistake tried, and
`pytest tests/python -m fault --reliability-table docs/reliability.md` (`make reliability`) writes what
was tried, how many times, and the outcome observed, from the tests that just ran."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

OUTCOMES = ("rejected with a one-line error", "recovered", "nothing lost")


def pytest_addoption(parser):
    parser.addoption(
        "--reliability-table",
        default=None,
        help="write the markdown table of the `fault` tests that ran to this path",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "fault(area, fault, outcome, tries=1): one fault or user mistake tried `tries` times; "
        f"outcome is one of {OUTCOMES}",
    )
    config._fault_rows = defaultdict(lambda: {"tries": 0, "passed": 0, "failed": 0})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    marker = item.get_closest_marker("fault")
    if marker is None or report.when != "call" and not (report.when == "setup" and report.failed):
        return
    area, fault, outcome = (marker.kwargs[k] for k in ("area", "fault", "outcome"))
    if outcome not in OUTCOMES:
        raise ValueError(f"{item.nodeid}: fault outcome {outcome!r} is not one of {OUTCOMES}")
    row = item.config._fault_rows[(area, fault, outcome)]
    row["tries"] += int(marker.kwargs.get("tries", 1))
    row["passed" if report.passed else "failed"] += 1
    row.setdefault("tests", set()).add(item.nodeid.split("::")[0].removeprefix("tests/python/"))


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--reliability-table")
    rows = session.config._fault_rows
    if not path or not rows:
        return
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    lines = [
        "# Reliability: faults and bad input tried",
        "",
        "Written by `make reliability` (`pytest tests/python -m fault --reliability-table "
        "docs/reliability.md`) at commit " + f"`{commit}`; the same tests run in `make test`.",
        "Each row is one fault or user mistake; *tries* counts how many times it was tried across the tests "
        "named; *outcome* is what every try showed, or FAILED with the count of failing tests.",
        "",
        "| area | fault or bad input | tries | outcome | tests |",
        "|---|---|---:|---|---|",
    ]
    for (area, fault, outcome), row in sorted(rows.items()):
        shown = (
            outcome if not row["failed"] else f"FAILED in {row['failed']} of {row['failed'] + row['passed']}"
        )
        tests = ", ".join(f"`{t}`" for t in sorted(row.get("tests", ())))
        lines.append(f"| {area} | {fault} | {row['tries']} | {shown} | {tests} |")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(target)
