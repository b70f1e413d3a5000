"""docs/case-study.md from results.json alone: the setup, each part's sections, the energy model, the verdict.

Deterministic: the same results give the same text byte for byte (a test re-renders the committed results).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from benchmarks.casestudy import energy, verdict
from benchmarks.casestudy.config import MEASURED_PARTS

TITLE = "# Case study: QFLchain against its baselines, on the four pillars"


def _setup_lines(results: dict) -> list[str]:
    cfg = results["config"]
    common = cfg["common"]
    training = common["training"]
    lines = [
        "## Setup",
        "",
        "Every system below learns the same data, split the same way, from the same seeds, with the same model"
        " and the same local training, unless a section says otherwise.",
        "",
        "| dataset | classes | features (PCA) | qubits | layers | encoding | ansatz | target accuracy |",
        "|---|---:|---:|---:|---:|---|---|---:|",
    ]
    classes = {"digits01": 2, "iris": 3, "wine": 3, "breast_cancer": 2}
    for name, spec in common["datasets"].items():
        m = spec["model"]
        lines.append(
            f"| {name} | {classes.get(name, '?')} | {common.get('n_features', m['n_qubits'])} | {m['n_qubits']} |"
            f" {m['n_layers']} | {m['encoding']} | {m['ansatz']} | {spec.get('target_accuracy', '-')} |"
        )
    lines += [
        "",
        f"- Local training each round: {training['epochs']} epochs of {training['optimizer']} (learning rate"
        f" {training['learning_rate']}, batch {training['batch_size']}), from the round's global model.",
        f"- Seeds: {', '.join(str(s) for s in common['seeds'])}; cells are mean ± std over them.",
        "- Datasets are scikit-learn's own (nothing downloaded); each part's section states its grid"
        " (splits, clients, attacks, rounds) and the systems it runs.",
        "- The configs are `experiments/case-study/*.yaml` (`common`, `learning`, `chain`, `scaling`, `energy`);"
        " each file's `quick:` block is what `--quick` changes.",
        "",
    ]
    return lines


def _commits(results: dict) -> str:
    """The commit each part ran at ("commit abc" when they agree)."""
    commits = results.get("commits", {})
    by_commit: dict[str, list[str]] = {}
    for part in MEASURED_PARTS:
        by_commit.setdefault(commits.get(part, "unknown"), []).append(part)
    if len(by_commit) == 1:
        return f"commit {next(iter(by_commit))}"
    return "; ".join(f"{', '.join(parts)} at commit {c}" for c, parts in by_commit.items())


def _provenance_lines(results: dict) -> list[str]:
    quick = results.get("quick", False)
    command = "python -m benchmarks.casestudy" + (" --quick" if quick else "")
    seconds = results.get("seconds", {})
    rows = " | ".join(f"{part} {seconds.get(part, 0) / 60:.1f} min" for part in MEASURED_PARTS)
    total = sum(seconds.get(part, 0) for part in MEASURED_PARTS)
    return [
        f"Regenerate everything on this page with `make case-study` (= `{command}`): it runs the parts, saves"
        " `docs/case-study/results.json` after each, and writes this page and its figures from that file"
        " alone. `python -m benchmarks.casestudy --render-only` rewrites the page from the saved results;"
        " `--check` (run by the tests) fails if the page is not their rendering.",
        "",
        f"This run{' (quick variant)' if quick else ''}: {_commits(results)}, on the shared"
        f" 2-core machine without a GPU; {rows}; **{total / 60:.1f} min in all**.",
        "",
    ]


def render_document(results: dict, figures: Path) -> str:
    """The whole page; PNGs go into `figures`."""
    figures.mkdir(parents=True, exist_ok=True)
    cfg = results["config"]
    lines = [TITLE, ""]
    lines += _provenance_lines(results)
    lines += verdict.render(results)
    lines += _setup_lines(results)
    for part in MEASURED_PARTS:
        module = importlib.import_module(f"benchmarks.casestudy.{part}")
        lines += module.render(results["parts"][part], cfg, figures)
        lines.append("")
    lines += energy.render(results, figures)
    text = "\n".join(lines).rstrip() + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text
