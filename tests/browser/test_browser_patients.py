import pytest

from anagen.accounts.models import User
from anagen.accounts.roles import Role
from anagen.accounts.services import set_membership
from anagen.core.demo import load_demo
from anagen.patients.models import Patient

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clinician_registers_a_patient_fixes_a_bad_date_and_sees_the_audit_entry(page, screenshot):
    load_demo()
    sign_in(page, "clinician", "clinician-demo-2026")
    page.get_by_role("heading", name="Anagen Demo Clinic").wait_for()
    screenshot(page, "dashboard")

    page.get_by_role("link", name="Register a patient").first.click()
    page.get_by_label("Medical record number").fill("BR-0001")
    page.get_by_label("Given name").fill("Marie")
    page.get_by_label("Family name").fill("Sklodowska")
    page.get_by_label("Date of birth").fill("2999-01-01")
    page.get_by_label("Sex at birth").select_option("female")
    page.get_by_role("button", name="Register").click()
    error = page.locator("#id_date_of_birth_error")
    assert "cannot be in the future" in error.inner_text()
    assert not Patient.objects.filter(medical_record_number="BR-0001").exists()
    # The refused field has the focus (its label and error are read out), and the summary
    # links to it; the focus had stayed at the top of the page.
    assert page.evaluate("document.activeElement.id") == "id_date_of_birth"
    assert page.locator(".form-errors a[href='#id_date_of_birth']").inner_text() == "Date of birth"

    page.get_by_label("Date of birth").fill("1967-11-07")
    page.get_by_role("button", name="Register").click()
    page.get_by_role("heading", name="Marie Sklodowska").wait_for()
    audit = page.locator("#audit")
    assert "created" in audit.inner_text() and "clinician" in audit.inner_text()
    assert "clinician" in page.locator("#access-log").inner_text()
    screenshot(page, "patient")
    assert page.console_errors == []


def test_patient_search_filters_as_you_type_with_htmx(page, screenshot):
    load_demo()
    sign_in(page, "frontdesk", "frontdesk-demo-2026")
    page.goto("/patients/")
    first_row_name = page.locator("tbody tr td a").first.inner_text()
    family = first_row_name.split(",")[0]
    page.get_by_label("Search").fill(family)
    page.wait_for_url(f"**q={family}**")
    rows = page.locator("tbody tr td a").all_inner_texts()
    assert rows and all(family in r for r in rows)
    page.get_by_label("Search").fill("")
    page.wait_for_url("**q=**")
    screenshot(page, "patient-list")


def test_researchers_have_no_patient_navigation(page):
    load_demo()
    sign_in(page, "researcher", "researcher-demo-2026")
    page.get_by_role("heading", name="Anagen Demo Clinic").wait_for()
    assert page.get_by_role("link", name="Patients").count() == 0
    page.goto("/patients/")
    assert "Not allowed" in page.content()


def test_a_user_of_two_clinics_switches_and_sees_only_the_other_clinics_patients(page):
    load_demo()
    nurse = User.objects.get(username="nurse")
    from anagen.accounts.models import Clinic

    set_membership(nurse, Clinic.objects.get(slug="northside"), Role.NURSE)
    sign_in(page, "nurse", "nurse-demo-2026")
    page.get_by_label("Clinic").select_option(label="Northside Hair Clinic — Nurse")
    page.get_by_role("button", name="Switch").click()
    page.get_by_role("heading", name="Northside Hair Clinic").wait_for()
    page.goto("/patients/")
    mrns = page.locator("tbody tr td:first-child").all_inner_texts()
    assert mrns and all(m.startswith("NS-") for m in mrns)
