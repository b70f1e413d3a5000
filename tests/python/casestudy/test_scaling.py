"""The case study's scaling part on its quick config: real rounds on anvil (3 and 6 clients, each in its own
process) and a real 40-update settlement; results complete and in range, the render deterministic."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.casestudy import scaling


@pytest.fixture(scope="module")
def quick(quick_run):
    """(config, this part's results, its progress lines) from the folder's one quick case study."""
    return quick_run.part("scaling")


def test_fit_recovers_known_growth():
    ns = [10, 50, 100, 1000]
    lin = scaling.fit(ns, [5 + 2 * n for n in ns])
    assert lin["per_client"] == pytest.approx(2) and lin["intercept"] == pytest.approx(5)
    assert lin["worst_residual"] == pytest.approx(0, abs=1e-9)
    assert scaling.fit(ns, [3 * n * n for n in ns])["slope"] == pytest.approx(2)
    assert "slope" not in scaling.fit(ns, [0.0, 1.0, 2.0, 3.0])  # no log of 0


def test_every_client_count_measured_in_range(quick):
    cfg, results, lines = quick
    points = results["points"]
    assert [p["clients"] for p in points] == cfg["scaling"]["clients"]
    for p in points:
        assert p["rounds"] == cfg["scaling"]["rounds"] == len(p["per_round"])
        assert p["gas"] > 0 and p["txs"] > p["clients"]  # at least a commit and a reveal per client
        # Every transaction mined in the round's blocks was one the binding sent and counted.
        assert p["chain_txs"] == p["txs"]
        assert p["calldata"] > 0 and p["bytes_stored"] > 0 and p["bytes_fetched"] > 0
        assert 0 < p["train"] and 0 <= p["store"] and 0 < p["chain"] and 0 <= p["other"]
        assert p["setup"] > 0 and p["round1_wall"] >= p["train"]
        assert 50 < p["rss_mb"] <= p["hwm_mb"] < 8192 and 1 < p["anvil_rss_mb"] < 8192
        assert 0 <= p["accuracy"] <= 1
    small, big = points[0], points[-1]
    assert big["gas"] > small["gas"] and big["txs"] > small["txs"] and big["calldata"] > small["calldata"]
    for key in scaling.METRICS:
        assert key in results["fits"] and math.isfinite(results["fits"][key]["per_client"])
    assert any("clients" in line for line in lines)  # progress went to the log


def test_settlement_fits_under_the_cap(quick):
    _, results, _ = quick
    s = results["settlement"]
    assert s["updates"] == 40 and s["members"] == 40 and not s["lottery"]
    # 8 members settle their own update alone, the keeper the other 32 in one batch.
    assert s["settle_transactions"] == 8 + 1
    assert 0 < s["settle_batch_max"] <= s["largest_gas"] <= s["cap"] == 16_777_216
    assert s["settle_gas_total"] > s["settle_batch_max"] and s["reveal_vote_max"] > 0
    assert s["largest_batch_under_cap"] > s["settle_batch"]


def test_results_are_json_and_render_is_deterministic(quick, tmp_path):
    cfg, results, _ = quick
    again = json.loads(json.dumps(results))
    assert again == results  # plain JSON types only
    first = scaling.render(again, cfg, tmp_path / "a")
    second = scaling.render(json.loads(json.dumps(results)), cfg, tmp_path / "b")
    assert first == second
    assert first[0].startswith("## ")
    pngs = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert pngs == ["scaling-resources.png", "scaling-time.png"]
    for name in pngs:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert f"(case-study/{name})" in "\n".join(first)
    text = "\n".join(first)
    for p in results["points"]:
        assert f"| {p['clients']} | {p['rounds']} |" in text
    assert "16,777,216" in text and "/tmp" not in text
