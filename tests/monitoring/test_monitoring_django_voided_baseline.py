"""The baseline visit of a course voided as entered in error: the earliest remaining visit
stands in as the baseline (the progress page, the PDF, the cohort analysis and the visit
page all take it), and every place that shows change says so, with the warning that a
stand-in after the first session measures change from an already treated scalp."""

from __future__ import annotations

import pytest
from django.utils import timezone

from anagen.monitoring import selectors
from anagen.monitoring.models import Visit
from anagen.outcomes.selectors import patient_progress

from ..reports.factory import course


@pytest.fixture
def voided_baseline(clinic_a, clinician, make_patient):
    patient = make_patient(clinic_a, clinician, given_name="Vera", family_name="Void")
    data = course(patient, clinician, photos=False, adverse_event=False)
    week0, week12, week24 = data["visits"]
    Visit.objects.filter(pk=week0.pk).update(
        voided_at=timezone.now(), voided_by=clinician, void_reason="entered on the wrong day"
    )
    return patient, week0, week12, week24


def test_the_visit_page_says_the_stand_in_baseline_came_after_treatment_began(voided_baseline):
    patient, week0, week12, week24 = voided_baseline
    assert selectors.baseline_for(week24).pk == week12.pk
    change = selectors.change_from_baseline(week24)
    assert change.baseline_date == week12.visit_date
    assert f"The baseline visit of {week0.visit_date:%Y-%m-%d} was voided" in change.note
    assert f"the earliest remaining visit, {week12.visit_date:%Y-%m-%d}, stands in" in change.note
    assert "already treated scalp" in change.note


def test_the_progress_page_labels_the_stand_in_and_names_the_voided_baseline(voided_baseline):
    patient, week0, week12, _ = voided_baseline
    result = patient_progress(patient, with_forecast=False)
    assert [r.visit_id for r in result.rows if r.is_baseline] == [week12.pk]
    assert any(
        f"The baseline visit of {week0.visit_date:%Y-%m-%d} was voided" in m
        for m in result.messages
    )


def test_a_marked_baseline_adds_no_note(clinic_a, clinician, make_patient):
    patient = make_patient(clinic_a, clinician, given_name="Mark", family_name="Marked")
    data = course(patient, clinician, photos=False, adverse_event=False)
    assert selectors.change_from_baseline(data["visits"][2]).note == ""
