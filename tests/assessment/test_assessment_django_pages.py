"""The consultation pages: the whole flow by plain form posts, htmx partials, field
errors with status 400, permissions, and the panel on the patient page."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape

import pytest
from django.utils import timezone

from anagen.accounts.models import AccessLog
from anagen.accounts.roles import Role
from anagen.assessment import selectors, services
from anagen.assessment.models import (
    Consent,
    Diagnosis,
    MedicalHistory,
    ScalpExam,
    Screening,
    ScreeningOverride,
    ScreeningRuleOverride,
    TreatmentPlan,
)

from ..html import dangling_references, duplicate_ids

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate().isoformat()


@pytest.fixture
def patient(clinic_a, clinician, make_patient):
    return make_patient(
        clinic_a, clinician, given_name="Adam", family_name="Stone",
        sex_at_birth="male", date_of_birth=date(1980, 1, 1),
    )  # fmt: skip


def url(patient, tail=""):
    return f"/consultation/{patient.pk}/{tail}"


HISTORY = {"recorded_on": TODAY, "malignancy": "none"}


def test_full_flow_by_plain_form_posts(client, clinician, patient):
    client.force_login(clinician)
    page = client.get(url(patient))
    assert page.status_code == 200
    assert AccessLog.objects.filter(patient=patient, user=clinician).exists()

    r = client.post(
        url(patient, "history/"),
        {**HISTORY, "med_finasteride": "on", "med_finasteride_name": "Propecia",
         "med_finasteride_start": "2024-01-01", "allergies": "latex\nnickel"},
    )  # fmt: skip
    assert r.status_code == 302 and r["Location"].endswith("#step-screening")
    history = MedicalHistory.objects.get(patient=patient)
    assert history.medications[0]["drug_class"] == "finasteride"
    assert history.allergies == ["latex", "nickel"]
    assert Screening.objects.get(patient=patient).outcome("exosome") == "OK"

    r = client.post(url(patient, "exam/"), {"examined_on": TODAY, "norwood_hamilton": "III"})
    assert r.status_code == 302
    r = client.post(url(patient, "diagnosis/"), {"diagnosed_on": TODAY, "condition": "aga_male"})
    assert r.status_code == 302
    page = client.get(url(patient)).content.decode()
    assert "Accept: Exosome / EV injections (investigational)" in page
    # A daily topical has no sessions to count: its proposal asks only when it starts.
    minoxidil = page.split('id="proposal-minoxidil"')[1].split("</article>")[0]
    assert 'name="start_on"' in minoxidil and 'name="sessions_planned"' not in minoxidil
    exosome = page.split('id="proposal-exosome"')[1].split("</article>")[0]
    assert 'name="sessions_planned"' in exosome and 'name="interval_weeks"' in exosome
    assert duplicate_ids(page) == []  # the history and diagnosis forms both have "notes"
    assert dangling_references(page) == []  # e.g. a checkbox group's label, a hidden help
    assert "Investigational — not approved" in page

    r = client.post(url(patient, "plans/"), {"proposal_key": "exosome", "sessions_planned": 4})
    assert r.status_code == 302
    plan = TreatmentPlan.objects.get(patient=patient)
    assert plan.sessions_planned == 4
    page = client.get(url(patient)).content.decode()
    assert "Consent to exosome / EV injections" in page  # the abbreviation keeps its case
    assert "Edit the plan" in page  # nobody has consented yet

    r = client.post(
        url(patient, f"plans/{plan.pk}/consent/"),
        {"modality": "exosome", "signed_name": "Adam Stone", "signed_on": TODAY},
    )
    assert r.status_code == 302
    assert services.has_valid_consent(plan, "exosome", timezone.localdate())
    page = client.get(url(patient)).content.decode()
    assert "Signed by <strong>Adam Stone</strong>" in page
    assert duplicate_ids(page) == []
    # A consented plan is not offered for editing (the service would refuse the change).
    assert "Edit the plan" not in page
    assert "plan-consented-note" in page


def test_htmx_post_answers_with_the_flow_partial(client, clinician, patient):
    client.force_login(clinician)
    r = client.post(url(patient, "history/"), HISTORY, headers={"HX-Request": "true"})
    assert r.status_code == 200
    body = r.content.decode()
    assert body.lstrip().startswith('<div id="consultation-flow"') and "<html" not in body
    r = client.post(
        url(patient, "exam/"),
        {"examined_on": TODAY, "salt_top": "150", "salt_posterior": "0", "salt_right": "0",
         "salt_left": "0"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert r.status_code == 400
    assert 'id="id_salt_top_error"' in r.content.decode()
    assert not ScalpExam.objects.exists()


@pytest.mark.parametrize(
    ("step", "data", "error_id"),
    [
        ("exam/", {"examined_on": TODAY, "salt_top": "101", "salt_posterior": "0",
                   "salt_right": "0", "salt_left": "0"}, "id_salt_top_error"),
        ("exam/", {"examined_on": TODAY, "pull_hairs_pulled": "50", "pull_hairs_out": "-2"},
         "id_pull_hairs_out_error"),
        ("exam/", {"examined_on": TODAY, "ludwig": "II"}, "id_ludwig_error"),
        ("history/", {**HISTORY, "med_nsaid": "on", "med_nsaid_start": "2025-03-01",
                      "med_nsaid_stop": "2025-02-01"}, "id_med_nsaid_stop_error"),
        ("history/", {**HISTORY, "med_nsaid_name": "ibuprofen"}, "id_med_nsaid_error"),
        # Two errors on one field (a NUL, and too long): still one error element.
        ("history/", {**HISTORY, "med_nsaid": "on", "med_nsaid_name": "\x00" + "x" * 300},
         "id_med_nsaid_name_error"),
        # A control character in one treatment's details: an error on that box.
        ("history/", {**HISTORY, "prior_prp_on": "2025-06-01", "prior_prp_notes": "3\u202e"},
         "id_prior_prp_notes_error"),
        ("history/", {**HISTORY, "platelet_count_10e9_per_l": "-1"},
         "id_platelet_count_10e9_per_l_error"),
        ("diagnosis/", {"diagnosed_on": TODAY, "condition": "aga_male", "stage": "XIV"},
         "id_diagnosis_stage_error"),
    ],
)  # fmt: skip
def test_bad_input_is_a_field_error_with_400_and_stores_nothing(
    client, clinician, patient, step, data, error_id
):
    client.force_login(clinician)
    r = client.post(url(patient, step), data)
    assert r.status_code == 400
    assert f'id="{error_id}"' in r.content.decode()
    assert dangling_references(r.content.decode()) == []
    assert duplicate_ids(r.content.decode()) == []
    assert not ScalpExam.objects.exists() and not Diagnosis.objects.exists()
    assert not MedicalHistory.objects.exists()


def test_a_woman_may_be_staged_on_ludwig(client, clinician, clinic_a, make_patient):
    woman = make_patient(clinic_a, clinician, sex_at_birth="female")
    client.force_login(clinician)
    r = client.post(url(woman, "exam/"), {"examined_on": TODAY, "ludwig": "II", "sinclair": "3"})
    assert r.status_code == 302
    assert ScalpExam.objects.get().ludwig == "II"
    page = client.get(url(woman, ""))
    assert page.context["diagnosis_form"].initial["condition"] == "aga_female"
    r = client.post(
        url(woman, "diagnosis/"),
        {"diagnosed_on": TODAY, "condition": "aga_female", "stage": "Ludwig II"},
    )
    assert r.status_code == 302
    assert Diagnosis.objects.get().stage == "II"  # stored as the scale's code


def test_block_case_refuses_the_plan_until_overridden_with_a_reason(
    client, clinician, clinic_a, make_patient
):
    woman = make_patient(
        clinic_a, clinician, given_name="Eva", family_name="Berg", sex_at_birth="female"
    )
    client.force_login(clinician)
    client.post(url(woman, "history/"), {**HISTORY, "pregnant": "yes", "lactating": "no"})
    client.post(url(woman, "exam/"), {"examined_on": TODAY, "ludwig": "I"})
    client.post(url(woman, "diagnosis/"), {"diagnosed_on": TODAY, "condition": "aga_female"})
    page = client.get(url(woman)).content.decode()
    assert 'data-outcome="BLOCK"' in page and "EXO-PREGNANCY" in page
    assert "Blocked by screening: Exosome / EV injections" in page  # words, not the code

    r = client.post(url(woman, "plans/"), {"proposal_key": "exosome"})
    assert r.status_code == 400 and "Screening BLOCKs exosome" in r.content.decode()
    assert not TreatmentPlan.objects.exists()

    r = client.post(url(woman, "screening/override/"), {"modality": "exosome", "reason": "no"})
    assert r.status_code == 400 and 'id="id_reason_error"' in r.content.decode()
    assert not ScreeningOverride.objects.exists()

    # Pregnancy is a locked BLOCK: the form says so next to the treatment and stores nothing.
    r = client.post(
        url(woman, "screening/override/"),
        {"modality": "exosome", "reason": "Patient asks to go ahead; discussed the risks."},
    )
    page = unescape(r.content.decode())
    assert r.status_code == 400 and 'id="id_modality_error"' in page
    assert "comes from locked rule EXO-PREGNANCY, which no override may lift" in page
    assert not ScreeningOverride.objects.exists()
    page = unescape(client.get(url(woman)).content.decode())
    assert "A locked rule BLOCKs Exosome / EV injections: no override can lift it." in page


def test_roles_without_the_permission_get_403_and_nothing_is_stored(
    client, clinic_a, make_user, patient
):
    nurse = make_user(Role.NURSE, clinic_a)
    client.force_login(nurse)
    assert client.get(url(patient)).status_code == 200
    r = client.post(url(patient, "diagnosis/"), {"diagnosed_on": TODAY, "condition": "aga_male"})
    assert r.status_code == 403 and not Diagnosis.objects.exists()
    page = client.get(url(patient)).content.decode()
    assert f'action="{url(patient, "diagnosis/")}"' not in page  # the form is not offered
    assert f'action="{url(patient, "exam/")}"' in page  # nurses do examine


def test_nested_objects_of_another_patient_are_404(client, clinician, clinic_a, make_patient):
    first = make_patient(clinic_a, clinician, given_name="Adam", family_name="Stone",
                         sex_at_birth="male")  # fmt: skip
    other = make_patient(clinic_a, clinician, sex_at_birth="male")
    services.record_history(first, clinician, {})
    services.record_exam(first, clinician, {"norwood_hamilton": "III"})
    services.record_diagnosis(first, clinician, {"condition": "aga_male"})
    plan = services.accept_plan(first, clinician, {"proposal_key": "minoxidil"})
    client.force_login(clinician)
    r = client.post(
        url(other, f"plans/{plan.pk}/consent/"),
        {"modality": "minoxidil", "signed_name": "Adam Stone", "signed_on": TODAY},
    )
    assert r.status_code == 404 and not Consent.objects.exists()


def test_history_versions_page_shows_every_version_with_dates(client, clinician, patient):
    services.record_history(patient, clinician, {"keloid": False})
    services.record_history(patient, clinician, {"keloid": True})
    client.force_login(clinician)
    page = client.get(url(patient, "history/versions/")).content.decode()
    assert "Version 2" in page and "Version 1" in page


def test_history_versions_read_as_the_form_asks_not_as_stored(client, clinician, patient):
    """The versions page once showed ``[]``, ``False`` and "platelet count 10e9 per l"."""
    services.record_history(
        patient,
        clinician,
        {
            "medications": [{"drug_class": "minoxidil", "name": "Regaine"}],
            "conditions": ["liver_disease"],
            "platelet_count_10e9_per_l": 210,
            "pregnant": False,
        },
    )
    client.force_login(clinician)
    page = client.get(url(patient, "history/versions/")).content.decode()
    rows = dict(re.findall(r"<tr><td>([^<]+)</td><td>([^<]*)</td>", page))
    assert rows["Medications"] == "Minoxidil (Regaine), current"
    assert rows["Conditions"] == "Liver disease"
    assert rows["Platelet count (×10⁹/L)"] == "210 ×10⁹/L"
    assert rows["Pregnant"] == "No" and rows["Breastfeeding"] == "not recorded"
    assert rows["Autoimmune disease"] == "No" and rows["Prior hair treatments"] == "none"
    assert rows["Cancer"] == "No"
    assert "[]" not in page and "False" not in page and "10e9" not in page
    flow = client.get(url(patient, "")).content.decode()
    assert "Minoxidil (Regaine), current" in flow and "Liver disease" in flow


def test_patient_page_panel_shows_the_consultation_state(client, clinician, patient):
    services.record_history(patient, clinician, {"malignancy": "active"})
    client.force_login(clinician)
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert 'id="consultation-panel"' in page
    assert "Exosome / EV injections BLOCK" in page  # in words, not the stored code
    assert f"/consultation/{patient.pk}/" in page


def test_rule_override_page_stores_and_refuses(client, clinician, clinic_a):
    client.force_login(clinician)
    assert client.get("/consultation/rules/").status_code == 200
    r = client.post(
        "/consultation/rules/overrides/",
        {"rule_id": "EXO-PREGNANCY", "action": "disable", "reason": "We want to treat anyway."},
    )
    assert r.status_code == 400 and "locked" in r.content.decode()
    r = client.post(
        "/consultation/rules/overrides/",
        {"rule_id": "EXO-MALIGNANCY-PAST", "action": "set_outcome", "outcome": "BLOCK",
         "reason": "Clinic policy after board review."},
    )  # fmt: skip
    assert r.status_code == 302
    row = ScreeningRuleOverride.objects.get()
    assert row.history.first().history_user == clinician


def test_rules_page_says_when_a_rule_fires_in_the_history_form_words(client, clinician):
    """The rules table read 'scalp: active_infection / open_wound', 'nsaid current',
    'bleeding_disorder' and treatment 'exosome': the stored codes, where the medical-history
    form says 'Active infection at the scalp', 'NSAID', 'Bleeding disorder'."""
    client.force_login(clinician)
    page = client.get("/consultation/rules/").content.decode()
    when = " ".join(re.findall(r'<td class="rule-when">(.*?)</td>', page, re.S))
    assert when  # the column is there
    for code in ("active_infection", "open_wound", "bleeding_disorder", "nsaid", "lactating"):
        assert not re.search(rf"\b{code}\b", when), code
    assert "active infection at the scalp" in when
    assert "bleeding disorder" in when and "NSAID current" in when
    # The treatment column said 'exosome', 'prp', 'lllt'.
    treatments = set(re.findall(r'<td class="rule-modality">(.*?)</td>', page, re.S))
    assert "Exosome / EV injections" in treatments and "exosome" not in treatments
    assert "Low-level laser therapy" in treatments and "lllt" not in treatments


def test_protocol_and_consent_text_pages(client, clinician, clinic_a):
    client.force_login(clinician)
    assert client.get("/consultation/protocols/").status_code == 200
    r = client.get("/consultation/protocols/edit/?key=prp_standard")
    assert r.status_code == 200
    r = client.post(
        "/consultation/protocols/edit/?key=prp_standard",
        {"title": "PRP", "sessions_min": "4", "sessions_max": "2", "schedule": "x", "active": "on"},
    )
    assert r.status_code == 400 and 'id="id_sessions_max_error"' in r.content.decode()
    r = client.post(
        "/consultation/consent-texts/edit/?modality=prp",
        {"title": "PRP consent", "body": "Too short."},
    )
    assert r.status_code == 400
    assert client.get("/consultation/protocols/edit/?key=nope").status_code == 404


def test_saving_a_protocol_or_consent_text_unchanged_says_so(client, clinician, clinic_a):
    client.force_login(clinician)
    url = "/consultation/protocols/edit/?key=prp_standard"
    initial = client.get(url).context["form"].initial
    same = {k: v for k, v in initial.items() if v is not None and k != "active"}
    if initial.get("active"):
        same["active"] = "on"
    page = client.post(url, same, follow=True).content.decode()
    assert "unchanged: nothing to save" in page
    url = "/consultation/consent-texts/edit/?modality=prp"
    initial = client.get(url).context["form"].initial
    r = client.post(url, initial)
    assert r.status_code == 400 and "Nothing changed: this is the text of version 1." in (
        r.content.decode()
    )


def test_the_female_pattern_confirmation_is_asked_only_on_a_male_record(
    client, clinician, clinic_a, make_patient
):
    client.force_login(clinician)
    man = make_patient(clinic_a, clinician, sex_at_birth="male")
    woman = make_patient(clinic_a, clinician, sex_at_birth="female")
    assert 'name="female_pattern_confirmed"' in client.get(url(man)).content.decode()
    assert 'name="female_pattern_confirmed"' not in client.get(url(woman)).content.decode()
    # A woman's exam on the Ludwig scale is recorded without it.
    r = client.post(url(woman, "exam/"), {"examined_on": TODAY, "ludwig": "II"})
    assert r.status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize(("answer", "shown"), [(False, ""), (True, "yes"), (None, "")])
def test_a_new_history_version_asks_pregnancy_again_unless_it_was_yes(
    woman, clinician, answer, shown
):
    """A "No" carried forward could be saved again without being asked (a review found it)."""
    from anagen.assessment.forms import HistoryForm
    from anagen.assessment.selectors import latest_history

    services.record_history(woman, clinician, {"pregnant": answer, "lactating": answer})
    initial = HistoryForm.initial_from(latest_history(woman), TODAY)
    assert initial["pregnant"] == shown and initial["lactating"] == shown


def test_a_backdated_exam_or_diagnosis_is_kept_and_the_page_says_the_later_one_stays_current(
    client, clinician, patient
):
    """A diagnosis dated before the current one was saved without a word and the page went
    on showing the current one: it seemed lost (review)."""
    from datetime import timedelta

    client.force_login(clinician)
    today = timezone.localdate()
    earlier = (today - timedelta(days=30)).isoformat()
    client.post(url(patient, "exam/"), {"examined_on": TODAY, "norwood_hamilton": "IV"})
    client.post(url(patient, "diagnosis/"), {"diagnosed_on": TODAY, "condition": "aga_male"})

    r = client.post(
        url(patient, "diagnosis/"),
        {"diagnosed_on": earlier, "condition": "aga_male", "stage": "II"},
    )
    assert r["Location"] == url(patient)  # the page opens at the notice, not at step 5
    page = client.get(r["Location"]).content.decode()
    assert (
        f"The diagnosis dated {earlier} is recorded, but the diagnosis of {TODAY} stays the "
        "current one, being later." in page
    )
    assert Diagnosis.objects.filter(patient=patient).count() == 2
    r = client.post(
        url(patient, "exam/"),
        {"examined_on": earlier, "norwood_hamilton": "II"},
        headers={"HX-Request": "true"},
    )
    assert f"The exam dated {earlier} is recorded, but the exam of {TODAY} stays" in (
        r.content.decode()
    )
    assert r["HX-Reswap"] == "outerHTML show:#consultation-flow:top"
    # The latest by date needs no word.
    r = client.post(url(patient, "exam/"), {"examined_on": TODAY, "norwood_hamilton": "V"})
    assert r["Location"] == url(patient) + "#step-diagnosis"
    assert "stays the current one" not in client.get(r["Location"]).content.decode()


@pytest.mark.parametrize(("count", "questioned"), [("2500", True), ("1000", False), ("250", False)])
def test_a_platelet_count_far_above_the_usual_range_is_kept_and_questioned(
    client, clinician, patient, count, questioned
):
    """2500 × 10⁹/L was saved without a word (clinician review): possible only in extreme
    thrombocytosis, far likelier a slip (2500 for 250)."""
    client.force_login(clinician)
    r = client.post(url(patient, "history/"), {**HISTORY, "platelet_count_10e9_per_l": count})
    assert r.status_code == 302
    page = client.get(r["Location"]).content.decode()
    said = f"The platelet count {count} × 10⁹/L is recorded, but it is far above" in page
    assert said is questioned
    # Questioned, the page opens at the notice; else at the next step.
    expected = url(patient) if questioned else url(patient) + "#step-screening"
    assert r["Location"] == expected


def test_the_consent_shows_this_patients_plan_and_no_note_to_the_clinic(client, clinician, patient):
    """The signed consent read '3–4 sessions every 2–4 weeks (configurable; there is no
    standard regimen)', not the plan of 4 sessions 3 weeks apart (clinician review)."""
    from tests.builders import exosome_plan

    plan = exosome_plan(patient, clinician, consent=False)
    client.force_login(clinician)
    page = client.get(url(patient)).content.decode()
    terms = page[page.index('data-testid="consent-plan-terms"') :].split("</p>")[0]
    assert f"<strong>{plan.title}</strong>: {plan.sessions_planned} sessions" in terms
    consent = page[page.index('id="step-consent"') :]
    consent = consent[: consent.index("</article>")]
    assert "configurable" not in consent and "no standard regimen" not in consent
    assert "or as set out in my treatment plan" in consent


