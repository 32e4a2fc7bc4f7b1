"""Issue 5 in a real browser: record an exosome session with an injection map (keyboard and
mouse) and vials drawn from a released lot."""

from datetime import date

import pytest

from anagen.accounts.roles import Role
from anagen.patients.models import Patient
from anagen.treatments.models import TreatmentSession

from ..conftest import PASSWORD
from ..treatments.conftest import make_lot, prepare
from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clinician_records_a_session_with_a_map_by_keyboard_and_vials(
    page, screenshot, clinic_a, make_user
):
    clinician = make_user(Role.CLINICIAN, clinic_a, username="dr-map")
    patient = Patient.objects.create(
        clinic=clinic_a,
        medical_record_number="BR-SESS",
        given_name="Kai",
        family_name="Map",
        date_of_birth=date(1985, 3, 2),
        sex_at_birth="male",
    )
    prepare(patient, clinician)
    lot = make_lot(clinic_a, clinician, vials=4, number="BR-LOT-1")

    sign_in(page, "dr-map", PASSWORD)
    page.goto(f"/sessions/{patient.pk}/new/")
    assert "ready" in page.locator("#checklist").inner_text()
    # Keyboard only: focus the frontal zone of the diagram, press Enter, type in its row.
    page.locator("svg [data-zone='frontal']").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "map-frontal-points"
    page.keyboard.type("40")
    page.keyboard.press("Tab")
    page.keyboard.type("1.2")
    # Mouse: click the vertex zone, which moves the focus to its row.
    page.locator("svg [data-zone='vertex']").click()
    page.keyboard.type("30")
    page.keyboard.press("Tab")
    page.keyboard.type("0.8")
    assert page.locator("#map-total").inner_text() == "70 points, 2.00 mL"
    # A slip of the minus key is not subtracted from the running total (it read -0.20 mL).
    page.locator("#map-vertex-volume_ml").fill("-0.8")
    said = page.locator("#map-total").inner_text()
    assert said == "70 points, 1.20 mL (a negative amount is left out: correct it)"
    page.locator("#map-vertex-volume_ml").fill("0.8")
    assert page.locator("#map-total").inner_text() == "70 points, 2.00 mL"
    page.get_by_label("Lot 1", exact=True).select_option(str(lot.pk))
    page.get_by_label("Vials from lot 1").fill("1")
    screenshot(page, "session-form")
    page.get_by_role("button", name="Save session").click()

    page.get_by_role("heading", name="Exosome injection").wait_for()
    session = TreatmentSession.objects.get(patient=patient)
    assert session.total_points == 70
    assert page.locator("figure svg").count() == 3
    assert "BR-LOT-1" in page.content()
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 3
    screenshot(page, "session")

    # The post-care sheet prints from its own button (the browser's print is stubbed).
    page.get_by_role("link", name="Post-care sheet").click()
    page.get_by_role("heading", name="After your treatment").wait_for()
    page.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
    screenshot(page, "postcare-sheet")
    page.get_by_role("button", name="Print this sheet").click()
    assert page.evaluate("window.printed") == 1
    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="Print this sheet").is_visible()
    # Without a clinic phone the sheet leaves a line to write it in, and says so on screen only.
    assert page.get_by_text("ask the clinic for the number to call").is_visible()
    assert not page.get_by_text("This clinic has no phone number").is_visible()
    page.emulate_media(media="screen")
    # Without a script the button would do nothing, so it is not shown at all.
    no_js = page.context.browser.new_context(java_script_enabled=False, base_url=page.url)
    no_js.add_cookies(page.context.cookies())
    plain = no_js.new_page()
    plain.goto(page.url)
    plain.get_by_role("heading", name="After your treatment").wait_for()
    assert not plain.get_by_role("button", name="Print this sheet").is_visible()
    no_js.close()
    assert page.console_errors == []


def test_a_session_with_no_usable_lot_shows_field_errors_and_stores_nothing(
    page, screenshot, clinic_a, make_user
):
    clinician = make_user(Role.CLINICIAN, clinic_a, username="dr-nolot")
    patient = Patient.objects.create(
        clinic=clinic_a,
        medical_record_number="BR-SESS-2",
        given_name="Ana",
        family_name="Nolot",
        date_of_birth=date(1990, 1, 9),
        sex_at_birth="female",
    )
    prepare(patient, clinician)

    sign_in(page, "dr-nolot", PASSWORD)
    page.goto(f"/sessions/{patient.pk}/new/")
    page.locator("#map-frontal-points").fill("-5")
    page.locator("#map-frontal-volume_ml").fill("1")
    page.get_by_role("button", name="Save session").click()
    page.locator(".error").first.wait_for()
    errors = " ".join(page.locator(".error").all_inner_texts())
    assert errors
    # The refused zone is outlined on the diagram as well as named in its row.
    assert page.locator("svg [data-zone='frontal']").get_attribute("class") == "zone-error"
    screenshot(page, "session-form-zone-refused")
    assert TreatmentSession.objects.filter(patient=patient).count() == 0
