"""The members page: adding members, changing roles, deactivating, and never losing the
clinic's last administrator."""

from __future__ import annotations

import pytest
from django.utils.html import escape

from anagen.accounts import services
from anagen.accounts.models import Membership, User
from anagen.accounts.roles import Role

from ..html import dangling_references, duplicate_ids


def membership(user: User, clinic) -> Membership:
    return Membership.objects.get(user=user, clinic=clinic)


def history_count(m: Membership) -> int:
    return m.history.count()


# --- the last administrator ------------------------------------------------------------------


def test_the_only_admin_cannot_demote_themselves_on_the_page_and_nothing_changes(
    client, clinic_a, make_user
):
    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    before = history_count(membership(admin, clinic_a))
    client.force_login(admin)
    response = client.post("/accounts/members/", {"username": "admin", "role": "nurse"})
    assert response.status_code == 400
    error = response.context["form"].errors["role"][0]
    assert "only active administrator of Clinic A" in error
    assert "Make another member an administrator first" in error
    assert escape(error) in response.content.decode()
    m = membership(admin, clinic_a)
    assert (m.role, m.is_active) == (Role.ADMIN.value, True)
    assert history_count(m) == before


def test_an_admin_may_be_demoted_while_another_active_admin_remains(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    make_user(Role.ADMIN, clinic_a, username="second")
    client.force_login(admin)
    response = client.post("/accounts/members/", {"username": "second", "role": "nurse"})
    assert response.status_code == 302
    assert membership(User.objects.get(username="second"), clinic_a).role == Role.NURSE.value


def test_an_inactive_admin_does_not_count_as_the_remaining_admin(clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    dormant = make_user(Role.ADMIN, clinic_a, username="dormant")
    Membership.objects.filter(user=dormant).update(is_active=False)
    with pytest.raises(services.LastAdminError):
        services.set_membership(admin, clinic_a, Role.CLINICIAN)
    assert membership(admin, clinic_a).role == Role.ADMIN.value


def test_the_service_refuses_for_every_caller_not_only_the_page(clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    with pytest.raises(services.LastAdminError, match="cannot become Nurse"):
        services.add_member(admin, clinic_a, "admin", Role.NURSE)
    with pytest.raises(services.LastAdminError, match="cannot be deactivated"):
        services.set_member_active(admin, clinic_a, membership(admin, clinic_a).pk, False)
    m = membership(admin, clinic_a)
    assert (m.role, m.is_active) == (Role.ADMIN.value, True)


def test_an_admin_of_another_clinic_does_not_keep_this_clinic_managed(
    clinic_a, clinic_b, make_user
):
    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    make_user(Role.ADMIN, clinic_b, username="admin-b")
    with pytest.raises(services.LastAdminError):
        services.set_membership(admin, clinic_a, Role.CLINICIAN)


# --- the add form ----------------------------------------------------------------------------


def test_the_role_has_no_default_and_must_be_chosen(client, clinic_a, make_user):
    client.force_login(make_user(Role.ADMIN, clinic_a, username="admin"))
    User.objects.create_user(username="newcomer", password="x" * 12)
    page = client.get("/accounts/members/").content.decode()
    assert '<option value="" selected>Choose a role</option>' in page
    assert not duplicate_ids(page) and not dangling_references(page)
    response = client.post("/accounts/members/", {"username": "newcomer", "role": ""})
    assert response.status_code == 400
    assert response.context["form"].errors["role"] == ["Choose a role."]
    assert not Membership.objects.filter(user__username="newcomer").exists()


def test_the_success_message_names_the_person_and_the_role_in_words(client, clinic_a, make_user):
    client.force_login(make_user(Role.ADMIN, clinic_a, username="admin"))
    User.objects.create_user(username="fd", password="x" * 12, first_name="Fran", last_name="Desk")
    User.objects.create_user(username="nameless", password="x" * 12)
    response = client.post(
        "/accounts/members/", {"username": "fd", "role": "front_desk"}, follow=True
    )
    assert "Fran Desk is now Front desk." in response.content.decode()
    response = client.post(
        "/accounts/members/", {"username": "nameless", "role": "nurse"}, follow=True
    )
    assert "nameless is now Nurse." in response.content.decode()


def test_a_role_change_is_in_the_history_with_who_made_it(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    nurse = make_user(Role.NURSE, clinic_a, username="nina")
    client.force_login(admin)
    client.post("/accounts/members/", {"username": "nina", "role": "clinician"})
    last = membership(nurse, clinic_a).history.order_by("-history_id").first()
    assert (last.role, last.history_user, last.history_change_reason) == (
        Role.CLINICIAN.value,
        admin,
        "role set to Clinician",
    )


# --- deactivating and reactivating ----------------------------------------------------------


def test_an_admin_deactivates_and_reactivates_a_member_with_history(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    nurse = make_user(Role.NURSE, clinic_a, username="nina")
    m = membership(nurse, clinic_a)
    client.force_login(admin)
    page = client.get("/accounts/members/").content.decode()
    assert f'action="/accounts/members/{m.pk}/deactivate/"' in page

    response = client.post(f"/accounts/members/{m.pk}/deactivate/", follow=True)
    assert "nina is deactivated." in response.content.decode()
    m.refresh_from_db()
    assert not m.is_active and m.role == Role.NURSE.value
    assert f'action="/accounts/members/{m.pk}/reactivate/"' in response.content.decode()

    response = client.post(f"/accounts/members/{m.pk}/reactivate/", follow=True)
    assert "nina is active again." in response.content.decode()
    m.refresh_from_db()
    assert m.is_active
    reasons = [h.history_change_reason for h in m.history.order_by("history_id")][-2:]
    users = [h.history_user for h in m.history.order_by("history_id")][-2:]
    assert reasons == ["deactivated", "reactivated"] and users == [admin, admin]


def test_deactivation_revokes_the_members_tokens_for_good(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    nurse = make_user(Role.NURSE, clinic_a, username="nina")
    _, raw = services.create_api_token(nurse, clinic_a, "laptop")
    assert services.authenticate_token(raw) is not None
    m = membership(nurse, clinic_a)
    client.force_login(admin)
    client.post(f"/accounts/members/{m.pk}/deactivate/")
    assert services.authenticate_token(raw) is None
    client.post(f"/accounts/members/{m.pk}/reactivate/")
    # Reactivated, the member signs in again but the old token stays dead.
    assert services.authenticate_token(raw) is None
    reasons = [h.history_change_reason for h in m.history.order_by("history_id")][-2:]
    assert reasons == ["deactivated; 1 API token revoked", "reactivated"]


def test_tokens_ended_by_a_deactivation_or_a_password_reset_show_their_revocation_in_history(
    clinic_a, make_user
):
    """A token's history says when it stopped and who stopped it, whichever way: the member's
    own revocation was audited, one ended by their administrator left the token's history
    reading "created" only, as if it still worked."""
    from anagen.accounts.models import ApiToken

    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    nurse = make_user(Role.NURSE, clinic_a, username="nina")
    laptop, _ = services.create_api_token(nurse, clinic_a, "laptop")
    services.set_member_active(admin, clinic_a, membership(nurse, clinic_a).pk, False)
    services.set_member_active(admin, clinic_a, membership(nurse, clinic_a).pk, True)
    phone, _ = services.create_api_token(nurse, clinic_a, "phone")
    services.reset_password(admin, clinic_a, membership(nurse, clinic_a).pk)
    for token, reason in (
        (laptop, "API token revoked: nina deactivated in Clinic A"),
        (phone, "API token revoked: temporary password set by an administrator of Clinic A"),
    ):
        stored = ApiToken.objects.get(pk=token.pk)
        row = stored.history.order_by("history_id").last()
        assert (row.history_type, row.history_user, row.history_change_reason) == (
            "~", admin, reason,
        )  # fmt: skip
        assert row.revoked_at == stored.revoked_at is not None
    # A token revoked before is not revoked again (no second row).
    assert laptop.history.count() == 2


def test_a_deactivated_member_loses_the_clinic(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    nurse = make_user(Role.NURSE, clinic_a, username="nina")
    client.force_login(admin)
    client.post(f"/accounts/members/{membership(nurse, clinic_a).pk}/deactivate/")
    assert nurse.membership_for(clinic_a) is None


def test_deactivating_the_last_admin_is_refused_with_a_clear_message(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    m = membership(admin, clinic_a)
    before = history_count(m)
    client.force_login(admin)
    response = client.post(f"/accounts/members/{m.pk}/deactivate/", follow=True)
    assert "only active administrator of Clinic A and cannot be deactivated" in (
        response.content.decode()
    )
    m.refresh_from_db()
    assert m.is_active and history_count(m) == before


def test_another_clinics_membership_is_404_and_untouched(client, clinic_a, clinic_b, make_user):
    client.force_login(make_user(Role.ADMIN, clinic_a, username="admin"))
    other = make_user(Role.NURSE, clinic_b, username="other")
    m = membership(other, clinic_b)
    assert client.post(f"/accounts/members/{m.pk}/deactivate/").status_code == 404
    m.refresh_from_db()
    assert m.is_active


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_admins_may_deactivate(role, client, clinic_a, make_user):
    make_user(Role.ADMIN, clinic_a, username="admin")
    target = make_user(Role.NURSE, clinic_a, username="target")
    client.force_login(make_user(role, clinic_a, username="actor"))
    m = membership(target, clinic_a)
    assert client.post(f"/accounts/members/{m.pk}/deactivate/").status_code == 403
    m.refresh_from_db()
    assert m.is_active


def test_deactivation_is_post_only(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    nurse = make_user(Role.NURSE, clinic_a, username="nina")
    client.force_login(admin)
    m = membership(nurse, clinic_a)
    assert client.get(f"/accounts/members/{m.pk}/deactivate/").status_code == 405
    m.refresh_from_db()
    assert m.is_active


# --- new accounts and temporary passwords ---------------------------------------------------


def _temporary_password(response) -> str:
    import re

    return re.search(r'<code id="temporary-password">([^<]+)</code>', response.content.decode())[1]


def test_an_admin_creates_an_account_whose_password_must_be_changed_first(
    client, clinic_a, make_user
):
    """Nowhere in the app could an account be made: the docs said `anagen shell`."""
    admin = make_user(Role.ADMIN, clinic_a, username="boss")
    client.force_login(admin)
    page = client.get("/accounts/members/").content.decode()
    assert duplicate_ids(page) == [] and dangling_references(page) == []
    data = {"new_username": "nina", "first_name": "Nina", "last_name": "Nurse",
            "email": "nina@example.org", "new_role": "nurse"}  # fmt: skip
    response = client.post("/accounts/members/new/", data)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    password = _temporary_password(response)
    nina = User.objects.get(username="nina")
    assert nina.password_must_change and nina.check_password(password)
    assert password not in nina.password  # stored hashed only
    assert membership(nina, clinic_a).role == Role.NURSE.value
    assert nina.history.first().history_user == admin
    # The same username again (any case) is refused, naming the field.
    again = client.post("/accounts/members/new/", {**data, "new_username": "NINA"})
    assert again.status_code == 400 and "new_username" in again.context["account_form"].errors
    # Signed in with it, every page leads to the password change, until it is changed.
    client.logout()
    signed_in = client.post("/accounts/login/", {"username": "nina", "password": password})
    assert signed_in.status_code == 302
    assert client.get("/patients/")["Location"] == "/accounts/password/"
    change = client.get("/accounts/password/").content.decode()
    assert "You signed in with a temporary password" in change
    done = client.post(
        "/accounts/password/",
        {"old_password": password, "new_password1": "a-Long-own-pass-2026",
         "new_password2": "a-Long-own-pass-2026"},
    )  # fmt: skip
    assert done.status_code == 302
    nina.refresh_from_db()
    assert not nina.password_must_change
    assert client.get("/patients/").status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [("new_username", "has space"), ("first_name", ""), ("email", "not-an-email")],
)
def test_bad_account_fields_are_refused_naming_the_field(client, clinic_a, make_user, field, value):
    admin = make_user(Role.ADMIN, clinic_a, username="boss")
    client.force_login(admin)
    data = {"new_username": "nina", "first_name": "Nina", "last_name": "Nurse", "email": "",
            "new_role": "nurse", field: value}  # fmt: skip
    response = client.post("/accounts/members/new/", data)
    assert response.status_code == 400 and field in response.context["account_form"].errors
    assert not User.objects.filter(username__in=["nina", "has space"]).exists()


def test_an_admin_resets_a_members_password_but_not_another_clinics_staff(
    client, clinic_a, clinic_b, make_user
):
    admin = make_user(Role.ADMIN, clinic_a, username="boss")
    nurse = make_user(Role.NURSE, clinic_a, username="nora")
    shared = make_user(Role.NURSE, clinic_a, username="shared")
    services.set_membership(shared, clinic_b, Role.NURSE)
    client.force_login(admin)
    response = client.post(f"/accounts/members/{membership(nurse, clinic_a).pk}/reset-password/")
    assert response.status_code == 200
    nurse.refresh_from_db()
    assert nurse.password_must_change and nurse.check_password(_temporary_password(response))
    refused = client.post(
        f"/accounts/members/{membership(shared, clinic_a).pk}/reset-password/", follow=True
    )
    assert "a clinic you do not administer" in refused.content.decode()
    shared.refresh_from_db()
    assert not shared.password_must_change
    # Another clinic's membership id is not found here; nurses cannot reset at all.
    other = make_user(Role.NURSE, clinic_b, username="other")
    url = f"/accounts/members/{membership(other, clinic_b).pk}/reset-password/"
    assert client.post(url).status_code == 404
    client.force_login(make_user(Role.NURSE, clinic_a, username="plain"))
    assert (
        client.post(
            f"/accounts/members/{membership(admin, clinic_a).pk}/reset-password/"
        ).status_code
        == 403
    )


def test_the_members_page_offers_a_reset_only_where_the_administrator_may_make_it(
    client, clinic_a, clinic_b, make_user
):
    admin = make_user(Role.ADMIN, clinic_a, username="boss")
    make_user(Role.NURSE, clinic_a, username="nora")
    shared = make_user(Role.NURSE, clinic_a, username="shared")
    services.set_membership(shared, clinic_b, Role.NURSE)
    client.force_login(admin)
    html = client.get("/accounts/members/").content.decode()
    assert 'aria-label="Set a temporary password for nora"' in html
    assert 'aria-label="Set a temporary password for shared"' not in html
    assert "Password reset by their other clinic's administrator" in html
    # Once the administrator also administers the other clinic, the reset is theirs to make.
    services.set_membership(admin, clinic_b, Role.ADMIN)
    html = client.get("/accounts/members/").content.decode()
    assert 'aria-label="Set a temporary password for shared"' in html


def test_a_temporary_password_opens_neither_the_api_nor_itself_as_the_new_one(
    client, clinic_a, make_user, api_token
):
    admin = make_user(Role.ADMIN, clinic_a, username="boss")
    nurse = make_user(Role.NURSE, clinic_a, username="nora")
    token = api_token(nurse, clinic_a)
    _, password = services.reset_password(admin, clinic_a, membership(nurse, clinic_a).pk)
    # The reset ends the tokens made with the old password.
    assert (
        client.get("/api/v1/patients", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    assert (
        client.post("/accounts/login/", {"username": "nora", "password": password}).status_code
        == 302
    )
    api = client.get("/api/v1/patients")
    assert api.status_code == 403 and "Choose your own password first" in api.json()["detail"]
    same = client.post(
        "/accounts/password/",
        {"old_password": password, "new_password1": password, "new_password2": password},
    )
    assert same.status_code == 400
    assert "other than the temporary one" in same.content.decode()
    nurse.refresh_from_db()
    assert nurse.password_must_change


def test_the_database_refuses_a_username_differing_only_in_case(clinic_a, make_user):
    # The service checks first; the constraint covers two creations at the same instant,
    # where both checks pass before either row is written.
    from django.db import IntegrityError, transaction

    make_user(Role.NURSE, clinic_a, username="Nina")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="nina")
    assert list(
        User.objects.filter(username__iexact="nina").values_list("username", flat=True)
    ) == ["Nina"]


# --- staff shared between clinics (security review 2026-12-06) ------------------------------


def test_a_deactivated_member_cannot_be_taken_over_by_another_clinic(
    client, clinic_a, clinic_b, make_user
):
    """The review: A deactivated its nurse; B's admin added the nurse to B, reset the
    password, and once A reactivated the nurse, signed in as them and read A's patients."""
    make_user(Role.ADMIN, clinic_a, username="a-admin")
    nurse = make_user(Role.NURSE, clinic_a, username="nurse")
    Membership.objects.filter(user=nurse, clinic=clinic_a).update(is_active=False)
    b_admin = make_user(Role.ADMIN, clinic_b, username="b-admin")
    client.force_login(b_admin)
    taken = client.post("/accounts/members/", {"username": "nurse", "role": "nurse"})
    assert taken.status_code == 400
    assert taken.context["form"].errors["username"] == [services.NOT_ADDABLE]
    assert not Membership.objects.filter(user=nurse, clinic=clinic_b).exists()
    nurse.refresh_from_db()
    assert not nurse.password_must_change


def test_a_member_shared_with_another_clinic_has_the_role_changed_by_either(
    client, clinic_a, clinic_b, make_user
):
    """The review: A's admin could not demote its own nurse once B had added them too."""
    a_admin = make_user(Role.ADMIN, clinic_a, username="a-admin")
    shared = make_user(Role.CLINICIAN, clinic_a, username="shared")
    services.set_membership(shared, clinic_b, Role.NURSE)
    client.force_login(a_admin)
    response = client.post("/accounts/members/", {"username": "shared", "role": "nurse"})
    assert response.status_code == 302
    assert membership(shared, clinic_a).role == Role.NURSE.value
    assert membership(shared, clinic_b).role == Role.NURSE.value  # B's role untouched


def test_the_username_is_matched_whatever_its_case(client, clinic_a, make_user):
    client.force_login(make_user(Role.ADMIN, clinic_a, username="admin"))
    newcomer = User.objects.create_user(username="Newcomer", password="x" * 12)
    response = client.post("/accounts/members/", {"username": " newcomer ", "role": "nurse"})
    assert response.status_code == 302
    assert membership(newcomer, clinic_a).role == Role.NURSE.value


def test_an_admin_cannot_deactivate_themselves_while_another_admin_can(client, clinic_a, make_user):
    """An admin deactivated their own membership and landed on a 403 (review)."""
    admin = make_user(Role.ADMIN, clinic_a, username="admin")
    make_user(Role.ADMIN, clinic_a, username="second")
    with pytest.raises(services.AccountError, match="cannot deactivate yourself"):
        services.set_member_active(admin, clinic_a, membership(admin, clinic_a).pk, False)
    assert membership(admin, clinic_a).is_active
    client.force_login(admin)
    page = client.get("/accounts/members/").content.decode()
    assert 'aria-label="Deactivate admin"' not in page and 'aria-label="Deactivate second"' in page


def test_a_username_is_stored_as_the_sign_in_form_reads_it(client, clinic_a, make_user):
    """A username typed in full-width letters ("ｊｏｅ") was stored as typed, while the sign-in
    form reads "joe": the account could never sign in, and it passed beside a "joe" (review)."""
    client.force_login(make_user(Role.ADMIN, clinic_a, username="boss"))
    data = {"new_username": "ｊｏｅ", "first_name": "Joe", "last_name": "Wide", "email": "",
            "new_role": "nurse"}  # fmt: skip
    response = client.post("/accounts/members/new/", data)
    assert response.status_code == 200
    password = _temporary_password(response)
    assert User.objects.filter(username="joe").exists()
    client.logout()
    signed_in = client.post("/accounts/login/", {"username": "ｊｏｅ", "password": password})
    assert signed_in.status_code == 302
    # The same name in other letters is the same name: refused.
    client.force_login(User.objects.get(username="boss"))
    again = client.post("/accounts/members/new/", {**data, "new_username": "ＪＯＥ"})
    assert again.status_code == 400 and "new_username" in again.context["account_form"].errors
    # and found as that member on the role form.
    changed = client.post("/accounts/members/", {"username": "ｊｏｅ", "role": "clinician"})
    assert changed.status_code == 302
    assert membership(User.objects.get(username="joe"), clinic_a).role == Role.CLINICIAN.value
