"""Shared fixtures: ape's `accounts`, `project`, `chain` come from ape's pytest plugin."""
