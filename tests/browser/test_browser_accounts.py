"""The members page in a real browser: acts that cannot be taken back in one click ask first."""

import pytest

from anagen.accounts.models import Membership
from anagen.accounts.roles import Role

from ..conftest import PASSWORD
from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_deactivating_a_member_asks_first_and_a_no_changes_nothing(page, clinic_a, make_user):
    """Reset password and Deactivate sat side by side and acted on one click (review)."""
    make_user(Role.ADMIN, clinic_a, username="boss")
    nurse = make_user(Role.NURSE, clinic_a, username="nina")
    sign_in(page, "boss", PASSWORD)
    page.goto("/accounts/members/")
    asked: list[str] = []

    def answer(accept: bool):
        def handle(dialog):
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return handle

    page.once("dialog", answer(False))
    page.get_by_role("button", name="Deactivate nina").click()
    page.wait_for_timeout(300)
    assert asked == [
        "Deactivate nina in Clinic A? Their API tokens for this clinic are revoked for good."
    ]
    assert Membership.objects.get(user=nurse, clinic=clinic_a).is_active

    page.once("dialog", answer(False))
    page.get_by_role("button", name="Set a temporary password for nina").click()
    page.wait_for_timeout(300)
    assert "Their sessions end and their API tokens stop working." in asked[-1]
    nurse.refresh_from_db()
    assert not nurse.password_must_change

    page.once("dialog", answer(True))
    with page.expect_navigation():
        page.get_by_role("button", name="Deactivate nina").click()
    assert not Membership.objects.get(user=nurse, clinic=clinic_a).is_active
    assert page.get_by_role("button", name="Reactivate nina").is_visible()
    assert page.console_errors == []


def test_the_audit_trail_lists_the_demo_clinics_changes_and_narrows_to_one_patient(
    page, screenshot
):
    from anagen.core.demo import load_demo
    from anagen.patients.models import Patient

    load_demo()
    patient = Patient.objects.filter(clinic__slug="demo").order_by("pk").first()
    sign_in(page, "admin", "admin-demo-2026")
    page.goto("/accounts/members/")
    with page.expect_navigation():
        page.get_by_role("link", name="role changes and deactivations").click()
    rows = page.locator("#audit-trail tbody tr")
    records = rows.locator("td:nth-child(3)").all_inner_texts()
    assert records and all(r.startswith("Membership #") for r in records), records
    # Counted once the unfiltered page has loaded (a count right after the click read the
    # page in between: 0 rows, a CI run of 2026-12-06).
    with page.expect_navigation():
        page.get_by_role("link", name="Clear").click()
    assert rows.count() == 50 and page.get_by_role("link", name="Older changes").is_visible()
    page.get_by_label("Patient (record number)").fill(patient.medical_record_number)
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert page.get_by_text(f"Changes to the records of {patient.full_name}").is_visible()
    links = page.locator("#audit-trail tbody td:last-child a")
    assert links.count() >= 1
    assert {links.nth(i).get_attribute("href") for i in range(links.count())} == {
        f"/patients/{patient.pk}/"
    }
    screenshot(page, "audit-trail")
    # The patient's registration opens to the values it was stored with.
    created = rows.filter(has_text=f"Patient #{patient.pk}").filter(has_text="created")
    with page.expect_navigation():
        created.locator("td:first-child a").click()
    assert page.get_by_role("heading", name=f"Patient #{patient.pk} created").is_visible()
    values = page.locator("#audit-change tbody tr td").all_inner_texts()
    assert patient.medical_record_number in values, values
    screenshot(page, "audit-change")
    page.go_back()
    page.get_by_label("Patient (record number)").fill("NO-SUCH-9")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert page.get_by_text("No patient of this clinic has this record number.").is_visible()
    assert page.console_errors == []