def _as_posted(initial: dict) -> dict:
    """The history form's pre-filled values as a browser posts them back."""
    data: dict = {}
    for key, value in initial.items():
        if value is None or value is False or value == "":
            continue
        if value is True:
            data[key] = "on"
        elif isinstance(value, list):
            data[key] = value
        else:
            data[key] = str(value)
    return data


def test_a_page_save_keeps_the_entries_the_form_has_no_row_for(client, clinician, patient):
    """Two anticoagulants and two PRP sessions recorded through the API: the page has one row
    per drug class and one date per modality, and saving it dropped the current anticoagulant
    and the recent session, turning a PRP BLOCK into OK (review)."""
    from anagen.assessment.forms import HistoryForm
    from anagen.assessment.selectors import latest_history

    today = timezone.localdate()
    services.record_history(
        patient, clinician,
        {"recorded_on": today,
         "medications": [
             {"drug_class": "anticoagulant", "name": "Apixaban", "start": "2026-01-10"},
             {"drug_class": "anticoagulant", "name": "Warfarin", "start": "2025-01-10",
              "stop": "2026-01-09"},
         ],
         "prior_treatments": [
             {"modality": "prp", "on": today - timedelta(days=6)},
             {"modality": "prp", "on": today - timedelta(days=70)},
         ]},
    )  # fmt: skip
    assert selectors.latest_screening(patient).outcome("prp") == "BLOCK"
    first = latest_history(patient)
    initial = HistoryForm.initial_from(first, today)
    # The rows show the drug still taken and the latest session.
    assert initial["med_anticoagulant_name"] == "Apixaban"
    assert initial["prior_prp_on"] == (today - timedelta(days=6)).isoformat()
    client.force_login(clinician)
    page = client.get(url(patient))
    listed = page.content.decode()
    assert "Warfarin" in listed  # the entries without a row are listed, in words
    carried = listed[listed.index('id="carried-prior-treatments"') :].split("</div>")[0]
    assert f"Platelet-rich plasma on {(today - timedelta(days=70)).isoformat()}" in carried
    r = client.post(url(patient, "history/"), {**_as_posted(initial), "allergies": "latex"})
    assert r.status_code == 302, r.content.decode()[:2000]
    second = latest_history(patient)
    assert second.version == first.version + 1 and second.allergies == ["latex"]
    assert sorted(m["name"] for m in second.medications) == ["Apixaban", "Warfarin"]
    assert sorted(p["on"] for p in second.prior_treatments) == sorted(
        p["on"] for p in first.prior_treatments
    )
    assert selectors.latest_screening(patient).outcome("prp") == "BLOCK"


