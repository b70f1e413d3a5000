"""Aggregation rules against slow, direct reference implementations; determinism and input checks."""

import itertools
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qfl.fl.aggregate import (
    AGGREGATORS,
    cap_shares,
    coordinate_median,
    fedavg,
    krum,
    multi_krum,
    reputation_weighted_fedavg,
    trimmed_mean,
)


def ref_weighted_mean(u, w):
    out = []
    for j in range(len(u[0])):
        out.append(sum(float(w[i]) * float(u[i][j]) for i in range(len(u))) / sum(float(x) for x in w))
    return np.array(out)


def ref_median(u):
    out = []
    for j in range(len(u[0])):
        col = sorted(float(u[i][j]) for i in range(len(u)))
        k = len(col)
        out.append(col[k // 2] if k % 2 else (col[k // 2 - 1] + col[k // 2]) / 2)
    return np.array(out)


def ref_trimmed(u, frac):
    t = int(frac * len(u))
    out = []
    for j in range(len(u[0])):
        col = sorted(float(u[i][j]) for i in range(len(u)))[t : len(u) - t]
        out.append(sum(col) / len(col))
    return np.array(out)


def ref_krum_scores(u, f):
    n = len(u)
    scores = []
    for i in range(n):
        d = sorted(
            sum((float(a) - float(b)) ** 2 for a, b in zip(u[i], u[j], strict=True))
            for j in range(n)
            if j != i
        )
        scores.append(sum(d[: n - f - 2]))
    return scores


@pytest.fixture(params=range(5))
def case(request):
    rng = np.random.default_rng(request.param)
    n, p = int(rng.integers(5, 12)), int(rng.integers(1, 30))
    return (
        rng.normal(size=(n, p)).astype(np.float32),
        rng.integers(1, 100, n),
        rng.uniform(0.1, 2.0, n),
    )


def test_fedavg(case):
    u, n, _ = case
    np.testing.assert_allclose(fedavg(u, n), ref_weighted_mean(u, n), rtol=1e-6, atol=1e-7)


def test_reputation_weighted_fedavg(case):
    u, n, r = case
    np.testing.assert_allclose(
        reputation_weighted_fedavg(u, n, r), ref_weighted_mean(u, n * r), rtol=1e-6, atol=1e-7
    )


def test_coordinate_median(case):
    u, _, _ = case
    np.testing.assert_allclose(coordinate_median(u), ref_median(u), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(coordinate_median(u[:3]), ref_median(u[:3]).astype(np.float32))


@pytest.mark.parametrize("frac", [0.0, 0.1, 0.25, 0.4])
def test_trimmed_mean(case, frac):
    u, _, _ = case
    np.testing.assert_allclose(trimmed_mean(u, frac), ref_trimmed(u, frac), rtol=1e-6, atol=1e-7)


def test_krum_and_multi_krum(case):
    u, _, _ = case
    f = (len(u) - 3) // 2
    scores = ref_krum_scores(u, f)
    np.testing.assert_array_equal(krum(u, f), u[int(np.argmin(scores))])
    m = 3
    best = sorted(sorted(range(len(u)), key=lambda i: scores[i])[:m])
    np.testing.assert_allclose(
        multi_krum(u, f, m), ref_weighted_mean(u[best], np.ones(m)), rtol=1e-6, atol=1e-7
    )


def test_weighted_mean_does_not_depend_on_permutation_of_equal_work():
    u = np.random.default_rng(9).normal(size=(4, 8)).astype(np.float32)
    w = np.array([1, 2, 3, 4])
    for perm in itertools.permutations(range(4)):
        np.testing.assert_allclose(fedavg(u[list(perm)], w[list(perm)]), fedavg(u, w), rtol=1e-6)


_SUBPROCESS = """
import sys, numpy as np
from qfl.fl.aggregate import AGGREGATORS
u = np.random.default_rng(1).normal(size=(9, 257)).astype(np.float32)
n = np.arange(1, 10); r = np.linspace(0.5, 1.5, 9)
outs = [AGGREGATORS['fedavg'](u, n), AGGREGATORS['reputation_weighted_fedavg'](u, n, r),
        AGGREGATORS['coordinate_median'](u), AGGREGATORS['trimmed_mean'](u, 0.2),
        AGGREGATORS['krum'](u, 2), AGGREGATORS['multi_krum'](u, 2, 4)]
sys.stdout.buffer.write(b''.join(o.tobytes() for o in outs))
"""


def test_outputs_bit_identical_across_processes():
    runs = [
        subprocess.run([sys.executable, "-c", _SUBPROCESS], capture_output=True, check=True).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and len(runs[0]) == 6 * 257 * 4


def test_registry_and_output_dtype():
    assert set(AGGREGATORS) == {
        "fedavg",
        "reputation_weighted_fedavg",
        "coordinate_median",
        "trimmed_mean",
        "krum",
        "multi_krum",
    }
    assert fedavg(np.ones((2, 3)), [1, 1]).dtype == np.float32


def test_bad_inputs_are_explained():
    u = np.ones((4, 3))
    with pytest.raises(ValueError, match="n_samples must be 4"):
        fedavg(u, [1, 2])
    with pytest.raises(ValueError, match="sum to zero"):
        reputation_weighted_fedavg(u, [1, 1, 1, 1], [0, 0, 0, 0])
    with pytest.raises(ValueError, match="n_byzantine"):
        krum(u, 2)
    with pytest.raises(ValueError, match="NaN"):
        coordinate_median(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="trim_fraction"):
        trimmed_mean(u, 0.5)


# ---------------------------------------------------------------------------- the max-share cap


def ref_cap(w, bps):
    """Slow reference: bisect on the level T (exact fractions) until min(w, T) puts T at the cap."""
    lo, hi = Fraction(0), Fraction(max(w))
    for _ in range(200):
        mid = (lo + hi) / 2
        clipped = sum(min(Fraction(x), mid) for x in w)
        lo, hi = (mid, hi) if mid * 10_000 < bps * clipped else (lo, mid)
    return [min(Fraction(x), hi) for x in w]


def test_cap_shares_examples():
    assert cap_shares([100, 100, 100, 1000], 5000).tolist() == [100, 100, 100, 300]
    assert cap_shares([1000, 900, 10, 10, 10], 3000).tolist() == [22.5, 22.5, 10, 10, 10]
    assert cap_shares([3, 1, 2], 10_000).tolist() == [3, 1, 2]  # no cap: untouched
    assert cap_shares([100, 1000], 4000).tolist() == [100, 100]  # 2 x 40% < 100%: all equal
    assert cap_shares([0, 0], 5000).tolist() == [0, 0] and cap_shares([0, 7, 9], 5000)[0] == 0
    assert cap_shares([], 5000).shape == (0,)
    with pytest.raises(ValueError, match="non-negative"):
        cap_shares([1, -1], 5000)
    with pytest.raises(ValueError, match="max_share_bps"):
        cap_shares([1, 1], 0)


@settings(max_examples=200, deadline=None)
@given(
    w=st.lists(st.integers(0, 10**9), min_size=1, max_size=12),
    bps=st.integers(1, 10_000),
)
def test_cap_shares_is_water_filling(w, bps):
    out = cap_shares(w, bps)
    positive = [x for x in w if x > 0]
    assert out.dtype == np.float64 and all(o <= x for o, x in zip(out, w, strict=True))
    assert all(o == 0 for o, x in zip(out, w, strict=True) if x == 0)
    if not positive:
        return
    if len(positive) * bps < 10_000:  # the cap cannot hold: all equal
        assert set(out[np.array(w) > 0].tolist()) == {float(min(positive))}
        return
    total = sum(Fraction(o) for o in out.tolist())
    assert max(Fraction(o) for o in out.tolist()) * 10_000 <= bps * total * (1 + Fraction(1, 10**12))
    level = max(out)
    # Only the weights above the level moved, and they all moved to it.
    assert all(o == x for o, x in zip(out, w, strict=True) if x <= level)
    assert all(o == level for o, x in zip(out, w, strict=True) if x > level)
    if level < max(w):  # clipped: the level is exactly at the cap (up to float rounding)
        assert abs(float(ref_cap(w, bps)[w.index(max(w))]) - level) <= 1e-9 * level


def test_the_spec_names_exactly_the_rules_nodes_implement():
    from typing import get_args

    from qfl.fl.aggregate import AGGREGATORS
    from qfl.quantum.spec import AggregationRule

    assert set(get_args(AggregationRule)) == set(AGGREGATORS)
