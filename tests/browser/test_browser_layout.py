"""On a phone (390 px wide) every page fits the screen: navigation and action buttons wrap,
detail lists stack, wide tables scroll inside themselves instead of widening the page."""

import pytest

from anagen.core.demo import load_demo
from anagen.imaging.models import PhotoAnalysis
from anagen.patients.models import Patient
from anagen.treatments.models import TreatmentSession

from ..conftest import PASSWORD
from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


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
    too_wide = {}
    for path in _pages():
        assert page.goto(path).status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            too_wide[path] = width
    assert too_wide == {}
    page.goto(_pages()[5])
    screenshot(page, "phone-session")
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
    assert page.console_errors == []