def test_a_consent_text_replaced_after_it_was_shown_is_not_signed_unread(
    client, clinician, patient
):
    """The nurse showed version 1; an admin saved version 2; the signature was recorded
    against version 2, a text the patient never saw (review)."""
    from tests.builders import exosome_plan

    from anagen.assessment.models import Consent

    plan = exosome_plan(patient, clinician, consent=False)
    client.force_login(clinician)
    page = client.get(url(patient)).content.decode()
    assert 'name="form_version" value="1"' in page
    services.add_consent_form_version(
        patient.clinic, clinician, "exosome", "Exosome consent (revised)", "New risks. " * 10
    )
    sign = {"modality": "exosome", "signed_name": patient.full_name, "signed_on": TODAY}
    refused = client.post(url(patient, f"plans/{plan.pk}/consent/"), {**sign, "form_version": 1})
    assert refused.status_code == 400 and not Consent.objects.exists()
    text = refused.content.decode()
    assert "The consent text changed after it was shown" in text
    assert 'name="form_version" value="2"' in text  # the page now shows version 2
    signed = client.post(url(patient, f"plans/{plan.pk}/consent/"), {**sign, "form_version": 2})
    assert signed.status_code == 302
    assert Consent.objects.get().form.version == 2
    # A third version later: the signed consent still reads as the one signed.
    services.add_consent_form_version(
        patient.clinic, clinician, "exosome", "Exosome consent THIRD EDITION", "More. " * 10
    )
    article = client.get(url(patient)).content.decode()
    article = article[article.index(f'id="consent-{plan.pk}-exosome"') :]
    article = article[: article.index("</article>")]
    assert "Exosome consent (revised)" in article and "version 2" in article
    assert "THIRD EDITION" not in article


