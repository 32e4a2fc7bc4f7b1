"""Unstructured-covariance fit of the Pothoff & Roy dental growth data against published output.

Data: the 27 x 4 table printed in the SAS/STAT PROC MIXED example "Repeated Measures"
(fixtures/dental_pothoff_roy.csv), cross-checked against R ``nlme::Orthodont``. Model:
``y = Gender + Age + Gender*Age`` with Age continuous and an unstructured 4 x 4 covariance over
the ages, the SAS example's model (which SAS fits by ML). Reference numbers: R ``nlme::gls``
ML output published as text (fixtures/dental_reference.json; provenance in
fixtures/PROVENANCE.md). No SAS output number could be obtained as text, so none is compared.

Tolerance: 1e-4 relative (the issue's target) for estimates, SEs, covariance parameters, and
0.5e-4 absolute (half a unit of the last printed digit) for the log-likelihood. Observed
agreement is ~1e-6 relative on estimates and ~1e-5 on SEs and covariances; the remainder is
R's optimiser stopping short of the maximum (shown below: at R's printed covariance the ML
criterion is lower than at ours, and the GLS formulas there give R's printed numbers).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from anagen.outcomes.stats import NotEnoughDataError, fit_mmrm, fit_mmrm_design

from ._dental import AGES, FIXTURES, dental_long

REF = json.loads((FIXTURES / "dental_reference.json").read_text())
ML = REF["ml_unstructured_nlme_gls"]
CELL_NAMES = ["girl", "boy", "girl:age", "boy:age"]
REL = 1e-4


_long = dental_long


DATA = _long()
GIRL = (DATA["gender"] == "F").to_numpy(float)
AGE = DATA["age"].to_numpy(float)


def _cell_means_design() -> np.ndarray:
    return np.column_stack([GIRL, 1 - GIRL, GIRL * AGE, (1 - GIRL) * AGE])


def _sas_design() -> np.ndarray:
    """SAS's GLM coding: the last Gender level (M) is the reference."""
    return np.column_stack([np.ones_like(AGE), GIRL, AGE, GIRL * AGE])


def _fit(design=None, method="ML", **kw):
    x = _cell_means_design() if design is None else design
    names = CELL_NAMES if design is None else None
    return fit_mmrm_design(
        DATA["person"], DATA["age"], x, DATA["y"], names=names, method=method, **kw
    )


@pytest.fixture(scope="module")
def ml_fit():
    return _fit()


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


# -- the data ---------------------------------------------------------------------------------


def test_fixture_is_the_published_table():
    wide = pd.read_csv(FIXTURES / "dental_pothoff_roy.csv")
    assert wide.shape == (27, 6)
    assert (wide["gender"] == "F").sum() == 11 and (wide["gender"] == "M").sum() == 16
    assert list(wide["person"]) == list(range(1, 28))
    # The suspect observation the SAS example mentions is kept.
    assert wide.loc[wide["person"] == 20, ["y8", "y10", "y12", "y14"]].values.tolist() == [
        [23.0, 20.5, 31.0, 26.0]
    ]


def test_data_reproduce_published_nlme_ols_and_iid_gls():
    """Any typo in the 108 values would change these 7-8 digit numbers."""
    y = DATA["y"].to_numpy()
    ols = REF["data_checks_nlme"]["ols_cell_means"]["coefficients"]
    beta = np.linalg.lstsq(_cell_means_design(), y, rcond=None)[0]
    for name, b in zip(CELL_NAMES, beta, strict=True):
        assert b == pytest.approx(ols[name], abs=5e-8)

    gls = REF["data_checks_nlme"]["gls_iid_reml"]
    x = np.column_stack([np.ones_like(AGE), GIRL, AGE - 11, GIRL * (AGE - 11)])
    n, p = x.shape
    beta, rss = np.linalg.lstsq(x, y, rcond=None)[:2]
    s2 = float(rss[0]) / (n - p)
    se = np.sqrt(np.diag(s2 * np.linalg.inv(x.T @ x)))
    loglik = -0.5 * ((n - p) * np.log(2 * np.pi * s2) + (n - p) + np.linalg.slogdet(x.T @ x)[1])
    for k, name in enumerate(gls["coefficients"]):
        assert beta[k] == pytest.approx(gls["coefficients"][name], abs=5e-7)
        assert se[k] == pytest.approx(gls["se"][name], abs=5e-8)
    assert loglik == pytest.approx(gls["logLik"], abs=5e-5)


# -- ML fit against nlme::gls -----------------------------------------------------------------


def test_ml_estimates_and_model_based_ses_match_nlme(ml_fit):
    assert ml_fit.method == "ML"
    for c in ml_fit.coefficients:
        assert _rel(c.estimate, ML["coefficients"][c.name]) < REL, c.name
        assert _rel(c.se, ML["se_model_based"][c.name]) < REL, c.name
        # nlme's printed SEs scale the ML variance by N / (N - p).
        assert _rel(c.se * np.sqrt(108 / 104), ML["se_gls_printed"][c.name]) < REL, c.name


