"""The case study (docs/case-study.md): QFLchain against its baselines on the four pillars.

`python -m benchmarks.casestudy [--quick]` (or `make case-study`) runs the parts named in `PARTS`, each a
module with `run(cfg, out, log) -> dict` (JSON results) and `render(results, cfg, figures) -> list[str]`
(markdown, deterministic in its results), and writes docs/case-study.md, its figures and results.json.
"""
