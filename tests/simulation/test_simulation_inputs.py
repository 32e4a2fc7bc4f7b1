"""Impossible parameters fail loudly, naming the parameter (ValueError subclasses)."""

from __future__ import annotations

import pytest

from anagen.simulation.cohort import PatientSpec
from anagen.simulation.errors import ParameterError, SimulationInputError
from anagen.simulation.measurement import MeasurementParams
from anagen.simulation.params import CycleParams, PopulationParams
from anagen.simulation.treatments import (
    InjectionSessions,
    Minoxidil,
    Placebo,
    Transplant,
    plan_from_name,
)


@pytest.mark.parametrize(
    ("factory", "name"),
    [
        (lambda: CycleParams(anagen_mean_days=-10), "anagen_mean_days"),
        (lambda: CycleParams(telogen_mean_days=0), "telogen_mean_days"),
        (lambda: CycleParams(catagen_mean_days=-1), "catagen_mean_days"),
        (lambda: CycleParams(kenogen_mean_days_terminal=-5), "kenogen_mean_days_terminal"),
        (lambda: CycleParams(anagen_cv=-0.1), "anagen_cv"),
        (lambda: CycleParams(kenogen_prob_terminal=1.5), "kenogen_prob_terminal"),
        (lambda: CycleParams(kenogen_prob_miniaturised=-0.2), "kenogen_prob_miniaturised"),
        (lambda: CycleParams(vellus_cutoff_um=80), "vellus_cutoff_um"),
        (lambda: CycleParams(anagen_mean_days=float("nan")), "anagen_mean_days"),
        (lambda: PopulationParams(follicle_sites_per_cm2=0), "follicle_sites_per_cm2"),
        (lambda: PopulationParams(response_cv=-1), "response_cv"),
        (lambda: PopulationParams(region_susceptibility={"vertex": -1}), "region_susceptibility"),
        (lambda: MeasurementParams(area_cm2=0), "area_cm2"),
        (lambda: MeasurementParams(vellus_detection=1.2), "vellus_detection"),
        (lambda: MeasurementParams(dropout_per_year=-0.1), "dropout_per_year"),
        (lambda: MeasurementParams(dropout="sometimes"), "dropout"),
        (lambda: Minoxidil(telogen_rate=0), "telogen_rate"),
        (lambda: Minoxidil(start_day=10, stop_day=5), "stop_day"),
        (lambda: Placebo(start_day=-3), "start_day"),
        (lambda: InjectionSessions(session_days=(-7.0,)), "session_days"),
        (lambda: InjectionSessions(hazard_per_day=-0.1), "hazard_per_day"),
        (lambda: Transplant(survival=1.3), "survival"),
        (lambda: Transplant(shock_anagen_rate=0.5), "shock_anagen_rate"),
        (lambda: Transplant(shock_days=0), "shock_days"),
        (lambda: PatientSpec(stage="VIII"), "norwood_stage"),
        (lambda: PatientSpec(stage="II", scale="savin"), "scale"),
        (lambda: PatientSpec(plans=()), "plans"),
    ],
)
def test_impossible_parameter_is_rejected_by_name(factory, name):
    with pytest.raises(ParameterError) as info:
        factory()
    assert name in str(info.value)
    assert info.value.parameter.startswith(name.split("[")[0])
    assert isinstance(info.value, ValueError)


def test_unknown_arm_is_a_value_error_listing_choices():
    with pytest.raises(SimulationInputError, match="arms: unknown arm 'magic'.*minoxidil5"):
        plan_from_name("placebo+magic")


def test_sane_defaults_construct():
    CycleParams()
    PopulationParams()
    MeasurementParams()
    assert CycleParams().version == PopulationParams().version


def test_a_split_scalp_design_refuses_a_tablet_that_treats_both_halves():
    from anagen.simulation.trial import TrialDesign

    with pytest.raises(ParameterError, match="finasteride is taken by mouth"):
        TrialDesign(arms=("none", "finasteride"), design="split")
    with pytest.raises(ParameterError, match="finasteride is taken by mouth"):
        TrialDesign(arms=("placebo", "minoxidil5+finasteride"), design="split")
    TrialDesign(arms=("none", "finasteride"), design="parallel")
    TrialDesign(arms=("placebo", "minoxidil5"), design="split")


def test_a_power_target_at_or_below_alpha_is_not_a_sample_size_question():
    from anagen.simulation.trial import TrialDesign, closed_form_n, search_sample_size

    with pytest.raises(ParameterError, match="must exceed alpha"):
        closed_form_n(0.5, 22, 0.5, 0.5)
    with pytest.raises(ParameterError, match="must exceed alpha"):
        closed_form_n(10, 22, 0.01, 0.05)
    with pytest.raises(ParameterError, match="must exceed alpha"):
        search_sample_size(TrialDesign(alpha=0.1), power_target=0.1, replicates=2)


def test_a_sample_size_search_answers_one_comparison_of_two_arms():
    from anagen.simulation.trial import TrialDesign, search_sample_size

    three = TrialDesign(arms=("placebo", "finasteride", "minoxidil2"))
    with pytest.raises(ParameterError, match="compares exactly 2 arms"):
        search_sample_size(three, replicates=2)


def test_plausibility_refuses_a_baseline_beyond_every_virtual_patient():
    from anagen.simulation.forecast import plausibility

    for baseline, followup in ((590, 599), (5, 10)):
        with pytest.raises(SimulationInputError, match="beyond every one of the"):
            plausibility(baseline, followup, 6, 12, n_virtual=50, resamples=200)