def test_ml_covariance_parameters_match_nlme(ml_fit):
    sigma = np.array(ml_fit.covariance)
    ref = np.array(ML["covariance_4dp"])
    assert np.all(np.abs(sigma - ref) / np.abs(ref) < REL)
    sd = np.sqrt(np.diag(sigma))
    corr = sigma / np.outer(sd, sd)
    pairs = [
        tuple(AGES.index(int(a)) for a in p.split("-")) for p in ML["correlations_7dp"]["order"]
    ]
    for (j, k), ref_r in zip(pairs, ML["correlations_7dp"]["values"], strict=True):
        assert _rel(corr[j, k], ref_r) < REL
    assert np.all(np.abs(sd[1:] / sd[0] - ML["sd_ratios_7dp"]["values"]) < REL)
    assert _rel(sd[0], ML["sigma"]) < REL


def test_ml_loglik_and_aic_match_nlme(ml_fit):
    assert ml_fit.log_likelihood == pytest.approx(ML["logLik"], abs=5e-5)
    assert np.isnan(ml_fit.reml_loglik)
    aic = -2 * ml_fit.log_likelihood + 2 * ML["n_parameters"]
    assert aic == pytest.approx(ML["AIC"], abs=5e-4)


def _sigma_from_nlme() -> np.ndarray:
    sd = ML["sigma"] * np.array([1.0, *ML["sd_ratios_7dp"]["values"]])
    corr = np.eye(4)
    for pair, r in zip(
        ML["correlations_7dp"]["order"], ML["correlations_7dp"]["values"], strict=True
    ):
        j, k = (AGES.index(int(a)) for a in pair.split("-"))
        corr[j, k] = corr[k, j] = r
    return corr * np.outer(sd, sd)


