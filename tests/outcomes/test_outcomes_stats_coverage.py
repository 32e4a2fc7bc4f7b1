"""Monte Carlo check: MMRM 95 % CIs for the treatment contrast cover the truth ~95 % of the time.

Data: multivariate normal with an unstructured covariance (unequal variances, correlations
0.3-0.6), baseline x visit, and MAR dropout (the chance to leave after a visit depends on the
value just observed). 500 trials of 2 x 30 subjects, 4 visits; each trial is fitted once and
analysed with Satterthwaite and with Kenward-Roger df (about 15 s of CPU in all).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from anagen.outcomes.stats import fit_mmrm

N_TRIALS = 500
TRUE_EFFECT = np.array([1.0, 2.0, 3.0, 5.0])
SIGMA = np.array(
    [
        [30.0, 18.0, 12.0, 9.0],
        [18.0, 36.0, 20.0, 14.0],
        [12.0, 20.0, 42.0, 25.0],
        [9.0, 14.0, 25.0, 50.0],
    ]
)


def one_trial(rng: np.random.Generator, n_per_arm: int = 30):
    n, t = 2 * n_per_arm, SIGMA.shape[0]
    arm = np.repeat([0, 1], n_per_arm)
    base = rng.normal(150, 20, n)
    y = 0.4 * (base[:, None] - 150) + arm[:, None] * TRUE_EFFECT
    y = y + rng.multivariate_normal(np.zeros(t), SIGMA, n)
    alive = np.ones(n, bool)
    for j in range(1, t):
        # Low values at the previous visit make dropout more likely: MAR, not MCAR.
        alive &= rng.random(n) > 0.6 / (1 + np.exp(0.15 * y[:, j - 1]))
        y[~alive, j] = np.nan
    subj = np.repeat(np.arange(n), t)
    res = fit_mmrm(
        subj,
        np.where(arm == 1, "active", "placebo")[subj],
        np.tile(np.arange(t), n),
        base[subj],
        y.ravel(),
        reference_arm="placebo",
    )
    return res, np.isnan(y[:, -1]).mean()


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(20261125)
    out = {"satterthwaite": [], "kenward-roger": [], "missing": []}
    for _ in range(N_TRIALS):
        res, miss = one_trial(rng)
        out["satterthwaite"].append(res.contrasts[-1])
        out["kenward-roger"].append(res.with_df_method("kenward-roger").contrasts[-1])
        out["missing"].append(miss)
    return out


@pytest.mark.parametrize("df_method", ["satterthwaite", "kenward-roger"])
def test_mmrm_confidence_intervals_cover_the_true_effect_under_mar_dropout(simulated, df_method):
    contrasts = simulated[df_method]
    hits = sum(c.lower <= TRUE_EFFECT[-1] <= c.upper for c in contrasts)
    coverage = hits / N_TRIALS
    # The scenario really has dropout at the landmark visit.
    assert np.mean(simulated["missing"]) > 0.2
    # Exact binomial test of coverage = 0.95 (Monte Carlo SE ~ 0.0097 at 500 trials).
    p = stats.binomtest(hits, N_TRIALS, 0.95).pvalue
    assert p > 0.001, f"coverage {coverage:.3f} is not compatible with 0.95 (p = {p:.2g})"
    assert abs(coverage - 0.95) < 0.03
    # Unbiased under MAR: the mean estimate is within 3 Monte Carlo SEs of the truth.
    est = np.array([c.estimate for c in contrasts])
    assert abs(est.mean() - TRUE_EFFECT[-1]) < 3 * est.std(ddof=1) / np.sqrt(N_TRIALS)


def test_kenward_roger_intervals_are_never_narrower_here(simulated):
    pairs = zip(simulated["satterthwaite"], simulated["kenward-roger"], strict=True)
    assert all(k.se >= s.se * (1 - 1e-9) for s, k in pairs)
