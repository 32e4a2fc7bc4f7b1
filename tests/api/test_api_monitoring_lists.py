"""The clinic-wide monitoring lists of the API page like every other list, with a total.

``GET /api/v1/monitoring/agenda``, ``/overdue`` and ``/adverse-events/reportable`` answered
a bare list cut at 1000 rows: a clinic with more got the first 1000 and no sign that any
were missing. They take ``limit`` (at most 200) and ``offset`` and answer
``{"items": [...], "count": <total>}``. A small ``limit`` stands in for a long list here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from anagen.api.pagination import MAX_PAGE_SIZE
from anagen.monitoring import services


@pytest.fixture
def get(clinician_get):
    def do(path: str, **params):
        response = clinician_get(f"/api/v1/monitoring{path}", **params)
        assert response.status_code == 200, response.content
        return response.json()

    return do


def _all_pages(get, path: str, limit: int, **params) -> tuple[list[dict], list[int]]:
    """Every item, fetched page by page as docs/api.md tells a client to."""
    items: list[dict] = []
    counts: list[int] = []
    while True:
        page = get(path, limit=limit, offset=len(items), **params)
        counts.append(page["count"])
        items += page["items"]
        if not page["items"] or len(items) >= page["count"]:
            return items, counts


def test_overdue_visits_beyond_one_page_are_counted_and_reached_by_offset(
    get, clinic_a, clinician, make_patient
):
    today = timezone.localdate()
    patient = make_patient(clinic_a, clinician)
    # A course started 300 days ago: its 5 visits up to week 24 are long past due.
    plan = services.create_follow_up_plan(
        patient, clinician, first_session_date=today - timedelta(days=300),
        sessions_planned=3, interval_weeks=4,
    )  # fmt: skip
    late = [v.pk for v in plan.visits.order_by("due_date", "id") if v.due_date < today]
    assert len(late) == 5

    first = get("/overdue", limit=2)
    assert first["count"] == 5 and len(first["items"]) == 2
    items, counts = _all_pages(get, "/overdue", limit=2)
    assert counts == [5, 5, 5]
    assert [i["id"] for i in items] == late  # oldest first, none twice, none missing
    assert all(i["overdue"] for i in items)  # marked on every page, not only the first


def test_the_agenda_pages_with_its_dates_and_gives_the_total(
    get, clinic_a, clinician, make_patient
):
    today = timezone.localdate()
    patient = make_patient(clinic_a, clinician)
    plan = services.create_follow_up_plan(
        patient, clinician, first_session_date=today, sessions_planned=3, interval_weeks=4
    )
    end = today + timedelta(days=60)
    booked = [v.pk for v in plan.visits.order_by("due_date", "id") if v.due_date <= end]
    assert len(booked) == 3  # baseline, week 4, week 8

    window = {"start": today.isoformat(), "end": end.isoformat()}
    items, counts = _all_pages(get, "/agenda", limit=2, **window)
    assert counts == [3, 3]
    assert [i["id"] for i in items] == booked
    assert [i["overdue"] for i in items] == [False, False, False]
    # Without limit the first 25 come, with the same total.
    assert get("/agenda", **window)["count"] == 3


def test_reportable_events_beyond_one_page_are_counted_newest_first(
    get, clinic_a, clinician, make_patient
):
    today = timezone.localdate()
    patient = make_patient(clinic_a, clinician)
    events = [
        services.record_adverse_event(
            patient,
            clinician,
            {"term_key": "skin_infection", "grade": 3, "onset_date": today - timedelta(days=d)},
        )  # fmt: skip
        for d in (3, 2, 1)
    ]
    services.record_adverse_event(
        patient, clinician, {"term_key": "pruritus", "grade": 1, "onset_date": today}
    )  # not reportable

    first = get("/adverse-events/reportable", limit=2)
    assert first["count"] == 3 and len(first["items"]) == 2
    items, counts = _all_pages(get, "/adverse-events/reportable", limit=2)
    assert counts == [3, 3]
    assert [i["id"] for i in items] == [e.pk for e in reversed(events)]


@pytest.mark.parametrize("path", ["/agenda", "/overdue", "/adverse-events/reportable"])
def test_a_page_larger_than_the_documented_maximum_is_refused_not_cut(
    client, clinician, clinic_a, api_token, path
):
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    url = f"/api/v1/monitoring{path}"
    too_many = client.get(url, {"limit": MAX_PAGE_SIZE + 1}, headers=headers)
    assert too_many.status_code == 422 and "limit" in too_many.json()["detail"]
    most = client.get(url, {"limit": MAX_PAGE_SIZE}, headers=headers)
    assert most.status_code == 200 and most.json() == {"items": [], "count": 0}
