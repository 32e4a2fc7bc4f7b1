"""``anagen simulate``: out-of-range and nonsense input is one ``error:`` line and exit 2.

Every case here is refused by validation before any simulation runs, so each takes
milliseconds. The ceilings live in the pure functions (``trial``, ``forecast``), so the API
and pages that call them are covered by the direct tests at the end.
"""

from __future__ import annotations

import math

import pytest

from anagen.simulation import cli, forecast, trial
from anagen.simulation.errors import SimulationInputError
from anagen.simulation.measurement import MeasurementParams
from anagen.simulation.trial import TrialDesign

TRIAL = ["trial", "--arms", "placebo,minoxidil5", "--n", "10"]
PLAUS = ["plausibility", "--weeks", "24", "--n", "10"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        # 1. used to be tracebacks
        ([*TRIAL, "--weeks", "0,inf"], "visit_weeks = inf: must be a finite number in [0, 260]"),
        ([*TRIAL, "--stages", ","], "stages = (): need at least one stage"),
        ([*TRIAL, "--stages", "IV,IX"], "norwood_stage = 'IX': must be one of I, II, IIa"),
        (["sample-size", "--delta", "1e-9"], "needs more than 1,000,000 per arm"),
        (["sample-size", "--delta", "1e-300"], "needs more than 1,000,000 per arm"),
        (["sample-size", "--delta", "5e-324"], "needs more than 1,000,000 per arm"),
        (["sample-size", "--delta", "1e-9", "--design", "split"], "1,000,000 per arm"),
        (["sample-size", "--delta", "10", "--alpha", "1e-300"], "1,000,000 per arm"),
        (
            [
                "plausibility",
                "--baseline",
                "150",
                "--followup",
                "200",
                "--weeks",
                "24",
                "--n",
                "1000000000",
            ],
            "n = 1000000000: must be an integer in [1, 2,000] (the ceiling keeps",
        ),  # fmt: skip
        # 2. ceilings
        (
            [*TRIAL[:-1], "100000000", "--replicates", "1"],
            "n_per_arm = 100000000: must be an integer in [2, 10,000]",
        ),
        (
            [*TRIAL[:-1], "1000", "--replicates", "100000000"],
            "replicates = 100000000: must be an integer in [1, 10,000]",
        ),
        ([*TRIAL[:-1], "1000", "--replicates", "1000"], "exceeds the ceiling of 1,000,000"),
        (
            [*TRIAL[:-1], "500", "--replicates", "1000", "--weeks", "0,4,8,12,16,20,24,28"],
            "area-visits exceeds the memory ceiling of 5,000,000",
        ),
        ([*TRIAL, "--weeks", ",".join(str(w) for w in range(61))], "at most 60 visits"),
        ([*TRIAL, "--replicates", "1001", "--analysis", "mmrm"], "replicates = 1001"),
        (["sample-size", "--delta", "10", "--simulate", "--n-max", "100000"], "n_max = 100000"),
        (
            ["sample-size", "--delta", "10", "--simulate", "--n-max", "10000"],
            "exceeds the ceiling of 1,000,000",
        ),
        (["forecast", "--stage", "IV", "--months", "100000"], "months = 100000"),
        (["forecast", "--stage", "IV", "--n-virtual", "100000000"], "n_virtual = 100000000"),
        (
            [
                "forecast",
                "--stage",
                "IV",
                "--n-virtual",
                "10000",
                "--months",
                "120",
                "--baseline-density",
                "120",
            ],
            "patient-years exceeds the ceiling of 100,000",
        ),  # fmt: skip
        # 3. nonsense that used to exit 0
        (["sample-size", "--delta", "inf"], "delta = inf: must be a finite number in (0, 600]"),
        (["sample-size", "--delta", "700"], "delta = 700.0"),
        (["sample-size", "--delta", "5", "--sd", "inf"], "sd = inf"),
        (["sample-size", "--simulate", "--delta", "nan"], "delta = nan"),
        (["forecast", "--stage", "IV", "--baseline-density", "inf"], "baseline_density = inf"),
        (["forecast", "--stage", "IV", "--baseline-density", "1e9"], "(0, 600] hairs/cm²"),
        (["forecast", "--stage", "IV", "--every", "0"], "every = 0"),
        ([*PLAUS, "--baseline", "150", "--followup", "inf"], "followup_density = inf"),
        ([*PLAUS, "--baseline", "1e300", "--followup", "200"], "baseline_density = 1e+300"),
        ([*PLAUS, "--baseline", "150", "--followup", "700"], "followup_density = 700.0"),
        (
            [
                "plausibility",
                "--baseline",
                "150",
                "--followup",
                "200",
                "--weeks",
                "nan",
                "--n",
                "3",
            ],
            "weeks = nan",
        ),  # fmt: skip
        ([*TRIAL, "--dropout", "1e9"], "dropout_per_year = 1000000000.0: must be a finite"),
        ([*TRIAL, "--dropout", "2.5"], "[0, 2] per year"),
        ([*TRIAL, "--dropout", "nan"], "dropout_per_year = nan"),
        ([*TRIAL, "--workers", "0"], "workers = 0: must be an integer >= 1"),
        ([*TRIAL, "--workers", "-2"], "workers = -2"),
        (["sample-size", "--delta", "10", "--workers", "0"], "workers = 0"),
        ([*TRIAL, "--weeks", "0,nan"], "visit_weeks = nan: must be a finite number"),
        ([*TRIAL, "--weeks", "0,1e300"], "visit_weeks = 1e+300"),
        ([*TRIAL, "--weeks", "0,300"], "visit_weeks = 300.0"),
        ([*TRIAL, "--seed", "-1"], "seed = -1"),
        ([*TRIAL, "--spillover", "inf"], "spillover = inf"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(capsys, argv, needle):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, out
    assert err.startswith("error: ")
    assert err.count("\n") == 1, err
    assert needle in err
    assert out == ""


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        ([*TRIAL, "--stages", "IV,IX"], "error: --stages: norwood_stage = 'IX'"),
        (["forecast", "--stage", "IX"], "error: --stage: norwood_stage = 'IX'"),
        ([*TRIAL[:-1], "1"], "error: --n: n_per_arm = 1"),
        ([*PLAUS, "--baseline", "150", "--followup", "700"], "error: --followup: followup_"),
        (["forecast", "--stage", "IV", "--baseline-density", "inf"], "error: --baseline-density:"),
        ([*TRIAL, "--weeks", "0,nan"], "error: --weeks: visit_weeks = nan"),
    ],
)
def test_an_error_names_the_option_that_set_the_parameter(capsys, argv, start):
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith(start)