def _dense_gls(sigma: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """-2 ML log-likelihood, GLS estimates and model-based SEs at a fixed Sigma (dense)."""
    w = np.linalg.inv(sigma)
    x = _cell_means_design().reshape(27, 4, 4)
    y = DATA["y"].to_numpy().reshape(27, 4)
    m = np.einsum("ija,jk,ikb->ab", x, w, x)
    beta = np.linalg.solve(m, np.einsum("ija,jk,ik->a", x, w, y))
    r = y - x @ beta
    m2ll = 27 * np.linalg.slogdet(sigma)[1] + np.einsum("ij,jk,ik->", r, w, r)
    m2ll += 108 * np.log(2 * np.pi)
    return float(m2ll), beta, np.sqrt(np.diag(np.linalg.inv(m)))


def test_remaining_differences_are_nlme_stopping_short(ml_fit):
    m2ll_r, beta_r, se_r = _dense_gls(_sigma_from_nlme())
    # At nlme's printed Sigma the GLS formulas give nlme's printed numbers (7-8 digits) ...
    for k, name in enumerate(CELL_NAMES):
        assert _rel(beta_r[k], ML["coefficients"][name]) < 1e-6
        assert _rel(se_r[k], ML["se_model_based"][name]) < 1e-6
    # ... and our Sigma reaches a higher likelihood: ours is the maximum, nlme's is ~1e-8 short.
    m2ll_ours, beta_ours, se_ours = _dense_gls(np.array(ml_fit.covariance))
    assert m2ll_ours == pytest.approx(-2 * ml_fit.log_likelihood, abs=1e-8)
    assert 0 < m2ll_r - m2ll_ours < 1e-6
    np.testing.assert_allclose([c.estimate for c in ml_fit.coefficients], beta_ours, rtol=1e-9)
    np.testing.assert_allclose([c.se for c in ml_fit.coefficients], se_ours, rtol=1e-7)


def test_sas_parametrisation_is_the_same_fit(ml_fit):
    """Intercept, Gender F, Age, Age*Gender F (SAS) are contrasts of the cell-means fit."""
    sas = _fit(_sas_design())
    b = {c.name: c for c in ml_fit.coefficients}
    expected = {
        "x0": ml_fit.contrast([0, 1, 0, 0]),
        "x1": ml_fit.contrast([1, -1, 0, 0]),
        "x2": ml_fit.contrast([0, 0, 0, 1]),
        "x3": ml_fit.contrast([0, 0, 1, -1]),
    }
    assert b["boy"].estimate == pytest.approx(expected["x0"].estimate)
    for c in sas.coefficients:
        assert c.estimate == pytest.approx(expected[c.name].estimate, rel=1e-7, abs=1e-9)
        assert c.se == pytest.approx(expected[c.name].se, rel=1e-6)
        assert c.df == pytest.approx(expected[c.name].df, rel=1e-4)
    assert sas.log_likelihood == pytest.approx(ml_fit.log_likelihood, abs=1e-8)


# -- REML (no published text reference; the same core as fit_mmrm) ----------------------------


def test_reml_design_fit_equals_fit_mmrm_on_a_per_visit_design():
    """Gender x visit cell means through both entry points: one fitting core, one answer."""
    rng = np.random.default_rng(3)
    y = DATA["y"].to_numpy().copy()
    y[rng.choice(y.size, 12, replace=False)] = np.nan  # some missing visits (MAR)
    arm = np.where(GIRL == 1, "F", "M")
    ref = fit_mmrm(DATA["person"], arm, DATA["age"], None, y, reference_arm="M")
    cols = []
    for visit_age in AGES:
        at = np.isclose(AGE, visit_age).astype(float)
        cols += [at, at * GIRL]
    names = [c.name for c in ref.coefficients]
    got = fit_mmrm_design(DATA["person"], DATA["age"], np.column_stack(cols), y, names=names)
    assert got.method == "REML" and got.n_incomplete_subjects == ref.n_incomplete_subjects
    assert got.log_likelihood == pytest.approx(ref.reml_loglik, abs=1e-7)
    assert got.reml_loglik == pytest.approx(ref.reml_loglik, abs=1e-7)
    np.testing.assert_allclose(got.covariance, ref.covariance, rtol=1e-5)
    for g, r in zip(got.coefficients, ref.coefficients, strict=True):
        assert g.name == r.name
        assert g.estimate == pytest.approx(r.estimate, rel=1e-6, abs=1e-8)
        assert g.se == pytest.approx(r.se, rel=1e-5)
        assert g.df == pytest.approx(r.df, rel=1e-4)
    kr_got, kr_ref = got.with_df_method("kenward-roger"), ref.with_df_method("kenward-roger")
    for g, r in zip(kr_got.coefficients, kr_ref.coefficients, strict=True):
        assert g.se == pytest.approx(r.se, rel=1e-5)
        assert g.df == pytest.approx(r.df, rel=1e-4)
    f_got = got.f_test(np.eye(8)[[1, 3, 5, 7]])
    f_ref = ref.f_test(np.eye(8)[[1, 3, 5, 7]])
    assert f_got.f == pytest.approx(f_ref.f, rel=1e-5)
    assert f_got.den_df == pytest.approx(f_ref.den_df, rel=1e-4)


def test_reml_dental_fit_is_reported_and_balanced_df():
    """REML on the complete balanced table: the between-subject Satterthwaite df is n - 2."""
    reml = _fit(_sas_design(), method="REML")
    assert reml.method == "REML"
    assert reml.log_likelihood == pytest.approx(reml.reml_loglik)
    for c in reml.coefficients:
        assert c.df == pytest.approx(25, rel=1e-4)
    # REML variances exceed ML ones (no small-sample shrinkage), estimates are unchanged here.
    ml = _fit(_sas_design())
    assert np.all(np.diag(np.array(reml.covariance)) > np.diag(np.array(ml.covariance)))
    kr = reml.with_df_method("kenward-roger")
    assert all(k.se > c.se for k, c in zip(kr.coefficients, reml.coefficients, strict=True))


# -- the entry point's input checks -----------------------------------------------------------


def test_design_entry_point_rejects_bad_input():
    x = _sas_design()
    subj, age, y = DATA["person"], DATA["age"], DATA["y"]
    with pytest.raises(ValueError, match="differ in length"):
        fit_mmrm_design(subj, age, x[:-1], y)
    with pytest.raises(ValueError, match="names must have 4"):
        fit_mmrm_design(subj, age, x, y, names=["a"])
    with pytest.raises(ValueError, match="REML fits only"):
        fit_mmrm_design(subj, age, x, y, method="ML", df_method="kenward-roger")
    with pytest.raises(ValueError, match="REML fits only"):
        _fit(x).with_df_method("kenward-roger")
    with pytest.raises(ValueError, match="method must be"):
        fit_mmrm_design(subj, age, x, y, method="OLS")
    with pytest.raises(NotEnoughDataError, match="singular"):
        fit_mmrm_design(subj, age, np.column_stack([x, x[:, 1]]), y)
    with pytest.raises(ValueError, match="more than one value"):
        fit_mmrm_design(np.r_[subj, 1], np.r_[age, 8], np.r_[x, x[:1]], np.r_[y, 20.0])
    first = (DATA["person"] == 1).to_numpy()
    with pytest.raises(NotEnoughDataError, match="at least 2 subjects"):
        fit_mmrm_design(subj[first], age[first], x[first], y[first])
    bad = x.copy()
    bad[0, 2] = np.nan
    with pytest.raises(ValueError, match="design has missing values"):
        fit_mmrm_design(subj, age, bad, y)
