"""POST .../void for visits, photos, measurements and adverse events (monitoring API).

Each takes {"reason": ...}; needs record.void (clinicians and admins); answers the voided
record, 400 {"detail": ...} naming the reason or saying it is already voided, 403 for
other roles and 404 for another clinic's record. (Sessions: tests/treatments.)
"""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from anagen.accounts.roles import Role
from anagen.monitoring import services

REASON = "entered for the wrong patient"


def png() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (160, 120), (190, 150, 120)).save(out, format="PNG")
    return SimpleUploadedFile("v.png", out.getvalue(), content_type="image/png")


@pytest.fixture
def visit(clinic_a, clinician, make_patient):
    patient = make_patient(clinic_a, clinician)
    day = date.today() - timedelta(days=1)
    visit = services.record_visit(
        patient, clinician, {"visit_date": day, "density_per_cm2": 150},
        photos=[services.PhotoUpload(png(), "global", "vertex")],
    )  # fmt: skip
    services.record_adverse_event(
        patient, clinician,
        {"term_key": "injection_site_reaction", "grade": 1, "onset_date": day,
         "visit_id": visit.pk},
    )  # fmt: skip
    return visit


def entries(visit):
    return {
        "visits": visit,
        "measurements": visit.measurements.get(),
        "photos": visit.photos.get(),
        "adverse-events": visit.adverse_events.get(),
    }


def url(kind, obj) -> str:
    return f"/api/v1/monitoring/patients/{obj.patient_id}/{kind}/{obj.pk}/void"


def post(client, path, body, user, clinic, api_token):
    headers = {"Authorization": f"Bearer {api_token(user, clinic)}"}
    return client.post(path, data=json.dumps(body), content_type="application/json",
                       headers=headers)  # fmt: skip


@pytest.mark.parametrize("kind", ["visits", "measurements", "photos", "adverse-events"])
def test_each_kind_is_voided_once_with_its_reason(
    client, clinic_a, clinician, visit, api_token, kind
):
    obj = entries(visit)[kind]
    done = post(client, url(kind, obj), {"reason": REASON}, clinician, clinic_a, api_token)
    assert done.status_code == 200, done.json()
    body = done.json()
    assert body["id"] == obj.pk and body["voided"] is True
    assert body["void_reason"] == REASON and body["voided_by"] == clinician.username
    assert body["kind"] == {"visits": "visit", "measurements": "measurement",
                            "photos": "photo", "adverse-events": "adverse_event"}[kind]  # fmt: skip
    obj.refresh_from_db()
    assert obj.is_voided and obj.history.first().history_change_reason == f"voided: {REASON}"
    again = post(client, url(kind, obj), {"reason": REASON}, clinician, clinic_a, api_token)
    assert again.status_code == 400 and "already voided" in again.json()["detail"]


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "no"}, {"reason": "   ab  "}])
def test_a_missing_short_or_nul_reason_is_a_400_naming_the_reason(
    client, clinic_a, clinician, visit, api_token, body
):
    m = visit.measurements.get()
    response = post(client, url("measurements", m), body, clinician, clinic_a, api_token)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("reason:")
    m.refresh_from_db()
    assert not m.is_voided


def test_a_nul_character_in_the_reason_is_a_400(client, clinic_a, clinician, visit, api_token):
    m = visit.measurements.get()
    body = {"reason": "wrong\x00patient"}
    response = post(client, url("measurements", m), body, clinician, clinic_a, api_token)
    assert response.status_code == 400 and "NUL" in response.json()["detail"]
    m.refresh_from_db()
    assert not m.is_voided


@pytest.mark.parametrize(
    ("reason", "codes"),
    [("wrong \x1b[31mpatient", "U+001B"), ("wrong patient\x07", "U+0007"),
     ("patient 1234\u202e", "U+202E")],
)  # fmt: skip
def test_control_characters_in_the_reason_are_a_400_naming_it_and_nothing_is_voided(
    client, clinic_a, clinician, visit, api_token, reason, codes
):
    """An escape sequence or a right-to-left override was stored verbatim (200) and shown so
    in the audit trail and CSV exports."""
    m = visit.measurements.get()
    response = post(client, url("measurements", m), {"reason": reason}, clinician, clinic_a,
                    api_token)  # fmt: skip
    assert response.status_code == 400, response.content
    assert response.json() == {
        "detail": f"reason: Remove the control or invisible character(s) {codes}."
    }
    m.refresh_from_db()
    assert not m.is_voided


def test_a_reason_over_several_lines_with_tabs_is_kept(
    client, clinic_a, clinician, visit, api_token
):
    m = visit.measurements.get()
    reason = "wrong patient:\n\tsee the front desk log"
    response = post(client, url("measurements", m), {"reason": reason}, clinician, clinic_a,
                    api_token)  # fmt: skip
    assert response.status_code == 200 and response.json()["void_reason"] == reason


def test_the_void_page_refuses_control_characters_in_the_reason(client, clinician, visit):
    m = visit.measurements.get()
    client.force_login(clinician)
    page = f"/monitoring/{m.patient_id}/measurements/{m.pk}/void/"
    response = client.post(page, {"reason": "wrong \x1b[31mpatient"})
    assert response.status_code == 400
    assert "Remove the control or invisible character(s) U+001B." in response.content.decode()
    m.refresh_from_db()
    assert not m.is_voided


def test_a_voided_visit_leaves_the_visit_list(client, clinic_a, clinician, visit, api_token):
    post(client, url("visits", visit), {"reason": REASON}, clinician, clinic_a, api_token)
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    listed = client.get(f"/api/v1/monitoring/patients/{visit.patient_id}/visits", headers=headers)
    assert listed.json() == []
    one = client.get(
        f"/api/v1/monitoring/patients/{visit.patient_id}/visits/{visit.pk}", headers=headers
    )
    assert one.json()["voided"] is True


def test_nurses_get_403_and_other_clinics_404(
    client, clinic_a, clinic_b, make_user, visit, api_token
):
    nurse = make_user(Role.NURSE, clinic_a)
    other = make_user(Role.CLINICIAN, clinic_b)
    for kind, obj in entries(visit).items():
        refused = post(client, url(kind, obj), {"reason": REASON}, nurse, clinic_a, api_token)
        assert refused.status_code == 403 and "record.void" in refused.json()["detail"]
        hidden = post(client, url(kind, obj), {"reason": REASON}, other, clinic_b, api_token)
        assert hidden.status_code == 404 and "detail" in hidden.json()
        obj.refresh_from_db()
        assert not obj.is_voided
