"""Trials and searches that cannot give an answer say so in words, never as power "nan".

* A virtual trial where no replicate could be analysed (every fit failed) is an error.
* Failed fits of a trial that has a result are counted and said in a note.
* A sample-size search between arms with the same modelled effect is refused before it runs.
* ``anagen simulate`` without a command is a usage error.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from anagen import cli as anagen_cli
from anagen.simulation import cli, trial
from anagen.simulation.errors import SimulationInputError
from anagen.simulation.measurement import MeasurementParams
from anagen.simulation.treatments import (
    Minoxidil,
    Plan,
    Transplant,
    plan_from_name,
    same_modelled_effect,
)
from anagen.simulation.trial import (
    NoAnalysableReplicatesError,
    PowerResult,
    TrialData,
    TrialDesign,
    analyse,
    no_modelled_difference,
    power,
    search_sample_size,
)

MMRM = ["trial", "--arms", "placebo,minoxidil5", "--replicates", "20", "--analysis", "mmrm"]


def _one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


# 1. No replicate analysed -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [*MMRM, "--n", "3", "--dropout", "1.9"],
            "error: no replicate could be analysed: all 20 MMRM fits failed (too few patients "
            "or visits left after dropout); raise --n or lower --dropout\n",
        ),
        # Without dropout, lowering it cannot help: the message does not suggest it.
        (
            [*MMRM, "--n", "2"],
            "error: no replicate could be analysed: all 20 MMRM fits failed (too few patients "
            "or visits left); raise --n\n",
        ),
        (
            [*MMRM[:-2], "--n", "3", "--dropout", "1.9"],  # ANCOVA, the default
            "error: no replicate could be analysed: all 20 ANCOVA fits failed (fewer than 4 "
            "patients seen at the last visit); raise --n or lower --dropout\n",
        ),
    ],
)
def test_a_trial_where_every_fit_failed_is_an_error_not_power_nan(capsys, argv, message):
    """Printed "power nan [0.000, 1.000] ... failed fits 20" and exited 0."""
    assert cli.main(argv) == 2
    assert _one_error_line(capsys) == message


def test_power_refuses_to_return_a_result_that_no_replicate_gave():
    d = TrialDesign(n_per_arm=3, measurement=MeasurementParams(dropout_per_year=1.9))
    with pytest.raises(NoAnalysableReplicatesError) as err:
        power(d, replicates=20, seed=0, analysis="mmrm")
    assert isinstance(err.value, SimulationInputError)  # callers catching it keep working
    assert str(err.value) == (
        "no replicate could be analysed: all 20 MMRM fits failed (too few patients or visits "
        "left after dropout); raise n_per_arm or lower dropout_per_year"
    )


def test_a_trial_with_some_failed_fits_keeps_its_result_and_says_how_many(capsys):
    assert cli.main([*MMRM, "--n", "12", "--dropout", "1.9"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out
    note = re.search(
        r"Note: minoxidil5 vs placebo: (\d+) of 20 replicates could not be analysed "
        r"\(failed fits\); its power is over the other (\d+)\.",
        out,
    )
    assert note, out
    failed, valid = int(note[1]), int(note[2])
    assert failed > 0 and valid > 0 and failed + valid == 20
    row = next(line for line in out.splitlines() if line.startswith("minoxidil5 vs placebo "))
    assert row.split()[-1] == str(failed)  # the "failed fits" column


def test_a_comparison_without_a_result_beside_one_with_a_result_shows_none(capsys, monkeypatch):
    def fake_power(design, replicates, seed, **kw):  # noqa: ANN001, ANN003, ANN202
        nan = float("nan")
        return [
            PowerResult("minoxidil5", "placebo", 5, 20, 4, 0.4, 0.2, 0.6, 12.0, 20.0, 10, 10),
            PowerResult("prp", "placebo", 5, 20, 0, nan, 0.0, 1.0, nan, nan, 0, 20),
        ]

    monkeypatch.setattr(cli, "power", fake_power)
    assert cli.main(["trial", "--arms", "placebo,minoxidil5,prp", "--n", "5"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out
    row = next(line for line in out.splitlines() if line.startswith("prp vs placebo "))
    assert "none" in row and "(no replicate analysed)" in row and row.endswith(" 20")
    header = next(line for line in out.splitlines() if line.startswith("comparison"))
    assert len(row) == len(header)  # the count sits under "failed fits"
    assert "Note: prp vs placebo: 20 of 20 replicates could not be analysed" in out
    assert (
        "Note: minoxidil5 vs placebo: 10 of 20 replicates could not be analysed (failed fits); "
        "its power is over the other 10." in out
    )


def test_a_split_scalp_replicate_with_one_complete_pair_is_a_failed_test_not_a_rejection():
    """One pair has no variance: its se was 0 and p 0, so it counted as a rejection (placebo
    vs placebo split-scalp with heavy dropout showed power 0.44)."""
    d = TrialDesign(arms=("placebo", "placebo"), n_per_arm=3, design="split")
    rng = np.random.default_rng(1)
    base = rng.normal(150, 20, (2, 2, 3))  # replicates, halves, pairs
    fu = base + rng.normal(5, 10, (2, 2, 3))
    complete = np.ones((2, 2, 3), bool)
    complete[0, :, 1:] = False  # replicate 0: one complete pair
    data = TrialData(base, fu, complete, base, fu, 0.0)
    (c,) = analyse(d, data)
    assert np.isnan(c.p_value[0]) and np.isnan(c.estimate[0])
    assert np.isfinite(c.p_value[1])  # three pairs: a test
    r = trial.summarise(c, 0.05, 3)
    assert (r.n_valid, r.n_failed) == (1, 1)


# 2. No command ----------------------------------------------------------------------------


def test_simulate_without_a_command_prints_the_usage_and_exits_2(capsys):
    assert cli.main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: anagen simulate ")
    assert err.endswith("error: a command is required: trial, sample-size, forecast, "
                        "plausibility\n")  # fmt: skip
    assert anagen_cli.main(["simulate"]) == 2  # the console script passes it on
    capsys.readouterr()
    assert cli.main(["--help"]) == 0  # asking for help is not an error
    assert capsys.readouterr().out.startswith("usage: anagen simulate ")


# 3. Arms with no modelled difference -------------------------------------------------------


@pytest.mark.parametrize(
    ("arms", "extra"),
    [
        ("placebo,placebo", []),
        ("none,observation", []),  # different names, same (empty) plan
        ("minoxidil5,placebo+minoxidil", []),  # same treatments in another order
        ("placebo,placebo", ["--design", "split"]),
        ("placebo,placebo", ["--design", "split", "--spillover", "0.3"]),  # nothing to spill
    ],
)
def test_a_sample_size_search_between_arms_with_the_same_effect_is_refused_before_it_runs(
    capsys, monkeypatch, arms, extra
):
    """Searched up to n = 400 and said "raise --n-max", which can never help."""

    def no_simulation(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the search ran")

    monkeypatch.setattr(trial, "simulate_trial", no_simulation)
    argv = ["sample-size", "--arms", arms, "--power", "0.8", "--replicates", "20", *extra]
    assert cli.main(argv) == 2
    first, second = arms.split(",")
    assert _one_error_line(capsys) == (
        f"error: arms: the arms {first} and {second} have no modelled difference in "
        "target-area density change from baseline up to week 48: no sample size reaches "
        "the target power\n"
    )


def test_same_modelled_effect_reads_the_parameters_not_the_names():
    same = same_modelled_effect
    assert same(plan_from_name("placebo"), plan_from_name("placebo"))
    assert same(plan_from_name("minoxidil5"), plan_from_name("placebo+minoxidil"))
    assert same(plan_from_name("none"), plan_from_name("observation"))
    assert not same(plan_from_name("minoxidil5"), plan_from_name("minoxidil2"))
    assert not same(plan_from_name("placebo"), plan_from_name("none"))
    assert not same(plan_from_name("prp"), plan_from_name("exosome"))
    # A transplant adds follicles; without shock loss it changes no clock.
    assert not same(plan_from_name("transplant"), plan_from_name("none"))
    assert not same(Plan((Transplant(shock_anagen_rate=1.0),)), plan_from_name("none"))
    # A treatment that starts after the last visit makes no difference within the trial.
    late = Plan((Minoxidil(start_day=400.0),), name="late minoxidil")
    assert same(late, plan_from_name("none"), last_day=336)
    assert not same(late, plan_from_name("none"))


def test_no_modelled_difference_sees_spillover_and_a_shift():
    mino = ("minoxidil5", "minoxidil5")
    assert no_modelled_difference(TrialDesign(arms=mino))
    # The control half also gets 30 % of the drug: the halves differ (the wrong way).
    assert not no_modelled_difference(TrialDesign(arms=mino, design="split", spillover=0.3))
    # --delta: placebo against placebo shifted by delta is a difference to find.
    assert not no_modelled_difference(TrialDesign(arms=("placebo", "placebo"), delta_shift=5))
    search_sample_size(  # runs
        TrialDesign(arms=("placebo", "placebo"), delta_shift=25, visit_weeks=(0, 24)),
        replicates=20,
        n_max=10,
        grid=2,
    )
    with pytest.raises(SimulationInputError, match="have no modelled difference"):
        search_sample_size(TrialDesign(arms=mino), replicates=20, n_max=10)


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`anagen simulate forecast ... | head -3` printed a BrokenPipeError traceback (review)."""
    import subprocess
    import sys

    # A tool whose output (10 MB) cannot sit in the pipe's buffer when the reader leaves.
    code = (
        "import sys, types; from anagen import cli; tool = types.ModuleType('tool'); "
        "tool.main = lambda argv: [print('x' * 99) for _ in range(100_000)] and 0; "
        "sys.modules['tool'] = tool; cli.PURE_TOOLS['tool'] = 'tool'; "
        "sys.exit(cli.main(['tool']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader leaves after one line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err
