"""`make case-study`: run the case study and write docs/case-study.md, its figures and results.json.

    python -m benchmarks.casestudy                 # the full study (< 60 min here) into docs/
    python -m benchmarks.casestudy --quick         # the small variant (~2 min) into runs/case-study-quick/
    python -m benchmarks.casestudy --parts chain   # rerun one part, keep the others' saved results
    python -m benchmarks.casestudy --render-only   # rewrite the document from the saved results
    python -m benchmarks.casestudy --check         # exit 1 if docs/case-study.md is not its results' rendering

Results are saved after every part (results.json beside the figures), so an interrupted run loses only the
part it was in; the document is rendered from results.json alone, so it is exactly what the run measured.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks.casestudy.config import (
    CONFIG_DIR,
    MEASURED_PARTS,
    ROOT,
    CaseStudyError,
    load_config,
    load_part,
)
from benchmarks.casestudy.document import render_document


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def paths(out: Path) -> tuple[Path, Path, Path]:
    """(document, figures folder, results.json) under the output folder."""
    figures = out / "case-study"
    return out / "case-study.md", figures, figures / "results.json"


def read_results(results_path: Path) -> dict:
    try:
        return json.loads(results_path.read_text())
    except FileNotFoundError:
        raise CaseStudyError(
            f"{results_path}: no saved results; run the study first (without --render-only)"
        ) from None
    except json.JSONDecodeError:
        raise CaseStudyError(f"{results_path}: not valid JSON; rerun the study to rewrite it") from None


def write_atomic(path: Path, text: str) -> None:
    """Write beside, then rename: an interrupted write never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def save_results(results_path: Path, results: dict) -> None:
    write_atomic(results_path, json.dumps(results, indent=1, sort_keys=True) + "\n")


def run_parts(cfg: dict, parts: list[str], results: dict, results_path: Path, scratch: Path) -> None:
    """Run each part in turn, saving results.json after each."""
    for part in parts:
        module = importlib.import_module(f"benchmarks.casestudy.{part}")
        print(f"== {part}", flush=True)
        start = time.perf_counter()
        folder = scratch / part
        folder.mkdir(parents=True, exist_ok=True)
        data = module.run(cfg, folder, lambda line, part=part: print(f"   [{part}] {line}", flush=True))
        results["parts"][part] = data
        results["seconds"][part] = round(time.perf_counter() - start, 1)
        save_results(results_path, results)
        print(f"   {part}: {results['seconds'][part]:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.casestudy", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="the small variant (each config's `quick:` overrides)"
    )
    ap.add_argument("--parts", default=",".join(MEASURED_PARTS), help="comma-separated subset to (re)run")
    ap.add_argument(
        "--out", type=Path, help="output folder (default docs/, or runs/case-study-quick with --quick)"
    )
    ap.add_argument("--config", type=Path, default=CONFIG_DIR, help="folder of the case study's YAML configs")
    ap.add_argument("--render-only", action="store_true", help="rewrite the document from saved results")
    ap.add_argument("--check", action="store_true", help="exit 1 if the document differs from its rendering")
    ap.add_argument("-v", "--verbose", action="store_true", help="tracebacks on errors")
    args = ap.parse_args(argv)
    try:
        return _main(args)
    except CaseStudyError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "Interrupted: the parts that finished are saved in results.json; rerun with --parts for the rest",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:  # one line, the traceback with -v
        if args.verbose:
            traceback.print_exc()
        print(f"Error: {type(exc).__name__}: {exc} (rerun with -v for the traceback)", file=sys.stderr)
        return 1


def _main(args: argparse.Namespace) -> int:
    out = args.out or (ROOT / "runs" / "case-study-quick" if args.quick else ROOT / "docs")
    doc_path, figures, results_path = paths(out)
    if args.check:
        results = read_results(results_path)
        with tempfile.TemporaryDirectory() as tmp:
            text = render_document(results, Path(tmp))
        if not doc_path.exists() or doc_path.read_text() != text:
            raise CaseStudyError(f"{doc_path} is not the rendering of {results_path}: run --render-only")
        print(f"{doc_path}: current")
        return 0
    if not args.render_only:
        parts = [p for p in args.parts.split(",") if p]
        unknown = sorted(set(parts) - set(MEASURED_PARTS))
        if unknown:
            raise CaseStudyError(f"unknown part(s) {unknown}: choose from {', '.join(MEASURED_PARTS)}")
        cfg = load_config(args.config, quick=args.quick)
        fresh = set(parts) == set(MEASURED_PARTS) or not results_path.exists()
        results = {"quick": args.quick, "parts": {}, "seconds": {}} if fresh else read_results(results_path)
        if results.get("quick") != args.quick:
            raise CaseStudyError(
                f"{results_path} holds a {'quick' if results['quick'] else 'full'} run: "
                "rerun every part, or use another --out"
            )
        stale = [
            p
            for p in MEASURED_PARTS
            if p in results["parts"]
            and p not in parts
            and any(results.get("config", {}).get(k) != cfg[k] for k in ("common", p))
        ]
        if stale:
            raise CaseStudyError(
                f"the config of {stale} changed since their results were saved: rerun them too "
                f"(--parts {','.join(sorted(set(parts) | set(stale)))})"
            )
        results["config"] = cfg
        commit = git_commit()
        results.setdefault("commits", {}).update({part: commit for part in parts})
        with tempfile.TemporaryDirectory(prefix="qfl-case-study-") as scratch:
            run_parts(cfg, parts, results, results_path, Path(scratch))
    results = read_results(results_path)
    missing = [p for p in MEASURED_PARTS if p not in results.get("parts", {})]
    if missing:
        raise CaseStudyError(f"{results_path} lacks the part(s) {missing}: run them with --parts")
    # the energy model measures nothing: its parameters are read afresh, saved with the results, then priced
    results["config"]["energy"] = load_part(args.config / "energy.yaml", results["quick"])
    save_results(results_path, results)
    write_atomic(doc_path, render_document(results, figures))
    total = sum(results["seconds"].values())
    print(f"wrote {doc_path} ({total / 60:.1f} min of measurement)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
