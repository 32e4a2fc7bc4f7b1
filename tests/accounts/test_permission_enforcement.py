"""Every view and API endpoint checks the permission table, role by role.

URLs are discovered from the URL conf and the OpenAPI document, so a new view or
endpoint without a declared permission makes this test fail.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from anagen.accounts.roles import Role, allowed
from anagen.api.auth import required_permission
from anagen.api.v1 import api

# Views that are public or only need a signed-in user, with the reason.
PUBLIC_OR_LOGIN_ONLY = {
    "accounts:login": "the sign-in page",
    "accounts:logout": "signing out",
    "accounts:password_change": "any signed-in user changes their own password",
    "accounts:password_change_done": "confirmation page",
    "accounts:switch_clinic": "only among the user's own memberships",
    "core:healthz": "load-balancer probe, reveals no data",
}


def iter_patterns(resolvers, prefix="", namespace=""):
    for p in resolvers:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from iter_patterns(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), f"{namespace}{p.name}", p.callback


def page_views():
    for route, name, callback in iter_patterns(get_resolver().url_patterns):
        if route.startswith("api/v1/"):
            continue
        yield route, name, callback


def test_every_page_view_declares_a_permission_or_is_listed_as_public():
    missing = [
        name
        for _, name, cb in page_views()
        if not hasattr(cb, "required_permission") and name not in PUBLIC_OR_LOGIN_ONLY
    ]
    assert missing == []


def api_operations():
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for op in path_view.operations:
                for method in op.methods:
                    yield method, f"/api/v1{prefix}{path}".replace("//", "/"), op


def test_every_api_operation_declares_a_permission():
    missing = [(m, p) for m, p, op in api_operations() if required_permission(op) is None]
    assert missing == []


def fill(route: str, object_id: int) -> str:
    return "/" + re.sub(r"<int:\w+>|\{(?:int:)?\w+\}", str(object_id), route).lstrip("/")


@pytest.mark.parametrize("role", list(Role))
def test_page_views_allow_exactly_the_roles_in_the_table(
    role, clinic_a, make_user, make_patient, login
):
    owner = make_user(Role.ADMIN, clinic_a, username="owner")
    patient = make_patient(clinic_a, owner)
    client = login(make_user(role, clinic_a))
    for route, name, callback in page_views():
        perm = getattr(callback, "required_permission", None)
        if perm is None:
            continue
        response = client.get(fill(route, patient.pk))
        if allowed(role, perm):
            # Past the permission check: the page, a redirect, 405 for POST-only views, or
            # 404 where the id in the URL names another kind of object.
            assert response.status_code in (200, 302, 404, 405), (name, role, response.status_code)
        else:
            assert response.status_code == 403, (name, role, response.status_code)


@pytest.mark.parametrize("role", list(Role))
def test_api_operations_allow_exactly_the_roles_in_the_table(
    role, clinic_a, make_user, make_patient, client, api_token
):
    owner = make_user(Role.ADMIN, clinic_a, username="owner")
    patient = make_patient(clinic_a, owner)
    token = api_token(make_user(role, clinic_a), clinic_a)
    headers = {"Authorization": f"Bearer {token}"}
    for method, path, op in api_operations():
        perm = required_permission(op)
        url = fill(path, patient.pk)
        # An empty JSON body: allowed roles get past the permission check to validation.
        response = client.generic(
            method, url, data="{}", content_type="application/json", headers=headers
        )
        if allowed(role, perm):
            assert response.status_code != 403, (method, path, role)
            assert response.status_code < 500
        else:
            assert response.status_code == 403, (method, path, role, response.status_code)
            assert "detail" in response.json()


def test_anonymous_users_are_sent_to_sign_in_and_api_answers_401(client, clinic_a):
    for route, name, callback in page_views():
        if getattr(callback, "required_permission", None):
            response = client.get(fill(route, 1))
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    for method, path, _ in api_operations():
        response = client.generic(method, fill(path, 1), data="{}", content_type="application/json")
        assert response.status_code == 401, (method, path)
