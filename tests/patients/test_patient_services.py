from datetime import date

import pytest

from anagen.patients.models import Patient
from anagen.patients.services import PatientError, create_patient, update_patient, void_patient


def test_history_records_user_and_reason_for_create_update_and_void(clinic_a, admin, make_patient):
    patient = make_patient(clinic_a, admin)
    update_patient(patient, admin, {"phone": "+44 1"})
    void_patient(patient, admin, "entered in error")
    history = list(patient.history.order_by("history_date"))
    assert [h.history_type for h in history] == ["+", "~", "~"]
    assert all(h.history_user == admin for h in history)
    assert history[2].history_change_reason == "voided: entered in error"
    assert history[1].diff_against(history[0]).changed_fields == ["phone"]


def test_saving_unchanged_values_writes_no_history(clinic_a, admin, make_patient):
    patient = make_patient(clinic_a, admin)
    update_patient(patient, admin, {"phone": patient.phone, "given_name": patient.given_name})
    update_patient(patient, admin, {})
    assert patient.history.count() == 1  # only the creation
    update_patient(patient, admin, {"phone": "+44 2", "given_name": patient.given_name})
    latest = patient.history.order_by("-history_date").first()
    assert patient.history.count() == 2
    assert latest.diff_against(latest.prev_record).changed_fields == ["phone"]


def test_unknown_fields_are_refused_not_ignored(clinic_a, admin, make_patient):
    patient = make_patient(clinic_a, admin)
    with pytest.raises(PatientError) as exc:
        update_patient(patient, admin, {"clinic_id": 99})
    assert "Unknown field" in str(exc.value)


def test_a_voided_record_cannot_be_edited_or_voided_again(clinic_a, admin, make_patient):
    patient = make_patient(clinic_a, admin)
    void_patient(patient, admin, "duplicate record")
    patient.refresh_from_db()
    with pytest.raises(PatientError):
        update_patient(patient, admin, {"phone": "1"})
    with pytest.raises(PatientError):
        void_patient(patient, admin, "duplicate record")


def test_create_requires_every_identifying_field(clinic_a, admin):
    with pytest.raises(PatientError) as exc:
        create_patient(clinic_a, admin, {"given_name": "A"})
    assert set(exc.value.errors) == {
        "medical_record_number",
        "family_name",
        "date_of_birth",
        "sex_at_birth",
    }
    assert Patient.objects.count() == 0


def test_there_is_no_delete_path_in_the_services():
    import anagen.patients.services as services

    assert not [n for n in dir(services) if "delete" in n.lower()]


def test_future_date_of_birth_is_refused(clinic_a, admin):
    with pytest.raises(PatientError) as exc:
        create_patient(
            clinic_a,
            admin,
            {
                "medical_record_number": "1",
                "given_name": "A",
                "family_name": "B",
                "sex_at_birth": "male",
                "date_of_birth": date(2999, 1, 1),
            },
        )
    assert "future" in str(exc.value)


@pytest.mark.parametrize(
    ("born", "refused"),
    [(date(1896, 11, 26), False), (date(1896, 11, 25), False), (date(1896, 11, 24), True),
     (date(1896, 1, 1), True)],
)  # fmt: skip
def test_the_oldest_plausible_birth_date_is_counted_to_the_day(born, refused):
    """1896-01-01 was taken and 1895-12-31 refused: the limit compared years (review)."""
    from django.core.exceptions import ValidationError

    from anagen.patients.services import validate_date_of_birth

    today = date(2026, 11, 25)
    if refused:
        with pytest.raises(ValidationError, match="more than 130 years ago"):
            validate_date_of_birth(born, today)
    else:
        validate_date_of_birth(born, today)


def test_the_age_limit_on_29_february_counts_from_28_february():
    from anagen.patients.services import validate_date_of_birth

    validate_date_of_birth(date(1898, 2, 28), date(2028, 2, 29))  # no ValueError