@pytest.mark.parametrize(
    "exc",
    [
        OverflowError("int too large to convert to float"),
        ZeroDivisionError("integer division or modulo by zero"),
        MemoryError("Unable to allocate 146. TiB\nfor an array"),
        SimulationInputError("stages: bad\nsecond line"),
        ValueError(""),
    ],
)
def test_main_turns_remaining_numeric_errors_into_exit_2(capsys, monkeypatch, exc):
    def boom(_args):  # noqa: ANN001, ANN202
        raise exc

    monkeypatch.setitem(cli._COMMANDS, "forecast", boom)
    assert cli.main(["forecast", "--stage", "IV"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_ceilings_are_at_the_boundary():
    # the largest values are accepted (validation only: nothing is simulated)
    TrialDesign(n_per_arm=trial.MAX_N_PER_ARM, visit_weeks=(0, trial.MAX_VISIT_WEEK))
    TrialDesign(measurement=MeasurementParams(dropout_per_year=trial.MAX_DROPOUT_PER_YEAR))
    trial.check_work(1_000, 500, 2, (0, 12, 24, 48))  # 920,000 area-years, 4,000,000 visits
    with pytest.raises(SimulationInputError, match="area-years"):
        trial.check_work(1_000, 600, 2, (0, 12, 24, 48))


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: trial.simulate_trial(TrialDesign(), replicates=10**9), "replicates"),
        (lambda: trial.simulate_trial(TrialDesign(), workers=0), "workers"),
        (lambda: trial.power(TrialDesign(), 5000, analysis="mmrm"), "replicates = 5000"),
        (lambda: trial.power_curve(TrialDesign(), [10, 20_000]), "n_per_arm = 20000"),
        (lambda: trial.search_sample_size(TrialDesign(), n_max=50_000), "n_max"),
        (lambda: TrialDesign(delta_shift=math.nan), "delta_shift = nan"),
        (lambda: TrialDesign(stages=()), "stages"),
        (lambda: TrialDesign(visit_weeks=(0, 12, math.inf)), "visit_weeks = inf"),
        (lambda: trial.closed_form_n(1e-9), "1,000,000 per arm"),
        (lambda: trial.closed_form_pairs(1e-9), "1,000,000 per arm"),
        (lambda: trial.normal_approx_n_exact(1e-300), "1,000,000 per arm"),
        (lambda: trial.two_sample_t_power(10, math.inf), "delta = inf"),
        (lambda: forecast.forecast("IV", oversample=100), "oversample = 100"),
        (lambda: forecast.forecast("IV", baseline_density=601), "baseline_density = 601"),
        (lambda: forecast.forecast("IV", scale="savin"), "scale"),
        (lambda: forecast.plausibility(150, 200, 24, 10, resamples=10**7), "resamples"),
        (lambda: forecast.plausibility(150, 200, 24, 10, n_virtual=10**6), "n_virtual"),
        (lambda: forecast.plausibility(150, 200, math.inf, 10), "weeks = inf"),
    ],
)
def test_pure_functions_enforce_the_same_limits(call, needle):
    with pytest.raises(SimulationInputError) as info:
        call()
    assert needle in str(info.value)


