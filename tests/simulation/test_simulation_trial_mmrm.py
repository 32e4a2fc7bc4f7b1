"""Virtual trials analysed by MMRM (issue 7 item 5): agrees with ANCOVA on complete data,
uses the early visits of dropouts, refuses split-scalp designs, and is on the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from anagen.simulation import cli
from anagen.simulation.errors import ParameterError
from anagen.simulation.measurement import Dropout, MeasurementParams
from anagen.simulation.trial import TrialDesign, analyse, analyse_mmrm, power, simulate_trial


def _design(**kw) -> TrialDesign:
    base = dict(arms=("placebo", "minoxidil5"), n_per_arm=25, visit_weeks=(0, 12, 24, 48))
    return TrialDesign(**(base | kw))


def test_trial_data_keeps_every_visit_consistent_with_baseline_and_last():
    d = _design()
    data = simulate_trial(d, seed=4, replicates=3)
    assert data.visits.shape == (3, 2, 25, 4)
    np.testing.assert_array_equal(data.visits[..., 0], data.baseline)
    np.testing.assert_array_equal(data.visits[..., -1], data.followup)
    np.testing.assert_array_equal(data.visits_observed[..., -1], data.complete)


def test_mmrm_equals_ancova_at_the_last_visit_when_no_one_drops_out():
    # Complete data, unstructured covariance, the same regressors at every visit: the GLS
    # estimate at a visit is that visit's OLS (ANCOVA) estimate.
    d = _design(measurement=MeasurementParams(dropout_per_year=0.0))
    data = simulate_trial(d, seed=11, replicates=4)
    (an,) = analyse(d, data)
    (mm,) = analyse_mmrm(d, data)
    assert np.all(np.isfinite(mm.estimate))
    np.testing.assert_allclose(mm.estimate, an.estimate, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mm.se, an.se, rtol=0.05)
    np.testing.assert_array_equal(mm.n_used, an.n_used)


def test_mmrm_keeps_patients_who_drop_out_before_the_last_visit():
    m = MeasurementParams(dropout_per_year=0.6, dropout=Dropout("mar"))
    d = _design(measurement=m)
    data = simulate_trial(d, seed=5, replicates=4)
    (an,) = analyse(d, data)
    (mm,) = analyse_mmrm(d, data)
    assert np.all(mm.n_used >= an.n_used)
    assert np.any(mm.n_used > an.n_used)
    assert np.all(np.isfinite(mm.estimate))
    # A prefix of the patients is a smaller trial (nested power curves).
    (small,) = analyse_mmrm(d, data, n=10)
    assert np.all(small.n_used <= 20)


def test_power_by_mmrm_and_bad_analysis_names_the_parameter():
    d = _design(n_per_arm=40)
    (r,) = power(d, replicates=12, seed=2, analysis="mmrm")
    assert 0.0 <= r.power <= 1.0 and r.replicates == 12
    with pytest.raises(ParameterError) as err:
        power(d, replicates=2, analysis="bayes")
    assert err.value.parameter == "analysis"
    split = TrialDesign(arms=("placebo", "minoxidil5"), n_per_arm=5, design="split")
    with pytest.raises(ParameterError) as err:
        power(split, replicates=2, analysis="mmrm")
    assert err.value.parameter == "analysis"


def test_cli_trial_by_mmrm(capsys):
    argv = ["trial", "--arms", "placebo,minoxidil5", "--n", "20", "--replicates", "8",
            "--weeks", "0,12,24", "--analysis", "mmrm", "--dropout", "0.3"]  # fmt: skip
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "MMRM" in out and "minoxidil5 vs placebo" in out
    rc = cli.main([*argv[:-4], "--design", "split", "--analysis", "mmrm"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "analysis" in err
