"""Specification of the further-treatment proposal."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anagen.monitoring.decision import (
    MIN_RESPONSE_WEEKS,
    RESPONSE_LABELS,
    DecisionInputError,
    Progress,
    Proposal,
    Response,
    Thresholds,
    propose_next_step,
    response_label,
)


def decide(**kw):
    base = {"sessions_done": 3, "sessions_planned": 3}
    base.update(kw)
    return propose_next_step(Progress(**base))


class TestDefaults:
    def test_documented_defaults(self):
        t = Thresholds()
        assert (t.min_density_pct, t.response_density_pct) == (5.0, 10.0)
        assert (t.min_global, t.response_global, t.stop_ae_grade) == (1, 2, 3)
        assert t.maintenance_interval_months == 6  # PRP maintenance, REFERENCE.md A.3.2


class TestAdverseEvents:
    def test_related_grade_3_stops(self):
        d = decide(max_ae_grade=3, ae_related=True, density_change_pct=20)
        assert d.proposal is Proposal.STOP_ADVERSE_EVENT

    def test_a_serious_event_below_the_stop_grade_stops(self):
        d = decide(max_ae_grade=2, ae_related=True, ae_serious=("important_medical_event",),
                   density_change_pct=20)  # fmt: skip
        assert d.proposal is Proposal.STOP_ADVERSE_EVENT
        assert d.reasons[0].startswith("Serious adverse event (important medical event)")

    def test_a_grade_2_event_that_is_not_serious_continues_with_caution(self):
        d = decide(sessions_done=1, max_ae_grade=2, ae_related=True)
        assert d.proposal is Proposal.CONTINUE

    def test_an_unknown_seriousness_criterion_is_refused(self):
        with pytest.raises(DecisionInputError) as exc:
            decide(max_ae_grade=2, ae_serious=("bad_hair_day",))
        assert exc.value.field == "ae_serious"

    def test_unknown_relatedness_is_treated_as_related(self):
        d = decide(sessions_done=1, max_ae_grade=4)
        assert d.proposal is Proposal.STOP_ADVERSE_EVENT
        assert "possibly related" in d.reasons[0]

    def test_unrelated_grade_3_does_not_stop_but_is_mentioned(self):
        d = decide(sessions_done=1, max_ae_grade=3, ae_related=False)
        assert d.proposal is Proposal.CONTINUE
        assert any("unrelated" in r for r in d.reasons)

    def test_related_grade_2_continues_with_caution(self):
        d = decide(sessions_done=1, max_ae_grade=2, ae_related=True)
        assert d.proposal is Proposal.CONTINUE
        assert any("caution" in r for r in d.reasons)

    def test_unrelated_higher_grade_event_does_not_hide_a_related_grade_3(self):
        d = decide(max_ae_grade=3, ae_related=True, max_unrelated_ae_grade=4)
        assert d.proposal is Proposal.STOP_ADVERSE_EVENT
        assert d.reasons[0].startswith("Grade 3 adverse event related")

    def test_unrelated_grade_is_noted_for_review_next_to_a_related_grade_2(self):
        d = decide(sessions_done=1, max_ae_grade=2, ae_related=True, max_unrelated_ae_grade=4)
        assert d.proposal is Proposal.CONTINUE
        assert any("Grade 4 adverse event judged unrelated" in r for r in d.reasons)
        assert any("Grade 2 adverse event: continue with caution" in r for r in d.reasons)

    def test_unrelated_grade_above_6_is_refused(self):
        with pytest.raises(DecisionInputError) as err:
            decide(max_unrelated_ae_grade=6)
        assert err.value.field == "max_unrelated_ae_grade"

    def test_clinic_can_stop_at_grade_2(self):
        d = propose_next_step(
            Progress(1, 3, max_ae_grade=2, ae_related=True), Thresholds(stop_ae_grade=2)
        )
        assert d.proposal is Proposal.STOP_ADVERSE_EVENT


class TestCourse:
    def test_mid_course_continues_even_if_worse(self):
        # Early shedding is expected; do not switch after 1 of 3 sessions.
        d = decide(sessions_done=1, density_change_pct=-8, global_assessment=-1)
        assert d.proposal is Proposal.CONTINUE
        assert "1 of 3" in d.reasons[0]

    def test_responder_goes_to_maintenance(self):
        # +12 % ≥ 10 % response threshold
        d = decide(density_change_pct=12)
        assert (d.proposal, d.response) == (Proposal.MAINTENANCE, Response.RESPONDER)
        assert d.maintenance_interval_months == 6

    def test_global_plus_2_is_response_unless_density_fell(self):
        assert decide(global_assessment=2).proposal is Proposal.MAINTENANCE
        assert decide(global_assessment=2, density_change_pct=-3).response is Response.PARTIAL

    @pytest.mark.parametrize(
        "measured",
        [{"density_change_pct": -12.2, "diameter_change_um": -5.6},
         {"density_change_pct": -5}, {"diameter_change_um": -5, "density_change_pct": 1}],
    )  # fmt: skip
    def test_a_measured_loss_is_no_response_whatever_the_global_rating(self, measured):
        """Density -12.2 %, diameter -5.6 µm and global +2 read "partial response, add up
        to 2 sessions", with "≥ 5 %" beside the negative values (review)."""
        d = decide(global_assessment=2, **measured)
        assert d.response is Response.NON_RESPONDER
        assert d.proposal is not Proposal.ADD_SESSIONS
        why = d.reasons[0]
        assert why.startswith("No response (") and "global assessment +2" in why
        assert "fell beyond the measurement-noise floor" in why
        assert "does not outweigh a measured loss" in why and "≥" not in why

    def test_a_loss_within_noise_leaves_the_global_rating_its_say(self):
        assert decide(global_assessment=1, density_change_pct=-4).response is Response.PARTIAL

    def test_partial_response_adds_sessions(self):
        # +7 % is above the 5 % noise floor but below 10 %
        d = decide(density_change_pct=7)
        assert (d.proposal, d.extra_sessions) == (Proposal.ADD_SESSIONS, 2)

    def test_partial_after_one_extra_session_adds_one_more(self):
        d = decide(sessions_done=4, density_change_pct=7)
        assert (d.proposal, d.extra_sessions) == (Proposal.ADD_SESSIONS, 1)

    def test_partial_after_all_extra_sessions_switches(self):
        assert decide(sessions_done=5, density_change_pct=7).proposal is Proposal.SWITCH_OR_COMBINE

    def test_diameter_gain_alone_is_partial(self):
        assert decide(density_change_pct=1, diameter_change_um=6).response is Response.PARTIAL

    def test_non_response_after_planned_course_switches(self):
        d = decide(density_change_pct=2, global_assessment=0)
        assert (d.proposal, d.response) == (Proposal.SWITCH_OR_COMBINE, Response.NON_RESPONDER)

    def test_non_response_after_extended_course_stops(self):
        assert decide(sessions_done=5, density_change_pct=1).proposal is Proposal.STOP_NON_RESPONSE

    def test_no_measurement_at_course_end_is_an_error(self):
        with pytest.raises(DecisionInputError) as err:
            decide()
        assert err.value.field == "density_change_pct"

    def test_boundaries_are_inclusive(self):
        assert decide(density_change_pct=10).response is Response.RESPONDER
        assert decide(density_change_pct=5).response is Response.PARTIAL
        assert decide(density_change_pct=4.99).response is Response.NON_RESPONDER


