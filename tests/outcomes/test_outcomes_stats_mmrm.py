"""MMRM (unstructured REML, Satterthwaite) checked against independent computations.

1. Complete balanced data: REML with a fully visit-specific mean equals per-visit OLS with the
   residual covariance E'E/(n - q); Satterthwaite df is then exactly n - q.
2. Incomplete data (MAR dropout plus intermittent gaps, a common covariate): a dense
   per-subject REML written here from the textbook formula, optimised by a generic optimiser,
   with df from numerical derivatives.
3. statsmodels GLS with the fitted covariance reproduces the fixed effects and their SEs.
4. Kenward-Roger option: with complete balanced data no adjustment is needed and the KR F test
   is exactly Hotelling's T^2 test; with incomplete data it matches a dense per-subject KR
   computation (linear Sigma parameters, Cov(sigma-hat) from a numerical Hessian).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import optimize, stats

from anagen.outcomes.stats import fit_mmrm

SIGMA4 = np.array(
    [
        [30.0, 18.0, 12.0, 9.0],
        [18.0, 36.0, 20.0, 14.0],
        [12.0, 20.0, 42.0, 25.0],
        [9.0, 14.0, 25.0, 50.0],
    ]
)


def simulate(n_per_arm, sigma, *, effect, seed, dropout=0.0, gaps=0.0, sex=False):
    """Long-format trial: two arms, baseline x visit, MAR dropout driven by observed values."""
    rng = np.random.default_rng(seed)
    t = sigma.shape[0]
    n = 2 * n_per_arm
    arm = np.repeat([0, 1], n_per_arm)
    base = rng.normal(150, 20, n)
    male = rng.integers(0, 2, n)
    mean = 0.4 * (base[:, None] - 150) + arm[:, None] * effect
    if sex:
        mean = mean + 3.0 * male[:, None]
    y = mean + rng.multivariate_normal(np.zeros(t), sigma, n)
    alive = np.ones(n, bool)
    for j in range(1, t):
        # MAR: the chance to drop out depends on the last observed value only.
        p_drop = dropout / (1 + np.exp(0.15 * y[:, j - 1]))
        alive &= rng.random(n) > p_drop
        y[~alive, j] = np.nan
    if gaps:
        hole = rng.random((n, t)) < gaps
        hole[:, 0] = False
        y[hole] = np.nan
    subj = np.repeat(np.arange(n), t)
    return {
        "subject": subj,
        "arm": np.where(arm == 1, "active", "placebo")[subj],
        "visit": np.tile(np.arange(1, t + 1), n),
        "baseline": base[subj],
        "value": y.ravel(),
        "sex": np.where(male == 1, "M", "F")[subj],
        "_wide": y,
        "_arm": arm,
        "_base": base,
        "_male": male,
    }


def fit(d, **kw):
    return fit_mmrm(
        d["subject"], d["arm"], d["visit"], d["baseline"], d["value"], reference_arm="placebo", **kw
    )


# -- 1. closed form -------------------------------------------------------------------------


def test_complete_balanced_data_equals_per_visit_ols_with_sample_covariance():
    d = simulate(30, SIGMA4, effect=np.array([1.0, 2, 3, 4]), seed=11)
    res = fit(d)
    y, arm, base = d["_wide"], d["_arm"], d["_base"]
    z = np.column_stack([np.ones(arm.size), arm, base])
    coef, *_ = np.linalg.lstsq(z, y, rcond=None)
    resid = y - z @ coef
    dof = arm.size - z.shape[1]
    sigma = resid.T @ resid / dof
    zz_inv = np.linalg.inv(z.T @ z)

    np.testing.assert_allclose(res.covariance, sigma, rtol=1e-7)
    for j, c in enumerate(res.contrasts):
        assert c.estimate == pytest.approx(coef[1, j], rel=1e-8)
        assert c.se == pytest.approx(np.sqrt(sigma[j, j] * zz_inv[1, 1]), rel=1e-7)
        # sigma_jj-hat ~ chi2(n - q): Satterthwaite recovers n - q exactly.
        assert c.df == pytest.approx(dof, rel=1e-6)
    assert res.n_incomplete_subjects == 0
    assert res.n_missingness_patterns == 1


# -- 2. dense REML written independently ----------------------------------------------------


def dense_design(d):
    """Explicit long design: visit-specific intercept, arm and baseline; common sex effect."""
    y, arm, base, male = d["_wide"], d["_arm"], d["_base"], d["_male"]
    n, t = y.shape
    xs, ys = [], []
    for i in range(n):
        rows, vals = [], []
        for j in range(t):
            if np.isnan(y[i, j]):
                continue
            x = np.zeros(3 * t + 1)
            x[3 * j : 3 * j + 3] = [1.0, arm[i], base[i]]
            x[-1] = float(male[i])
            rows.append(x)
            vals.append((j, y[i, j]))
        xs.append(np.array(rows))
        ys.append(vals)
    return xs, ys


def dense_neg2_reml(sigma, xs, ys):
    p = xs[0].shape[1]
    xtx = np.zeros((p, p))
    xty = np.zeros(p)
    logdet = 0.0
    ssq_parts = []
    for x, obs in zip(xs, ys, strict=True):
        idx = [j for j, _ in obs]
        yi = np.array([v for _, v in obs])
        si = sigma[np.ix_(idx, idx)]
        si_inv = np.linalg.inv(si)
        logdet += np.linalg.slogdet(si)[1]
        xtx += x.T @ si_inv @ x
        xty += x.T @ si_inv @ yi
        ssq_parts.append((x, yi, si_inv))
    beta = np.linalg.solve(xtx, xty)
    quad = sum((yi - x @ beta) @ s @ (yi - x @ beta) for x, yi, s in ssq_parts)
    return logdet + np.linalg.slogdet(xtx)[1] + quad, beta, np.linalg.inv(xtx)


def sigma_from(theta, t):
    lower = np.zeros((t, t))
    lower[np.tril_indices(t)] = theta
    return lower @ lower.T


@pytest.fixture(scope="module")
def incomplete():
    d = simulate(
        45, SIGMA4, effect=np.array([0.0, 2, 4, 6]), seed=5, dropout=0.5, gaps=0.08, sex=True
    )
    res = fit(d, covariates={"sex": d["sex"]})
    xs, ys = dense_design(d)
    t = SIGMA4.shape[0]
    chol0 = np.linalg.cholesky(np.cov(np.nan_to_num(d["_wide"] - np.nanmean(d["_wide"], 0)).T))
    opt = optimize.minimize(
        lambda th: dense_neg2_reml(sigma_from(th, t), xs, ys)[0],
        chol0[np.tril_indices(t)],
        method="BFGS",
        options={"gtol": 1e-7},
    )
    return d, res, xs, ys, opt.x


def test_incomplete_data_has_dropout_and_gaps(incomplete):
    d, res, *_ = incomplete
    assert res.n_incomplete_subjects > 10
    assert res.n_missingness_patterns > 4
    assert res.n_observations == int(np.sum(~np.isnan(d["_wide"])))


def test_incomplete_data_matches_dense_reml(incomplete):
    _, res, xs, ys, theta = incomplete
    t = SIGMA4.shape[0]
    sigma_dense = sigma_from(theta, t)
    f_dense, beta_dense, cov_dense = dense_neg2_reml(sigma_dense, xs, ys)
    f_ours_at_ours = dense_neg2_reml(np.array(res.covariance), xs, ys)[0]
    # Our optimum is at least as good as the generic optimiser's under the dense objective.
    assert f_ours_at_ours <= f_dense + 1e-6
    np.testing.assert_allclose(res.covariance, sigma_dense, rtol=2e-4, atol=2e-3)
    est = np.array([c.estimate for c in res.coefficients])
    se = np.array([c.se for c in res.coefficients])
    # Our coefficient order matches dense_design (visit blocks, then the covariate).
    np.testing.assert_allclose(est, beta_dense, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(se, np.sqrt(np.diag(cov_dense)), rtol=1e-4)
    # The reported log-likelihood uses the same objective plus the 2*pi constant.
    n_obs = sum(len(v) for v in ys)
    p = xs[0].shape[1]
    assert res.reml_loglik == pytest.approx(
        -0.5 * (f_ours_at_ours + (n_obs - p) * np.log(2 * np.pi)), abs=1e-6
    )


def test_satterthwaite_df_matches_numerical_derivatives(incomplete):
    _, res, xs, ys, _ = incomplete
    t = SIGMA4.shape[0]
    theta = np.linalg.cholesky(np.array(res.covariance))[np.tril_indices(t)]

    def f(th):
        return dense_neg2_reml(sigma_from(th, t), xs, ys)[0]

    k = theta.size
    h = 1e-3 * np.maximum(1.0, np.abs(theta))
    hess = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            val = (
                f(theta + ei + ej) - f(theta + ei - ej) - f(theta - ei + ej) + f(theta - ei - ej)
            ) / (4 * h[i] * h[j])
            hess[i, j] = hess[j, i] = val
    theta_cov = 2 * np.linalg.inv(hess)
    last = res.contrasts[-1]
    lvec = np.zeros(3 * t + 1)
    lvec[3 * (t - 1) + 1] = 1.0  # arm effect at the last visit

    def var(th):
        return lvec @ dense_neg2_reml(sigma_from(th, t), xs, ys)[2] @ lvec

    grad = np.array([(var(theta + e) - var(theta - e)) / (2 * e.max()) for e in np.diag(h)])
    df_numeric = 2 * var(theta) ** 2 / (grad @ theta_cov @ grad)
    assert last.df == pytest.approx(df_numeric, rel=2e-3)
    assert 20 < last.df < 90  # fewer than the 90 subjects: dropout costs information


def test_fixed_effects_equal_statsmodels_gls_with_the_fitted_covariance(incomplete):
    _, res, xs, ys, _ = incomplete
    sigma = np.array(res.covariance)
    blocks = [sigma[np.ix_([j for j, _ in o], [j for j, _ in o])] for o in ys]
    from scipy.linalg import block_diag

    gls = sm.GLS(
        np.concatenate([[v for _, v in o] for o in ys]), np.vstack(xs), sigma=block_diag(*blocks)
    ).fit()
    np.testing.assert_allclose(
        [c.estimate for c in res.coefficients], gls.params, rtol=1e-8, atol=1e-8
    )
    np.testing.assert_allclose(
        [c.se for c in res.coefficients], np.sqrt(np.diag(gls.normalized_cov_params)), rtol=1e-7
    )


# -- behaviour ------------------------------------------------------------------------------


def test_lsmeans_difference_equals_contrast_and_ci_is_consistent():
    d = simulate(40, SIGMA4, effect=np.array([1.0, 2, 3, 8]), seed=3, dropout=0.4)
    res = fit(d)
    ls = {(m.arm, m.visit): m for m in res.lsmeans}
    for c in res.contrasts:
        diff = ls[("active", c.visit)].estimate - ls[("placebo", c.visit)].estimate
        assert c.estimate == pytest.approx(diff, rel=1e-10)
        assert c.lower < c.estimate < c.upper
        assert c.p == pytest.approx(2 * (1 - stats.t.cdf(abs(c.estimate / c.se), c.df)), rel=1e-8)
    assert res.reference_arm == "placebo"
    assert "missing at random" in res.missing_data
    assert "MNAR" in res.missing_data


def test_results_do_not_depend_on_row_order_or_subject_labels():
    d = simulate(25, SIGMA4, effect=np.zeros(4), seed=8, dropout=0.4)
    base = fit(d)
    rng = np.random.default_rng(0)
    perm = rng.permutation(d["value"].size)
    shuffled = {k: (v[perm] if not k.startswith("_") else v) for k, v in d.items()}
    shuffled["subject"] = np.array([f"P-{s:04d}" for s in shuffled["subject"]])
    other = fit(shuffled)
    for a, b in zip(base.contrasts, other.contrasts, strict=True):
        assert a.estimate == pytest.approx(b.estimate, rel=1e-6)
        assert a.se == pytest.approx(b.se, rel=1e-5)
        assert a.df == pytest.approx(b.df, rel=1e-4)


def test_rescaling_the_outcome_rescales_estimates_and_keeps_df():
    d = simulate(25, SIGMA4, effect=np.array([0.0, 1, 2, 3]), seed=9, dropout=0.4)
    a = fit(d)
    d10 = dict(d, value=d["value"] * 10)
    b = fit(d10)
    for ca, cb in zip(a.contrasts, b.contrasts, strict=True):
        assert cb.estimate == pytest.approx(10 * ca.estimate, rel=1e-6)
        assert cb.se == pytest.approx(10 * ca.se, rel=1e-5)
        assert cb.df == pytest.approx(ca.df, rel=1e-4)


def test_large_offsets_in_outcome_or_baseline_change_only_the_intercepts():
    # Sufficient statistics of raw values would lose every digit here (values ~1e6, SD ~6).
    d = simulate(25, SIGMA4, effect=np.array([0.0, 1, 2, 3]), seed=10, dropout=0.4)
    a = fit(d)
    shifted = fit(dict(d, value=d["value"] + 1e6, baseline=d["baseline"] + 1e5))
    for ca, cb in zip(a.contrasts, shifted.contrasts, strict=True):
        assert cb.estimate == pytest.approx(ca.estimate, rel=1e-6)
        assert cb.se == pytest.approx(ca.se, rel=1e-5)
        assert cb.df == pytest.approx(ca.df, rel=1e-4)
    np.testing.assert_allclose(shifted.covariance, a.covariance, rtol=1e-5)
    assert shifted.reml_loglik == pytest.approx(a.reml_loglik, abs=1e-5)
    for la, lb in zip(a.lsmeans, shifted.lsmeans, strict=True):
        assert lb.estimate - la.estimate == pytest.approx(1e6, rel=1e-9)


def test_three_arms_give_two_contrasts_per_visit_and_no_baseline_is_allowed():
    d = simulate(30, SIGMA4[:3, :3], effect=np.array([1.0, 2, 3]), seed=21, dropout=0.3)
    three = np.where(d["subject"] % 3 == 0, "dose-high", d["arm"])
    res = fit_mmrm(d["subject"], three, d["visit"], None, d["value"], reference_arm="placebo")
    assert res.arms[0] == "placebo"
    assert len(res.contrasts) == 2 * 3
    assert len(res.lsmeans) == 3 * 3
    assert not any("baseline" in n for n in res.coefficient_names)


def test_to_dict_is_json_serialisable_and_leaves_out_internals():
    d = simulate(20, SIGMA4, effect=np.zeros(4), seed=2, dropout=0.3)
    out = fit(d).to_dict()
    text = json.dumps(out)
    assert "_model" not in out
    assert "_beta" not in out
    back = json.loads(text)
    assert back["covariance_structure"] == "unstructured"
    assert back["df_method"] == "Satterthwaite"
    assert len(back["contrasts"]) == 4
    assert back["missing_data"]


def test_f_test_with_one_row_is_the_squared_t_test():
    d = simulate(30, SIGMA4, effect=np.array([0.0, 1, 2, 4]), seed=13, dropout=0.4)
    res = fit(d)
    last = res.contrasts[-1]
    w = np.zeros(len(res.coefficients))
    w[res.coefficient_names.index("visit 4: arm active")] = 1.0
    ft = res.f_test(w)
    assert ft.num_df == 1
    assert ft.f == pytest.approx(last.t**2, rel=1e-10)
    assert ft.den_df == pytest.approx(last.df, rel=1e-10)
    assert ft.p == pytest.approx(last.p, rel=1e-8)


def test_f_test_statistic_depends_only_on_the_hypothesis_and_df_on_its_orthogonal_frame():
    d = simulate(30, SIGMA4, effect=np.array([0.0, 1, 2, 4]), seed=14, dropout=0.4)
    res = fit(d)
    names = res.coefficient_names
    # "No treatment effect at any visit", written as four unit rows ...
    rows = np.zeros((4, len(names)))
    for j in range(4):
        rows[j, names.index(f"visit {j + 1}: arm active")] = 1.0
    a = res.f_test(rows)
    assert a.num_df == 4
    assert 0 < a.den_df < res.n_subjects
    # ... or as visit-1 effect plus changes from visit 1: the Wald F is the same.
    mix = np.array([[1.0, 0, 0, 0], [-1, 1, 0, 0], [-1, 0, 1, 0], [-1, 0, 0, 1]])
    assert res.f_test(mix @ rows).f == pytest.approx(a.f, rel=1e-8)
    # The Fai-Cornelius df is invariant to orthogonal recombinations (it is not to arbitrary
    # ones, which is why the R comparison uses R's own rows).
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))
    rotated = res.f_test(q @ rows)
    assert rotated.f == pytest.approx(a.f, rel=1e-8)
    assert rotated.den_df == pytest.approx(a.den_df, rel=1e-8)
    with pytest.raises(ValueError, match="linearly dependent"):
        res.f_test(np.vstack([rows, rows[0]]))


# -- 4. Kenward-Roger ----------------------------------------------------------------------


def treatment_rows(res):
    names = res.coefficient_names
    rows = np.zeros((len(res.visits), len(names)))
    for j, v in enumerate(res.visits):
        rows[j, names.index(f"visit {v}: arm active")] = 1.0
    return rows


def test_complete_data_kr_is_exact_hotelling():
    d = simulate(30, SIGMA4, effect=np.array([1.0, 2, 3, 4]), seed=11)
    sat = fit(d)
    kr = fit(d, df_method="kenward-roger")
    for a, b in zip(sat.contrasts, kr.contrasts, strict=True):
        assert b.se == pytest.approx(a.se, rel=1e-9)
        assert b.df == pytest.approx(a.df, rel=1e-9)
    # Hotelling's T^2 from per-visit OLS (independent of the MMRM code).
    y, arm, base = d["_wide"], d["_arm"], d["_base"]
    z = np.column_stack([np.ones(arm.size), arm, base])
    coef, *_ = np.linalg.lstsq(z, y, rcond=None)
    nu = arm.size - z.shape[1]
    resid = y - z @ coef
    s = resid.T @ resid / nu
    c = np.linalg.inv(z.T @ z)[1, 1]
    t_vis = y.shape[1]
    t2 = coef[1] @ np.linalg.solve(s * c, coef[1])
    f_exact = (nu - t_vis + 1) / (nu * t_vis) * t2
    test = kr.f_test(treatment_rows(kr))
    assert test.den_df == pytest.approx(nu - t_vis + 1, rel=1e-6)
    assert test.f == pytest.approx(f_exact, rel=1e-6)
    assert test.p == pytest.approx(stats.f.sf(f_exact, t_vis, nu - t_vis + 1), rel=1e-5)
    assert kr.df_method.startswith("Kenward-Roger")


def dense_kr(d, sigma, lrows):
    """Kenward & Roger (1997) with Sigma's distinct entries as parameters, per subject."""
    xs, ys = dense_design(d)
    t = sigma.shape[0]
    idx = np.tril_indices(t)
    m = idx[0].size

    def sig(vec):
        out = np.zeros((t, t))
        out[idx] = vec
        return out + np.tril(out, -1).T

    s0 = sigma[idx]
    h = 1e-3 * np.abs(s0).max()
    f = lambda v: dense_neg2_reml(sig(v), xs, ys)[0]  # noqa: E731
    hess = np.zeros((m, m))
    for i in range(m):
        for j in range(i, m):
            ei, ej = np.eye(m)[i] * h, np.eye(m)[j] * h
            hess[i, j] = hess[j, i] = (
                f(s0 + ei + ej) - f(s0 + ei - ej) - f(s0 - ei + ej) + f(s0 - ei - ej)
            ) / (4 * h * h)
    w_sigma = 2 * np.linalg.inv(hess)
    _, beta, phi = dense_neg2_reml(sigma, xs, ys)
    p = phi.shape[0]
    pm = np.zeros((m, p, p))
    q_sum = np.zeros((p, p))
    dks = [sig(np.eye(m)[k]) for k in range(m)]
    for x, obs in zip(xs, ys, strict=True):
        o = [j for j, _ in obs]
        wi = np.linalg.inv(sigma[np.ix_(o, o)])
        dd = [dk[np.ix_(o, o)] for dk in dks]
        for k in range(m):
            pm[k] -= x.T @ wi @ dd[k] @ wi @ x
            for l_ in range(m):
                q_sum += w_sigma[k, l_] * x.T @ wi @ dd[k] @ wi @ dd[l_] @ wi @ x
    pfp = sum(w_sigma[k, l_] * pm[k] @ phi @ pm[l_] for k in range(m) for l_ in range(m))
    phi_a = phi + 2 * phi @ (q_sum - pfp) @ phi
    # Scaled F and df, written out from the paper's definitions.
    q = lrows.shape[0]
    big_theta = lrows.T @ np.linalg.inv(lrows @ phi @ lrows.T) @ lrows
    a1 = sum(
        w_sigma[k, l_]
        * np.trace(big_theta @ phi @ pm[k] @ phi)
        * np.trace(big_theta @ phi @ pm[l_] @ phi)
        for k in range(m)
        for l_ in range(m)
    )
    a2 = sum(
        w_sigma[k, l_] * np.trace(big_theta @ phi @ pm[k] @ phi @ big_theta @ phi @ pm[l_] @ phi)
        for k in range(m)
        for l_ in range(m)
    )
    b = (a1 + 6 * a2) / (2 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    c1 = g / (3 * q + 2 * (1 - g))
    c2 = (q - g) / (3 * q + 2 * (1 - g))
    c3 = (q + 2 - g) / (3 * q + 2 * (1 - g))
    e_star = 1 / (1 - a2 / q)
    v_star = 2 / q * (1 + c1 * b) / ((1 - c2 * b) ** 2 * (1 - c3 * b))
    rho = v_star / (2 * e_star**2)
    df = 4 + (q + 2) / (q * rho - 1)
    lam = df / (e_star * (df - 2))
    est = lrows @ beta
    f_stat = lam * est @ np.linalg.solve(lrows @ phi_a @ lrows.T, est) / q
    return phi, phi_a, f_stat, df


def test_incomplete_data_kr_matches_a_dense_computation():
    d = simulate(
        45, SIGMA4, effect=np.array([0.0, 2, 4, 6]), seed=5, dropout=0.5, gaps=0.08, sex=True
    )
    res = fit(d, covariates={"sex": d["sex"]}, df_method="kenward-roger")
    sat = fit(d, covariates={"sex": d["sex"]})
    rows = treatment_rows(res)
    phi, phi_a, f_dense, df_dense = dense_kr(d, np.array(res.covariance), rows)
    se_dense = np.sqrt(np.diag(phi_a))
    se_ours = np.array([c.se for c in res.coefficients])
    np.testing.assert_allclose(se_ours, se_dense, rtol=1e-4)
    # The adjustment is real here and inflates the SEs of the later, sparser visits.
    sat_se = np.array([c.se for c in sat.coefficients])
    assert np.all(se_ours >= sat_se * (1 - 1e-9))
    assert se_ours.max() / sat_se[np.argmax(se_ours)] > 1.0
    assert np.max(se_ours / sat_se) > 1.01
    test = res.f_test(rows)
    assert test.f == pytest.approx(f_dense, rel=1e-4)
    assert test.den_df == pytest.approx(df_dense, rel=1e-4)
    one = res.f_test(rows[-1])
    assert one.f == pytest.approx(res.contrasts[-1].t ** 2, rel=1e-8)
    assert one.den_df == pytest.approx(res.contrasts[-1].df, rel=1e-6)


def test_unknown_df_method_is_rejected():
    d = simulate(10, SIGMA4, effect=np.zeros(4), seed=1)
    with pytest.raises(ValueError, match="df_method"):
        fit(d, df_method="containment")


def test_with_df_method_equals_fitting_with_that_method():
    d = simulate(25, SIGMA4, effect=np.array([0.0, 1, 2, 3]), seed=31, dropout=0.5)
    direct = fit(d, df_method="kenward-roger")
    switched = fit(d).with_df_method("kenward-roger")
    assert switched.df_method == direct.df_method
    for a, b in zip(direct.contrasts, switched.contrasts, strict=True):
        assert b.se == pytest.approx(a.se, rel=1e-12)
        assert b.df == pytest.approx(a.df, rel=1e-12)
    back = switched.with_df_method("satterthwaite")
    assert back.contrasts == fit(d).contrasts
