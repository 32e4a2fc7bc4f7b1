"""On a phone (390 px wide) every page fits the screen: navigation and action buttons wrap,
detail lists stack, wide tables scroll inside themselves instead of widening the page."""

import pytest

from anagen.accounts.roles import Role
from anagen.core.demo import load_demo
from anagen.imaging.models import PhotoAnalysis
from anagen.patients.models import Patient
from anagen.treatments.models import TreatmentSession

from ..conftest import PASSWORD
from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


# Links in table cells that the browser broke across lines (a lot number shown as
# "UC / -2 / 51 / 0-H", a name as "Morea / u": one line box per fragment).
WORDS_BROKEN_IN_TABLE_LINKS = """
[...document.querySelectorAll('td a')]
  .filter(a => a.textContent.trim().length <= 40 && a.getClientRects().length > 1)
  .slice(0, 5).map(a => a.textContent.trim())
"""


def _pages() -> list[str]:
    session = TreatmentSession.objects.filter(map_entries__isnull=False).first()
    analysis = PhotoAnalysis.objects.filter(status="done").first()
    visit = analysis.photo.visit
    patient = Patient.objects.get(pk=session.patient_id)
    return [
        "/",
        "/patients/",
        f"/patients/{patient.pk}/",
        f"/monitoring/{patient.pk}/",
        f"/sessions/{patient.pk}/",
        f"/sessions/{patient.pk}/{session.pk}/",
        f"/monitoring/{visit.patient_id}/visits/{visit.pk}/",
        f"/outcomes/patients/{visit.patient_id}/",
        "/outcomes/cohort/",
        "/products/",
        "/monitoring/agenda/",
        "/products/catalogue/",
        "/products/specs/",
        f"/consultation/{patient.pk}/",
    ]


def test_every_page_fits_a_phone_screen(page, screenshot, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    load_demo()
    sign_in(page, "clinician", "clinician-demo-2026")
    page.get_by_role("heading", name="Anagen Demo Clinic").wait_for()
    page.set_viewport_size(PHONE)
    too_wide, broken = {}, {}
    for path in _pages():
        assert page.goto(path).status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            too_wide[path] = width
        broken[path] = page.evaluate(WORDS_BROKEN_IN_TABLE_LINKS)
    assert too_wide == {}
    assert {p: b for p, b in broken.items() if b} == {}
    page.goto(_pages()[5])
    screenshot(page, "phone-session")
    assert page.console_errors == []


# The narrowest description and the widest overflow of a reference table in the comparison
# page's modality cards (three cards side by side once left 20 px for a description).
COMPARISON_CARD_FIT = """
(() => {
  const dds = [...document.querySelectorAll('.profile-grid dd')];
  const cards = [...document.querySelectorAll('.profile-grid .card')];
  return {
    cards: cards.length,
    narrowest: Math.min(...dds.map(d => d.getBoundingClientRect().width)),
    overflow: Math.max(...cards.map(c => c.scrollWidth - c.clientWidth)),
  };
})()
"""


def test_the_comparison_page_reads_on_a_desktop_screen(page, settings, tmp_path, screenshot):
    settings.MEDIA_ROOT = tmp_path
    load_demo()
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, "researcher", "researcher-demo-2026")
    assert page.goto("/outcomes/comparison/").status == 200
    fit = page.evaluate(COMPARISON_CARD_FIT)
    assert fit["cards"] >= 3
    assert fit["narrowest"] >= 300, fit
    assert fit["overflow"] <= 0, fit
    # Compared within one diagnosis: the filter is kept in the address and the form.
    diagnosis = page.locator("#comparison-filters select[name=diagnosis] option").nth(1)
    code, label = diagnosis.get_attribute("value"), diagnosis.inner_text()
    page.select_option("#comparison-filters select[name=diagnosis]", code)
    page.click("#comparison-filters button[type=submit]")
    page.wait_for_url(f"**diagnosis={code}**")
    assert page.locator("#comparison-filters select[name=diagnosis]").input_value() == code
    assert f"Selected: Diagnosis: {label}." in page.locator("#clinic-basis").inner_text()
    screenshot(page, "comparison-one-diagnosis")
    assert page.console_errors == []


def test_a_long_unbroken_name_or_address_wraps_instead_of_widening_the_page(
    page, clinic_a, make_user, make_patient
):
    clinician = make_user("clinician", clinic_a)
    patient = make_patient(
        clinic_a, clinician, family_name="Q" * 94, address="Lane" * 500, email="a" * 60 + "@x.org"
    )
    sign_in(page, clinician.username, PASSWORD)
    for path in (f"/patients/{patient.pk}/", "/patients/"):
        assert page.goto(path).status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate(  # names the culprits when it fails
            "[...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth)"
            ".slice(0, 5).map(e => e.tagName + '.' + e.className)"
        )
        assert width <= page.viewport_size["width"], (path, width, wide)
    # On a phone the details card itself did not scroll sideways either: the unbroken
    # address widened its grid cell past the card.
    page.set_viewport_size(PHONE)
    page.goto(f"/patients/{patient.pk}/")
    overflowing = page.evaluate(
        "() => [...document.querySelectorAll('section.card, dl.details dd')]"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.tagName + '.' + e.className)"
    )
    assert overflowing == []
    assert page.console_errors == []


