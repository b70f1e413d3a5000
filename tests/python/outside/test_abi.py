"""The committed abi/ files equal what the compiled contracts give: an outside client reading abi/ never
gets a stale interface (regenerate with `python -m qfl.chain.abi`)."""

from __future__ import annotations

import json

from qfl.chain import abi


def test_committed_abi_matches_the_compiled_contract():
    assert abi.stale() == [], "abi/ is stale: run `python -m qfl.chain.abi` and commit abi/"


def test_abi_is_a_plain_array_with_the_events_a_client_reads():
    entries = json.loads(abi.abi_path("QFLFederation").read_text())
    assert isinstance(entries, list)
    events = {e["name"] for e in entries if e["type"] == "event"}
    assert {
        "UpdateRevealed",
        "VoteRevealed",
        "TrainerSettled",
        "GlobalModelAccepted",
        "CommitteeSelected",
    } <= events
    functions = {e["name"] for e in entries if e["type"] == "function"}
    assert {"getRound", "modelSpec", "globalModelOf", "maxShareBps"} <= functions
