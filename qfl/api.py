"""The Python API: run a federation from a config and get its results as data, for notebooks and scripts.

    from qfl.api import ExperimentConfig, run_experiment

    report = run_experiment("configs/demo.yaml")          # a RunReport; nothing printed
    [(r.round, r.accuracy) for r in report.rounds]

`run_experiment` plays the same run as `qflchain simulate` (the same core, qfl.orchestration.sim.plan_run/execute_run): the
in-process chain (or anvil) and the embedded store, every client in this process. It prints nothing unless
given a `progress` callback, and raises exceptions instead of exiting: ConfigError for a config that cannot be
used, ResumeError for a run folder that cannot be resumed, and whatever stopped a run (KeyboardInterrupt
included) otherwise. See docs/api.md.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from qfl.orchestration.config import ConfigError, ExperimentConfig, load_config, problem_lines
from qfl.orchestration.report import ClientRecord, RoundRecord, RunReport, write_results
from qfl.orchestration.sim import CHAINS, ResumeError

__all__ = [
    "CHAINS",
    "ClientRecord",
    "ConfigError",
    "ExperimentConfig",
    "ResumeError",
    "RoundRecord",
    "RunReport",
    "as_config",
    "load_config",
    "rounds_table",
    "run_experiment",
    "to_dataframe",
]


def as_config(config: ExperimentConfig | Mapping[str, Any] | str | Path) -> ExperimentConfig:
    """An ExperimentConfig from a config, a dict of settings (as in the YAML) or the path of a YAML/JSON file;
    ConfigError (one line naming every bad field) when it is not a usable config."""
    if isinstance(config, ExperimentConfig):
        return config
    if isinstance(config, str | Path):
        return load_config(config)
    if isinstance(config, Mapping):
        try:
            return ExperimentConfig.model_validate(dict(config))
        except ValidationError as exc:
            raise ConfigError("config: " + "; ".join(problem_lines(exc))) from exc
    raise ConfigError(
        f"config: expected an ExperimentConfig, a dict or a file path, got {type(config).__name__}"
    )


@contextmanager
def _quiet_ape():
    """ape logs a line per confirmed transaction at INFO: keep it to warnings for the run (as the CLI does)."""
    from ape.logging import logger

    before = logger.level
    logger.set_level(max(before, logging.WARNING))
    try:
        yield
    finally:
        logger.set_level(before)


def run_experiment(
    config: ExperimentConfig | Mapping[str, Any] | str | Path,
    out_dir: str | Path | None = None,
    *,
    chain: str = "test",
    progress: Callable[[str], None] | None = None,
    resume: bool = False,
    reproducible: bool = True,
    plots: bool = False,
) -> RunReport:
    """Run the federation `config` describes (an ExperimentConfig, a dict, or a YAML/JSON path) with every
    client in this process and return its RunReport. Prints nothing; `progress`, if given, gets one line per
    finished round.

    `out_dir`: the run folder, kept and resumable exactly as `qflchain simulate --out` makes it (chain, state
    and results saved after every round; config.yaml, rounds.csv, clients.csv, report.json, and rounds.png
    with `plots`); `resume=True` continues the unfinished run saved there (its config must be the same) and
    a new run over an unfinished one raises ResumeError. Without `out_dir` the run uses a temporary folder,
    saves no checkpoints and leaves nothing behind (`resume` and `plots` then need an `out_dir`).

    `chain`: "test" (ape's in-process chain, reset to genesis for every new run), "foundry" (anvil, started
    and stopped for you) or "optimism" (`anvil --optimism`: L1 data fees in the report, docs/l2.md). `reproducible` (default) derives commitment salts from the config's seed, so the
    same config gives the same numbers on the test chain, also when run twice in one process.

    Raises ConfigError, ResumeError, ValueError (bad arguments), or whatever stopped the run; with `out_dir`
    every finished round is saved first and a note on the exception says how to resume."""
    from qfl.chain.toolchain import configure_environment
    from qfl.orchestration.sim import execute_run, plan_run

    cfg = as_config(config)
    if chain not in CHAINS:
        raise ValueError(f"unknown chain {chain!r}: one of {', '.join(sorted(CHAINS))}")
    if out_dir is None and (resume or plots):
        raise ValueError("resume and plots need an out_dir (a run folder)")
    configure_environment()
    on_round = progress or (lambda line: None)
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="qfl-run-") as tmp, _quiet_ape():
            plan = plan_run(cfg, Path(tmp), chain=chain, reproducible=reproducible)
            return execute_run(plan, progress=on_round, save=False)

    out = Path(out_dir)
    config_file = Path(config) if isinstance(config, str | Path) else None
    plan = plan_run(
        cfg, out, chain=chain, resume=resume, reproducible=reproducible, fresh=False, config_file=config_file
    )
    if plan.state is None and config_file is None:  # keep the config beside the run, as the CLI does
        import yaml

        from qfl.storage.atomic import atomic_write_text

        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            out / "config.yaml",
            yaml.safe_dump(cfg.model_dump(mode="json", exclude_defaults=True), sort_keys=False),
        )
        plan.config_file = out / "config.yaml"
    try:
        with _quiet_ape():
            report = execute_run(plan, progress=on_round)
    except (KeyboardInterrupt, Exception) as exc:
        saved = plan.folder.unfinished()
        if saved:
            exc.add_note(
                f"{saved['rounds_done']} of {saved['rounds_total']} rounds done and saved in {out}; continue "
                f"with run_experiment(..., out_dir={str(out)!r}, resume=True)"
            )
        raise
    write_results(report, out, plots=plots)
    return report


def rounds_table(report: RunReport) -> list[dict[str, Any]]:
    """One dict per round (every RoundRecord field, plus wall_seconds), round 0 (the initial model) first
    with only its accuracy: ready for a table, a CSV writer or pandas."""
    rows: list[dict[str, Any]] = [{"round": 0, "accuracy": report.initial_accuracy}]
    return rows + [asdict(r) | {"wall_seconds": r.wall_seconds} for r in report.rounds]


def to_dataframe(report: RunReport):
    """`rounds_table(report)` as a pandas DataFrame indexed by round (pandas is optional: ImportError
    without it)."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "to_dataframe needs pandas (pip install pandas); rounds_table needs nothing"
        ) from exc
    return pd.DataFrame(rounds_table(report)).set_index("round")
