"""Change from baseline, mean-change CI, responder rates, exact CIs and AE incidence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from anagen.outcomes.stats import (
    change_by_visit,
    change_from_baseline,
    clopper_pearson,
    incidence_per_100,
    mean_change_ci,
    poisson_exact_ci,
    responder_rate,
)


def test_change_from_baseline_is_value_minus_baseline_and_keeps_missing():
    out = change_from_baseline([100.0, 120.0, np.nan], [110.0, 115.0, 130.0])
    np.testing.assert_array_equal(out[:2], [10.0, -5.0])
    assert np.isnan(out[2])


def test_mean_change_ci_matches_the_t_interval():
    x = np.array([12.0, 3.5, -4.0, 18.0, 7.25, 9.0, np.nan])
    res = mean_change_ci(x, level=0.9)
    ok = x[~np.isnan(x)]
    lo, hi = stats.t.interval(0.9, ok.size - 1, loc=ok.mean(), scale=stats.sem(ok))
    assert res.n == 6
    assert res.n_missing == 1
    assert res.mean == pytest.approx(ok.mean())
    assert (res.lower, res.upper) == pytest.approx((lo, hi))
    assert json.loads(json.dumps(res.to_dict()))["df"] == 5


def test_clopper_pearson_known_values_and_statsmodels():
    # k = 0: the upper limit solves (1 - p)^n = alpha/2.
    res = clopper_pearson(0, 10)
    assert res.lower == 0.0
    assert res.upper == pytest.approx(1 - 0.025 ** (1 / 10))
    for k, n in [(1, 10), (7, 23), (48, 100), (20, 20)]:
        r = clopper_pearson(k, n)
        lo, hi = proportion_confint(k, n, alpha=0.05, method="beta")
        assert (r.lower, r.upper) == pytest.approx((lo, hi), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), frac=st.floats(0, 1), level=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_clopper_pearson_limits_are_the_exact_binomial_tail_inversions(n, frac, level):
    k = int(round(frac * n))
    r = clopper_pearson(k, n, level)
    a2 = (1 - level) / 2
    assert 0.0 <= r.lower <= r.proportion <= r.upper <= 1.0
    if k > 0:
        assert stats.binom.sf(k - 1, n, r.lower) == pytest.approx(a2, rel=1e-6)
    if k < n:
        assert stats.binom.cdf(k, n, r.upper) == pytest.approx(a2, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(k=st.integers(0, 500), level=st.sampled_from([0.9, 0.95, 0.99]))
def test_garwood_limits_are_the_exact_poisson_tail_inversions(k, level):
    lo, hi = poisson_exact_ci(k, level)
    a2 = (1 - level) / 2
    assert lo <= k <= hi
    if k > 0:
        assert stats.poisson.sf(k - 1, lo) == pytest.approx(a2, rel=1e-6)
    assert stats.poisson.cdf(k, hi) == pytest.approx(a2, rel=1e-6)


def test_incidence_per_100_sessions_as_a_poisson_rate():
    res = incidence_per_100(events=[2, 0, 1, 4], sessions=[5, 5, 4, 6])
    assert res.events == 7
    assert res.sessions == 20
    assert res.per_100 == pytest.approx(35.0)
    lo, hi = poisson_exact_ci(7)
    assert (res.lower, res.upper) == pytest.approx((100 * lo / 20, 100 * hi / 20))
    assert res.method.startswith("Poisson exact")
    # No events still gives an informative upper limit (rule of three ~ 3.69/n at 95 %).
    zero = incidence_per_100(0, 50)
    assert zero.lower == 0.0
    assert zero.upper == pytest.approx(100 * -np.log(0.025) / 50)


def test_incidence_per_100_sessions_as_a_proportion():
    res = incidence_per_100(3, 40, method="proportion")
    cp = clopper_pearson(3, 40)
    assert res.per_100 == pytest.approx(7.5)
    assert (res.lower, res.upper) == pytest.approx((100 * cp.lower, 100 * cp.upper))
    with pytest.raises(ValueError, match="<= sessions"):
        incidence_per_100(5, 4, method="proportion")


def test_responder_rate_threshold_direction_and_missing():
    changes = [12.0, 9.9, 10.0, -3.0, np.nan, 25.0]
    up = responder_rate(changes, 10.0)
    assert (up.responders, up.n, up.n_missing) == (3, 5, 1)
    cp = clopper_pearson(3, 5)
    assert (up.lower, up.upper) == pytest.approx((cp.lower, cp.upper))
    down = responder_rate(changes, 0.0, direction="decrease")
    assert down.responders == 1
    assert "excluded" in up.missing_data
    with pytest.raises(ValueError, match="direction"):
        responder_rate(changes, 1.0, direction="up")


def test_change_by_visit_summarises_each_arm_and_visit_without_inventing_spread():
    subj = [1, 1, 2, 2, 3, 3, 4]
    arm = ["A", "A", "A", "A", "B", "B", "B"]
    vis = [1, 2, 1, 2, 1, 2, 1]
    base = [100, 100, 90, 90, 95, 95, 80]
    val = [110, 120, 95, np.nan, 90, 99, 85]
    res = change_by_visit(subj, arm, vis, base, val)
    rows = {(r.arm, r.visit): r for r in res.rows}
    assert rows[("A", "1")].n == 2
    assert rows[("A", "1")].mean == pytest.approx(7.5)
    ref = mean_change_ci([10.0, 5.0])
    assert (rows[("A", "1")].lower, rows[("A", "1")].upper) == pytest.approx((ref.lower, ref.upper))
    assert rows[("A", "2")].n == 1
    assert np.isnan(rows[("A", "2")].lower)  # one value: no interval
    out = json.loads(json.dumps(res.to_dict()))
    assert out["rows"][1]["lower"] is None
    assert "not imputed" in res.missing_data