def test_a_record_number_differing_only_in_case_is_the_same_one(clinic_a, admin, make_patient):
    first = make_patient(clinic_a, admin, medical_record_number="DEMO-0046")
    other = make_patient(clinic_a, admin, medical_record_number="DEMO-0047")
    with pytest.raises(PatientError) as err:
        create_patient(
            clinic_a, admin,
            {"medical_record_number": "demo-0046", "given_name": "A", "family_name": "B",
             "date_of_birth": date(1980, 1, 1), "sex_at_birth": "male"},
        )  # fmt: skip
    assert err.value.errors["medical_record_number"] == [
        "This medical record number is already used in this clinic (as DEMO-0046)."
    ]
    with pytest.raises(PatientError):
        update_patient(other, admin, {"medical_record_number": "Demo-0046"})
    # A patient's own number in another case is a correction, not a clash.
    assert update_patient(first, admin, {"medical_record_number": "demo-0046"})
    assert Patient.objects.count() == 2


def test_a_record_number_typed_in_full_width_characters_is_the_same_one(
    clinic_a, admin, make_patient
):
    # An input method left in full-width mode types "ＭＲＮ-００４６": it prints as MRN-0046,
    # and was registered beside it as another number (two records for one person).
    make_patient(clinic_a, admin, medical_record_number="MRN-0046")
    other = make_patient(clinic_a, admin, medical_record_number="MRN-0047")
    details = {"given_name": "A", "family_name": "B", "date_of_birth": date(1980, 1, 1),
               "sex_at_birth": "male"}  # fmt: skip
    with pytest.raises(PatientError) as err:
        create_patient(clinic_a, admin, {"medical_record_number": "ＭＲＮ-００４６", **details})
    assert "already used in this clinic" in err.value.errors["medical_record_number"][0]
    with pytest.raises(PatientError):
        update_patient(other, admin, {"medical_record_number": "ｍｒｎ-0046"})
    new = create_patient(clinic_a, admin, {"medical_record_number": "ＭＲＮ-００４８", **details})
    assert new.medical_record_number == "MRN-0048"  # stored as it prints
    assert Patient.objects.count() == 3


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("medical_record_number", "IMP 13\n\tX", "U+000A, U+0009"),
        ("medical_record_number", "MRN-4321\u202e", "U+202E"),
        ("family_name", "Sto\x07ne", "U+0007"),
        ("address", "1 High St\n\x1bLondon", "U+001B"),
    ],
)
def test_control_and_direction_characters_are_refused(clinic_a, admin, field, value, code):
    """A FHIR import stored a record number holding a newline and tab, and one ending in an
    invisible right-to-left override (a review found them): refused, naming the character."""
    data = {
        "medical_record_number": "MRN-77", "given_name": "Ada", "family_name": "Stone",
        "date_of_birth": date(1980, 1, 2), "sex_at_birth": "female", field: value,
    }  # fmt: skip
    with pytest.raises(PatientError) as exc:
        create_patient(clinic_a, admin, data)
    assert exc.value.errors[field] == [f"Remove the control or invisible character(s) {code}."]
    assert not Patient.objects.exists()


def test_an_address_keeps_its_line_breaks(clinic_a, admin):
    data = {
        "medical_record_number": "MRN-78", "given_name": "Ada", "family_name": "Stone",
        "date_of_birth": date(1980, 1, 2), "sex_at_birth": "female",
        "address": "1 High St\r\nLondon",
    }  # fmt: skip
    assert create_patient(clinic_a, admin, data).address == "1 High St\r\nLondon"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("medical_record_number", "MRN-1\u200b2", "U+200B"),  # zero-width space
        ("given_name", "A\u200bda", "U+200B"),  # zero-width space
        ("medical_record_number", "MRN\u200c12", "U+200C"),  # zero-width non-joiner
        ("family_name", "\ufeffStone", "U+FEFF"),  # byte-order mark
        ("family_name", "Sto\u00adne", "U+00AD"),  # soft hyphen
    ],
)
def test_invisible_format_characters_are_refused_in_numbers_and_names(
    clinic_a, admin, field, value, code
):
    """ "MRN-1\u200b2" looks like MRN-12 but is another number (a review found it accepted)."""
    data = {
        "medical_record_number": "MRN-78", "given_name": "Ada", "family_name": "Stone",
        "date_of_birth": date(1980, 1, 2), "sex_at_birth": "female", field: value,
    }  # fmt: skip
    with pytest.raises(PatientError) as exc:
        create_patient(clinic_a, admin, data)
    assert exc.value.errors[field] == [f"Remove the control or invisible character(s) {code}."]
    assert not Patient.objects.exists()


