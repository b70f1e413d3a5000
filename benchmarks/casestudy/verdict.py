"""The verdict at the top of docs/case-study.md: where QFLchain wins and where it loses, in the run's numbers."""

from __future__ import annotations


def render(results: dict) -> list[str]:
    return []