def test_a_page_save_keeps_each_prior_treatments_own_details(client, clinician, patient):
    """Each prior treatment has its own details ("3 sessions, no effect" for PRP, "stopped:
    itching" for minoxidil). The page had one details box for all of them, filled with one
    treatment's details: saving a new version wrote those over the others' (review)."""
    from anagen.assessment.forms import HistoryForm
    from anagen.assessment.selectors import latest_history

    today = timezone.localdate()
    prp = {"modality": "prp", "on": today - timedelta(days=90), "notes": "3 sessions, no effect"}
    minoxidil = {"modality": "minoxidil", "on": today - timedelta(days=30)}
    minoxidil["notes"] = "stopped: itching"
    services.record_history(
        patient, clinician, {"recorded_on": today, "prior_treatments": [prp, minoxidil]}
    )
    initial = HistoryForm.initial_from(latest_history(patient), today)
    client.force_login(clinician)
    page = client.get(url(patient)).content.decode()
    assert "3 sessions, no effect" in page and "stopped: itching" in page
    r = client.post(url(patient, "history/"), {**_as_posted(initial), "allergies": "latex"})
    assert r.status_code == 302, r.content.decode()[:2000]
    second = latest_history(patient)
    assert second.allergies == ["latex"]
    assert {p["modality"]: p["notes"] for p in second.prior_treatments} == {
        "prp": "3 sessions, no effect",
        "minoxidil": "stopped: itching",
    }


