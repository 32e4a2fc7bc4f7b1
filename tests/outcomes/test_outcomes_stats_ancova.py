"""Landmark-visit ANCOVA checked against statsmodels OLS."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from anagen.outcomes.stats import ancova


@pytest.fixture
def trial():
    rng = np.random.default_rng(42)
    n, visits = 90, [4, 12, 24]
    arm = rng.choice(["placebo", "prp", "exosome"], n)
    base = rng.normal(140, 25, n)
    site = rng.choice(["north", "south"], n)
    effect = pd.Series(arm).map({"placebo": 0.0, "prp": 6.0, "exosome": 11.0}).to_numpy()
    rows = []
    for i in range(n):
        for v in visits:
            chg = -0.15 * (base[i] - 140) + effect[i] * v / 24 + rng.normal(0, 20)
            if v == 24 and rng.random() < 0.2:
                chg = np.nan  # missed the landmark visit
            rows.append((f"S{i:03d}", arm[i], v, base[i], chg, site[i]))
    return pd.DataFrame(rows, columns=["subject", "arm", "visit", "baseline", "chg", "site"])


def test_ancova_equals_ols_at_the_landmark_visit(trial):
    res = ancova(
        trial.subject,
        trial.arm,
        trial.visit,
        trial.baseline,
        trial.chg,
        landmark_visit=24,
        reference_arm="placebo",
        covariates={"site": trial.site},
    )
    at24 = trial[(trial.visit == 24) & trial.chg.notna()]
    ols = smf.ols("chg ~ C(arm, Treatment('placebo')) + baseline + C(site)", data=at24).fit()
    ci = ols.conf_int()
    for arm in ("exosome", "prp"):
        term = f"C(arm, Treatment('placebo'))[T.{arm}]"
        c = next(c for c in res.contrasts if c.arm == arm)
        assert c.estimate == pytest.approx(ols.params[term], rel=1e-10)
        assert c.se == pytest.approx(ols.bse[term], rel=1e-10)
        assert c.p == pytest.approx(ols.pvalues[term], rel=1e-8)
        assert (c.lower, c.upper) == pytest.approx(tuple(ci.loc[term]), rel=1e-10)
        assert c.df == ols.df_resid
    assert res.n_used == len(at24)
    assert res.residual_sd == pytest.approx(np.sqrt(ols.scale))
    assert res.reference_arm == "placebo"


def test_ancova_lsmeans_are_predictions_at_mean_baseline(trial):
    res = ancova(
        trial.subject,
        trial.arm,
        trial.visit,
        trial.baseline,
        trial.chg,
        landmark_visit=24,
        reference_arm="placebo",
    )
    at24 = trial[(trial.visit == 24) & trial.chg.notna()]
    ols = smf.ols("chg ~ C(arm, Treatment('placebo')) + baseline", data=at24).fit()
    mean_base = at24.baseline.mean()
    for ls in res.lsmeans:
        pred = ols.get_prediction(pd.DataFrame({"arm": [ls.arm], "baseline": [mean_base]}))
        assert ls.estimate == pytest.approx(pred.predicted_mean[0], rel=1e-10)
        assert ls.se == pytest.approx(pred.se_mean[0], rel=1e-8)
    diff = {m.arm: m.estimate for m in res.lsmeans}
    prp = next(c for c in res.contrasts if c.arm == "prp")
    assert diff["prp"] - diff["placebo"] == pytest.approx(prp.estimate)


def test_ancova_states_how_missing_landmark_values_were_handled(trial):
    res = ancova(
        trial.subject, trial.arm, trial.visit, trial.baseline, trial.chg, landmark_visit=24
    )
    n_missing = int(trial[trial.visit == 24].chg.isna().sum())
    assert n_missing > 0
    assert f"Excluded {n_missing} without any analysable visit value" in res.missing_data
    assert "MAR" in res.missing_data
    json.dumps(res.to_dict())


def test_the_missing_data_statement_names_the_landmark_as_the_caller_labels_it(trial):
    args = (trial.subject, trial.arm, trial.visit, trial.baseline, trial.chg)
    plain = ancova(*args, landmark_visit=24, reference_arm="placebo")
    assert plain.missing_data.startswith("Complete-case ANCOVA at visit 24: ")
    labelled = ancova(*args, landmark_visit=24, reference_arm="placebo", visit_label="week 24")
    assert labelled.missing_data.startswith("Complete-case ANCOVA at week 24: ")
    assert "'24'" not in plain.missing_data + labelled.missing_data
