"""Demo cohort (known truth for the web app), CLI, forecast and plausibility."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from anagen.simulation import cli
from anagen.simulation.demo import DEMO_TODAY_OFFSET_DAYS, VISIT_WEEKS, generate_demo_cohort
from anagen.simulation.forecast import FORECAST_LABEL, forecast, plausibility

START = dt.date(2025, 1, 6)


@pytest.fixture(scope="module")
def demo():
    return generate_demo_cohort(80, seed=7, start=START)


def test_demo_is_deterministic_for_a_seed(demo):
    again = generate_demo_cohort(80, seed=7, start=START)
    assert [dataclasses.asdict(p) for p in demo] == [dataclasses.asdict(p) for p in again]
    other = generate_demo_cohort(80, seed=8, start=START)
    assert [dataclasses.asdict(p) for p in demo] != [dataclasses.asdict(p) for p in other]


def test_demo_patients_are_plausible_and_visits_stop_at_today(demo):
    today = START + dt.timedelta(days=DEMO_TODAY_OFFSET_DAYS)
    assert len(demo) == 80
    assert len({p.patient_id for p in demo}) == 80
    aga = sum(p.diagnosis == "androgenetic_alopecia" for p in demo)
    assert aga > 0.7 * len(demo)
    assert {p.modality for p in demo} == {"exosome", "prp", "minoxidil", "combination", "none"}
    for p in demo:
        assert p.sex in ("M", "F")
        assert (p.stage_scale == "norwood") == (p.sex == "M")
        assert p.diagnosis_modelled == (p.diagnosis == "androgenetic_alopecia")
        assert all(d <= today for d in p.session_dates)
        assert all(v.visit_date <= today for v in p.visits)
        assert [v.week for v in p.visits] == sorted(v.week for v in p.visits)
        assert all(v.week in VISIT_WEEKS for v in p.visits)
        if p.modality in ("exosome", "prp"):
            assert p.session_dates and p.session_dates[0] == p.enrolment_date
    # someone enrolled early has completed the 48-week visit; someone late has not
    assert any(p.visits and p.visits[-1].week == 48 for p in demo)
    assert any(p.visits and p.visits[-1].week < 48 for p in demo)


def test_demo_measurements_sit_around_their_known_truth(demo):
    pairs = [(v.measured, v.true) for p in demo for v in p.visits]
    measured = np.array([m.hair_count for m, _ in pairs])
    true = np.array([t.hair_count for _, t in pairs])
    assert (measured < true).mean() > 0.6  # unemerged and vellus hairs are missed
    assert np.corrcoef(measured, true)[0, 1] > 0.75
    for m, t in pairs:
        assert t.terminal_pct + t.vellus_pct == pytest.approx(100)
        assert 0 <= t.anagen_pct <= 100
        assert 20 < t.mean_diameter_um < 80
        assert m.density_per_cm2 == m.hair_count  # 1 cm² target area


def test_cli_trial_prints_power_with_monte_carlo_interval(capsys):
    rc = cli.main(
        [
            "trial",
            "--arms",
            "placebo,minoxidil5",
            "--n",
            "30",
            "--replicates",
            "40",
            "--weeks",
            "0,24",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "minoxidil5 vs placebo" in out
    assert "95% MC interval" in out


def test_cli_sample_size_closed_form_reference_value(capsys):
    rc = cli.main(["sample-size", "--delta", "10", "--power", "0.8"])
    assert rc == 0
    assert "76 per arm" in capsys.readouterr().out


def test_cli_forecast_and_plausibility(capsys):
    assert (
        cli.main(
            [
                "forecast",
                "--stage",
                "IV",
                "--plan",
                "minoxidil",
                "--months",
                "6",
                "--n-virtual",
                "60",
                "--baseline-density",
                "140",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "MODEL FORECAST" in out and "median" in out
    assert (
        cli.main(
            [
                "plausibility",
                "--baseline",
                "96.5",
                "--followup",
                "163.5",
                "--weeks",
                "6",
                "--n",
                "12",
            ]
        )
        == 0
    )
    assert "implausible" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["trial", "--arms", "placebo,minoxidil5", "--n", "1"], "n_per_arm"),
        (["trial", "--arms", "placebo,unicorn", "--n", "10"], "arms"),
        (["sample-size", "--delta", "-2"], "delta"),
        (["sample-size", "--delta", "5", "--power", "1.5"], "power"),
        (["forecast", "--stage", "IX"], "stage"),
        (
            ["plausibility", "--baseline", "0", "--followup", "10", "--weeks", "6", "--n", "3"],
            "baseline_density",
        ),
        (["trial", "--arms", "placebo,prp", "--n", "5", "--weeks", "0,x"], "weeks"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_cli_bad_input_is_one_error_line_and_exit_2(capsys, argv, needle):
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert needle in err
    assert "Traceback" not in err


def test_forecast_is_labelled_and_quantiles_are_ordered():
    fc = forecast("IV", "minoxidil", baseline_density=140, months=12, n_virtual=80, seed=2)
    assert fc.label == FORECAST_LABEL and "MODEL FORECAST" in fc.label
    assert np.all(np.diff(fc.density_per_cm2, axis=0) >= 0)
    assert fc.density_per_cm2[2, 0] == pytest.approx(140)
    untreated = forecast("IV", "none", baseline_density=140, months=12, n_virtual=80, seed=2)
    assert fc.mean_per_cm2[-1] > untreated.mean_per_cm2[-1] + 5


def test_plausibility_rejects_70pct_in_6_weeks_but_accepts_modest_claims():
    fast = plausibility(96.5, 163.5, 6, 12, n_virtual=200, resamples=5000)
    assert fast.probability == 0
    assert fast.upper_999_change_pct < fast.claimed_change_pct
    modest = plausibility(140, 150, 24, 30, n_virtual=200, resamples=5000)
    assert modest.probability > 0.5