def test_the_members_page_fits_a_phone_with_its_actions_reachable(page):
    """A hidden column header escaped the table's scroll area and widened the page by 20 px."""
    load_demo()
    sign_in(page, "admin", "admin-demo-2026")
    page.set_viewport_size(PHONE)
    assert page.goto("/accounts/members/").status == 200
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    button = page.get_by_role("button", name="Deactivate").first
    button.scroll_into_view_if_needed()
    assert button.is_visible()
    assert page.console_errors == []


def test_the_agenda_calendar_on_a_phone_lists_the_days_with_appointments(page):
    """Seven columns do not fit a phone: Saturday and Sunday were cut off without a cue."""
    from datetime import timedelta

    from django.utils import timezone

    from anagen.monitoring import services
    from anagen.patients.models import Patient

    load_demo()
    today = timezone.localdate()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    patient = Patient.objects.filter(clinic__slug="demo").order_by("pk").first()
    desk = patient.clinic.memberships.get(role="front_desk").user
    services.add_scheduled_visit(patient, desk, due_date=saturday, label="Weekend review")
    sign_in(page, "frontdesk", "frontdesk-demo-2026")
    page.set_viewport_size(PHONE)
    assert page.goto(f"/monitoring/agenda/?view=calendar&month={saturday:%Y-%m}").status == 200
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    entry = page.get_by_text("Weekend review")
    entry.scroll_into_view_if_needed()
    box = entry.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    assert page.get_by_text(f"Sat {saturday.day} {saturday:%b}").is_visible()
    assert page.console_errors == []


# Visible controls smaller than a fingertip: buttons, fields and menus under 44 px high (or
# buttons under 44 px wide), tick boxes under 24 px. Links inside running text are exempt
# (WCAG 2.5.8's inline exception), as are controls drawn inside a chart or map.
SMALL_TOUCH_TARGETS = """
(() => {
  const visible = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  const name = el => (el.textContent.trim() || el.name || el.id || el.type).slice(0, 30);
  const small = [];
  for (const el of document.querySelectorAll(
      'button:not(.link), a.button, summary, select, input:not([type=hidden]):not([type=range])')) {
    if (!visible(el) || el.closest('svg')) continue;
    const r = el.getBoundingClientRect();
    const tick = el.type === 'checkbox' || el.type === 'radio';
    const min = tick ? 24 : 44;
    if (r.height < min - 0.5 || ((tick || el.tagName === 'BUTTON') && r.width < min - 0.5))
      small.push(`${el.tagName} ${name(el)} ${Math.round(r.width)}x${Math.round(r.height)}`);
  }
  for (const a of document.querySelectorAll('.topbar a, .topbar button')) {
    if (visible(a) && a.getBoundingClientRect().height < 43.5) small.push(`menu ${name(a)}`);
  }
  return small.slice(0, 8);
})()
"""


def test_on_a_touch_screen_every_control_is_big_enough_to_tap(
    browser, live_server, screenshot, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    load_demo()
    # A tablet at the chair: a touch screen reports a coarse pointer.
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1024, "height": 768}, has_touch=True
    )
    page = context.new_page()
    try:
        sign_in(page, "clinician", "clinician-demo-2026")
        page.get_by_role("heading", name="Anagen Demo Clinic").wait_for()
        small = {}
        for path in [*_pages(), "/patients/new/"]:
            assert page.goto(path).status == 200, path
            small[path] = page.evaluate(SMALL_TOUCH_TARGETS)
        assert {p: s for p, s in small.items() if s} == {}
        page.goto(_pages()[5])
        screenshot(page, "tablet-touch-session")
    finally:
        context.close()


def test_with_a_mouse_the_controls_keep_their_compact_size(page):
    load_demo()
    sign_in(page, "clinician", "clinician-demo-2026")
    page.get_by_role("heading", name="Anagen Demo Clinic").wait_for()
    page.goto("/patients/")
    assert page.evaluate("matchMedia('(pointer: coarse)').matches") is False
    assert page.evaluate(SMALL_TOUCH_TARGETS) != []


def test_the_patient_list_keeps_its_two_buttons_together_on_the_right(page, clinic_a, make_user):
    """Heading, 'Register a patient' and 'Import from FHIR' were spread across the title row,
    the register button floating alone in the middle of a desktop screen."""
    make_user(Role.CLINICIAN, clinic_a, username="doc-list")
    sign_in(page, "doc-list", PASSWORD)
    page.get_by_role("heading", name=clinic_a.name).wait_for()
    page.goto("/patients/")
    register = page.get_by_role("link", name="Register a patient").bounding_box()
    fhir = page.get_by_role("link", name="Import from FHIR").bounding_box()
    assert 0 <= fhir["x"] - (register["x"] + register["width"]) <= 16
    row = page.locator(".title-row").bounding_box()
    assert row["x"] + row["width"] - (fhir["x"] + fhir["width"]) <= 1
