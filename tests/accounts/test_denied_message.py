"""A refusal says in words what the role may not do; it never shows an internal code."""

from __future__ import annotations

import pytest

from anagen.accounts.roles import PERMISSION_ACTIONS, PERMISSIONS, Role, denied_message


def test_every_permission_has_words_for_a_refusal():
    assert PERMISSION_ACTIONS.keys() == PERMISSIONS.keys()


@pytest.mark.parametrize("permission", list(PERMISSIONS))
def test_no_refusal_shows_its_permission_code(permission):
    assert permission not in denied_message(Role.NURSE, permission, "Clinic A")


def test_a_refusal_names_the_clinic_the_role_and_the_action():
    assert denied_message(Role.CLINICIAN, "export.deidentified", "Clinic A") == (
        "Your role in Clinic A (Clinician) does not allow exporting de-identified data."
    )
    assert denied_message(Role.FRONT_DESK, "clinic.manage") == (
        "Your role (Front desk) does not allow managing the clinic's members, their roles, its "
        "time zone and its phone number for patients."
    )


def test_without_a_role_the_refusal_says_so():
    assert denied_message(None, "patient.view", "Clinic A") == (
        "You have no role in Clinic A that allows opening patient records."
    )


def test_the_denied_page_says_it_in_words(client, clinic_a, make_user):
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    response = client.get("/accounts/members/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Your role in Clinic A (Clinician) does not allow managing the clinic" in page
    assert "clinic.manage" not in page