def test_names_keep_the_zero_width_joiners_that_persian_and_indic_spellings_need(clinic_a, admin):
    data = {
        "medical_record_number": "MRN-79", "given_name": "Mehr\u200cdad",
        "family_name": "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647", "sex_at_birth": "male",
        "date_of_birth": date(1980, 1, 2),
    }  # fmt: skip
    patient = create_patient(clinic_a, admin, data)
    assert "\u200c" in patient.given_name and "\u200c" in patient.family_name


class TestSexChangeOverAPregnancyAnswer:
    """Changing the sex to male over a history recording pregnancy made the next screening
    a server error (a review found it); the change is refused with the reason."""

    @pytest.fixture
    def history(self):
        from anagen.assessment import services as assessment

        def record(patient, user, **answers):
            return assessment.record_history(patient, user, answers)

        return record

    @pytest.mark.parametrize("answer", ["pregnant", "lactating"])
    def test_refused_while_the_latest_history_records_it(
        self, clinic_a, admin, make_patient, history, answer
    ):
        patient = make_patient(clinic_a, admin, sex_at_birth="female")
        history(patient, admin, **{answer: True})
        with pytest.raises(PatientError) as exc:
            update_patient(patient, admin, {"sex_at_birth": "male"})
        (message,) = exc.value.errors["sex_at_birth"]
        assert "version 1" in message and "cannot apply to a male record" in message
        patient.refresh_from_db()
        assert patient.sex_at_birth == "female"

    def test_allowed_once_a_new_history_version_drops_it(
        self, clinic_a, admin, make_patient, history
    ):
        patient = make_patient(clinic_a, admin, sex_at_birth="female")
        history(patient, admin, pregnant=True)
        history(patient, admin, pregnant=False, lactating=False)
        assert update_patient(patient, admin, {"sex_at_birth": "male"}).sex_at_birth == "male"

    def test_other_edits_and_other_sexes_are_not_affected(
        self, clinic_a, admin, make_patient, history
    ):
        patient = make_patient(clinic_a, admin, sex_at_birth="female")
        history(patient, admin, pregnant=True)
        assert update_patient(patient, admin, {"phone": "+44 3", "sex_at_birth": "female"})
        assert update_patient(patient, admin, {"sex_at_birth": "intersex"})


