"""The consultation flow in a real browser: one patient from history to signed consent,
one BLOCK case, and the same forms with JavaScript switched off."""

import re
from datetime import date

import pytest

from anagen.accounts.models import Clinic, User
from anagen.assessment import services
from anagen.assessment.models import (
    Consent,
    ScalpExam,
    Screening,
    ScreeningOverride,
    TreatmentPlan,
)
from anagen.core.demo import load_demo
from anagen.patients.services import create_patient

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def new_patient(mrn: str, given: str, family: str, sex: str = "male"):
    clinic = Clinic.objects.get(slug="demo")
    user = User.objects.get(username="clinician")
    return create_patient(
        clinic,
        user,
        {
            "medical_record_number": mrn,
            "given_name": given,
            "family_name": family,
            "date_of_birth": date(1979, 4, 2),
            "sex_at_birth": sex,
        },
    )


def test_clinician_walks_one_patient_from_history_to_signed_consent(page, screenshot):
    load_demo()
    patient = new_patient("BR-0101", "Tomas", "Novak")
    sign_in(page, "clinician", "clinician-demo-2026")
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_role("link", name="Continue the consultation").click()
    page.get_by_role("heading", name="Consultation: Tomas Novak").wait_for()

    # 1–2. History (htmx post); screening runs at once and shows per treatment.
    page.get_by_label("Finasteride", exact=True).check()
    page.get_by_label("Finasteride: drug").fill("Finasteride 1 mg")
    page.get_by_label("Allergies").fill("latex")
    page.get_by_role("button", name="Save history and screen").click()
    page.locator('#screen-exosome[data-outcome="OK"]').wait_for()
    assert "2026.12-4" in page.locator("#step-screening").inner_text()

    # 3. Exam: an impossible SALT region is a field error and stores nothing.
    page.get_by_label("Norwood–Hamilton").select_option("III")
    page.get_by_label("SALT: top, % lost").fill("150")
    for region in ("back", "right side", "left side"):
        page.get_by_label(f"SALT: {region}, % lost").fill("0")
    page.get_by_role("button", name="Save examination").click()
    error = page.locator("#id_salt_top_error")
    error.wait_for()
    assert "between 0 and 100" in error.inner_text()
    assert not ScalpExam.objects.filter(patient=patient).exists()
    # The flow was swapped in by htmx: the refused field has the focus, not the page top.
    page.wait_for_function("document.activeElement.id === 'id_salt_top'")
    for region in ("top", "back", "right side", "left side"):
        page.get_by_label(f"SALT: {region}, % lost").fill("")
    page.get_by_label("Hair shaft diameter diversity >20 %").check()
    page.get_by_role("button", name="Save examination").click()
    page.locator("#exam-summary").get_by_text("III", exact=True).wait_for()

    # 4. Diagnosis, coded.
    page.locator("#id_diagnosis_condition").select_option("aga_male")
    page.get_by_role("button", name="Save diagnosis").click()
    page.locator("#diagnosis-summary").wait_for()
    assert "L64.9" in page.locator("#step-diagnosis").inner_text()

    # 5. Plan: the exosome proposal carries the not-approved notice.
    proposal = page.locator("#proposal-exosome")
    assert "Investigational — not approved" in proposal.inner_text()
    proposal.get_by_role("button", name="Accept: Exosome / EV injections (investigational)").click()
    page.locator(".current-plan").wait_for()

    # 6. Consent with a drawn signature.
    consent = page.locator(".consent[data-modality=exosome]")
    assert "not approved" in consent.inner_text()
    consent.get_by_label("Patient's full name (typed)").fill("Tomas Novak")
    pad = consent.locator("canvas.signature-pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 90)
    page.mouse.down()
    for x, y in ((80, 40), (140, 100), (200, 30), (260, 95)):
        page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
    page.mouse.up()
    consent.get_by_role("button", name="Record signed consent").click()
    page.locator(".consent[data-modality=exosome] img.signature").wait_for()
    stored = Consent.objects.get(patient=patient)
    assert stored.signature_png.startswith("data:image/png;base64,")
    plan = TreatmentPlan.objects.get(patient=patient)
    assert services.has_valid_consent(plan, "exosome", stored.signed_on)
    page.locator("#step-history").scroll_into_view_if_needed()
    screenshot(page, "consultation")
    assert page.console_errors == []


def test_a_block_stops_the_exosome_plan_until_a_clinician_overrides_it(page):
    load_demo()
    patient = new_patient("BR-0102", "Karl", "Lind")
    clinician = User.objects.get(username="clinician")
    # A BLOCK the clinic made of a shipped WARN (locked BLOCKs cannot be overridden).
    services.add_rule_override(
        patient.clinic, clinician, "EXO-KELOID", "set_outcome", "BLOCK", "No keloid risk here."
    )
    services.record_history(patient, clinician, {"keloid": True})
    services.record_exam(patient, clinician, {"norwood_hamilton": "IV"})
    services.record_diagnosis(patient, clinician, {"condition": "aga_male"})
    sign_in(page, "clinician", "clinician-demo-2026")
    page.goto(f"/consultation/{patient.pk}/")
    page.locator('#screen-exosome[data-outcome="BLOCK"]').wait_for()
    assert "EXO-KELOID" in page.locator("#screen-exosome").inner_text()

    proposal = page.locator("#proposal-exosome")
    assert "Blocked by screening: Exosome / EV injections" in proposal.inner_text()
    proposal.get_by_role("button", name="Accept: Exosome / EV injections (investigational)").click()
    # The refusal comes back from the server (the notice above was there before the click).
    page.locator("#proposal-exosome").get_by_text(re.compile("Screening BLOCKs exosome")).wait_for()
    assert not TreatmentPlan.objects.filter(patient=patient).exists()

    page.get_by_text("Override a BLOCK").click()
    page.get_by_label("Clinical reason for overriding the BLOCK").fill(
        "Old scar checked: no keloid tendency; patient informed of the risk."
    )
    page.get_by_role("button", name="Override the BLOCK").click()
    page.locator("#screen-exosome .override").wait_for()
    assert ScreeningOverride.objects.get(screening__patient=patient).overridden_by == clinician
    page.locator("#proposal-exosome").get_by_role(
        "button", name="Accept: Exosome / EV injections (investigational)"
    ).click()
    page.locator(".current-plan").wait_for()
    plan = TreatmentPlan.objects.get(patient=patient)
    assert any("overridden" in flag for flag in plan.flags)
    assert page.console_errors == []


def test_the_flow_works_without_javascript(browser, live_server):
    load_demo()
    patient = new_patient("BR-0103", "Ines", "Faro", sex="female")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15000)
    sign_in(page, "nurse", "nurse-demo-2026")
    page.goto(f"/consultation/{patient.pk}/")
    page.get_by_label("Pregnant").select_option("no")
    page.get_by_label("Breastfeeding").select_option("no")
    page.get_by_role("button", name="Save history and screen").click()
    page.locator('#screen-exosome[data-outcome="OK"]').wait_for()
    assert Screening.objects.filter(patient=patient).count() == 1
    # The exam form is open by default once a history exists and no exam does.
    page.get_by_label("Ludwig", exact=True).select_option("II")
    page.get_by_label("Pull test: hairs grasped").fill("50")
    page.get_by_label("Pull test: hairs out").fill("-3")
    page.get_by_role("button", name="Save examination").click()
    assert "must not be negative" in page.locator("#id_pull_hairs_out_error").inner_text()
    page.get_by_label("Pull test: hairs out").fill("3")
    page.get_by_role("button", name="Save examination").click()
    page.locator("#exam-summary").wait_for()
    assert ScalpExam.objects.get(patient=patient).ludwig == "II"
    context.close()


