"""A record voided in error is restored, with a reason, by those who may void; the history
keeps both acts. A review found a wrong void could not be undone and left the record number
blocked with a message that did not say it belonged to a voided record."""

import json
from datetime import date

import pytest

from anagen.accounts.roles import Role
from anagen.patients import services
from anagen.patients.models import Patient


@pytest.fixture
def clinician(clinic_a, make_user):
    return make_user(Role.CLINICIAN, clinic_a, username="doc")


@pytest.fixture
def voided(clinic_a, clinician, make_patient) -> Patient:
    patient = make_patient(clinic_a, clinician, medical_record_number="MRN-77")
    return services.void_patient(patient, clinician, "voided the wrong one")


def test_a_restored_record_is_current_again_and_the_history_keeps_both_reasons(voided, clinician):
    restored = services.restore_patient(voided, clinician, "the void was meant for another")
    assert not restored.is_voided and restored.void_reason == "" and restored.voided_by is None
    reasons = list(
        Patient.history.filter(id=voided.pk)
        .order_by("-history_id")
        .values_list("history_change_reason", flat=True)[:2]
    )
    assert reasons == ["restored: the void was meant for another", "voided: voided the wrong one"]


def test_restoring_needs_a_reason_and_a_voided_record(voided, clinician, clinic_a, make_patient):
    with pytest.raises(services.PatientError) as exc:
        services.restore_patient(voided, clinician, " ok ")
    assert exc.value.errors == {
        "reason": ["Give the reason for restoring (at least 5 characters)."]
    }
    current = make_patient(clinic_a, clinician)
    with pytest.raises(services.PatientError, match="not voided"):
        services.restore_patient(current, clinician, "by mistake")
    voided.refresh_from_db()
    assert voided.is_voided


def test_a_person_registered_again_since_is_not_made_two_records(
    voided, clinician, clinic_a, make_patient
):
    again = make_patient(
        clinic_a, clinician, given_name=voided.given_name, family_name=voided.family_name,
        date_of_birth=voided.date_of_birth,
    )  # fmt: skip
    with pytest.raises(services.PatientError) as exc:
        services.restore_patient(voided, clinician, "the void was meant for another")
    message = exc.value.errors["__all__"][0]
    assert f"{again.full_name} ({again.medical_record_number})" in message
    voided.refresh_from_db()
    assert voided.is_voided


def test_the_number_of_a_voided_record_says_so_and_points_to_restoring(voided, clinician, clinic_a):
    with pytest.raises(services.PatientError) as exc:
        services.create_patient(
            clinic_a, clinician,
            {"medical_record_number": "mrn-77", "given_name": "New", "family_name": "Person",
             "date_of_birth": date(1990, 1, 1), "sex_at_birth": "male"},
        )  # fmt: skip
    (message,) = exc.value.errors["medical_record_number"]
    assert message.startswith("This medical record number belongs to a voided record (as MRN-77):")
    assert "(voided the wrong one)" in message and "restore it instead" in message


def test_the_page_restores_for_a_clinician_and_not_for_a_nurse(
    client, voided, clinician, clinic_a, make_user
):
    client.force_login(make_user(Role.NURSE, clinic_a, username="nurse"))
    assert client.get(f"/patients/{voided.pk}/restore/").status_code == 403
    assert "Restore record" not in client.get(f"/patients/{voided.pk}/").content.decode()
    client.force_login(clinician)
    detail = client.get(f"/patients/{voided.pk}/").content.decode()
    assert f'href="/patients/{voided.pk}/restore/"' in detail and "Void record" not in detail
    short = client.post(f"/patients/{voided.pk}/restore/", {"reason": "no"})
    assert short.status_code == 400
    response = client.post(
        f"/patients/{voided.pk}/restore/", {"reason": "voided by mistake"}, follow=True
    )
    assert "Record restored." in response.content.decode()
    voided.refresh_from_db()
    assert not voided.is_voided
    # Now current: the restore page sends back to the record.
    again = client.get(f"/patients/{voided.pk}/restore/", follow=True)
    assert "This record is not voided." in again.content.decode()


def test_the_api_restores_and_another_clinic_cannot(
    client, voided, clinician, clinic_b, make_user, api_token
):
    def restore(user, clinic):
        return client.post(
            f"/api/v1/patients/{voided.pk}/restore",
            data=json.dumps({"reason": "voided by mistake"}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_token(user, clinic)}"},
        )

    other = make_user(Role.ADMIN, clinic_b, username="other-admin")
    assert restore(other, clinic_b).status_code == 404
    voided.refresh_from_db()
    assert voided.is_voided
    response = restore(clinician, voided.clinic)
    assert response.status_code == 200 and response.json()["voided"] is False
    again = restore(clinician, voided.clinic)
    assert again.status_code == 400 or again.status_code == 422
    assert "not voided" in json.dumps(again.json())


def test_the_history_names_who_voided_and_shows_empty_values_in_words(voided, clinician):
    from anagen.patients.selectors import patient_history

    clinician.first_name, clinician.last_name = "Dana", "Doc"
    clinician.save()
    restored = services.restore_patient(voided, clinician, "the void was meant for another")
    newest, voiding = patient_history(restored)[:2]
    by_field = {c["field"]: c for c in voiding["changes"]}
    # The raw user id ("1") was shown for who voided, and "∅" for an empty value.
    assert by_field["voided_by"]["old"] == "(empty)"
    assert "Dana Doc" in by_field["voided_by"]["new"]
    assert {c["field"]: c["new"] for c in newest["changes"]}["voided_by"] == "(empty)"


def test_the_history_reads_the_people_it_names_in_one_query_however_many_changes(voided, clinician):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from anagen.patients.selectors import patient_history

    def queries_for_history() -> int:
        with CaptureQueriesContext(connection) as ctx:
            patient_history(voided)
        return len(ctx.captured_queries)

    restored = services.restore_patient(voided, clinician, "the void was meant for another")
    once = queries_for_history()
    for _ in range(3):
        services.void_patient(restored, clinician, "duplicate record entered twice")
        restored = services.restore_patient(restored, clinician, "kept after all, reviewed")
    # Each void and restore names a person (voided_by); they are read together.
    assert queries_for_history() == once
