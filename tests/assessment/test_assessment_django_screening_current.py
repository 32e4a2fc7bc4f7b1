"""A screening stands while it screened the newest history under rules that still give its
result. A clinic rule made stricter afterwards (a keloid WARN for PRP raised to BLOCK) makes
it stale at once: plans are not proposed and sessions not started until it is run again. A
rule change that alters nothing for the patient keeps it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from anagen.assessment import selectors, services
from anagen.treatments.services import pre_session_checklist

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def screened(patient, user, **answers):
    services.record_history(patient, user, answers)
    services.record_exam(patient, user, {"norwood_hamilton": "III"})
    services.record_diagnosis(patient, user, {"condition": "aga_male"})
    return selectors.latest_screening(patient)


def raise_keloid_to_block(clinic, user):
    return services.add_rule_override(
        clinic, user, "PRP-KELOID", "set_outcome", "BLOCK", "Our PRP protocol excludes keloids."
    )


def test_a_stricter_rule_that_changes_the_result_makes_the_screening_stale(man, clinician):
    scr = screened(man, clinician, keloid=True)
    assert scr.outcome("prp") == "WARN" and services.screening_is_current(man, scr)
    raise_keloid_to_block(man.clinic, clinician)
    assert services.screening_staleness(man, scr) == services.RULES_CHANGED
    found, missing = services.proposals(man)
    assert found == [] and missing == [services.RULES_CHANGED]


def test_screening_again_under_the_new_rule_makes_it_current_with_the_new_outcome(man, clinician):
    screened(man, clinician, keloid=True)
    raise_keloid_to_block(man.clinic, clinician)
    again = services.run_screening(man, clinician)
    assert again.outcome("prp") == "BLOCK" and services.screening_is_current(man, again)


def _session_screening_item(plan):
    return next(i for i in pre_session_checklist(plan, "prp", TODAY).items if i.key == "screening")


def test_the_session_checklist_holds_for_exam_signs_the_screening_lacks(man, clinician):
    """Every reason the consultation holds a plan for holds the session too: infection signs
    at a later exam let a PRP session go ahead while proposals were held (review)."""
    screened(man, clinician)
    plan = services.accept_plan(man, clinician, {"proposal_key": "prp_minoxidil"})
    assert _session_screening_item(plan).ok
    services.record_exam(man, clinician, {"norwood_hamilton": "III",
                                          "trichoscopy_signs": ["pustules"]})  # fmt: skip
    why = services.screening_staleness(man, selectors.latest_screening(man))
    item = _session_screening_item(plan)
    assert not item.ok and item.blocking
    assert item.message == f"Screening on {TODAY}: {why}"


def test_the_session_checklist_holds_for_answers_more_than_a_year_old(man, clinician, monkeypatch):
    from datetime import timedelta

    screened(man, clinician)
    plan = services.accept_plan(man, clinician, {"proposal_key": "prp_minoxidil"})
    later = TODAY + timedelta(days=services.MAX_HISTORY_AGE_DAYS + 1)
    monkeypatch.setattr(services, "_today", lambda: later)
    item = next(i for i in pre_session_checklist(plan, "prp", later).items if i.key == "screening")
    assert not item.ok
    assert f"The answers were given on {TODAY.isoformat()}, more than a year ago" in item.message


def test_the_session_checklist_does_not_ask_to_override_a_locked_block(woman, clinician):
    """A pregnancy recorded after the plan BLOCKs the session; the lock cannot be overridden,
    so the checklist says so instead of asking a clinician to override in writing."""
    screened(woman, clinician, pregnant=False, lactating=False)
    plan = services.accept_plan(woman, clinician, {"proposal_key": "prp_minoxidil"})
    services.record_history(woman, clinician, {"pregnant": True, "lactating": False})
    item = _session_screening_item(plan)
    assert not item.ok
    assert item.message == (
        f"Screening on {TODAY} BLOCKS platelet-rich plasma (PRP-PREGNANCY); locked rule "
        "PRP-PREGNANCY cannot be overridden: no session while it holds."
    )


def test_a_rule_change_that_alters_nothing_for_this_patient_keeps_the_screening(man, clinician):
    scr = screened(man, clinician, keloid=False)
    raise_keloid_to_block(man.clinic, clinician)
    assert services.screening_staleness(man, scr) is None
    assert services.proposals(man)[1] == []


def test_retiring_a_rule_change_that_mattered_makes_the_screening_stale_too(man, clinician):
    override = raise_keloid_to_block(man.clinic, clinician)
    scr = screened(man, clinician, keloid=True)
    assert scr.outcome("prp") == "BLOCK" and services.screening_is_current(man, scr)
    services.retire_rule_override(override, clinician, "Back to the published rule.")
    assert services.screening_staleness(man, scr) == services.RULES_CHANGED


def test_a_session_waits_for_the_new_screening(man, clinician):
    screened(man, clinician, keloid=True)
    plan = services.accept_plan(man, clinician, {"proposal_key": "prp_minoxidil"})
    services.record_consent(plan, clinician, modality="prp", signed_name="Adam Stone",
                            signed_on=TODAY)  # fmt: skip
    item = next(i for i in pre_session_checklist(plan, "prp", TODAY).items if i.key == "screening")
    assert item.ok
    raise_keloid_to_block(man.clinic, clinician)
    # The pre-session checklist holds the session (it went on under the WARN it screened to).
    checklist = pre_session_checklist(plan, "prp", TODAY)
    item = next(i for i in checklist.items if i.key == "screening")
    assert not item.ok and checklist.blocked
    assert item.message == f"Screening on {TODAY}: {services.RULES_CHANGED}"
    services.run_screening(man, clinician)
    item = next(i for i in pre_session_checklist(plan, "prp", TODAY).items if i.key == "screening")
    assert not item.ok and "BLOCKS platelet-rich plasma" in item.message


def test_the_consultation_page_says_the_rules_changed(client, man, clinician):
    screened(man, clinician, keloid=True)
    raise_keloid_to_block(man.clinic, clinician)
    client.force_login(clinician)
    page = client.get(f"/consultation/{man.pk}/").content.decode()
    assert "rules changed after the last screening and now give a different result" in page


def test_a_corrected_date_of_birth_that_makes_the_patient_a_minor_makes_it_stale(man, clinician):
    from datetime import date

    from anagen.patients.services import update_patient

    scr = screened(man, clinician)
    assert scr.outcome("exosome") != "BLOCK"
    update_patient(man, clinician, {"date_of_birth": date(TODAY.year - 15, 1, 1)})
    man.refresh_from_db()
    assert services.screening_staleness(man, scr) == services.PATIENT_CHANGED
    again = services.run_screening(man, clinician)
    assert again.outcome("exosome") == "BLOCK" and services.screening_is_current(man, again)


def test_a_screening_under_a_clinic_override_stays_current_while_nothing_changes(man, clinician):
    """The stored version then reads "2026.12-4+1ov"; it is still the same rules."""
    raise_keloid_to_block(man.clinic, clinician)
    scr = screened(man, clinician, keloid=True)
    assert scr.ruleset_version.endswith("+1ov")
    assert services.screening_staleness(man, scr) is None


def test_a_plan_whose_treatment_a_later_screening_blocks_says_so_on_its_card(
    client, woman, clinician
):
    services.record_history(woman, clinician, {})
    services.record_exam(woman, clinician, {"ludwig": "II"})
    services.record_diagnosis(woman, clinician, {"condition": "aga_female"})
    plan = services.accept_plan(woman, clinician, {"proposal_key": "minoxidil"})
    client.force_login(clinician)
    page = client.get(f"/consultation/{woman.pk}/").content.decode()
    assert "plan-blocked" not in page
    services.record_history(woman, clinician, {"pregnant": True})  # screened at once
    page = client.get(f"/consultation/{woman.pk}/").content.decode()
    card = page.split(f'id="plan-{plan.pk}"')[1].split("</dl>")[0]
    assert "The latest screening BLOCKs Topical minoxidil for this patient" in card


def test_answers_cannot_be_dated_before_a_drug_they_list_began_or_a_treatment_they_list(
    man, clinician
):
    """Dated June, listing an anticoagulant begun in November, the answers screened PRP as
    OK: as of June the drug was only planned (review)."""
    from datetime import timedelta

    june = TODAY - timedelta(days=180)
    begun = TODAY - timedelta(days=17)
    answers = {"recorded_on": june, "medications": [
        {"drug_class": "anticoagulant", "name": "Rivaroxaban", "start": begun}]}  # fmt: skip
    with pytest.raises(services.AssessmentError) as exc:
        services.record_history(man, clinician, answers)
    assert "after the day these answers were given" in exc.value.errors["medications[0].start"][0]
    prior = {"recorded_on": june, "prior_treatments": [{"modality": "prp", "on": begun}]}
    with pytest.raises(services.AssessmentError) as exc:
        services.record_history(man, clinician, prior)
    assert "prior_treatments[0].on" in exc.value.errors
    # Dated on the day the drug began, the same answers block PRP.
    scr = screened(man, clinician, **{**answers, "recorded_on": begun})
    assert scr.outcome("prp") == "BLOCK"


def test_answers_more_than_a_year_old_no_longer_screen_the_patient(man, clinician, monkeypatch):
    from datetime import timedelta

    scr = screened(man, clinician)
    assert services.screening_is_current(man, scr)
    later = TODAY + timedelta(days=services.MAX_HISTORY_AGE_DAYS + 1)
    monkeypatch.setattr(services, "_today", lambda: later)
    why = services.screening_staleness(man, scr)
    assert why.startswith(f"The answers were given on {TODAY.isoformat()}, more than a year")
    found, missing = services.proposals(man)
    assert found == [] and missing == [why]


def test_signs_of_infection_or_scarring_at_the_exam_must_reach_the_screening(man, clinician):
    """Pustules and lost follicular openings found at the exam left every proposal OK: the
    screening reads only the questionnaire (review). REFERENCE A.3.1: pus or scarring →
    REFER."""
    scr = screened(man, clinician)
    services.record_exam(
        man, clinician, {"norwood_hamilton": "III",
                         "trichoscopy_signs": ["pustules", "absent_follicular_openings"]},
    )  # fmt: skip
    why = services.screening_staleness(man, scr)
    assert why.startswith(f"The scalp exam of {TODAY.isoformat()} found loss of follicular ")
    assert "follicular pustules" in why
    assert "record scarring and pus among the history's scalp conditions" in why
    found, missing = services.proposals(man)
    assert found == [] and missing == [why]
    services.record_history(man, clinician, {"scalp_conditions": ["pus", "scarring"]})
    again = selectors.latest_screening(man)
    assert services.screening_is_current(man, again)
    assert again.outcome("prp") == "REFER" and again.outcome("exosome") == "REFER"


def test_an_unknown_prior_treatment_is_named_in_words(man, clinician):
    bad = {"prior_treatments": [{"modality": "laser", "on": TODAY}]}
    with pytest.raises(services.AssessmentError) as exc:
        services.record_history(man, clinician, bad)
    (message,) = exc.value.errors["prior_treatments"]
    assert (
        message.startswith("unknown treatment 'laser'; one of: ")
        and "PriorTreatment(" not in message
    )


def test_a_condition_code_given_twice_is_stored_once(man, clinician):
    services.record_history(man, clinician, {"conditions": ["sepsis", "sepsis"],
                                             "scalp_conditions": ["pus", "pus"]})  # fmt: skip
    history = selectors.latest_history(man)
    assert history.conditions == ["sepsis"] and history.scalp_conditions == ["pus"]
