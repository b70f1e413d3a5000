"""Slither over contracts/ (contracts/test excluded), failing on any finding not triaged in contracts/SLITHER.md.

Run by `make lint` as `.venv/bin/python tools/slither_lint.py`. Slither compiles through crytic-compile's
standard-JSON route (`--compile-force-framework solc-json`) with the npm solc behind tools/solc, because the
launcher speaks only `--version` and `--standard-json` (no `--combined-json`). The compiler settings are read
from ape-config.yaml, so slither analyses what ape builds.

A finding is keyed by detector and place (`Contract.function`, without line numbers, so edits elsewhere do not
invalidate the triage). Each row of the triage table names a key, how many findings it covers and why they are
acceptable. The run fails when a key has more findings than triaged; rows that match fewer are reported as
stale (pass `--strict` to fail on those too).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "contracts"
EXCLUDED = ("contracts/test/",)
TRIAGE = CONTRACTS / "SLITHER.md"


def compiler_settings(root: Path = ROOT) -> tuple[str, dict]:
    """The solc version and standard-JSON settings ape uses (ape-config.yaml, `solidity:`)."""
    config = yaml.safe_load((root / "ape-config.yaml").read_text())["solidity"]
    settings = {
        "optimizer": {
            "enabled": bool(config.get("optimize", True)),
            "runs": int(config.get("optimization_runs", 200)),
        },
        "viaIR": bool(config.get("via_ir", False)),
        # Slither reads the AST only: no code generation, so the check stays fast.
        "outputSelection": {"*": {"*": [], "": ["ast"]}},
    }
    if "evm_version" in config:
        settings["evmVersion"] = config["evm_version"]
    return str(config["version"]), settings


def sources(root: Path = ROOT) -> list[str]:
    """contracts/**/*.sol relative to the root, test helpers excluded."""
    found = (p.relative_to(root).as_posix() for p in (root / "contracts").rglob("*.sol"))
    return sorted(p for p in found if not p.startswith(EXCLUDED))


def standard_json(root: Path = ROOT) -> tuple[str, dict]:
    version, settings = compiler_settings(root)
    return version, {
        "language": "Solidity",
        "sources": {path: {"urls": [path]} for path in sources(root)},
        "settings": settings,
    }


def place(element: dict) -> str:
    """`Contract.member` of a result's first element (a function, variable, node or contract)."""
    kind = element.get("type")
    fields = element.get("type_specific_fields", {})
    if kind == "contract":
        return element["name"]
    if kind == "node":
        function = fields.get("parent", {})
        contract = function.get("type_specific_fields", {}).get("parent", {}).get("name", "?")
        return f"{contract}.{function.get('name', '?')}"
    parent = fields.get("parent", {})
    return f"{parent.get('name', '?')}.{element['name']}" if parent else element["name"]


def finding_keys(results: list[dict]) -> Counter:
    return Counter((r["check"], place(r["elements"][0]) if r["elements"] else "-") for r in results)


def read_triage(path: Path = TRIAGE) -> dict[tuple[str, str], tuple[int, str]]:
    """Rows `| `detector` | `Contract.member` | n | why |` of the triage table."""
    rows: dict[tuple[str, str], tuple[int, str]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) < 4:
            raise SystemExit(f"{path}:{number}: a triage row needs detector | place | count | reason")
        check, where, count = (cell.strip("`") for cell in cells[:3])
        reason = " | ".join(cells[3:])
        if not count.isdigit() or not reason or reason.upper().startswith("TODO"):
            raise SystemExit(f"{path}:{number}: count must be a number and the reason filled in")
        if (check, where) in rows:
            raise SystemExit(f"{path}:{number}: {check} {where} is triaged twice")
        rows[(check, where)] = (int(count), reason)
    return rows


def run_slither(root: Path = ROOT) -> list[dict]:
    version, data = standard_json(root)
    solc = root / "tools" / "solc" / f"solc-v{version}"
    if not solc.exists():
        raise SystemExit(f"slither: no solc launcher for {version} at {solc}")
    with tempfile.TemporaryDirectory(prefix="slither-") as tmp:
        input_json = Path(tmp) / "input.json"
        output_json = Path(tmp) / "results.json"
        input_json.write_text(json.dumps(data, indent=1))
        command = [
            str(Path(sys.executable).parent / "slither"),
            str(input_json),
            "--compile-force-framework",
            "solc-json",
            "--solc",
            str(solc),
            "--solc-working-dir",
            str(root),
            "--disable-color",
            "--json",
            str(output_json),
        ]
        # Slither exits non-zero whenever it reports anything; the JSON says whether the analysis itself ran.
        proc = subprocess.run(command, cwd=root, capture_output=True, text=True)
        if not output_json.exists():
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"slither did not run (exit {proc.returncode})")
        report = json.loads(output_json.read_text())
    if not report.get("success"):
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"slither failed: {report.get('error')}")
    return report.get("results", {}).get("detectors", [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="also fail on triage rows with fewer findings")
    parser.add_argument("--list", action="store_true", help="print every finding with its key")
    parser.add_argument("--triage", type=Path, default=TRIAGE, help="triage file (default: %(default)s)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    triaged = read_triage(args.triage)
    results = run_slither()
    found = finding_keys(results)
    if args.list:
        for r in results:
            key = (r["check"], place(r["elements"][0]) if r["elements"] else "-")
            print(f"[{r['impact']}/{r['confidence']}] {key[0]} {key[1]}\n    {r['description'].strip()}")
    untriaged = {k: n for k, n in found.items() if n > triaged.get(k, (0, ""))[0]}
    stale = {k: t[0] for k, t in triaged.items() if found.get(k, 0) < t[0]}
    for (check, where), n in sorted(untriaged.items()):
        have = triaged.get((check, where), (0, ""))[0]
        print(f"slither: untriaged: {check} in {where}: {n} finding(s), {have} triaged")
        for r in results:
            if r["check"] == check and r["elements"] and place(r["elements"][0]) == where:
                print("    " + r["description"].strip().replace("\n", "\n    "))
        print(f"    add to {args.triage}: | `{check}` | `{where}` | {n} | <why it is acceptable> |")
    for (check, where), n in sorted(stale.items()):
        print(
            f"slither: stale triage row: {check} in {where}: {n} triaged, {found.get((check, where), 0)} found"
        )
    elapsed = time.monotonic() - started
    excess = sum(n - triaged.get(k, (0, ""))[0] for k, n in untriaged.items())
    print(
        f"slither: {sum(found.values())} finding(s), {excess} untriaged, {len(stale)} stale row(s); "
        f"{len(sources())} files in {elapsed:.1f} s"
    )
    return 1 if untriaged or (args.strict and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
