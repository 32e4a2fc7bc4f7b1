"""An adverse event names a real session and a real lot of its patient.

The related session date must be the day of a non-voided treatment session of the patient;
the product lot must be one used (a vial recorded) in one of the patient's non-voided
sessions, in the named session when a date is given. Lot numbers match ignoring case and
surrounding spaces and are stored in the lot's own spelling; a lot of another clinic never
matches. On an update only a changed value is checked again, so an event whose session was
voided later can still be changed in its other fields. The form offers the sessions (with
their lots) and the lots; the service is where the rules are.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from anagen.accounts.roles import Role
from anagen.monitoring import services, session_link
from anagen.monitoring.models import AdverseEvent
from anagen.treatments import services as treatments

from ..builders import released_lot
from ._course import session_with_vials as session

TODAY = date.today()
FIRST = TODAY - timedelta(days=60)
SECOND = TODAY - timedelta(days=30)


@pytest.fixture
def patient(clinic_a, clinician, make_patient):
    return make_patient(clinic_a, clinician, given_name="Lina", family_name="Lot")


@pytest.fixture
def lots(clinic_a, clinician):
    return (
        released_lot(clinic_a, clinician, number="EXO-123", vials=10),
        released_lot(clinic_a, clinician, number="EXO-456", vials=10),
    )


@pytest.fixture
def sessions(patient, clinician, lots):
    """EXO-123 on FIRST, EXO-456 on SECOND."""
    return session(patient, clinician, FIRST, lots[0]), session(patient, clinician, SECOND, lots[1])


def event(**overrides):
    return {
        "term_key": "injection_site_reaction", "grade": 1,
        "onset_date": SECOND + timedelta(days=1), "relatedness": "probable", **overrides,
    }  # fmt: skip


def refusal(patient, clinician, **overrides) -> dict[str, list[str]]:
    with pytest.raises(services.MonitoringError) as err:
        services.record_adverse_event(patient, clinician, event(**overrides))
    assert not AdverseEvent.objects.exists()
    return err.value.errors


def test_an_event_names_a_session_of_the_patient_and_a_lot_used_in_it(clinician, patient, sessions):
    recorded = services.record_adverse_event(
        patient, clinician, event(related_session_date=SECOND, product_lot_number="EXO-456")
    )
    assert recorded.related_session_date == SECOND
    assert recorded.product_lot_number == "EXO-456"


def test_a_lot_alone_may_be_any_lot_used_in_the_patients_sessions(clinician, patient, sessions):
    recorded = services.record_adverse_event(
        patient, clinician, event(product_lot_number="EXO-123")
    )
    assert recorded.related_session_date is None and recorded.product_lot_number == "EXO-123"


def test_the_lot_number_matches_ignoring_case_and_spaces_and_is_stored_as_the_lot_spells_it(
    clinician, patient, sessions
):
    recorded = services.record_adverse_event(
        patient, clinician, event(related_session_date=FIRST, product_lot_number="  exo-123 ")
    )
    assert recorded.product_lot_number == "EXO-123"


def test_a_day_without_a_session_is_refused_with_the_patients_session_days(
    clinician, patient, sessions
):
    day = SECOND - timedelta(days=1)
    errors = refusal(patient, clinician, related_session_date=day)
    assert errors == {
        "related_session_date": [
            f"No treatment session of this patient on {session_link.long_date(day)}; the "
            f"patient's sessions: {session_link.long_date(SECOND)}, "
            f"{session_link.long_date(FIRST)}."
        ]
    }


def test_a_patient_without_sessions_is_told_so(clinician, patient):
    errors = refusal(patient, clinician, related_session_date=SECOND)
    assert "the patient has no recorded treatment session" in errors["related_session_date"][0]
    errors = refusal(patient, clinician, product_lot_number="EXO-123")
    assert "no vial is recorded in the patient's sessions" in errors["product_lot_number"][0]
    assert (
        "Record the session first, or leave the lot empty and describe the product in the "
        "description." in errors["product_lot_number"][0]
    )


def test_a_lot_not_used_in_the_named_session_is_refused_with_the_lots_used_then(
    clinician, patient, sessions
):
    errors = refusal(patient, clinician, related_session_date=SECOND, product_lot_number="EXO-123")
    assert errors == {
        "product_lot_number": [
            f"Lot EXO-123 was not used in the session of {session_link.long_date(SECOND)}; "
            "lots used then: EXO-456."
        ]
    }


def test_a_lot_of_the_clinic_never_given_to_this_patient_is_refused(
    clinic_a, clinician, patient, sessions, make_patient
):
    other_lot = released_lot(clinic_a, clinician, number="EXO-789", vials=10)
    session(make_patient(clinic_a, clinician), clinician, SECOND, other_lot)  # someone else's
    errors = refusal(patient, clinician, product_lot_number="EXO-789")
    assert errors["product_lot_number"] == [
        "Lot EXO-789 was not used in any treatment session of this patient; "
        "lots used: EXO-456, EXO-123."
    ]
    errors = refusal(patient, clinician, product_lot_number="NO-SUCH-LOT")
    assert "Lot NO-SUCH-LOT was not used" in errors["product_lot_number"][0]


def test_a_lot_of_another_clinic_never_matches(
    clinic_b, clinician, patient, sessions, make_user, make_patient
):
    b_user = make_user(Role.CLINICIAN, clinic_b)
    b_lot = released_lot(clinic_b, b_user, number="EXO-B1", vials=10)
    session(make_patient(clinic_b, b_user), b_user, SECOND, b_lot)
    # Even a vial row of this patient's session pointing at it (not something the services
    # write) does not make another clinic's lot this patient's.
    session(patient, clinician, SECOND - timedelta(days=2), b_lot)
    for day in (None, SECOND - timedelta(days=2)):
        errors = refusal(patient, clinician, related_session_date=day, product_lot_number="exo-b1")
        assert list(errors) == ["product_lot_number"]


def test_a_voided_session_is_no_longer_a_session_to_name_nor_its_lot(clinician, patient, sessions):
    treatments.void_session(sessions[0], clinician, "entered for the wrong patient")
    errors = refusal(patient, clinician, related_session_date=FIRST)
    assert "No treatment session of this patient on" in errors["related_session_date"][0]
    errors = refusal(patient, clinician, product_lot_number="EXO-123")
    assert errors["product_lot_number"] == [
        "Lot EXO-123 was not used in any treatment session of this patient; lots used: EXO-456."
    ]


def test_a_wrong_date_is_said_once_and_the_lot_is_checked_against_all_sessions(
    clinician, patient, sessions
):
    errors = refusal(
        patient, clinician, related_session_date=SECOND - timedelta(days=3),
        product_lot_number="EXO-123",
    )  # fmt: skip
    assert list(errors) == ["related_session_date"]


def test_an_event_whose_session_was_voided_later_can_still_be_updated(clinician, patient, sessions):
    recorded = services.record_adverse_event(
        patient, clinician, event(related_session_date=FIRST, product_lot_number="EXO-123",
                                  onset_date=FIRST + timedelta(days=1)),
    )  # fmt: skip
    treatments.void_session(sessions[0], clinician, "entered in error, wrong day")
    # The other fields change; the stored session and lot are kept as they were.
    updated = services.update_adverse_event(
        recorded, clinician, {"outcome": "recovered", "resolution_date": FIRST + timedelta(days=4),
                              "product_lot_number": "exo-123 "},
    )  # fmt: skip
    assert updated.outcome == "recovered"
    assert (updated.related_session_date, updated.product_lot_number) == (FIRST, "EXO-123")
    # Naming them anew is checked: the voided session can no longer be chosen.
    with pytest.raises(services.MonitoringError) as err:
        services.update_adverse_event(updated, clinician, {"product_lot_number": "EXO-456"})
    assert "is voided" in err.value.errors["product_lot_number"][0]


def test_a_new_lot_for_a_session_voided_since_is_refused_saying_the_session_is_voided(
    clinician, patient, sessions
):
    recorded = services.record_adverse_event(
        patient, clinician, event(related_session_date=FIRST, product_lot_number="EXO-123",
                                  onset_date=FIRST + timedelta(days=1)),
    )  # fmt: skip
    treatments.void_session(sessions[0], clinician, "entered in error, wrong day")
    # Not "no vial was recorded in that session": vials were, in a session voided since.
    with pytest.raises(services.MonitoringError) as err:
        services.update_adverse_event(recorded, clinician, {"product_lot_number": "EXO-456"})
    assert err.value.errors == {
        "product_lot_number": [
            f"The session of {session_link.long_date(FIRST)} this event is linked to is "
            "voided: its lots can no longer be checked. To change the lot, link the event to "
            "another session, or to none."
        ]
    }
    recorded.refresh_from_db()
    assert recorded.product_lot_number == "EXO-123"
    # Linked to none, any lot used in the patient's sessions is accepted.
    moved = services.update_adverse_event(
        recorded, clinician, {"related_session_date": None, "product_lot_number": "EXO-456"}
    )
    assert (moved.related_session_date, moved.product_lot_number) == (None, "EXO-456")


def test_a_new_session_date_rechecks_the_lot_kept(clinician, patient, sessions):
    recorded = services.record_adverse_event(
        patient, clinician, event(related_session_date=SECOND, product_lot_number="EXO-456")
    )
    with pytest.raises(services.MonitoringError) as err:
        services.update_adverse_event(recorded, clinician, {"related_session_date": FIRST})
    assert list(err.value.errors) == ["product_lot_number"]
    moved = services.update_adverse_event(
        recorded, clinician, {"related_session_date": FIRST, "product_lot_number": "exo-123"}
    )
    assert (moved.related_session_date, moved.product_lot_number) == (FIRST, "EXO-123")
    cleared = services.update_adverse_event(
        moved, clinician, {"related_session_date": None, "product_lot_number": ""}
    )
    assert (cleared.related_session_date, cleared.product_lot_number) == (None, "")


def test_the_form_offers_the_patients_sessions_with_their_lots_and_the_lots(
    client, clinician, patient, sessions
):
    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/adverse-events/new/").content.decode()
    assert (
        f'<option value="{SECOND:%Y-%m-%d}">{SECOND:%Y-%m-%d} · lot EXO-456 · '
        "Exosome injection (investigational)</option>"
    ) in page
    assert f'<option value="{FIRST:%Y-%m-%d}">' in page
    assert 'list="id_product_lot_number_options"' in page
    assert '<datalist id="id_product_lot_number_options">' in page
    assert f'<option value="EXO-123" label="used {FIRST:%Y-%m-%d}"></option>' in page


def test_the_form_shows_a_refused_lot_under_its_field(client, clinician, patient, sessions):
    client.force_login(clinician)
    data = event(related_session_date=SECOND.isoformat(), product_lot_number="EXO-123",
                 onset_date=(SECOND + timedelta(days=1)).isoformat(),
                 action_taken="none", outcome="recovering")  # fmt: skip
    response = client.post(f"/monitoring/{patient.pk}/adverse-events/new/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_product_lot_number_error"' in html
    assert "Lot EXO-123 was not used in the session of" in html
    assert not AdverseEvent.objects.exists()
    response = client.post(
        f"/monitoring/{patient.pk}/adverse-events/new/", {**data, "product_lot_number": "exo-456"}
    )
    assert response.status_code == 302
    assert AdverseEvent.objects.get().product_lot_number == "EXO-456"


def test_the_edit_form_keeps_a_session_voided_since_and_saves_other_changes(
    client, clinician, patient, sessions
):
    recorded = services.record_adverse_event(
        patient, clinician, event(related_session_date=SECOND, product_lot_number="EXO-456")
    )
    treatments.void_session(sessions[1], clinician, "entered in error, wrong day")
    client.force_login(clinician)
    edit = f"/monitoring/{patient.pk}/adverse-events/{recorded.pk}/edit/"
    page = client.get(edit).content.decode()
    assert (
        f'<option value="{SECOND:%Y-%m-%d}" selected>{SECOND:%Y-%m-%d} · '
        "session voided since</option>"
    ) in page
    data = event(related_session_date=SECOND.isoformat(), product_lot_number="EXO-456",
                 onset_date=(SECOND + timedelta(days=1)).isoformat(), grade="2",
                 action_taken="none", outcome="recovering")  # fmt: skip
    assert client.post(edit, data).status_code == 302
    recorded.refresh_from_db()
    assert recorded.grade == 2 and recorded.related_session_date == SECOND


@pytest.mark.parametrize("posted", ["stale", "not a date"])
def test_a_refused_session_date_stays_selected_until_the_user_chooses(
    client, clinician, patient, sessions, posted
):
    """A posted date that is not one of the patient's sessions (a tab left open while the
    session was voided, a hand-made post) stays selected: a second click is refused again
    instead of saving the event without a session."""
    day = "2026-09-01" if posted == "stale" else "tomorrow"
    client.force_login(clinician)
    url = f"/monitoring/{patient.pk}/adverse-events/new/"
    data = event(related_session_date=day, onset_date=(SECOND + timedelta(days=1)).isoformat(),
                 action_taken="none", outcome="recovering")  # fmt: skip
    for _ in range(2):
        response = client.post(url, data)
        assert response.status_code == 400
        html = response.content.decode()
        assert 'id="id_related_session_date_error"' in html
        assert (
            f'<option value="{day}" selected>{day} · no recorded session on this date</option>'
        ) in html
        assert '<option value="" selected>' not in html
    assert not AdverseEvent.objects.exists()
    # Choosing a real session (or none) saves.
    response = client.post(url, {**data, "related_session_date": SECOND.isoformat()})
    assert response.status_code == 302
    assert AdverseEvent.objects.get().related_session_date == SECOND


def test_the_related_session_field_spans_the_form_row(client, clinician, patient, sessions):
    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/adverse-events/new/").content.decode()
    start = page.index('<div class="col-full">')
    assert page.index('id="id_related_session_date"') > start
    assert page.index('id="id_product_lot_number"') > page.index("</select>", start)


def test_a_related_event_cannot_begin_before_the_first_session(clinician, patient, sessions):
    # An onset in 2020 for a patient first treated here in 2026 was stored as possibly related.
    with pytest.raises(services.MonitoringError) as err:
        services.record_adverse_event(
            patient,
            clinician,
            event(onset_date=FIRST - timedelta(days=400), relatedness="possible"),
        )
    message = err.value.errors["relatedness"][0]
    assert "the first session recorded for this patient was on" in message
    assert not AdverseEvent.objects.exists()
    # Not related (or not assessed) before any treatment is a finding like any other.
    kept = services.record_adverse_event(
        patient, clinician, event(onset_date=FIRST - timedelta(days=400), relatedness="unrelated")
    )
    assert kept.pk


def test_the_same_event_sent_twice_is_refused_naming_the_first(
    client, clinician, patient, sessions
):
    first = services.record_adverse_event(patient, clinician, event())
    with pytest.raises(services.MonitoringError) as err:
        services.record_adverse_event(patient, clinician, event())
    message = err.value.errors["term_key"][0]
    assert "is already recorded for this patient (grade 1" in message
    assert "Update that event" in message
    # Another grade of the same term and onset is the same event (its grade is raised);
    # another day is another event.
    with pytest.raises(services.MonitoringError):
        services.record_adverse_event(patient, clinician, event(grade=2))
    services.record_adverse_event(patient, clinician, event(onset_date=TODAY))
    assert AdverseEvent.objects.filter(patient=patient).count() == 2
    assert first.pk


def test_a_lot_drawn_at_the_point_of_care_without_a_session_reference_is_its_days_sessions(
    clinic_a, clinician, patient, sessions
):
    """The PDF, the FHIR export and the cohort analysis take a point-of-care draw of a
    session's day that names no session as that session's lot; the event form refused it
    ("not used in the session of ...") because it read only draws naming the session."""
    from anagen.products import services as products
    from anagen.products.models import VialDraw
    from anagen.treatments.models import TreatmentSession

    from ._course import released_lot as course_lot

    poc = course_lot(clinic_a, clinician, number="POC-789", vials=5)
    third = SECOND + timedelta(days=10)
    TreatmentSession.objects.create(
        clinic=clinic_a, patient=patient, plan=sessions[0].plan, modality="exosome",
        performed_on=third, clinician=clinician,
    )  # fmt: skip
    products.draw_vials(poc, patient, 1, clinician, on_date=third, session_ref="POC ticket 4")
    assert VialDraw.objects.filter(lot=poc, session_ref="POC ticket 4").exists()
    recorded = services.record_adverse_event(
        patient,
        clinician,
        event(onset_date=third, related_session_date=third, product_lot_number="poc-789"),
    )
    assert recorded.product_lot_number == "POC-789"
    # Not the lot of a session whose own draws name it.
    with pytest.raises(services.MonitoringError) as err:
        services.record_adverse_event(
            patient,
            clinician,
            event(onset_date=third, related_session_date=SECOND, product_lot_number="POC-789"),
        )
    assert "product_lot_number" in err.value.errors
