"""The agenda's overdue box and the reportable adverse events page say how many there are.

The agenda listed the first 200 overdue visits under "Overdue (200)" and the reportable page
the first 500 events, as if that were all. The overdue box now gives the total and says when
it shows only part ("Showing the 200 longest overdue of 312."); the reportable page gives
the total and pages. Small limits stand in for long lists here.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from anagen.monitoring import services, views


@pytest.fixture
def late_course(clinic_a, clinician, make_patient):
    """A course started 300 days ago: 5 visits long past due."""
    patient = make_patient(clinic_a, clinician, family_name="Late")
    return services.create_follow_up_plan(
        patient, clinician, first_session_date=timezone.localdate() - timedelta(days=300),
        sessions_planned=3, interval_weeks=4,
    )  # fmt: skip


def _overdue_box(html: str) -> str:
    return html[html.index('id="overdue"') :].split("</section>")[0]


def test_the_agenda_says_when_its_overdue_box_shows_only_part(
    client, clinician, late_course, monkeypatch
):
    monkeypatch.setattr(views, "AGENDA_OVERDUE_SHOWN", 2)
    client.force_login(clinician)
    box = _overdue_box(client.get("/monitoring/agenda/").content.decode())
    assert "<h2>Overdue (5)</h2>" in box
    assert "Showing the 2 longest overdue of 5." in box
    assert len(re.findall(r'<tr class="overdue">', box)) == 2


def test_the_agenda_lists_every_overdue_visit_without_a_note_when_all_fit(
    client, clinician, late_course
):
    client.force_login(clinician)
    box = _overdue_box(client.get("/monitoring/agenda/").content.decode())
    assert "<h2>Overdue (5)</h2>" in box and 'id="overdue-cut"' not in box
    assert len(re.findall(r'<tr class="overdue">', box)) == 5


def test_the_reportable_page_gives_the_total_and_pages(
    client, clinician, clinic_a, make_patient, settings
):
    settings.ANAGEN_PAGE_SIZE = 2
    today = timezone.localdate()
    patient = make_patient(clinic_a, clinician)
    for days, term in ((3, "skin_infection"), (2, "headache"), (1, "pain")):
        services.record_adverse_event(
            patient,
            clinician,
            {"term_key": term, "grade": 3, "onset_date": today - timedelta(days=days)},
        )
    client.force_login(clinician)
    first = client.get("/monitoring/adverse-events/reportable/").content.decode()
    assert "3 events, 1–2 shown" in first and "Page 1 of 2" in first
    assert "Pain" in first and "Headache" in first and "Skin infection" not in first
    second = client.get("/monitoring/adverse-events/reportable/?page=2").content.decode()
    assert "3 events, number 3 shown" in second and "Skin infection" in second
    assert "Pain" not in second


def test_a_voided_patients_events_are_not_on_the_reportable_list(
    client, clinician, clinic_a, make_patient
):
    """A patient record entered in error takes its events off the page and the API, as it
    already did off the dashboard card (the page and the card disagreed)."""
    from anagen.patients.services import void_patient

    today = timezone.localdate()
    kept, voided = make_patient(clinic_a, clinician), make_patient(clinic_a, clinician)
    for patient, term in ((kept, "headache"), (voided, "skin_infection")):
        services.record_adverse_event(
            patient, clinician, {"term_key": term, "grade": 3, "onset_date": today}
        )
    void_patient(voided, clinician, "duplicate record of another patient")
    client.force_login(clinician)
    page = client.get("/monitoring/adverse-events/reportable/").content.decode()
    assert "1 event" in page and "Headache" in page and "Skin infection" not in page
    api = client.get("/api/v1/monitoring/adverse-events/reportable").json()
    assert api["count"] == 1 and [e["patient_id"] for e in api["items"]] == [kept.pk]
