"""Case study, part `chain`: its quick run on anvil measures what it says, and its markdown is deterministic.

The quick config (experiments/case-study/chain.yaml `quick:`) runs in about 20 s: 4 clients for 2 rounds read
back from anvil, and one free-riding attacker among 4 clients for 1 round. The committed full results
(docs/case-study/results.json) are checked for every condition and re-rendered.
"""

from __future__ import annotations

import json

import pytest

from benchmarks.casestudy import chain
from benchmarks.casestudy.config import ROOT

GAS_CAP = 16_777_216  # EIP-7825: the most gas one transaction may use


@pytest.fixture(scope="module")
def quick(quick_run):
    """(config, this part's results, its progress lines) from the folder's one quick case study."""
    return quick_run.part("chain")


def test_quick_run_reads_every_round_back(quick):
    cfg, results, lines = quick
    assert json.loads(json.dumps(results)) == results  # plain JSON types only
    (run,) = results["overhead"]
    n = run["n_clients"]
    assert n == 4 and len(run["rounds"]) == 2 and run["money_conserved"]
    for r in run["rounds"]:
        methods = r["by_method"]
        for name in ("startRound", "commitUpdate", "revealUpdate", "commitVote", "revealVote", "settle"):
            assert methods[name]["txs"] >= 1, name
        assert methods["commitUpdate"]["txs"] == n and methods["revealUpdate"]["txs"] == n
        for name, m in methods.items():
            assert 0 < m["gas"] / m["txs"] < GAS_CAP, name
            assert m["calldata"] >= 4 * m["txs"] and m["signed"] > m["calldata"], name  # selector + signature
        # Everything a round sent came from its clients; every client put its update into the store.
        assert set(r["by_sender"]) <= {str(i) for i in range(n)}
        assert all(r["up"][i] >= run["update_bytes"] for i in r["committers"])
        assert set(r["committee"]) and set(r["committee"]) <= set(range(n))
        # A committee member fetches every update to score it: more than a trainer alone fetches.
        assert max(r["down"][i] for i in r["committee"]) > n * run["update_bytes"]
    slots = [run["storage_slots_before"]] + [r["storage_slots"] for r in run["rounds"]]
    assert all(b > a for a, b in zip(slots, slots[1:], strict=False)), slots  # every round adds state
    gas = chain._mean(chain._total(r, "gas") for r in run["rounds"])
    assert 0 < chain._blockfl(run)["gas"] < gas  # the BlockFL-style subset costs less than the whole round
    energy = results["energy_inputs"][str(n)]
    assert energy["transactions_per_round"] > 2 * n and energy["node_cpu_seconds_per_round"] > 0
    assert any("4 clients" in line for line in lines)


def test_quick_attack_money(quick):
    _, results, _ = quick
    (row,) = results["attacks"]
    assert row["kind"] == "free_rider" and row["attackers"] == 1 and row["money_conserved"]
    assert (
        row["attacker_slashed_updates"] == row["attacker_updates"] == 1 and row["honest_slashed_updates"] == 0
    )
    assert row["slashed_attackers_eth"] > 0 and row["slashed_honest_eth"] == 0
    assert row["rewards_attackers_eth"] - row["slashed_attackers_eth"] < 0  # the attack lost money
    assert row["rewards_honest_eth"] > 0
    assert row["burned_eth"] == pytest.approx(row["slashed_attackers_eth"] + row["slashed_honest_eth"])


def test_render_is_deterministic(quick, tmp_path):
    cfg, results, _ = quick
    first = chain.render(json.loads(json.dumps(results)), cfg, tmp_path / "a")
    second = chain.render(json.loads(json.dumps(results)), cfg, tmp_path / "b")
    assert first == second
    text = "\n".join(first)
    assert first[0].startswith("## ") and str(tmp_path) not in text and "/tmp" not in text
    assert "Not measured in this run" in text  # the quick run has no block-time runs, and says so
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["chain-attacks.png", "chain-gas.png"]


def test_committed_full_results_cover_every_condition(tmp_path):
    saved = json.loads((ROOT / "docs" / "case-study" / "results.json").read_text())
    results, cfg = saved["parts"]["chain"], saved["config"]
    assert saved["quick"] is False
    mine = cfg["chain"]
    assert [r["n_clients"] for r in results["overhead"]] == mine["overhead"]["clients"]
    assert [b["block_time"] for b in results["block_time"]] == mine["block_time"]["block_times"]
    for b in results["block_time"]:
        steady = b["rounds"][1]
        assert (
            11 <= steady["to_next"] and steady["seconds_to_next"] >= steady["to_next"] * b["block_time"] - 1
        )
    kinds = {(r["kind"], r["fraction"], r["split"]) for r in results["attacks"]}
    splits = {chain.split_name(s) for s in mine["attacks"]["splits"]}
    assert kinds == {
        (k, f, s) for k in mine["attacks"]["kinds"] for f in mine["attacks"]["fractions"] for s in splits
    }
    assert all(r["money_conserved"] for r in results["attacks"])
    assert chain.render(results, cfg, tmp_path / "a") == chain.render(results, cfg, tmp_path / "b")
