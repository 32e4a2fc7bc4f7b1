"""Virtual trials: closed forms of REF B§4, ANCOVA correctness, simulated power."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.power import TTestIndPower, TTestPower

from anagen.simulation.trial import (
    Comparison,
    TrialDesign,
    analyse,
    ancova,
    closed_form_n,
    closed_form_pairs,
    normal_approx_n,
    normal_approx_n_exact,
    normal_approx_pairs,
    normal_approx_pairs_exact,
    paired_t_power,
    power,
    power_curve,
    search_sample_size,
    simulate_trial,
    summarise,
    two_sample_t_power,
    wilson,
)

# REF B§4 table, σ = 22, α = 0.05 two-sided, per arm (normal approximation).
TABLE_80 = {5: 304, 8: 119, 10: 76, 15: 34, 20: 19}
TABLE_90 = {5: 407, 8: 159, 10: 102, 15: 45, 20: 25}
# REF B§4 split-scalp pairs (normal approximation), 80 % power
PAIRS = {0.5: {5: 152, 10: 38, 15: 17}, 0.7: {5: 91, 10: 23, 15: 10}}


def _ttest_ind_n(delta, sd, power_target, alpha=0.05):
    n = TTestIndPower().solve_power(delta / sd, power=power_target, alpha=alpha)
    return math.ceil(n - 1e-9)


def _ttest_paired_n(delta, sd, rho, power_target, alpha=0.05):
    es = delta / (sd * math.sqrt(2 * (1 - rho)))
    return math.ceil(TTestPower().solve_power(es, power=power_target, alpha=alpha) - 1e-9)


@pytest.mark.parametrize("power_target", [0.8, 0.9])
@pytest.mark.parametrize("delta", [5, 8, 10, 15, 20])
def test_closed_form_n_is_the_t_test_n_of_statsmodels(delta, power_target):
    n = closed_form_n(delta, 22.0, power_target)
    assert n == _ttest_ind_n(delta, 22.0, power_target)
    assert two_sample_t_power(n, delta, 22.0) >= power_target
    assert two_sample_t_power(n - 1, delta, 22.0) < power_target
    # exact power agrees with statsmodels'
    sm_power = TTestIndPower().power(delta / 22.0, nobs1=n, alpha=0.05)
    assert two_sample_t_power(n, delta, 22.0) == pytest.approx(sm_power, abs=1e-6)


def test_normal_approximation_falls_short_of_the_power_it_promises():
    # Δ = 20, σ = 22, 80 %: REF B§4's formula gives 19 per arm; a t-test at 19 has 0.778.
    assert normal_approx_n(20, 22.0, 0.8) == 19
    assert closed_form_n(20, 22.0, 0.8) == 21
    assert two_sample_t_power(19, 20, 22.0) == pytest.approx(0.778, abs=0.001)


@pytest.mark.parametrize(("delta", "n"), sorted(TABLE_80.items()))
def test_normal_approximation_reproduces_reference_table_80pct(delta, n):
    assert normal_approx_n(delta, 22.0, 0.8) == n


@pytest.mark.parametrize(("delta", "n"), sorted(TABLE_90.items()))
def test_normal_approximation_reference_table_90pct_rounding(delta, n):
    # REF rounds to nearest where the unrounded value is just above an integer (45.21 → 45,
    # 25.43 → 25); a sample size is rounded up, so those two cells are one higher here.
    raw = normal_approx_n_exact(delta, 22.0, 0.9)
    assert round(raw) == n
    assert normal_approx_n(delta, 22.0, 0.9) == math.ceil(raw)


def test_olsen_2002_example():
    assert normal_approx_n(14.7, 23.5, 0.8) == 41  # REF B§4: "→ 40 per arm" (40.1)
    assert closed_form_n(14.7, 23.5, 0.8) == 42 == _ttest_ind_n(14.7, 23.5, 0.8)


@pytest.mark.parametrize("rho", sorted(PAIRS))
def test_split_scalp_pairs_t_test_and_reference_formula(rho):
    for delta, n_ref in PAIRS[rho].items():
        assert round(normal_approx_pairs_exact(delta, 22.0, rho, 0.8)) == n_ref
        approx = normal_approx_pairs(delta, 22.0, rho, 0.8)
        assert n_ref <= approx <= n_ref + 1  # 91.17 → 92, 10.13 → 11 rounded up
        n = closed_form_pairs(delta, 22.0, rho, 0.8)
        assert n == _ttest_paired_n(delta, 22.0, rho, 0.8)
        assert paired_t_power(n, delta, 22.0, rho) >= 0.8 > paired_t_power(n - 1, delta, 22.0, rho)


def test_summarise_excludes_failed_fits_and_reports_them():
    p = np.array([0.01, 0.2, np.nan, 0.03, np.nan, 0.001, 0.5, 0.04])
    # Every estimate in favour of b (power counts rejections in its favour only).
    c = Comparison("b", "a", np.ones(8), np.ones(8), p, np.full(8, 10.0), np.ones(8))
    r = summarise(c, 0.05, 10)
    assert r.replicates == 8 and r.n_failed == 2 and r.n_valid == 6
    assert r.rejections == 4
    assert r.power == pytest.approx(4 / 6)  # not 4 / 8
    assert (r.ci_low, r.ci_high) == pytest.approx(wilson(4, 6))
    assert "2 failed fits excluded" in r.describe() and "95% MC CI" in r.describe()


def test_power_interval_width_at_200_replicates():
    lo, hi = wilson(160, 200)
    assert 0.05 < (hi - lo) / 2 < 0.06  # ≈ ±0.055 around 0.8


def test_ancova_matches_statsmodels_ols():
    rng = np.random.default_rng(0)
    n = 60
    base = rng.normal(150, 30, n)
    treat = np.arange(n) >= n // 2
    change = 5 + 12 * treat - 0.1 * (base - 150) + rng.normal(0, 20, n)
    mask = rng.random(n) > 0.1
    est, se, p, used = ancova(change, base, treat, mask)
    x = sm.add_constant(np.column_stack([treat[mask].astype(float), base[mask]]))
    fit = sm.OLS(change[mask], x).fit()
    assert est == pytest.approx(fit.params[1], rel=1e-9)
    assert se == pytest.approx(fit.bse[1], rel=1e-9)
    assert p == pytest.approx(fit.pvalues[1], rel=1e-7)
    assert used == mask.sum()


def test_simulated_power_agrees_with_closed_form_for_a_pure_shift():
    # Two placebo arms, the second shifted by Δ: a trial whose only difference is Δ.
    n, delta, reps = 34, 15.0, 200
    d = TrialDesign(
        arms=("placebo", "placebo"), n_per_arm=n, delta_shift=delta, visit_weeks=(0, 24)
    )
    res = power(d, reps, seed=4)[0]
    # closed-form power with the model's own SD of change (ANCOVA can only do better)
    z = stats.norm.ppf(0.975)
    sd = res.mean_sd_change
    expected = stats.norm.cdf(delta / (sd * math.sqrt(2 / n)) - z)
    mc = math.sqrt(expected * (1 - expected) / reps)
    assert expected - 3.5 * mc < res.power < expected + 3.5 * mc + 0.05
    assert res.mean_estimate == pytest.approx(delta, abs=3.5 * sd * math.sqrt(2 / n / reps))


def test_no_effect_gives_type_one_error_near_alpha():
    d = TrialDesign(arms=("placebo", "placebo"), n_per_arm=12, visit_weeks=(0, 12))
    reps = 300
    res = power(d, reps, seed=9)[0]
    mc = math.sqrt(0.05 * 0.95 / reps)
    assert res.power < 0.05 + 3.5 * mc


def test_trial_is_a_prefix_of_a_larger_trial():
    d = TrialDesign(n_per_arm=5, visit_weeks=(0, 12))
    small = simulate_trial(d, seed=3, replicates=2, n=5)
    big = simulate_trial(d, seed=3, replicates=2, n=9)
    np.testing.assert_array_equal(small.baseline, big.baseline[..., :5])
    np.testing.assert_array_equal(
        np.nan_to_num(small.followup), np.nan_to_num(big.followup[..., :5])
    )


def test_power_curve_increases_with_n():
    d = TrialDesign(arms=("placebo", "minoxidil5"), visit_weeks=(0, 24))
    curve = power_curve(d, [8, 25, 80], replicates=100, seed=1)
    p = [curve[n][0].power for n in (8, 25, 80)]
    assert p[0] < p[1] < p[2]
    assert p[0] < 0.4
    assert p[2] > 0.75


def test_split_scalp_halves_are_correlated_and_spillover_biases_to_null():
    d = TrialDesign(
        arms=("placebo", "minoxidil5"), n_per_arm=200, design="split", visit_weeks=(0, 24)
    )
    data = simulate_trial(d, seed=2)
    true_change = data.true_followup - data.true_baseline
    r = np.corrcoef(true_change[0, 0], true_change[0, 1])[0, 1]
    assert r > 0.2  # shared patient effects (progression, response)
    est = analyse(d, data)[0].estimate[0]
    spill = TrialDesign(
        arms=("placebo", "minoxidil5"),
        n_per_arm=200,
        design="split",
        visit_weeks=(0, 24),
        spillover=0.5,
    )
    est_spill = analyse(spill, simulate_trial(spill, seed=2))[0].estimate[0]
    se = 22 / math.sqrt(200)
    assert est > 4 * se
    assert est_spill < est - 2 * se


def test_sample_size_search_brackets_closed_form():
    d = TrialDesign(arms=("placebo", "placebo"), delta_shift=25.0, visit_weeks=(0, 24))
    res = search_sample_size(d, 0.8, replicates=120, seed=5, n_max=40, grid=8)
    assert res.n_per_arm is not None
    sd = 21.0  # the model's placebo SD of change at 24 weeks is about 21
    expected = closed_form_n(25, sd, 0.8)  # t-test n
    assert abs(res.n_per_arm - expected) <= max(6, 0.5 * expected)
    assert res.power_at_n >= 0.8
    best = res.result_at_n
    assert best is not None and best.n_per_arm == res.n_per_arm
    assert best.ci_low < best.power < best.ci_high and best.n_failed == 0
    assert set(res.curve) == set(res.results)


def test_wilson_interval_contains_estimate_and_shrinks():
    lo, hi = wilson(80, 100)
    assert lo < 0.8 < hi
    lo2, hi2 = wilson(800, 1000)
    assert hi2 - lo2 < hi - lo


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_per_arm": 1}, "n_per_arm"),
        ({"arms": ("placebo",)}, "arms"),
        ({"design": "crossover"}, "design"),
        ({"visit_weeks": (4, 12)}, "visit_weeks"),
        ({"spillover": 1.5}, "spillover"),
        ({"alpha": 0}, "alpha"),
        ({"arms": ("placebo", "minoxidil5", "prp"), "design": "split"}, "arms"),
    ],
)
def test_bad_designs_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TrialDesign(**kwargs)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: closed_form_n(0), "delta"),
        (lambda: closed_form_n(5, sd=-1), "sd"),
        (lambda: closed_form_n(5, power_target=1.2), "power"),
        (lambda: closed_form_pairs(5, rho=1.0), "rho"),
    ],
)
def test_bad_sample_size_inputs_name_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_spillover_moves_the_split_scalp_difference_in_proportion():
    """Any spill-over above 0 gave the control side the full treatment (the scale was lost
    when the plans were combined): 0.2, 0.5 and 1 all gave the same difference."""

    def estimate(spillover: float) -> float:
        d = TrialDesign(arms=("placebo", "minoxidil5"), n_per_arm=300, design="split",
                        visit_weeks=(0, 24), spillover=spillover)  # fmt: skip
        return float(analyse(d, simulate_trial(d, seed=4))[0].estimate[0])

    none, half, full = estimate(0.0), estimate(0.5), estimate(1.0)
    se = 22 / math.sqrt(300)
    assert none > 4 * se
    assert abs(full) < 2.5 * se  # the control side got the whole treatment too
    assert abs(half - none / 2) < 2.5 * se


def test_power_counts_only_rejections_in_favour_of_the_arm():
    """A harmful arm showed power 1: a rejection the wrong way counted."""
    from anagen.simulation.trial import Comparison, summarise

    four = np.ones(4)
    c = Comparison(
        arm="prp", control="placebo", estimate=np.array([5.0, -5.0, 5.0, -5.0]),
        se=four, p_value=np.array([0.01, 0.01, 0.2, 0.2]), n_used=30 * four,
        sd_change=20 * four,
    )  # fmt: skip
    assert summarise(c, 0.05, 30).power == 0.25
