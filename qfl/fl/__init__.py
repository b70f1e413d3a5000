"""Federated numerics: aggregation rules, validator scoring, attack models (pure functions of arrays)."""
