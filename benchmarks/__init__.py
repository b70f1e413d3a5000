"""Reproducible speed / gas / accuracy measurements; each module writes benchmarks/results/<name>.md."""
