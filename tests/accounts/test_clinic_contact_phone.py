"""The clinic's phone number for patients: set by an administrator, audited, refused when it
is not a phone number, and printed on every post-care sheet (which says to ask for it where
none is set)."""

from __future__ import annotations

import json

import pytest

from anagen.accounts import services
from anagen.accounts.roles import Role


def test_setting_the_phone_is_stored_with_who_and_why_in_the_history(clinic_a, admin):
    services.set_contact_phone(admin, clinic_a, " +44 20 7946 0018 ")
    clinic_a.refresh_from_db()
    assert clinic_a.contact_phone == "+44 20 7946 0018"
    last = clinic_a.history.first()
    assert last.history_user == admin
    assert last.history_change_reason == "contact phone set to +44 20 7946 0018"
    services.set_contact_phone(admin, clinic_a, "")
    clinic_a.refresh_from_db()
    assert clinic_a.contact_phone == ""
    assert clinic_a.history.first().history_change_reason == "contact phone removed"


@pytest.mark.parametrize(
    "phone",
    [
        "call reception",
        "12",
        "1" * 21,
        "+44 20 7946 0018 " * 3,
        "+44 20\n7946 0018",
        "020\u200b7946",
    ],
)
def test_what_is_not_a_phone_number_is_refused_and_nothing_changes(clinic_a, admin, phone):
    services.set_contact_phone(admin, clinic_a, "020 7946 0018")
    rows = clinic_a.history.count()
    with pytest.raises(services.AccountFormError) as refused:
        services.set_contact_phone(admin, clinic_a, phone)
    assert "Not a phone number" in refused.value.errors["contact_phone"][0]
    clinic_a.refresh_from_db()
    assert clinic_a.contact_phone == "020 7946 0018"
    assert clinic_a.history.count() == rows


def test_the_page_sets_it_and_shows_a_field_error(client, clinic_a, admin):
    client.force_login(admin)
    page = client.get("/accounts/clinic/contact/")
    assert page.status_code == 200
    assert "Phone number for patients" in page.content.decode()
    bad = client.post("/accounts/clinic/contact/", {"contact_phone": "ring us"})
    assert bad.status_code == 400
    assert 'id="id_contact_phone_error"' in bad.content.decode()
    good = client.post("/accounts/clinic/contact/", {"contact_phone": "+1 555 0100 ext 12"})
    assert good.status_code == 302
    clinic_a.refresh_from_db()
    assert clinic_a.contact_phone == "+1 555 0100 ext 12"
    assert "Phone number for patients" in client.get("/settings/").content.decode()


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.NURSE, Role.FRONT_DESK])
def test_only_an_administrator_may_set_it(client, clinic_a, make_user, api_token, role):
    user = make_user(role, clinic_a)
    client.force_login(user)
    page = client.post("/accounts/clinic/contact/", {"contact_phone": "020 1234"})
    assert page.status_code == 403
    response = client.put(
        "/api/v1/clinic/contact-phone",
        data=json.dumps({"contact_phone": "020 1234"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(user, clinic_a)}"},
    )
    assert response.status_code == 403
    clinic_a.refresh_from_db()
    assert clinic_a.contact_phone == ""


def test_the_api_sets_it_refuses_bad_numbers_and_shows_it(client, clinic_a, admin, api_token):
    headers = {"Authorization": f"Bearer {api_token(admin, clinic_a)}"}

    def put(phone: str):
        return client.put(
            "/api/v1/clinic/contact-phone",
            data=json.dumps({"contact_phone": phone}),
            content_type="application/json",
            headers=headers,
        )

    refused = put("not a number")
    assert refused.status_code == 400
    assert "Not a phone number" in str(refused.json())
    answer = put("+49 30 1234567")
    assert answer.status_code == 200
    assert answer.json()["contact_phone"] == "+49 30 1234567"
    assert client.get("/api/v1/clinic", headers=headers).json()["contact_phone"] == "+49 30 1234567"


def test_a_phone_in_full_width_or_arabic_indic_digits_is_stored_in_ascii_digits(clinic_a, admin):
    """It is printed on the post-care sheets, for patients to dial."""
    services.set_contact_phone(admin, clinic_a, "＋４４ ２０ ٧٩٤٦ ٠٠١٨")
    clinic_a.refresh_from_db()
    assert clinic_a.contact_phone == "+44 20 7946 0018"