def test_plausibility_resamples_in_blocks_for_large_n(monkeypatch):
    monkeypatch.setattr(forecast, "_RESAMPLE_BLOCK", 1_000)  # 100-row blocks at n = 10
    r = forecast.plausibility(96.5, 163.5, 6, 10, n_virtual=50, resamples=1_050)
    assert r.verdict.startswith("implausible")
    assert 0 <= r.probability <= 1 and math.isfinite(r.upper_999_change_pct)


@pytest.mark.parametrize(
    ("arms", "needle"),
    [
        ("placebo,prp+", "unknown arm 'prp+' (an empty part)"),
        ("placebo,prp+foo", "unknown arm 'prp+foo' ('foo')"),
        ("placebo,PRP+exosome,bogus", "unknown arm 'bogus' ('bogus')"),
    ],
)
def test_an_unknown_arm_name_is_refused_with_the_valid_names(capsys, arms, needle):
    rc = cli.main(["trial", "--arms", arms, "--n", "10"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.startswith("error: argument --arms: ") and err.count("\n") == 1
    assert needle in err
    assert "valid arms: exosome, finasteride, minoxidil, " in err and "placebo, prp" in err


def test_a_baseline_at_the_edge_of_the_stages_virtual_patients_is_said_to_be_extrapolated():
    edge = forecast.forecast("V", baseline_density=190, months=3, n_virtual=100, seed=0)
    assert any("forecast is extrapolated" in n for n in edge.notes)
    usual = forecast.forecast("V", baseline_density=120, months=3, n_virtual=100, seed=0)
    assert not any("extrapolated" in n for n in usual.notes)


def test_a_baseline_beyond_every_virtual_patient_of_the_stage_gets_no_forecast(capsys):
    """600/cm² at stage V got a confident band of 444-507/cm² at week 0 with only a note."""
    with pytest.raises(SimulationInputError, match=r"beyond every one of the 200 simulated"):
        forecast.forecast("V", baseline_density=600, months=3, n_virtual=100, seed=0)
    rc = cli.main(["forecast", "--stage", "V", "--baseline-density", "600"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert "the measured baseline 600/cm² is beyond every one of the" in err
    assert "check the stage and the measurement" in err


@pytest.mark.parametrize(
    ("plan", "needle"), [("", "an empty part"), ("prp++minoxidil", "an empty part")]
)
def test_a_forecast_plan_with_an_empty_part_is_refused_naming_plan(capsys, plan, needle):
    """--plan "" said "arms: empty arm name"; "prp++minoxidil" ran as prp+minoxidil."""
    rc = cli.main(["forecast", "--stage", "III", "--plan", plan])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.startswith("error: argument --plan: ") and needle in err


def test_the_engine_names_the_field_and_refuses_an_empty_member():
    from anagen.simulation.errors import SimulationInputError
    from anagen.simulation.treatments import plan_from_name

    with pytest.raises(SimulationInputError, match="plan: 'prp\\+\\+minoxidil' has an empty part"):
        plan_from_name("prp++minoxidil", "plan")


@pytest.mark.parametrize(("typed", "written"), [("iv", "IV"), (" iiiv ", "IIIv"), ("IIIV", "IIIv")])
def test_a_stage_is_taken_in_any_case_and_written_as_the_scale_writes_it(typed, written):
    from anagen.simulation.params import canonical_stage

    assert canonical_stage(typed) == written


def test_the_forecast_takes_a_lower_case_stage(capsys):
    assert cli.main(["forecast", "--stage", "iv", "--n-virtual", "10", "--months", "6"]) == 0
    assert "stage IV." in capsys.readouterr().out


def test_an_unknown_stage_is_still_refused_with_the_stages(capsys):
    assert cli.main(["forecast", "--stage", "ivx"]) == 2
    assert "must be one of I, II, IIa" in capsys.readouterr().err
