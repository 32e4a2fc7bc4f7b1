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


def test_a_long_unbroken_name_wraps_and_keeps_the_members_actions_on_screen(
    page, clinic_a, make_user
):
    """A 150-character last name without a space widened the members table past the screen:
    Role, Active and the buttons were off to the right; its audit entry likewise (review)."""
    from anagen.accounts.services import create_account

    boss = make_user(Role.ADMIN, clinic_a, username="boss")
    membership, _ = create_account(
        boss, clinic_a, username="nina", first_name="Nina", last_name="Ørsted-" + "x" * 143,
        email="", role=Role.NURSE,
    )  # fmt: skip
    nurse = membership.user
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, "boss", PASSWORD)
    page.goto("/accounts/members/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    button = page.get_by_role("button", name="Deactivate nina")
    box = button.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280
    # Other columns keep their words whole (a username is not cut to make room).
    assert (
        page.get_by_role("cell", name="nina", exact=True).evaluate(
            "td => { const r = document.createRange(); r.selectNodeContents(td);"
            " return r.getClientRects().length; }"
        )
        == 1
    )
    history = nurse.history.first()
    page.goto(f"/accounts/audit/accounts.User/{history.history_id}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.console_errors == []
