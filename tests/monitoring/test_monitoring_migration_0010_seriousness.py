"""Migration 0010 stores the seriousness that older adverse events imply (grade 4: life-
threatening, grade 5: death, Hospitalised: hospitalisation), with a history row for each event
it changes, so a query on the stored column finds them as the readers already did."""

import importlib
from datetime import date, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from anagen.monitoring import services
from anagen.monitoring.models import AdverseEvent

migration = importlib.import_module("anagen.monitoring.migrations.0010_store_implied_seriousness")
TODAY = date.today()


@pytest.fixture
def patient(clinic_a, clinician, make_patient):
    return make_patient(clinic_a, clinician, given_name="Ada", family_name="Event")


def run_migration():
    state = MigrationExecutor(connection).loader.project_state(
        ("monitoring", "0010_store_implied_seriousness")
    )
    migration.store_implied_seriousness(state.apps, None)


def stored_as_before_the_rule(patient, clinician, days_ago, **fields):
    event = services.record_adverse_event(
        patient, clinician,
        {"term_key": "skin_infection", "grade": 2, "onset_date": TODAY - timedelta(days_ago)},
    )  # fmt: skip
    AdverseEvent.objects.filter(pk=event.pk).update(
        seriousness=[], serious_or_high_grade=False, **fields
    )
    return event


def test_older_events_get_the_criteria_their_grade_or_action_imply(patient, clinician):
    grade_4 = stored_as_before_the_rule(patient, clinician, 2, grade=4)
    admitted = stored_as_before_the_rule(patient, clinician, 3, action_taken="hospitalised")
    mild = stored_as_before_the_rule(patient, clinician, 4)
    histories = {e.pk: e.history.count() for e in (grade_4, admitted, mild)}

    run_migration()

    for event, criterion in ((grade_4, "life_threatening"), (admitted, "hospitalization")):
        event.refresh_from_db()
        assert event.seriousness == [criterion] and event.serious_or_high_grade
        assert event.history.count() == histories[event.pk] + 1
        latest = event.history.order_by("-history_id").first()
        assert latest.history_change_reason == migration.REASON
        assert latest.seriousness == [criterion] and latest.history_user is None
    mild.refresh_from_db()
    assert mild.seriousness == [] and not mild.serious_or_high_grade
    assert mild.history.count() == histories[mild.pk]


def test_an_event_already_stored_right_is_left_alone(patient, clinician):
    event = services.record_adverse_event(
        patient, clinician,
        {"term_key": "skin_infection", "grade": 4, "onset_date": TODAY - timedelta(days=2)},
    )  # fmt: skip
    before = event.history.count()
    run_migration()
    event.refresh_from_db()
    assert event.seriousness == ["life_threatening"]
    assert event.history.count() == before
