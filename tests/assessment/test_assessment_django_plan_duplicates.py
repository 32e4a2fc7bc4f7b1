"""A second active plan of the same modality for one patient is refused (a double
submission, or a second clinician); plans of other modalities run together, and a
cancelled plan, a completed course or another patient's plan does not count."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from anagen.accounts.roles import Role
from anagen.assessment import services
from anagen.assessment.models import TreatmentPlan
from anagen.assessment.services import AssessmentError
from anagen.treatments import services as treatments

from ..html import duplicate_ids
from ..monitoring._course import course, record_sessions

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture
def second_clinician(clinic_a, make_user):
    return make_user(Role.CLINICIAN, clinic_a, username="second-clinician")


def ready(patient, user):
    services.record_history(patient, user, {})
    services.record_exam(patient, user, {"norwood_hamilton": "III"})
    services.record_diagnosis(patient, user, {"condition": "aga_male"})


@pytest.fixture
def man(clinic_a, clinician, make_patient):
    patient = make_patient(
        clinic_a, clinician, given_name="Adam", family_name="Stone",
        sex_at_birth="male", date_of_birth=date(1980, 1, 1),
    )  # fmt: skip
    ready(patient, clinician)
    return patient


def refusal(patient, user, data) -> list[str]:
    with pytest.raises(AssessmentError) as err:
        services.accept_plan(patient, user, data)
    return err.value.errors["proposal_key"]


def on(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


def test_a_second_exosome_plan_is_refused_naming_the_existing_one(man, clinician, second_clinician):
    start = TODAY + timedelta(days=3)
    services.accept_plan(man, clinician, {"proposal_key": "exosome", "start_on": start})
    (message,) = refusal(man, second_clinician, {"proposal_key": "exosome"})
    assert message == (
        "This patient already has an active exosome / EV injections plan (\u201cExosome / EV "
        f"injections (investigational)\u201d, starting {on(start)}); cancel that plan first "
        "(with a reason) or change it, rather than accept a second one."
    )
    assert TreatmentPlan.objects.filter(patient=man).count() == 1


def test_a_second_plan_without_a_procedure_is_refused_too(man, clinician):
    """Finasteride (no modality) could be accepted twice: two active prescriptions."""
    services.accept_plan(man, clinician, {"proposal_key": "finasteride"})
    (message,) = refusal(man, clinician, {"proposal_key": "finasteride"})
    assert message.startswith("This patient already has this plan, active (\u201cOral finasteride")
    assert TreatmentPlan.objects.filter(patient=man).count() == 1
    services.accept_plan(man, clinician, {"proposal_key": "minoxidil"})  # others run beside it


def test_the_date_reads_started_or_accepted(man, clinician):
    services.accept_plan(man, clinician, {"proposal_key": "minoxidil", "start_on": TODAY})
    assert f"started {on(TODAY)}" in refusal(man, clinician, {"proposal_key": "minoxidil"})[0]
    TreatmentPlan.objects.update(start_on=None)
    assert f"accepted {on(TODAY)}" in refusal(man, clinician, {"proposal_key": "minoxidil"})[0]


def test_a_combination_sharing_a_modality_is_refused(man, clinician):
    services.accept_plan(man, clinician, {"proposal_key": "minoxidil"})
    (message,) = refusal(man, clinician, {"proposal_key": "prp_minoxidil"})
    assert "active topical minoxidil plan" in message


def test_plans_of_other_modalities_run_together(man, clinician):
    services.accept_plan(man, clinician, {"proposal_key": "exosome"})
    services.accept_plan(man, clinician, {"proposal_key": "minoxidil"})  # exosome + minoxidil
    assert TreatmentPlan.objects.filter(patient=man, status="active").count() == 2


def test_prp_with_minoxidil_is_one_plan_not_a_duplicate(man, clinician):
    plan = services.accept_plan(man, clinician, {"proposal_key": "prp_minoxidil"})
    assert plan.modalities == ["prp", "minoxidil"]
    assert "minoxidil" in refusal(man, clinician, {"proposal_key": "minoxidil"})[0]


def test_a_cancelled_plan_does_not_count(man, clinician):
    plan = services.accept_plan(man, clinician, {"proposal_key": "exosome"})
    services.cancel_plan(plan, clinician, "Entered twice by mistake; replaced.")
    again = services.accept_plan(man, clinician, {"proposal_key": "exosome"})
    assert again.pk != plan.pk and again.is_active


def test_another_patients_plan_does_not_count(man, clinician, clinic_a, make_patient):
    services.accept_plan(man, clinician, {"proposal_key": "exosome"})
    other = make_patient(clinic_a, clinician, sex_at_birth="male", date_of_birth=date(1975, 5, 5))
    ready(other, clinician)
    assert services.accept_plan(other, clinician, {"proposal_key": "exosome"}).pk


def test_it_is_checked_again_inside_the_transaction(man, clinician, monkeypatch):
    """Two posts that both pass the first check: the second to commit is refused."""
    clean = services._clean_plan_fields
    raced = []

    def other_request_commits_in_between(data, errors):
        if not raced:
            raced.append(True)
            services.accept_plan(man, clinician, {"proposal_key": "exosome"})
        return clean(data, errors)

    monkeypatch.setattr(services, "_clean_plan_fields", other_request_commits_in_between)
    (message,) = refusal(man, clinician, {"proposal_key": "exosome"})
    assert message.startswith("This patient already has an active exosome / EV injections plan")
    assert TreatmentPlan.objects.filter(patient=man).count() == 1


def test_the_consultation_page_shows_the_refusal(client, man, clinician):
    services.accept_plan(man, clinician, {"proposal_key": "exosome"})
    client.force_login(clinician)
    r = client.post(f"/consultation/{man.pk}/plans/", {"proposal_key": "exosome"})
    assert r.status_code == 400
    page = r.content.decode()
    form = page.split('id="proposal-exosome"')[1].split("</article>")[0]
    assert "This patient already has an active exosome / EV injections plan" in form
    assert TreatmentPlan.objects.filter(patient=man).count() == 1


class TestACompletedCourse:
    """A course whose planned sessions have all been given no longer blocks a new plan of its
    modality: a second course a year later is a new plan, not a cancellation."""

    @pytest.fixture
    def treated(self, clinic_a, clinician, make_patient):
        patient = make_patient(
            clinic_a, clinician, given_name="Ben", family_name="Ash",
            sex_at_birth="male", date_of_birth=date(1975, 5, 5),
        )  # fmt: skip
        first = TODAY - timedelta(weeks=40)
        plan, lot, sessions = course(patient, clinician, first=first, sessions=2)
        TreatmentPlan.objects.filter(pk=plan.pk).update(sessions_planned=3)  # one still to give
        return patient, plan, lot, first

    def test_a_course_with_sessions_still_to_give_blocks_a_new_plan(self, treated, clinician):
        patient, plan, _, _ = treated
        (message,) = refusal(patient, clinician, {"proposal_key": "exosome"})
        assert message.startswith("This patient already has an active exosome / EV injections")

    def test_a_course_whose_planned_sessions_were_all_given_does_not(self, treated, clinician):
        patient, plan, lot, first = treated
        record_sessions(plan, clinician, lot, [first + timedelta(weeks=8)])
        again = services.accept_plan(patient, clinician, {"proposal_key": "exosome"})
        assert again.pk != plan.pk and again.is_active

    def test_a_voided_session_does_not_complete_the_course(self, treated, clinician):
        patient, plan, lot, first = treated
        (last,) = record_sessions(plan, clinician, lot, [first + timedelta(weeks=8)])
        treatments.void_session(last, clinician, "Recorded on the wrong patient.")
        assert refusal(patient, clinician, {"proposal_key": "exosome"})

    def test_a_second_entry_on_a_session_day_does_not_complete_the_course(
        self, client, treated, clinician
    ):
        # Three records on two days read "3 given (course complete)".
        patient, plan, lot, first = treated
        record_sessions(plan, clinician, lot, [first], confirm_same_day=True)
        assert refusal(patient, clinician, {"proposal_key": "exosome"})
        client.force_login(clinician)
        page = client.get(f"/consultation/{patient.pk}/").content.decode()
        card = page.split(f'id="plan-{plan.pk}"')[1]
        assert "2 given" in card and "course complete" not in card

    def test_the_page_shows_the_finished_course_beside_the_new_one(
        self, client, treated, clinician
    ):
        patient, plan, lot, first = treated
        record_sessions(plan, clinician, lot, [first + timedelta(weeks=8)])
        services.accept_plan(patient, clinician, {"proposal_key": "exosome"})
        client.force_login(clinician)
        page = client.get(f"/consultation/{patient.pk}/").content.decode()
        older = page.split(f'id="plan-{plan.pk}"')[1].split("</div>\n  \n")[0]
        assert "Also active: Exosome" in older
        assert "3 given (course complete)" in older


# --- every active plan on the consultation page ------------------------------------------------


@pytest.fixture
def two_plans(man, clinician):
    """An exosome course and, accepted later, a minoxidil prescription: both active."""
    exosome = services.accept_plan(man, clinician, {"proposal_key": "exosome"})
    minoxidil = services.accept_plan(man, clinician, {"proposal_key": "minoxidil"})
    return exosome, minoxidil


def test_the_page_shows_each_active_plan_with_its_own_controls(client, man, clinician, two_plans):
    exosome, minoxidil = two_plans
    client.force_login(clinician)
    page = client.get(f"/consultation/{man.pk}/").content.decode()
    assert duplicate_ids(page) == []
    assert f'id="plan-{minoxidil.pk}"' in page and f'id="plan-{exosome.pk}"' in page
    assert page.index(f'id="plan-{minoxidil.pk}"') < page.index(f'id="plan-{exosome.pk}"')
    for plan in two_plans:
        assert f'action="/consultation/{man.pk}/plans/{plan.pk}/cancel/"' in page
        assert f'action="/consultation/{man.pk}/plans/{plan.pk}/consent/"' in page
    assert f'id="consent-{exosome.pk}-exosome"' in page
    assert f'id="consent-{minoxidil.pk}-minoxidil"' in page


def test_the_older_plan_can_be_consented_and_cancelled_from_the_page(
    client, man, clinician, two_plans
):
    exosome, minoxidil = two_plans
    client.force_login(clinician)
    r = client.post(
        f"/consultation/{man.pk}/plans/{exosome.pk}/consent/",
        {"modality": "exosome", "signed_name": "Adam Stone", "signed_on": TODAY},
    )
    assert r.status_code == 302
    assert services.has_valid_consent(exosome, "exosome", TODAY)
    r = client.post(f"/consultation/{man.pk}/plans/{exosome.pk}/cancel/", {"reason": "x"})
    assert r.status_code == 400  # too short a reason: refused on that plan's own form
    form = r.content.decode().split(f'id="plan-{exosome.pk}"')[1].split("</details>\n  </div>")[0]
    assert 'class="error"' in form
    r = client.post(
        f"/consultation/{man.pk}/plans/{exosome.pk}/cancel/",
        {"reason": "Patient chose to stop the injections."},
    )
    assert r.status_code == 302
    exosome.refresh_from_db()
    minoxidil.refresh_from_db()
    assert exosome.status == "cancelled" and minoxidil.is_active


def test_consent_is_done_only_when_every_active_plan_is_consented(man, clinician, two_plans):
    from anagen.assessment import selectors

    exosome, minoxidil = two_plans
    services.record_consent(minoxidil, clinician, modality="minoxidil", signed_name="Adam Stone",
                            signed_on=TODAY)  # fmt: skip
    c = selectors.consultation(man)
    assert [card.plan for card in c.plans] == [minoxidil, exosome]
    assert not {s.key: s for s in c.steps}["consent"].done
    services.record_consent(exosome, clinician, modality="exosome", signed_name="Adam Stone",
                            signed_on=TODAY)  # fmt: skip
    assert {s.key: s for s in selectors.consultation(man).steps}["consent"].done


def test_the_api_lists_every_active_plan(client, man, clinician, two_plans, api_token, clinic_a):
    exosome, minoxidil = two_plans
    body = client.get(
        f"/api/v1/consultation/{man.pk}",
        headers={"Authorization": f"Bearer {api_token(clinician, clinic_a)}"},
    ).json()
    assert [p["id"] for p in body["plans"]] == [minoxidil.pk, exosome.pk]
    assert body["plan"]["id"] == minoxidil.pk


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("sessions_planned", 25, "A whole number of sessions, 1–24."),
        ("interval_weeks", 0.25, "Weeks between sessions, 0.5 to 52."),
        ("interval_weeks", 60, "Weeks between sessions, 0.5 to 52."),
    ],
)
def test_a_plan_is_held_to_the_limits_the_schedule_can_hold(man, clinician, field, value, says):
    with pytest.raises(AssessmentError) as err:
        services.accept_plan(man, clinician, {"proposal_key": "exosome", field: value})
    assert err.value.errors[field] == [says]


def test_the_exam_offers_every_scale_stage_in_full(client, man, clinician):
    # Norwood–Hamilton II read "…recession stopping ≥2": the text was cut at 60 characters.
    from anagen.assessment import scales

    client.force_login(clinician)
    page = client.get(f"/consultation/{man.pk}/").content.decode()
    for key, text in (*scales.NORWOOD_HAMILTON.items(), *scales.LUDWIG.items()):
        assert f"{key} — {text}".replace("'", "&#x27;") in page