def test_prior_treatment_details_without_a_date_are_refused_on_that_row(client, clinician, patient):
    client.force_login(clinician)
    r = client.post(
        url(patient, "history/"), {**HISTORY, "prior_prp_notes": "two sessions elsewhere"}
    )
    assert r.status_code == 400
    assert not MedicalHistory.objects.filter(patient=patient).exists()
    assert "Give the date of the last one" in r.content.decode()


def test_the_exam_says_why_the_aa_scale_went_up(client, clinician, patient):
    services.record_exam(
        patient, clinician,
        {"salt_top": 10, "salt_posterior": 0, "salt_right": 0, "salt_left": 0,
         "aa_brow_or_lash_loss": True},
    )  # fmt: skip
    client.force_login(clinician)
    page = client.get(url(patient)).content.decode()
    summary = page[page.index('id="exam-summary"') :].split("</dl>")[0]
    assert "AA Scale moderate, up from mild: eyebrow or eyelash loss" in summary


def test_a_plan_says_when_the_diagnosis_changed_after_it_was_accepted(client, clinician, patient):
    """An exosome plan accepted for androgenetic alopecia stayed "Current plan", consented
    and ready for sessions, after the diagnosis was revised to alopecia areata (for which
    the proposals are a referral), with nothing on the page to say so."""
    from tests.builders import exosome_plan

    plan = exosome_plan(patient, clinician)
    client.force_login(clinician)
    card = _plan_card(client.get(url(patient)).content.decode(), plan)
    assert "The diagnosis was changed" not in card
    services.record_diagnosis(patient, clinician, {"condition": "aa_patchy"})
    card = _plan_card(client.get(url(patient)).content.decode(), plan)
    assert (
        "The diagnosis was changed to Alopecia areata, patchy after this plan was accepted "
        "for Androgenetic alopecia, male pattern" in card
    )
    # A restaging of the same condition is no new diagnosis for the plan.
    services.record_diagnosis(patient, clinician, {"condition": "aga_male", "stage": "IV"})
    card = _plan_card(client.get(url(patient)).content.decode(), plan)
    assert "The diagnosis was changed" not in card


def _plan_card(page: str, plan) -> str:
    card = page[page.index(f'id="plan-{plan.pk}"') :]
    return card[: card.index("</dl>")]


def test_the_override_form_names_the_treatments_in_words(client, clinician, patient):
    services.record_history(patient, clinician, {"malignancy": "active"})
    client.force_login(clinician)
    page = client.get(url(patient)).content.decode()
    form = page[page.index('id="id_modality"') :].split("</select>")[0]
    assert '<option value="prp">Platelet-rich plasma</option>' in form
    assert '<option value="lllt">Low-level laser therapy</option>' in form


def test_an_allergy_with_its_reaction_in_brackets_stays_one_allergy(client, clinician, patient):
    """ "Penicillin (rash, hives)" was split at its comma into "Penicillin (rash" and
    "hives)"; a comma between substances still separates them."""
    client.force_login(clinician)
    r = client.post(
        url(patient, "history/"),
        {**HISTORY, "allergies": "Penicillin (rash, hives)\nlatex, nickel"},
    )
    assert r.status_code == 302
    history = MedicalHistory.objects.get(patient=patient)
    assert history.allergies == ["Penicillin (rash, hives)", "latex", "nickel"]
