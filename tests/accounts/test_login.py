import re

import pytest
from django.conf import settings

from anagen.accounts.roles import Role

from ..conftest import PASSWORD
from ..html import dangling_references


def test_sign_in_lands_on_the_dashboard_of_the_clinic(client, clinic_a, make_user):
    make_user(Role.NURSE, clinic_a, username="nina")
    response = client.post(
        "/accounts/login/", {"username": "nina", "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    assert b"Clinic A" in response.content and b"Nurse" in response.content


def test_wrong_password_gives_a_clear_error_and_no_session(client, clinic_a, make_user):
    make_user(Role.NURSE, clinic_a, username="nina")
    response = client.post("/accounts/login/", {"username": "nina", "password": "nope"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_repeated_failures_lock_the_account_even_with_the_right_password(
    client, clinic_a, make_user
):
    make_user(Role.NURSE, clinic_a, username="nina")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "nina", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "nina", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("typed", ["Nina", "NINA", " nina "])
def test_the_username_signs_in_whatever_its_case(client, clinic_a, make_user, typed):
    """A tablet's keyboard capitalises the first letter: "Nina" was refused as a wrong
    username or password, though no two accounts may differ only in case."""
    nina = make_user(Role.NURSE, clinic_a, username="nina")
    response = client.post("/accounts/login/", {"username": typed, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(nina.pk)


def test_failures_typed_in_any_case_count_against_the_one_account(client, clinic_a, make_user):
    make_user(Role.NURSE, clinic_a, username="nina")
    for typed in ["nina", "Nina", "NINA", "nINA", "NiNa"][: settings.AXES_FAILURE_LIMIT]:
        client.post("/accounts/login/", {"username": typed, "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "Nina", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_logout_needs_post_and_ends_the_session(client, clinic_a, make_user):
    client.force_login(make_user(Role.NURSE, clinic_a))
    assert client.get("/accounts/logout/").status_code == 405
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_password_change_checks_the_old_password_and_strength(client, clinic_a, make_user):
    user = make_user(Role.NURSE, clinic_a)
    client.force_login(user)
    bad = client.post(
        "/accounts/password/", {"old_password": "wrong", "new_password1": "x", "new_password2": "x"}
    )
    assert bad.status_code == 400 and b"old password was entered incorrectly" in bad.content
    weak = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": "12345", "new_password2": "12345"},
    )
    assert weak.status_code == 400 and b"too short" in weak.content
    # Django's password rules are a list: in a block element, referenced by the field.
    assert dangling_references(weak.content.decode()) == []
    ok = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-better-passphrase-7",
            "new_password2": "a-much-better-passphrase-7",
        },
    )
    assert ok.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-much-better-passphrase-7")


def test_after_a_password_change_the_person_sees_which_api_tokens_still_work(
    client, clinic_a, clinic_b, make_user
):
    """A changed password does not end the tokens made with the old one (a reset does): one
    changed after a theft left the thief's tokens working without a word."""
    from anagen.accounts.models import Membership
    from anagen.accounts.services import create_api_token, revoke_api_token

    user = make_user(Role.CLINICIAN, clinic_a)
    Membership.objects.create(user=user, clinic=clinic_b, role=Role.CLINICIAN)
    create_api_token(user, clinic_a, "laptop script")
    create_api_token(user, clinic_b, "unknown one")
    gone, _ = create_api_token(user, clinic_a, "old one")
    revoke_api_token(user, gone.pk)
    client.force_login(user)
    new = "a-much-better-passphrase-7"
    done = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
        follow=True,
    ).content.decode()
    assert "Your API tokens still work" in done
    assert "laptop script" in done and "unknown one" in done and clinic_b.name in done
    assert "old one" not in done
    others = make_user(Role.NURSE, clinic_a)
    client.force_login(others)
    done = client.get("/accounts/password/done/").content.decode()
    assert "Password changed" in done and "API tokens still work" not in done


def test_sessions_expire_after_inactivity_and_at_browser_close():
    assert settings.SESSION_COOKIE_AGE <= 60 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST and settings.SESSION_EXPIRE_AT_BROWSER_CLOSE


def test_a_user_without_any_clinic_is_refused(client, db):
    from anagen.accounts.models import User

    client.force_login(User.objects.create_user("lonely", password=PASSWORD))
    response = client.get("/")
    assert response.status_code == 403
    assert b"not a member of any clinic" in response.content
    # Its only link led back to the same refusal (review): it says who can help instead.
    assert b"Back to the dashboard" not in response.content
    assert b"administrator can reactivate your membership" in response.content


def test_a_person_whose_every_membership_is_deactivated_is_told_so_at_sign_in(
    client, clinic_a, make_user
):
    """A review: the sign-in succeeded onto a 'not allowed' page whose link looped to it."""
    user = make_user(Role.NURSE, clinic_a, username="nina")
    user.memberships.update(is_active=False)
    response = client.post("/accounts/login/", {"username": "nina", "password": PASSWORD})
    assert b"not an active member of any clinic" in response.content
    assert "_auth_user_id" not in client.session
    # The reason is given only with the right password: a wrong one gets the usual error.
    response = client.post("/accounts/login/", {"username": "nina", "password": "wrong"})
    assert b"not an active member" not in response.content
    user.memberships.update(is_active=True)
    response = client.post("/accounts/login/", {"username": "nina", "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" in client.session


def test_a_deactivated_membership_stops_working_at_once(client, clinic_a, make_user):
    user = make_user(Role.CLINICIAN, clinic_a)
    client.force_login(user)
    assert client.get("/patients/").status_code == 200
    user.memberships.update(is_active=False)
    assert client.get("/patients/").status_code == 403


@pytest.mark.parametrize("role", [Role.ADMIN, Role.NURSE])
def test_members_page_is_for_admins(client, clinic_a, make_user, role):
    client.force_login(make_user(role, clinic_a))
    expected = 200 if role == Role.ADMIN else 403
    assert client.get("/accounts/members/").status_code == expected


def test_admin_adds_a_member_and_unknown_usernames_are_field_errors(client, clinic_a, make_user):
    from anagen.accounts.models import User

    client.force_login(make_user(Role.ADMIN, clinic_a))
    User.objects.create_user("newbie", password=PASSWORD)
    bad = client.post("/accounts/members/", {"username": "ghost", "role": "nurse"})
    assert bad.status_code == 400 and b"No active user with this username" in bad.content
    client.post("/accounts/members/", {"username": "newbie", "role": "nurse"})
    assert User.objects.get(username="newbie").memberships.get().role == "nurse"


def test_an_admin_cannot_pull_another_clinics_staff_into_their_clinic(
    client, clinic_a, clinic_b, make_user
):
    """A security review added clinic A's admin to clinic B as B's admin (and could tell
    which usernames exist): another clinic's member is added only by an admin of both."""
    from anagen.accounts.models import Membership

    a_nurse = make_user(Role.NURSE, clinic_a, "a-nurse")
    b_admin = make_user(Role.ADMIN, clinic_b, "b-admin")
    client.force_login(b_admin)
    taken = client.post("/accounts/members/", {"username": "a-nurse", "role": "researcher"})
    ghost = client.post("/accounts/members/", {"username": "no-such-user", "role": "researcher"})
    assert taken.status_code == ghost.status_code == 400
    # The same words for both: the page does not say that a-nurse exists.
    assert taken.context["form"].errors == ghost.context["form"].errors
    assert not Membership.objects.filter(user=a_nurse, clinic=clinic_b).exists()
    # An admin of both clinics may add the nurse to the second one.
    Membership.objects.create(user=b_admin, clinic=clinic_a, role=Role.ADMIN.value)
    added = client.post("/accounts/members/", {"username": "a-nurse", "role": "nurse"})
    assert added.status_code == 302
    assert Membership.objects.get(user=a_nurse, clinic=clinic_b).role == "nurse"


@pytest.mark.parametrize(
    ("role", "export_link"),
    [(Role.RESEARCHER, True), (Role.CLINICIAN, False), (Role.NURSE, None)],
)
def test_the_dashboard_leads_to_the_evidence_pages_a_role_may_open(
    client, clinic_a, make_user, role, export_link
):
    """The researcher's dashboard was a heading and nothing else."""
    client.force_login(make_user(role, clinic_a))
    page = client.get("/").content.decode()
    if export_link is None:  # no cohort permission: no card
        assert 'id="evidence-card"' not in page
        return
    card = page[page.index('id="evidence-card"') :]
    assert 'href="/outcomes/cohort/"' in card and 'href="/outcomes/comparison/"' in card
    assert ('href="/interop/export/"' in card) is export_link
    for href in re.findall(r'href="(/[^"]+)"', card.split("</section>")[0]):
        assert client.get(href).status_code == 200, href
