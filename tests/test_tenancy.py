"""One clinic never sees another's records: 404 (not 403) for every object URL.

Object URLs are discovered from the URL conf and the API router, so new views and
endpoints are covered without editing this test. Clinic B holds one real record of every
kind a URL names by id (a patient, plan, consent, lot, document, product, storage
location, reading, session, appointment, visit, measurement, photo, analysis, comparison,
adverse event, decision, rule override, API token, membership, audit entry), and each URL is
asked for with those ids, two ways:

- clinic B's patient with clinic B's record, and
- clinic A's own patient with clinic B's record (the record must be looked up through the
  patient, not by its id alone).

Each request is made by every role of clinic A that holds the URL's permission, so the
answer is about tenancy, not role. Nothing may be shown or written: a GET is 404 (405 for a
POST-only view), a POST is 404 (405 for a GET-only view), the API answers 404, and no row of
either clinic is added. Ids of clinic B in request bodies (a lot in a session's vial draw, a
visit in an adverse event, a photo to compare with...) are refused the same way.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.urls import resolve
from django.utils import timezone

from anagen.accounts.models import AccessLog, Membership, User
from anagen.accounts.roles import Role, allowed
from anagen.api.auth import required_permission

from . import builders
from ._tenancy_world import build_records
from .accounts.test_permission_enforcement import api_operations, page_views

HistoricalUser = User.history.model

# What clinic B's records show, any of which in an answer to clinic A is a leak.
CLINIC_B_TEXT = ("Secret", "Bpatient", "LOT-B", "Fridge B", "clinic B's script")

ID = re.compile(r"<(?:int|str):(\w+)>|\{(?:int:)?(\w+)\}")
# The void URLs name their record `object_id`; the path segment before it says its kind.
OBJECT_KINDS = {
    "visits": "visit_id", "photos": "photo_id", "measurements": "measurement_id",
    "adverse-events": "event_id", "decisions": "decision_id", "appointments": "scheduled_id",
}  # fmt: skip
# The audit trail's URLs name a kind of record and one of its history rows.
RECORD_KIND = "patients.Patient"


def id_names(route: str) -> list[str]:
    return [a or b for a, b in ID.findall(route)]


def fill_ids(route: str, ids: dict[str, int]) -> str:
    """``route`` with each id parameter replaced by the record of that kind in ``ids``."""

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name in ("record_label", "record_kind"):
            return RECORD_KIND
        if name == "object_id":
            name = OBJECT_KINDS[route[: match.start()].rstrip("/").rsplit("/", 1)[-1]]
        assert name in ids, f"clinic B has no record for {name}: add one to build_records"
        return str(ids[name])

    return "/" + ID.sub(value, route).lstrip("/")


def urls_for(route: str, ids_b: dict[str, int], patient_a) -> list[tuple[str, str]]:
    """(which, url): clinic B's patient and record; and, where the URL names a record under a
    patient, the same record under clinic A's own patient."""
    out = [("clinic B's patient", fill_ids(route, ids_b))]
    names = id_names(route)
    if "patient_id" in names and len(names) > 1:
        out.append(("clinic A's patient", fill_ids(route, ids_b | {"patient_id": patient_a.pk})))
    return out


def row_counts() -> dict[str, int]:
    """Rows of every Anagen table (records and their history), but the access log (opening
    clinic A's own patient may be logged before the other clinic's record is refused) and
    the users' history (signing in stores the time of the last sign-in)."""
    return {
        m._meta.label: m.objects.count()
        for m in apps.get_models()
        if m.__module__.startswith("anagen.") and m not in (AccessLog, HistoricalUser)
    }


def users_for(users: dict, permission: str | None) -> list:
    """Every user of clinic A whose role holds ``permission`` (the admin where none is
    needed)."""
    if permission is None:
        return [users[Role.ADMIN]]
    return [u for role, u in users.items() if allowed(role, permission)]


def assert_nothing_of_clinic_b(response, what) -> None:
    text = response.content.decode(errors="replace")
    shown = [t for t in CLINIC_B_TEXT if t in text]
    assert not shown, (what, response.status_code, shown)


@pytest.fixture
def two_clinics(clinic_a, clinic_b, make_user, make_patient):
    users_a = {role: make_user(role, clinic_a, username=f"{role.value}-a") for role in Role}
    admin_b = make_user(Role.ADMIN, clinic_b, username="admin-b")
    patient_b = make_patient(clinic_b, admin_b, given_name="Secret", family_name="Bpatient")
    return users_a, patient_b