class TestValidation:
    @pytest.mark.parametrize(
        ("kw", "field"),
        [({"global_assessment": 4}, "global_assessment"), ({"max_ae_grade": 6}, "max_ae_grade"),
         ({"sessions_done": -1}, "sessions_done"), ({"sessions_planned": 0}, "sessions_planned"),
         ({"density_change_pct": -101}, "density_change_pct")],
    )  # fmt: skip
    def test_invalid_progress(self, kw, field):
        with pytest.raises(DecisionInputError) as err:
            decide(**kw)
        assert err.value.field == field

    def test_inconsistent_thresholds(self):
        with pytest.raises(DecisionInputError):
            Thresholds(min_density_pct=12, response_density_pct=10)


@given(
    done=st.integers(0, 8),
    planned=st.integers(1, 6),
    density=st.none() | st.floats(-100, 300),
    dia=st.none() | st.floats(-50, 50),
    glob=st.none() | st.integers(-3, 3),
    grade=st.integers(0, 5),
    related=st.none() | st.booleans(),
)
def test_every_valid_input_gets_one_proposal_with_reasons(done, planned, density, dia, glob,
                                                          grade, related):  # fmt: skip
    p = Progress(done, planned, density, dia, glob, grade, related)
    stops_for_ae = grade >= 3 and related is not False
    unmeasured_end = done >= planned and density is None and dia is None and glob is None
    if unmeasured_end and not stops_for_ae:
        # the only refusal: course complete and nothing measured
        with pytest.raises(DecisionInputError, match="density_change_pct"):
            propose_next_step(p)
        return
    d = propose_next_step(p)
    assert d.reasons
    if stops_for_ae:
        assert d.proposal is Proposal.STOP_ADVERSE_EVENT
    elif done < planned:
        assert d.proposal is Proposal.CONTINUE