def test_a_backdated_exam_with_decimal_commas_is_kept_and_said_not_current(page, screenshot):
    """SALT regions typed with a decimal comma are read; an exam dated before the latest one
    is stored, and the page says the later exam stays current (it seemed lost; review)."""
    from datetime import timedelta

    from django.utils import timezone

    load_demo()
    patient = new_patient("BR-0103", "Ines", "Moreau", sex="female")
    clinician = User.objects.get(username="clinician")
    today = timezone.localdate()
    services.record_history(patient, clinician, {"recorded_on": today, "malignancy": "none"})
    services.record_exam(patient, clinician, {"examined_on": today, "ludwig": "I"})
    earlier = (today - timedelta(days=21)).isoformat()
    sign_in(page, "clinician", "clinician-demo-2026")
    page.goto(f"/consultation/{patient.pk}/")
    page.locator("#step-exam").get_by_text("Record an examination").click()
    page.get_by_label("Examined on").fill(earlier)
    page.get_by_label("Ludwig", exact=True).select_option("II")
    for region, value in (("top", "10,5"), ("back", "0"), ("right side", "2,5"),
                          ("left side", "0")):  # fmt: skip
        page.get_by_label(f"SALT: {region}, % lost").fill(value)
    page.get_by_role("button", name="Save examination").click()
    notice = page.get_by_text(f"The exam dated {earlier} is recorded")
    notice.wait_for()
    assert f"the exam of {today.isoformat()} stays the current one" in notice.inner_text()
    # The page shows the notice, above the steps, not the next step below it.
    page.wait_for_function(
        "el => { const r = el.getBoundingClientRect(); return r.top >= 0 && "
        "r.bottom <= window.innerHeight; }",
        arg=notice.element_handle(),
    )
    backdated = ScalpExam.objects.get(patient=patient, examined_on=earlier)
    assert (backdated.salt_top, backdated.salt_right) == (10.5, 2.5)
    screenshot(page, "consultation-backdated-exam")
    assert page.console_errors == []