class TestDateOfBirthAfterRecords:
    """Moving the date of birth later left a visit, a diagnosis and a medication dated before
    birth (a review found it), though every clinical form refuses such dates."""

    def test_refused_when_a_visit_would_come_before_it(self, clinic_a, admin, make_patient):
        from anagen.monitoring import services as monitoring

        patient = make_patient(clinic_a, admin, date_of_birth=date(1980, 1, 2))
        monitoring.record_visit(patient, admin, {"visit_date": date(2026, 1, 10)})
        with pytest.raises(PatientError) as exc:
            update_patient(patient, admin, {"date_of_birth": date(2026, 2, 1)})
        assert exc.value.errors["date_of_birth"] == [
            "The patient's visit on 2026-01-10 would be before this date of birth: check the "
            "date, or correct that record first."
        ]
        patient.refresh_from_db()
        assert patient.date_of_birth == date(1980, 1, 2)
        # On or before the earliest record, and earlier dates, are fine.
        assert update_patient(patient, admin, {"date_of_birth": date(2026, 1, 10)})
        assert update_patient(patient, admin, {"date_of_birth": date(1979, 5, 5)})

    def test_a_medication_start_in_the_history_counts(self, clinic_a, admin, make_patient):
        from anagen.assessment import services as assessment

        patient = make_patient(clinic_a, admin, date_of_birth=date(1980, 1, 2))
        started = {"drug_class": "finasteride", "name": "Propecia", "start": "2024-05-01"}
        assessment.record_history(patient, admin, {"medications": [started]})
        with pytest.raises(PatientError) as exc:
            update_patient(patient, admin, {"date_of_birth": date(2025, 1, 1)})
        assert exc.value.errors["date_of_birth"][0].startswith(
            "The patient's start of Propecia on 2024-05-01 would be before"
        )

    def test_a_voided_record_does_not_count(self, clinic_a, admin, make_patient):
        from anagen.monitoring import services as monitoring

        patient = make_patient(clinic_a, admin, date_of_birth=date(1980, 1, 2))
        visit = monitoring.record_visit(patient, admin, {"visit_date": date(2026, 1, 10)})
        monitoring.void_record(visit, admin, "wrong patient")
        updated = update_patient(patient, admin, {"date_of_birth": date(2026, 2, 1)})
        assert updated.date_of_birth == date(2026, 2, 1)


@pytest.mark.django_db(transaction=True)
class TestAtTheSameMoment:
    """Races found on PostgreSQL with concurrent requests (each was a lost write or a
    duplicate before the writes took their locks)."""

    def test_a_void_is_not_undone_by_edits_sent_at_the_same_moment(
        self, clinic_a, admin, make_patient
    ):
        from ..races import at_once

        patient = make_patient(clinic_a, admin)
        actions = [lambda: void_patient(patient, admin, "registered twice")]
        for i in range(3):
            actions.append(
                lambda i=i: update_patient(patient, admin, {"phone": f"+44 20 7946 000{i}"})
            )
        outcomes = at_once(actions, PatientError)
        assert not [o for o in outcomes if o.startswith("error")], outcomes
        patient.refresh_from_db()
        assert patient.is_voided and patient.void_reason == "registered twice"

    def test_one_person_registered_from_two_desks_at_once_is_stored_once(self, clinic_a, admin):
        from ..races import at_once

        def register(n: int):
            return lambda: create_patient(
                clinic_a, admin,
                {"medical_record_number": f"RACE-{n}", "given_name": "Ana", "family_name": "Ruiz",
                 "date_of_birth": date(1980, 5, 17), "sex_at_birth": "female"},
            )  # fmt: skip

        outcomes = at_once([register(n) for n in range(4)], PatientError)
        assert outcomes == ["ok"] + ["refused"] * 3, outcomes
        assert Patient.objects.filter(clinic=clinic_a, family_name="Ruiz").count() == 1

    def test_one_record_number_in_two_cases_from_two_desks_at_once_is_stored_once(
        self, clinic_a, admin, make_patient
    ):
        """Both passed the case-blind check before either saved; the database's constraint
        compares the case, so both were stored."""
        from ..races import at_once

        def register(mrn: str, family: str):
            return lambda: create_patient(
                clinic_a, admin,
                {"medical_record_number": mrn, "given_name": "Ana", "family_name": family,
                 "date_of_birth": date(1980, 5, 17), "sex_at_birth": "female"},
            )  # fmt: skip

        outcomes = at_once([register("case-1", "Ruiz"), register("CASE-1", "Soto")], PatientError)
        assert outcomes == ["ok", "refused"], outcomes
        other = make_patient(clinic_a, admin)
        outcomes = at_once(
            [
                register("Case-2", "Lima"),
                lambda: update_patient(other, admin, {"medical_record_number": "CASE-2"}),
            ],
            PatientError,
        )
        assert outcomes == ["ok", "refused"], outcomes
        numbers = Patient.objects.filter(clinic=clinic_a).values_list(
            "medical_record_number", flat=True
        )
        assert sorted(n.lower() for n in numbers if n.lower().startswith("case-")) == [
            "case-1",
            "case-2",
        ]


