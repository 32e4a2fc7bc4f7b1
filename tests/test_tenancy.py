"""One clinic never sees another's patients: 404 (not 403) for every object URL.

Object URLs are discovered from the URL conf and the API router, so new views and
endpoints are covered without editing this test. Each URL is requested by a user of
clinic A whose role holds that URL's permission, so the answer is about tenancy, not role.
"""

from __future__ import annotations

import pytest

from anagen.accounts.models import Membership
from anagen.accounts.roles import Role, allowed
from anagen.api.auth import required_permission

from .accounts.test_permission_enforcement import api_operations, fill, page_views


@pytest.fixture
def two_clinics(clinic_a, clinic_b, make_user, make_patient):
    users_a = {role: make_user(role, clinic_a, username=f"{role.value}-a") for role in Role}
    admin_b = make_user(Role.ADMIN, clinic_b, username="admin-b")
    patient_b = make_patient(clinic_b, admin_b, given_name="Secret", family_name="Bpatient")
    return users_a, patient_b


def user_for(users: dict, permission: str | None):
    if permission is None:
        return users[Role.ADMIN]
    return next(u for role, u in users.items() if allowed(role, permission))


def object_routes(routes):
    return [r for r in routes if "<int:" in r[0] or "{" in r[0]]


def test_every_page_with_an_object_of_another_clinic_is_404(client, two_clinics):
    users, patient_b = two_clinics
    routes = object_routes(list(page_views()))
    assert routes, "no object URLs discovered"
    for route, name, callback in routes:
        client.force_login(user_for(users, getattr(callback, "required_permission", None)))
        # A membership URL takes a membership id: clinic B's, not the patient's pk, which
        # may happen to be the id of one of clinic A's own memberships.
        object_id = patient_b.pk
        if "<int:membership_id>" in route:
            object_id = Membership.objects.get(user__username="admin-b").pk
        url = fill(route, object_id)
        # GET on a POST-only view is refused by method before any lookup: nothing leaks.
        get = client.get(url)
        assert get.status_code in (404, 405), (name, get.status_code)
        assert b"Secret" not in get.content
        post = client.post(url, {"reason": "tenancy check"})
        assert post.status_code in (404, 405), (name, post.status_code)
        assert b"Secret" not in post.content
    assert Membership.objects.get(user__username="admin-b").is_active


def test_every_api_endpoint_with_an_object_of_another_clinic_is_404(
    client, two_clinics, api_token, clinic_a
):
    users, patient_b = two_clinics
    ops = [o for o in api_operations() if "{" in o[1]]
    assert ops, "no object endpoints discovered"
    for method, path, op in ops:
        user = user_for(users, required_permission(op))
        headers = {"Authorization": f"Bearer {api_token(user, clinic_a)}"}
        body = '{"reason": "checking tenancy", "given_name": "Mallory"}'
        response = client.generic(
            method,
            fill(path, patient_b.pk),
            data=body,
            content_type="application/json",
            headers=headers,
        )
        # 404 for the other clinic's object; 422 only where the body is checked first
        # against the schema, which reveals nothing about any object.
        assert response.status_code in (404, 422), (method, path, response.status_code)
        assert "Secret" not in response.content.decode()
    patient_b.refresh_from_db()
    assert patient_b.given_name == "Secret" and not patient_b.is_voided


def test_lists_and_search_show_only_the_own_clinic(client, two_clinics, api_token, clinic_a):
    users, patient_b = two_clinics
    client.force_login(users[Role.ADMIN])
    assert b"Bpatient" not in client.get("/patients/?q=Secret").content
    headers = {"Authorization": f"Bearer {api_token(users[Role.ADMIN], clinic_a)}"}
    data = client.get("/api/v1/patients?q=Secret", headers=headers).json()
    assert data["count"] == 0


def test_a_token_of_clinic_a_stays_in_clinic_a_even_if_the_user_joins_clinic_b(
    client, two_clinics, api_token, clinic_a, clinic_b
):
    from anagen.accounts.services import set_membership

    users, patient_b = two_clinics
    admin_a = users[Role.ADMIN]
    token = api_token(admin_a, clinic_a)
    set_membership(admin_a, clinic_b, Role.CLINICIAN)
    response = client.get(
        f"/api/v1/patients/{patient_b.pk}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404


def test_switching_to_a_clinic_one_is_not_a_member_of_is_404(client, two_clinics, clinic_b):
    users, patient_b = two_clinics
    client.force_login(users[Role.ADMIN])
    response = client.post("/accounts/clinic/switch/", {"clinic_id": clinic_b.pk})
    assert response.status_code == 404
    assert client.get(f"/patients/{patient_b.pk}/").status_code == 404


def test_switching_clinic_returns_only_to_a_page_of_this_site_and_never_from_https_to_http(
    client, two_clinics, clinic_a, clinic_b
):
    from anagen.accounts.services import set_membership

    users, _ = two_clinics
    admin = users[Role.ADMIN]
    set_membership(admin, clinic_b, Role.CLINICIAN)
    client.force_login(admin)

    def switch(to, nxt, secure=False):
        return client.post(
            "/accounts/clinic/switch/", {"clinic_id": to.pk, "next": nxt}, secure=secure
        )

    assert switch(clinic_b, "/patients/")["Location"] == "/patients/"
    assert switch(clinic_a, "https://evil.example/patients/")["Location"] == "/"
    assert switch(clinic_b, "http://testserver/patients/", secure=True)["Location"] == "/"
    assert (
        switch(clinic_a, "https://testserver/patients/", secure=True)["Location"]
        == "https://testserver/patients/"
    )
