"""Orchestration: a participant's node, the simulator, deployment records, config, reports, the launcher.

Imports point one way: `qfl.cli`/`qfl.api` -> here -> `qfl.chain`, `qfl.storage`, `qfl.fl`, `qfl.quantum`,
`qfl.data` (checked by import-linter in `make lint`).
"""