class TestTooEarly:
    """Response is judged from MIN_RESPONSE_WEEKS after the first session, never before."""

    def test_the_minimum_follow_up_is_12_weeks(self):
        assert MIN_RESPONSE_WEEKS == 12

    @pytest.mark.parametrize("days", [0, 1, 28, 12 * 7 - 1])
    def test_no_response_class_before_the_minimum_follow_up(self, days):
        # A +1 global assessment on the day of the first session is not a partial response.
        d = decide(sessions_done=0, global_assessment=1, days_since_first_session=days)
        assert d.response is Response.TOO_EARLY and d.proposal is Proposal.CONTINUE
        assert any("Too early to judge response" in r for r in d.reasons)
        assert any("12 weeks" in r for r in d.reasons)

    def test_a_course_finished_before_the_minimum_follow_up_continues_to_the_next_visit(self):
        d = decide(density_change_pct=-8, days_since_first_session=8 * 7)
        assert d.response is Response.TOO_EARLY and d.proposal is Proposal.CONTINUE
        assert "reassess at the first follow-up from week 12" in d.reasons[0]

    def test_the_response_is_judged_from_the_minimum_follow_up(self):
        d = decide(density_change_pct=12, days_since_first_session=12 * 7)
        assert d.response is Response.RESPONDER and d.proposal is Proposal.MAINTENANCE

    def test_an_adverse_event_stops_treatment_even_when_too_early(self):
        d = decide(sessions_done=1, max_ae_grade=3, ae_related=True, days_since_first_session=7)
        assert d.proposal is Proposal.STOP_ADVERSE_EVENT and d.response is Response.TOO_EARLY

    def test_an_unknown_interval_is_not_checked(self):
        assert decide(density_change_pct=12).response is Response.RESPONDER

    @pytest.mark.parametrize("days", [-1, 1.5, True])
    def test_the_interval_must_be_whole_days(self, days):
        with pytest.raises(DecisionInputError, match="days_since_first_session"):
            decide(days_since_first_session=days)


def test_every_response_has_a_label_for_people():
    assert {r.value for r in Response} == set(RESPONSE_LABELS)
    assert response_label("partial") == "Partial response"
    assert response_label("too_early") == "Too early to judge"
    assert response_label("not_assessed") == "Not assessed (no measurement)"


class TestTreatmentsNotGivenInSessions:
    """Daily minoxidil (or a transplant) got "maintenance every 6 months" and "add sessions"."""

    def test_a_responder_continues_the_treatment_with_no_interval(self):
        d = decide(sessions_done=1, sessions_planned=1, density_change_pct=12.0,
                   repeated_sessions=False)  # fmt: skip
        assert d.proposal is Proposal.CONTINUE and d.response is Response.RESPONDER
        assert d.maintenance_interval_months is None
        assert not any("maintenance" in r for r in d.reasons)

    @pytest.mark.parametrize(("change", "response"), [(6.0, Response.PARTIAL),
                                                      (0.0, Response.NON_RESPONDER)])  # fmt: skip
    def test_otherwise_switch_or_combine_never_add_sessions(self, change, response):
        d = decide(sessions_done=1, sessions_planned=1, density_change_pct=change,
                   repeated_sessions=False)  # fmt: skip
        assert (d.proposal, d.response) == (Proposal.SWITCH_OR_COMBINE, response)
        assert d.extra_sessions == 0

    def test_a_serious_related_event_still_stops_it(self):
        d = decide(sessions_done=1, sessions_planned=1, density_change_pct=12.0,
                   max_ae_grade=3, ae_related=True, repeated_sessions=False)  # fmt: skip
        assert d.proposal is Proposal.STOP_ADVERSE_EVENT

    def test_injection_courses_keep_the_maintenance_interval(self):
        d = decide(density_change_pct=12.0)
        assert d.proposal is Proposal.MAINTENANCE and d.maintenance_interval_months == 6
