"""The case study's configs: experiments/case-study/<name>.yaml, one file a part, each with `quick:` overrides."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "experiments" / "case-study"
MEASURED_PARTS = ("learning", "chain", "scaling")  # each runs and measures; energy is derived from them
FILES = ("common", *MEASURED_PARTS, "energy")


class CaseStudyError(RuntimeError):
    """A problem a user can fix, said in one line."""


def deep_merge(base: dict, override: dict) -> dict:
    """`base` with `override`'s keys laid over it, mappings merged key by key, everything else replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_part(path: Path, quick: bool) -> dict:
    """One config file, its `quick:` overrides applied when `quick` (and removed either way)."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CaseStudyError(
            f"{path}: no such config file; restore it from git or pass --config DIR"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise CaseStudyError(f"{path}: not valid YAML{where}; fix the file") from None
    if not isinstance(data, dict):
        raise CaseStudyError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    overrides = data.pop("quick", None) or {}
    if not isinstance(overrides, dict):
        raise CaseStudyError(f"{path}: `quick:` must be a mapping of overrides")
    return deep_merge(data, overrides) if quick else data


def load_config(config_dir: Path = CONFIG_DIR, quick: bool = False) -> dict:
    """{"common": ..., "learning": ..., "chain": ..., "scaling": ..., "energy": ...} from `config_dir`."""
    cfg = {name: load_part(Path(config_dir) / f"{name}.yaml", quick) for name in FILES}
    datasets = cfg["common"].get("datasets")
    if not isinstance(datasets, dict) or not datasets:
        raise CaseStudyError(
            f"{Path(config_dir) / 'common.yaml'}: `datasets:` must name at least one dataset"
        )
    return cfg