def test_writes_check_again_under_the_lock_whether_the_patient_was_voided(
    clinic_a, admin, make_patient
):
    """A visit or event posted from a page opened before someone voided the record: the
    write read the patient before the void and went through."""
    from django.utils import timezone

    from anagen.monitoring import services as monitoring

    patient = make_patient(clinic_a, admin)
    void_patient(Patient.objects.get(pk=patient.pk), admin, "registered twice")
    assert not patient.is_voided  # the caller's copy, read before the void
    with pytest.raises(monitoring.MonitoringError, match="voided"):
        monitoring.record_visit(patient, admin, {"visit_date": timezone.localdate()})
    with pytest.raises(monitoring.MonitoringError, match="voided"):
        monitoring.record_adverse_event(
            patient, admin,
            {"term_key": "headache", "grade": 1, "onset_date": timezone.localdate()},
        )  # fmt: skip
    assert not patient.visits.exists() and not patient.adverse_events.exists()


def test_a_measurement_is_not_added_to_a_visit_voided_since_it_was_read(
    clinic_a, admin, make_patient
):
    from django.utils import timezone

    from anagen.monitoring import services as monitoring
    from anagen.monitoring.models import Visit

    patient = make_patient(clinic_a, admin)
    visit = monitoring.record_visit(patient, admin, {"visit_date": timezone.localdate()})
    monitoring.void_record(Visit.objects.get(pk=visit.pk), admin, "wrong patient")
    with pytest.raises(monitoring.MonitoringError, match="voided"):
        monitoring.add_measurement(visit, admin, {"hair_count": 40, "target_area_cm2": 1})
    assert not visit.measurements.exists()


@pytest.mark.parametrize(
    ("phone", "ok"),
    [
        ("+44 20 7946 0018", True),
        ("(020) 7946-0018", True),
        ("0161 496 0000 ext 12", True),
        ("+1 555.010.9999 x7", True),
        ("call me maybe", False),
        ("1" * 40, False),
        ("=cmd|' /C calc'!A0", False),
        ("12", False),
    ],
)
def test_a_phone_number_is_checked_for_what_a_phone_number_holds(
    clinic_a, admin, make_patient, phone, ok
):
    patient = make_patient(clinic_a, admin)
    if ok:
        update_patient(patient, admin, {"phone": phone})
        patient.refresh_from_db()
        assert patient.phone == phone
    else:
        with pytest.raises(PatientError) as refused:
            update_patient(patient, admin, {"phone": phone})
        assert refused.value.errors["phone"][0].startswith("Not a phone number")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("＋４４ ２０ ７９４６ ００１８", "+44 20 7946 0018"),  # an input method left in full width
     ("٠٢٠ ٧٩٤٦ ٠٠١٨", "020 7946 0018"),  # Arabic-Indic digits
     ("۰۲۰ ۷۹۴۶ ۰۰۱۸", "020 7946 0018"),  # Persian digits
     ("+44 20 7946 0018", "+44 20 7946 0018")],
)  # fmt: skip
def test_a_phone_number_is_stored_in_ascii_digits_and_found_by_them(
    clinic_a, admin, make_patient, typed, stored
):
    """Stored as typed, a number in full-width or Arabic-Indic digits was not found by the
    digits typed at the front desk, and a reminder list or a dialler could not use it."""
    from anagen.patients import selectors

    patient = make_patient(clinic_a, admin)
    update_patient(patient, admin, {"phone": typed})
    patient.refresh_from_db()
    assert patient.phone == stored
    digits = "".join(ch for ch in stored if ch.isdigit())
    assert list(selectors.search_patients(clinic_a, digits)) == [patient]
    assert list(selectors.search_patients(clinic_a, typed)) == [patient]