@pytest.fixture
def world(
    clinic_a, clinic_b, make_user, make_patient, settings, tmp_path,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """Clinic B's records first, then clinic A's users and patient (with records of its own
    for the request-body checks): no id of clinic B is also the id of a record of clinic A."""
    settings.MEDIA_ROOT = tmp_path
    capture = django_capture_on_commit_callbacks
    admin_b = make_user(Role.ADMIN, clinic_b, username="admin-b")
    patient_b = make_patient(
        clinic_b, admin_b, given_name="Secret", family_name="Bpatient", sex_at_birth="male"
    )
    ids_b = build_records(clinic_b, admin_b, patient_b, capture, "B")
    users_a = {role: make_user(role, clinic_a, username=f"{role.value}-a") for role in Role}
    patient_a = make_patient(clinic_a, users_a[Role.ADMIN], sex_at_birth="male")
    ids_a = build_records(clinic_a, users_a[Role.ADMIN], patient_a, capture, "A")
    return users_a, patient_a, ids_a, ids_b


def test_every_page_naming_a_record_of_another_clinic_is_404(client, world):
    users, patient_a, _, ids_b = world
    routes = [r for r in page_views() if id_names(r[0])]
    assert routes, "no object URLs discovered"
    before = row_counts()
    for route, name, callback in routes:
        for user in users_for(users, getattr(callback, "required_permission", None)):
            client.force_login(user)
            for which, url in urls_for(route, ids_b, patient_a):
                what = (name, which, user.username)
                # GET on a POST-only view is refused by method before any lookup.
                get = client.get(url)
                assert get.status_code in (404, 405), (*what, "GET", get.status_code)
                assert_nothing_of_clinic_b(get, what)
                counts = row_counts()
                post = client.post(url, {"reason": "tenancy check"})
                assert post.status_code in (404, 405), (*what, "POST", post.status_code)
                assert_nothing_of_clinic_b(post, what)
                assert row_counts() == counts, what
    assert row_counts() == before
    assert (
        not AccessLog.objects.filter(patient_id=ids_b["patient_id"])
        .exclude(user__username="admin-b")
        .exists()
    )
    assert Membership.objects.get(pk=ids_b["membership_id"]).is_active


def api_bodies(ids: dict[str, int]) -> dict[tuple[str, str], dict]:
    """A body each write endpoint accepts (the right fields, of the right types), so that the
    answer is the record's lookup, not the schema's 422. Ids in them are ``ids``'s."""
    today = timezone.localdate()
    reason = {"reason": "tenancy check"}
    patient, monitoring = "/api/v1/patients/{int:patient_id}", "/api/v1/monitoring/patients"
    consultation, lot = (
        "/api/v1/consultation/{int:patient_id}",
        "/api/v1/products/lots/{int:lot_id}",
    )
    imaging = "/api/v1/imaging/patients/{int:patient_id}"
    return {
        ("PATCH", patient): {"given_name": "Mallory"},
        ("POST", f"{patient}/void"): reason,
        ("POST", f"{patient}/restore"): reason,
        ("POST", f"{consultation}/history"): builders.history_answers(),
        ("POST", f"{consultation}/screening"): {},
        ("POST", f"{consultation}/screening/overrides"): {"modality": "prp"} | reason,
        ("POST", f"{consultation}/exams"): {"norwood_hamilton": "III"},
        ("POST", f"{consultation}/diagnoses"): {"condition": "aga_male", "stage": "III"},
        ("POST", f"{consultation}/plans"): {"proposal_key": "exosome"},
        ("PATCH", f"{consultation}/plans/{{int:plan_id}}"): {"notes": "Mallory's plan"},
        ("POST", f"{consultation}/plans/{{int:plan_id}}/cancel"): reason,
        ("POST", f"{consultation}/plans/{{int:plan_id}}/consents"): {
            "modality": "exosome",
            "signed_name": "Mallory",
            "signed_on": str(today),
        },
        ("POST", f"{consultation}/consents/{{int:consent_id}}/withdraw"): reason,
        ("POST", f"{lot}/correct"): {"supplier_notes": "Mallory's note"} | reason,
        ("PUT", f"{lot}/coa"): {"testing_laboratory": "Mallory Labs"},
        ("POST", f"{lot}/coa/pdf"): {},
        ("POST", f"{lot}/release"): reason,
        ("POST", f"{lot}/reject"): reason,
        ("POST", f"{lot}/override"): reason,
        ("POST", f"{lot}/override/approve"): {},
        ("POST", f"{lot}/excursions/decide"): {"decision": "use"} | reason,
        ("POST", f"{lot}/waste"): {"quantity": 1} | reason,
        ("POST", f"{lot}/recall"): reason,
        ("POST", "/api/v1/products/locations/{int:location_id}/readings"): {
            "recorded_at": timezone.now().isoformat(),
            "temperature_c": 5,
        },
        (
            "POST",
            "/api/v1/products/locations/{int:location_id}/readings/{int:reading_id}/void",
        ): reason,
        ("POST", f"{monitoring}/{{int:patient_id}}/schedule"): {
            "first_session_date": str(today),
            "sessions_planned": 3,
            "interval_weeks": 4,
        },
        ("POST", f"{monitoring}/{{int:patient_id}}/schedule/{{int:scheduled_id}}/reschedule"): {
            "due_date": str(today + timedelta(days=14))
        }
        | reason,
        ("POST", f"{monitoring}/{{int:patient_id}}/courses/{{int:plan_id}}/end"): reason,
        ("POST", f"{monitoring}/{{int:patient_id}}/appointments"): {
            "due_date": str(today + timedelta(days=7))
        },
        ("POST", f"{monitoring}/{{int:patient_id}}/schedule/{{int:scheduled_id}}/status"): {
            "status": "missed"
        }
        | reason,
        ("POST", f"{monitoring}/{{int:patient_id}}/visits"): {
            "visit_date": str(today),
            "scheduled_visit_id": ids["scheduled_id"],
        },
        ("PATCH", f"{monitoring}/{{int:patient_id}}/visits/{{int:visit_id}}"): {
            "change_reason": "tenancy check",
            "notes": "Mallory's note",
        },
        ("POST", f"{monitoring}/{{int:patient_id}}/visits/{{int:visit_id}}/decision"): {
            "decision": "continue_as_planned",
            "rationale": "tenancy check",
        },
        ("POST", f"{monitoring}/{{int:patient_id}}/adverse-events"): {
            "term_key": "pain",
            "grade": 1,
            "onset_date": str(today),
            "visit_id": ids["visit_id"],
        },
        ("PATCH", f"{monitoring}/{{int:patient_id}}/adverse-events/{{int:event_id}}"): {
            "description": "Mallory's note",
            "visit_id": ids["visit_id"],
        },
        ("PATCH", f"{monitoring}/{{int:patient_id}}/measurements/{{int:measurement_id}}"): {
            "change_reason": "tenancy check",
            "density_per_cm2": 160,
        },
        **{
            ("POST", f"{monitoring}/{{int:patient_id}}/{kind}/{{int:{name}}}/void"): reason
            for kind, name in (
                ("visits", "visit_id"),
                ("photos", "photo_id"),
                ("decisions", "decision_id"),
                ("measurements", "measurement_id"),
                ("adverse-events", "event_id"),
                ("schedule", "scheduled_id"),
            )
        },
        ("POST", f"{imaging}/analyses/{{int:analysis_id}}/corrections"): {
            "op": "delete",
            "hair_id": 1,
        },
        ("POST", f"{imaging}/analyses/{{int:analysis_id}}/record"): {},
        ("POST", f"{imaging}/photos/{{int:photo_id}}/analyse"): {"um_per_px": 5.0},
        ("POST", f"{imaging}/photos/{{int:photo_id}}/compare"): {
            "before_photo_id": ids["before_photo_id"]
        },
        ("POST", "/api/v1/sessions/{int:patient_id}"): {
            "plan_id": ids["plan_id"],
            "modality": "exosome",
            "performed_on": str(today),
        },
        ("POST", "/api/v1/sessions/{int:patient_id}/{int:session_id}/void"): reason,
    }


def test_every_api_endpoint_naming_a_record_of_another_clinic_is_404(
    client, world, api_token, clinic_a
):
    users, patient_a, _, ids_b = world
    ops = [o for o in api_operations() if id_names(o[1])]
    assert ops, "no object endpoints discovered"
    bodies = api_bodies(ids_b)
    tokens = {u.pk: api_token(u, clinic_a) for u in users.values()}
    before = row_counts()
    for method, path, op in ops:
        if method == "GET":
            body = {}
        else:
            assert (method, path) in bodies, f"add a body for {method} {path} to api_bodies"
            body = bodies[method, path]
        for user in users_for(users, required_permission(op)):
            headers = {"Authorization": f"Bearer {tokens[user.pk]}"}
            for which, url in urls_for(path, ids_b, patient_a):
                what = (method, path, which, user.username)
                counts = row_counts()
                response = client.generic(
                    method, url, data=json.dumps(body), content_type="application/json",
                    headers=headers,
                )  # fmt: skip
                assert response.status_code == 404, (*what, response.content[:300])
                assert_nothing_of_clinic_b(response, what)
                assert row_counts() == counts, what
    assert row_counts() == before
    assert (
        not AccessLog.objects.filter(patient_id=ids_b["patient_id"])
        .exclude(user__username="admin-b")
        .exists()
    )


# Ids in request bodies: (what, method, path, body from the ids, the id taken from clinic B).
# Each body is accepted with clinic A's own ids (the check's control), and refused, writing
# nothing, with that one id of clinic B's.
SESSION_MAP = [{"zone": "vertex", "points": 20, "volume_ml": "0.5"}]


def session_body(ids: dict[str, int]) -> dict:
    """A session of today under ``plan_id`` drawing one vial of ``lot_id``."""
    return {
        "plan_id": ids["plan_id"], "modality": "exosome", "needle_gauge": 30,
        "depth_mm": "1.5", "performed_on": str(timezone.localdate()),
        "confirm_schedule": True, "map": SESSION_MAP,
        "vials": [{"lot_id": ids["lot_id"], "quantity": 1}],
    }  # fmt: skip


BODY_CASES = [
    (
        "a session drawing a vial of clinic B's lot",
        "POST", "/api/v1/sessions/{patient_id}",
        session_body,
        "lot_id",
    ),
    (
        "a session under clinic B's plan",
        "POST", "/api/v1/sessions/{patient_id}",
        session_body,
        "plan_id",
    ),
    (
        "an adverse event seen at clinic B's visit",
        "POST", "/api/v1/monitoring/patients/{patient_id}/adverse-events",
        lambda ids: {
            "term_key": "pruritus", "grade": 1,
            "onset_date": str(timezone.localdate() - timedelta(days=2)),
            "visit_id": ids["visit_id"],
        },
        "visit_id",
    ),
    (
        "an adverse event moved to clinic B's visit",
        "PATCH", "/api/v1/monitoring/patients/{patient_id}/adverse-events/{event_id}",
        lambda ids: {"visit_id": ids["visit_id"]},
        "visit_id",
    ),
    (
        "a visit that stands for clinic B's appointment",
        "POST", "/api/v1/monitoring/patients/{patient_id}/visits",
        lambda ids: {
            "visit_date": str(timezone.localdate()), "scheduled_visit_id": ids["scheduled_id"],
            "confirm_early": True,
        },
        "scheduled_id",
    ),
    (
        "a phototrichogram against clinic B's photo",
        "POST", "/api/v1/imaging/patients/{patient_id}/photos/{photo_id}/compare",
        lambda ids: {"before_photo_id": ids["before_photo_id"]},
        "before_photo_id",
    ),
    (
        "a lot of clinic B's product",
        "POST", "/api/v1/products/lots",
        lambda ids: {
            "product_id": ids["product_id"], "lot_number": "L-NEW", "quantity_received": 5,
            "expiry_date": str(timezone.localdate() + timedelta(days=300)),
            "storage_location_id": ids["location_id"],
        },
        "product_id",
    ),
    (
        "a lot stored in clinic B's fridge",
        "POST", "/api/v1/products/lots",
        lambda ids: {
            "product_id": ids["product_id"], "lot_number": "L-NEW", "quantity_received": 5,
            "expiry_date": str(timezone.localdate() + timedelta(days=300)),
            "storage_location_id": ids["location_id"],
        },
        "location_id",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "foreign"),
    [c[1:] for c in BODY_CASES],
    ids=[c[0] for c in BODY_CASES],
)
def test_an_id_of_another_clinic_in_a_request_body_is_refused(
    client, world, api_token, clinic_a, method, path, body, foreign
):
    users, patient_a, ids_a, ids_b = world
    (op,) = [o for m, p, o in api_operations() if (m, p) == (method, path.replace("{", "{int:"))]
    allowed_users = users_for(users, required_permission(op))
    url = path.format(**ids_a)
    tokens = {u.pk: api_token(u, clinic_a) for u in allowed_users}

    def send(user, ids):
        return client.generic(
            method, url, data=json.dumps(body(ids)), content_type="application/json",
            headers={"Authorization": f"Bearer {tokens[user.pk]}"},
        )  # fmt: skip

    before = row_counts()
    for user in allowed_users:
        refused = send(user, ids_a | {foreign: ids_b[foreign]})
        assert refused.status_code in (400, 404, 422), (user.username, refused.content[:500])
        assert_nothing_of_clinic_b(refused, foreign)
        assert row_counts() == before, user.username
    # The control: the same request with clinic A's own record is accepted.
    accepted = send(allowed_users[0], ids_a)
    assert accepted.status_code in (200, 201, 202), accepted.content[:500]
    assert row_counts() != before


# The same in the pages' forms: (what, url, form from the ids, the id taken from clinic B).
FORM_CASES = [
    (
        "a session drawing a vial of clinic B's lot",
        "/sessions/{patient_id}/new/",
        lambda ids: {
            "plan": ids["plan_id"], "modality": "exosome", "needle_gauge": "30",
            "depth_mm": "1.5", "performed_on": str(timezone.localdate()),
            "confirm_schedule": "on", "map-vertex-points": "20", "map-vertex-volume_ml": "0.5",
            "vial_0_lot": ids["lot_id"], "vial_0_quantity": "1",
        },
        "lot_id",
    ),
    (
        "an adverse event seen at clinic B's visit",
        "/monitoring/{patient_id}/adverse-events/new/",
        lambda ids: {
            "term_key": "pruritus", "grade": "1",
            "onset_date": str(timezone.localdate() - timedelta(days=2)),
            "relatedness": "unlikely", "action_taken": "none", "outcome": "recovering",
            "visit_id": ids["visit_id"],
        },
        "visit_id",
    ),
    (
        "a visit that stands for clinic B's appointment",
        "/monitoring/{patient_id}/visits/new/",
        lambda ids: {
            "visit_date": str(timezone.localdate()), "scheduled": ids["scheduled_id"],
            "confirm_early": "on", "pull_test": "not_done", "notes": "Seen for the check",
        },
        "scheduled_id",
    ),
    (
        "a phototrichogram against clinic B's photo",
        "/imaging/{patient_id}/photos/{photo_id}/compare/",
        lambda ids: {"before_photo": ids["before_photo_id"]},
        "before_photo_id",
    ),
    (
        "a lot of clinic B's product",
        "/products/lots/receive/",
        lambda ids: {
            "product": ids["product_id"], "lot_number": "L-NEW", "quantity_received": "5",
            "expiry_date": str(timezone.localdate() + timedelta(days=300)),
            "storage_location": ids["location_id"],
        },
        "product_id",
    ),
    (
        "a lot stored in clinic B's fridge",
        "/products/lots/receive/",
        lambda ids: {
            "product": ids["product_id"], "lot_number": "L-NEW", "quantity_received": "5",
            "expiry_date": str(timezone.localdate() + timedelta(days=300)),
            "storage_location": ids["location_id"],
        },
        "location_id",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "form", "foreign"), [c[1:] for c in FORM_CASES], ids=[c[0] for c in FORM_CASES]
)
def test_an_id_of_another_clinic_in_a_form_is_refused(client, world, url, form, foreign):
    users, patient_a, ids_a, ids_b = world
    url = url.format(**ids_a)
    callback = resolve(url).func
    allowed_users = users_for(users, callback.required_permission)
    before = row_counts()
    for user in allowed_users:
        client.force_login(user)
        refused = client.post(url, form(ids_a | {foreign: ids_b[foreign]}))
        # The form again with the field's error (400), or 404 for a record the URL names.
        assert refused.status_code in (400, 404), (user.username, refused.status_code)
        assert_nothing_of_clinic_b(refused, foreign)
        assert row_counts() == before, user.username
    # The control: the same form with clinic A's own record is saved.
    client.force_login(allowed_users[0])
    accepted = client.post(url, form(ids_a))
    assert accepted.status_code == 302, accepted.content.decode()[:3000]
    assert row_counts() != before


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
