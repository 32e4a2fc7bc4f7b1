"""Voiding visits, photos, measurements and adverse events from the visit page.

The visit page offers a "Void…" control (a reason and a button) for the visit and for
each photo, measurement and adverse event on it, to clinicians and admins (record.void).
A voided entry leaves the page, lists and counts and is listed under "Voided entries" with
who, when and why; a voided visit opened by its address shows a "Voided" banner. A short
reason, a second voiding, another clinic's record (404) or a role without the permission
(403) changes nothing.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from anagen.accounts.roles import Role
from anagen.monitoring import selectors, services
from anagen.monitoring.models import AdverseEvent, Measurement, Photo, Visit

REASON = "typed into the wrong visit"


@pytest.fixture
def patient(clinic_a, nurse, make_patient):
    return make_patient(clinic_a, nurse, given_name="Vida", family_name="Void")


def png(name: str = "vertex.png") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (160, 120), (190, 150, 120)).save(out, format="PNG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/png")


@pytest.fixture
def visit(patient, nurse) -> Visit:
    """A visit with a manual measurement, a global photo and an adverse event."""
    day = date.today() - timedelta(days=1)
    visit = services.record_visit(
        patient, nurse,
        {"visit_date": day, "is_baseline": True, "density_per_cm2": 150, "mean_diameter_um": 55},
        photos=[services.PhotoUpload(png(), "global", "vertex")],
    )  # fmt: skip
    services.record_adverse_event(
        patient, nurse, {"term_key": "injection_site_reaction", "grade": 1, "onset_date": day,
                         "visit_id": visit.pk},
    )  # fmt: skip
    return visit


def page_of(visit) -> str:
    return f"/monitoring/{visit.patient_id}/visits/{visit.pk}/"


def void_url(kind: str, obj) -> str:
    return f"/monitoring/{obj.patient_id}/{kind}/{obj.pk}/void/"


def test_clinicians_see_a_void_control_for_the_visit_and_each_entry_nurses_do_not(
    client, clinician, nurse, visit
):
    m = visit.measurements.get()
    photo = visit.photos.get()
    event = visit.adverse_events.get()
    client.force_login(clinician)
    html = client.get(page_of(visit)).content.decode()
    for kind, obj in [("visits", visit), ("measurements", m), ("photos", photo),
                      ("adverse-events", event)]:  # fmt: skip
        assert f'action="{void_url(kind, obj)}"' in html
    assert html.count("<summary>Void…</summary>") == 4
    assert html.count('name="csrfmiddlewaretoken"') >= 4
    client.force_login(nurse)
    assert "Void…" not in client.get(page_of(visit)).content.decode()


def test_voiding_a_measurement_takes_it_off_the_visit_and_lists_it_as_voided(
    client, clinician, visit
):
    m = visit.measurements.get()
    client.force_login(clinician)
    response = client.post(void_url("measurements", m), {"reason": REASON})
    assert response.status_code == 302 and response["Location"] == page_of(visit)
    m.refresh_from_db()
    assert m.is_voided and m.voided_by == clinician and m.void_reason == REASON
    assert m.history.first().history_change_reason == f"voided: {REASON}"
    assert selectors.measurement_of(visit) is None
    html = client.get(page_of(visit)).content.decode()
    assert "Measurement voided. It stays in the history." in html
    assert "No measurements at this visit." in html
    assert "Voided entries" in html and f"by {clinician.username}: {REASON}" in html


def test_a_voided_visit_opened_by_its_address_shows_the_banner_and_leaves_the_lists(
    client, clinician, visit, patient
):
    client.force_login(clinician)
    response = client.post(void_url("visits", visit), {"reason": REASON})
    assert response.status_code == 302 and response["Location"] == page_of(visit)
    html = client.get(page_of(visit)).content.decode()
    assert "Voided on " in html and f"by {clinician.username}:</strong> {REASON}" in html
    assert "Void…" not in html and "Decide on further sessions" not in html
    assert list(selectors.visits_of(patient)) == []
    assert selectors.baseline_visit(patient) is None


def test_voiding_a_photo_and_an_adverse_event(client, clinician, visit, patient):
    photo = visit.photos.get()
    event = visit.adverse_events.get()
    client.force_login(clinician)
    assert client.post(void_url("photos", photo), {"reason": REASON}).status_code == 302
    assert client.post(void_url("adverse-events", event), {"reason": REASON}).status_code == 302
    assert selectors.photos_of(visit) == []
    assert list(selectors.adverse_events_of(patient)) == []
    assert Photo.objects.filter(pk=photo.pk).exists()
    assert AdverseEvent.objects.filter(pk=event.pk).exists()
    html = client.get(page_of(visit)).content.decode()
    assert "Global photo — Vertex" in html and "Adverse event: " in html
    # The image stays readable to those who may see the visit (it is in the history).
    assert client.get(f"/monitoring/{patient.pk}/photos/{photo.pk}/").status_code == 200


@pytest.mark.parametrize("reason", ["", "    ", "oops"])
def test_a_short_reason_is_a_400_with_the_error_and_nothing_changes(
    client, clinician, visit, reason
):
    m = visit.measurements.get()
    client.force_login(clinician)
    response = client.post(void_url("measurements", m), {"reason": reason})
    assert response.status_code == 400
    assert "Give the reason for voiding (at least 5 characters)." in response.content.decode()
    m.refresh_from_db()
    assert not m.is_voided and m.history.count() == 1


def test_voiding_twice_says_so_and_keeps_the_first_reason(client, clinician, visit):
    services.void_record(visit, clinician, REASON)
    client.force_login(clinician)
    response = client.post(void_url("visits", visit), {"reason": "another reason"})
    assert response.status_code == 400
    assert "This visit is already voided." in response.content.decode()
    # Nothing left to do there: no second "Void" button, a way back.
    assert 'type="submit" class="danger"' not in response.content.decode()
    visit.refresh_from_db()
    assert visit.void_reason == REASON


def test_the_void_page_without_javascript_asks_for_the_reason(client, clinician, visit):
    client.force_login(clinician)
    response = client.get(void_url("measurements", visit.measurements.get()))
    assert response.status_code == 200
    assert 'name="reason"' in response.content.decode()


@pytest.mark.parametrize("role", [Role.NURSE, Role.FRONT_DESK, Role.QUALITY, Role.RESEARCHER])
def test_roles_without_record_void_get_403(client, clinic_a, make_user, visit, role):
    client.force_login(make_user(role, clinic_a, username=f"no-void-{role.value}"))
    m = visit.measurements.get()
    for kind, obj in [("visits", visit), ("measurements", m)]:
        assert client.post(void_url(kind, obj), {"reason": REASON}).status_code == 403
    assert not Visit.objects.get(pk=visit.pk).is_voided
    assert not Measurement.objects.get(pk=m.pk).is_voided


def test_another_clinics_records_are_404(client, clinic_b, make_user, visit):
    client.force_login(make_user(Role.CLINICIAN, clinic_b, username="clin-b"))
    entries = [
        ("visits", visit),
        ("measurements", visit.measurements.get()),
        ("photos", visit.photos.get()),
        ("adverse-events", visit.adverse_events.get()),
    ]
    for kind, obj in entries:
        assert client.post(void_url(kind, obj), {"reason": REASON}).status_code == 404
        obj.refresh_from_db()
        assert not obj.is_voided


def test_another_patients_record_in_the_url_is_404(
    client, clinic_a, clinician, make_patient, visit
):
    other = make_patient(clinic_a, clinician, family_name="Other")
    client.force_login(clinician)
    m = visit.measurements.get()
    url = f"/monitoring/{other.pk}/measurements/{m.pk}/void/"
    assert client.post(url, {"reason": REASON}).status_code == 404
    m.refresh_from_db()
    assert not m.is_voided


def test_a_reason_over_1000_characters_is_refused_given_back_whole_and_nothing_voided(
    client, clinician, visit
):
    reason = "typed into the wrong visit, " * 40
    client.force_login(clinician)
    response = client.post(void_url("visits", visit), {"reason": reason})
    assert response.status_code == 400
    html = response.content.decode()
    assert "at most 1000 characters" in html and reason.strip() in html
    visit.refresh_from_db()
    assert not visit.is_voided
