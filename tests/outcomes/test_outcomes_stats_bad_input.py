"""Bad input raises NotEnoughDataError (a ValueError) with a clear message, never a number."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anagen.outcomes.stats import (
    NotEnoughDataError,
    ancova,
    clopper_pearson,
    fit_mmrm,
    incidence_per_100,
    mean_change_ci,
    responder_rate,
)


def trial(n_per_arm=10, visits=(1, 2, 3), seed=0):
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    t = len(visits)
    subj = np.repeat(np.arange(n), t)
    arm = np.repeat(np.where(np.arange(n) < n_per_arm, "placebo", "active"), t)
    vis = np.tile(np.array(visits), n)
    base = np.repeat(rng.normal(100, 10, n), t)
    val = rng.normal(0, 5, n * t)
    return subj, arm, vis, base, val


def test_not_enough_data_error_is_a_value_error_with_a_clear_prefix():
    err = NotEnoughDataError("no rows")
    assert isinstance(err, ValueError)
    assert str(err) == "not enough data: no rows"


def test_mmrm_with_no_patients():
    with pytest.raises(
        NotEnoughDataError, match="not enough data: no patient has a value to analyse"
    ):
        fit_mmrm([], [], [], [], [])


def test_mmrm_with_a_single_patient():
    with pytest.raises(NotEnoughDataError, match="at least 2 subjects"):
        fit_mmrm([1, 1, 1], ["a"] * 3, [1, 2, 3], [5.0] * 3, [1.0, 2.0, 3.0])


def test_mmrm_with_all_values_missing():
    subj, arm, vis, base, val = trial()
    with pytest.raises(NotEnoughDataError, match="all outcome values are missing"):
        fit_mmrm(subj, arm, vis, base, np.full(val.size, np.nan))


def test_mmrm_with_only_one_arm():
    subj, arm, vis, base, val = trial()
    with pytest.raises(NotEnoughDataError, match="only one arm"):
        fit_mmrm(subj, np.full(arm.size, "active"), vis, base, val)


def test_mmrm_when_an_arm_never_attends_a_visit():
    subj, arm, vis, base, val = trial()
    val = val.copy()
    val[(arm == "active") & (vis == 3)] = np.nan
    with pytest.raises(NotEnoughDataError, match="arm 'active' has no observed value at visit 3"):
        fit_mmrm(subj, arm, vis, base, val)


def test_mmrm_when_two_visits_are_never_observed_together():
    subj, arm, vis, base, val = trial(n_per_arm=12)
    val = val.copy()
    # Even subjects skip visit 2, odd subjects skip visit 3: cov(2, 3) is not identifiable.
    val[(subj % 2 == 0) & (vis == 2)] = np.nan
    val[(subj % 2 == 1) & (vis == 3)] = np.nan
    with pytest.raises(NotEnoughDataError, match="no subject is observed at both visit 2"):
        fit_mmrm(subj, arm, vis, base, val)


def test_mmrm_when_a_visit_has_too_few_values():
    subj, arm, vis, base, val = trial()
    val = val.copy()
    keep_v3 = np.isin(subj, [0, 15])  # one subject per arm at visit 3
    val[(vis == 3) & ~keep_v3] = np.nan
    with pytest.raises(NotEnoughDataError, match="visit 3 has 2 observed values"):
        fit_mmrm(subj, arm, vis, base, val)


def test_mmrm_with_a_constant_baseline_is_singular():
    subj, arm, vis, _, val = trial()
    with pytest.raises(NotEnoughDataError, match="singular"):
        fit_mmrm(subj, arm, vis, np.full(val.size, 100.0), val)


def test_mmrm_with_a_covariate_collinear_with_arm_is_singular():
    subj, arm, vis, base, val = trial()
    with pytest.raises(NotEnoughDataError, match="singular"):
        fit_mmrm(subj, arm, vis, base, val, covariates={"site": np.where(arm == "active", 1, 0)})


def test_mmrm_with_too_few_subjects_for_an_unstructured_covariance():
    # 3 subjects per arm, 6 visits: 21 covariance parameters cannot be estimated.
    subj, arm, vis, base, val = trial(n_per_arm=3, visits=(1, 2, 3, 4, 5, 6))
    with pytest.raises(NotEnoughDataError):
        fit_mmrm(subj, arm, vis, base, val)


def test_mmrm_rejects_duplicate_visits_and_changing_arms():
    subj, arm, vis, base, val = trial()
    with pytest.raises(ValueError, match="more than one value"):
        fit_mmrm(
            np.append(subj, 0),
            np.append(arm, "placebo"),
            np.append(vis, 1),
            np.append(base, base[0]),
            np.append(val, 1.0),
        )
    arm2 = arm.copy()
    arm2[1] = "active"
    with pytest.raises(ValueError, match="arm must be constant within a subject"):
        fit_mmrm(subj, arm2, vis, base, val)
    with pytest.raises(ValueError, match="differ in length"):
        fit_mmrm(subj, arm, vis, base, val[:-1])


def test_mmrm_unknown_reference_arm():
    subj, arm, vis, base, val = trial()
    with pytest.raises(NotEnoughDataError, match="reference arm 'sham'"):
        fit_mmrm(subj, arm, vis, base, val, reference_arm="sham")


def test_mmrm_subjects_without_baseline_are_excluded_and_reported():
    subj, arm, vis, base, val = trial(n_per_arm=15)
    base = base.copy()
    base[subj == 0] = np.nan
    res = fit_mmrm(subj, arm, vis, base, val)
    assert res.n_subjects == 29
    assert "1 with a missing baseline" in res.missing_data


def test_ancova_bad_input():
    subj, arm, vis, base, val = trial()
    with pytest.raises(NotEnoughDataError, match="no patient has a value to analyse"):
        ancova([], [], [], [], [], landmark_visit=3)
    with pytest.raises(NotEnoughDataError, match="all outcome values are missing"):
        ancova(subj, arm, vis, base, np.full(val.size, np.nan), landmark_visit=3)
    sel = (arm == "active") | (vis != 3)
    with pytest.raises(NotEnoughDataError, match="only arm"):
        ancova(subj[sel], arm[sel], vis[sel], base[sel], val[sel], landmark_visit=3)
    with pytest.raises(NotEnoughDataError, match="singular"):
        ancova(subj, arm, vis, np.full(val.size, 3.0), val, landmark_visit=3)
    with pytest.raises(NotEnoughDataError, match="cannot estimate"):
        ancova(
            [1, 2, 3],
            ["a", "b", "b"],
            [3, 3, 3],
            [1.0, 2.0, 4.0],
            [1.0, 2.0, 3.0],
            landmark_visit=3,
        )


def test_descriptive_bad_input():
    with pytest.raises(NotEnoughDataError, match="at least 2 values"):
        mean_change_ci([3.0])
    with pytest.raises(NotEnoughDataError, match="at least 2 values"):
        mean_change_ci([np.nan, np.nan, 1.0])
    with pytest.raises(NotEnoughDataError, match="n = 0"):
        clopper_pearson(0, 0)
    with pytest.raises(ValueError, match="cannot exceed"):
        clopper_pearson(5, 3)
    with pytest.raises(ValueError, match="whole number"):
        clopper_pearson(1.5, 3)
    with pytest.raises(NotEnoughDataError, match="no non-missing"):
        responder_rate([np.nan], 10)
    with pytest.raises(NotEnoughDataError, match="at least one session"):
        incidence_per_100(0, 0)
    with pytest.raises(ValueError, match="non-negative"):
        incidence_per_100([-1], [3])
    with pytest.raises(ValueError, match="level"):
        mean_change_ci([1.0, 2.0], level=95)
    # A statistics review: +inf counted as a responder, half events summed to whole ones.
    with pytest.raises(ValueError, match="infinite"):
        responder_rate([5.0, np.inf], 10)
    with pytest.raises(ValueError, match="whole numbers"):
        incidence_per_100([0.5, 0.5], [1, 1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_subjects=st.integers(0, 14),
    n_visits=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    missing=st.floats(0.0, 0.9),
    constant_baseline=st.booleans(),
    df_method=st.sampled_from(["satterthwaite", "kenward-roger"]),
)
def test_mmrm_on_arbitrary_small_data_returns_finite_numbers_or_says_why_not(
    n_subjects, n_visits, seed, missing, constant_baseline, df_method
):
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(n_subjects), n_visits)
    arm = np.repeat(rng.choice(["placebo", "active"], n_subjects), n_visits)
    vis = np.tile(np.arange(n_visits), n_subjects)
    base = np.repeat(
        np.full(n_subjects, 50.0) if constant_baseline else rng.normal(50, 5, n_subjects),
        n_visits,
    )
    val = rng.normal(0, 3, subj.size)
    val[rng.random(subj.size) < missing] = np.nan
    try:
        res = fit_mmrm(subj, arm, vis, base, val, df_method=df_method)
    except NotEnoughDataError as exc:
        res, reason = None, str(exc)
    if res is None:
        # Any other exception type (LinAlgError, IndexError, ...) fails the test.
        assert reason.startswith("not enough data: ")
        return
    values = [c.estimate for c in res.contrasts] + [c.se for c in res.contrasts]
    values += [c.df for c in res.contrasts] + [m.estimate for m in res.lsmeans]
    assert np.all(np.isfinite(values))
    assert all(c.se > 0 and c.df > 0 for c in res.contrasts)
    assert all(0 <= c.p <= 1 for c in res.contrasts)
