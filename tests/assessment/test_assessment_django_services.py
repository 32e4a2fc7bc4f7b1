"""Consultation services: what is stored, what is refused, and what stays immutable."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from datetime import date, timedelta
from html import unescape

import pytest
from django.utils import timezone
from PIL import Image

from anagen.accounts.roles import Role
from anagen.assessment import protocols, services
from anagen.assessment.models import (
    Consent,
    ConsentForm,
    Diagnosis,
    ImmutableError,
    MedicalHistory,
    ScalpExam,
    Screening,
    TreatmentPlan,
)
from anagen.assessment.services import AssessmentError
from anagen.core.text import long_date
from anagen.patients import services as patients

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


# clinician, man and woman: tests/assessment/conftest.py


def healthy_history(**kw):
    data = {"conditions": [], "medications": [], "allergies": []}
    data.update(kw)
    return data


def diagnosed(patient, user, stage="III"):
    services.record_history(patient, user, healthy_history())
    services.record_exam(patient, user, {"norwood_hamilton": stage})
    return services.record_diagnosis(patient, user, {"condition": "aga_male"})


def to_plan(patient, user, proposal_key="prp_minoxidil", history=None, stage="III"):
    services.record_history(patient, user, history or healthy_history())
    services.record_exam(patient, user, {"norwood_hamilton": stage})
    services.record_diagnosis(patient, user, {"condition": "aga_male"})
    return services.accept_plan(patient, user, {"proposal_key": proposal_key})


HIDDEN = "Remove the control or invisible character(s)"


def errors_of(call, *args, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(AssessmentError) as info:
        call(*args, **kwargs)
    return info.value.errors


class TestHistory:
    def test_versions_count_up_and_unchanged_answers_keep_their_date(self, man, clinician):
        first = services.record_history(
            man, clinician,
            healthy_history(recorded_on=TODAY - timedelta(days=30), allergies=["latex"]),
        )  # fmt: skip
        second = services.record_history(
            man, clinician, healthy_history(allergies=["latex"], keloid=True)
        )
        assert (first.version, second.version) == (1, 2)
        assert second.answered_on["allergies"] == (TODAY - timedelta(days=30)).isoformat()
        assert second.answered_on["keloid"] == TODAY.isoformat()
        first.refresh_from_db()
        assert first.keloid is False  # the old version is unchanged

    def test_recording_a_history_screens_it_with_the_ruleset_version(self, man, clinician):
        history = services.record_history(man, clinician, healthy_history())
        screening = Screening.objects.get(patient=man)
        assert screening.medical_history == history
        assert screening.ruleset_version == "2026.12-4"
        assert screening.outcome("exosome") == "OK"

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"conditions": ["flu"]}, "conditions"),
            ({"scalp_conditions": ["dandruff"]}, "scalp_conditions"),
            ({"medications": [{"drug_class": "vitamins"}]}, "medications"),
            (
                {"medications": [{"drug_class": "nsaid", "start": "2025-02-01",
                                  "stop": "2025-01-01"}]},
                "medications",
            ),
            ({"pregnant": True}, "pregnant"),  # on a male record
            ({"platelet_count_10e9_per_l": -5}, "platelet_count_10e9_per_l"),
            ({"recorded_on": TODAY + timedelta(days=1)}, "recorded_on"),
            ({"prior_treatments": [{"modality": "prp"}]}, "prior_treatments[0].on"),
        ],
    )  # fmt: skip
    def test_bad_answers_name_the_field_and_store_nothing(self, man, clinician, data, field):
        errors = errors_of(services.record_history, man, clinician, healthy_history(**data))
        assert field in errors
        assert not MedicalHistory.objects.exists() and not Screening.objects.exists()

    def test_history_change_makes_the_old_screening_stale(self, man, clinician):
        services.record_history(man, clinician, healthy_history())
        old = Screening.objects.get()
        services.record_history(man, clinician, healthy_history(keloid=True))
        assert not services.screening_is_current(man, old)
        assert Screening.objects.count() == 2


class TestScreening:
    def test_pregnancy_blocks_exosome_with_rule_id_reason_and_source(self, woman, clinician):
        services.record_history(woman, clinician, healthy_history(pregnant=True, lactating=False))
        scr = Screening.objects.get()
        assert scr.outcome("exosome") == "BLOCK"
        finding = scr.findings("exosome")[0]
        assert finding["rule_id"] == "EXO-PREGNANCY" and finding["source"] and finding["reason"]

    def test_product_components_are_checked_against_allergies(self, man, clinician):
        services.record_history(man, clinician, healthy_history(allergies=["Trehalose"]))
        assert Screening.objects.get().outcome("exosome") == "OK"
        scr = services.run_screening(man, clinician, product_components=["trehalose", "PBS"])
        assert scr.outcome("exosome") == "BLOCK"
        assert scr.product_components == ["trehalose", "PBS"]

    def test_clinic_override_changes_outcome_and_version_and_is_stored(self, man, clinician):
        services.add_rule_override(
            man.clinic, clinician, "EXO-MALIGNANCY-PAST", "set_outcome", "BLOCK",
            "Clinic policy: no vesicle products after any cancer.",
        )  # fmt: skip
        services.record_history(man, clinician, healthy_history(malignancy="past"))
        scr = Screening.objects.get()
        assert scr.outcome("exosome") == "BLOCK"
        assert scr.ruleset_version == "2026.12-4+1ov"
        assert scr.rule_overrides[0]["rule_id"] == "EXO-MALIGNANCY-PAST"

    def test_locked_rule_cannot_be_weakened(self, man, clinician):
        errors = errors_of(
            services.add_rule_override, man.clinic, clinician, "EXO-PREGNANCY", "disable", "",
            "We would like to treat pregnant women.",
        )  # fmt: skip
        assert "locked" in errors["action"][0]

    def test_retired_override_no_longer_applies_but_is_kept(self, man, clinician):
        row = services.add_rule_override(
            man.clinic, clinician, "EXO-KELOID", "disable", "", "Keloid risk accepted here."
        )
        services.retire_rule_override(row, clinician, "Back to the shipped rule set.")
        services.record_history(man, clinician, healthy_history(keloid=True))
        assert Screening.objects.get().outcome("exosome") == "WARN"
        assert row.history.count() == 2  # created, retired

    @pytest.mark.parametrize(
        ("reason", "message"),
        [("Back to the\x00 shipped rules.", "Remove the NUL character."),
         ("Back to the \x1b[2J rules.", f"{HIDDEN} U+001B."),
         ("Back to the shipped rules \u202e.", f"{HIDDEN} U+202E.")],
    )  # fmt: skip
    def test_a_retire_reason_with_control_characters_is_refused_and_the_override_kept(
        self, man, clinician, reason, message
    ):
        """The rules page posts the reason without a form: a NUL was a 500 on PostgreSQL."""
        row = services.add_rule_override(
            man.clinic, clinician, "EXO-KELOID", "disable", "", "Keloid risk accepted here."
        )
        errors = errors_of(services.retire_rule_override, row, clinician, reason)
        assert errors == {"reason": [message]}
        row.refresh_from_db()
        assert row.retired_at is None and row.history.count() == 1

    def test_override_needs_a_block_and_a_written_reason(self, woman, clinician):
        # A BLOCK the clinic made of a shipped WARN is the clinic's own: it can be overridden.
        services.add_rule_override(
            woman.clinic, clinician, "EXO-KELOID", "set_outcome", "BLOCK", "No keloid risk here."
        )
        services.record_history(woman, clinician, healthy_history(keloid=True))
        scr = Screening.objects.get()
        assert "reason" in errors_of(services.override_block, scr, clinician, "exosome", "ok")
        assert "modality" in errors_of(
            services.override_block, scr, clinician, "lllt_x", "Reason long enough here"
        )
        assert errors_of(
            services.override_block, scr, clinician, "lllt", "Reason long enough here"
        )["modality"] == ["This screening does not BLOCK low-level laser therapy."]
        row = services.override_block(scr, clinician, "exosome", "Scar checked: no keloid.")
        assert row.rule_ids == ["EXO-KELOID"]
        assert errors_of(
            services.override_block, scr, clinician, "exosome", "Scar checked: no keloid."
        )["modality"] == ["The BLOCK of exosome / EV injections is already overridden."]
        assert row.history.first().history_user == clinician

    def test_a_locked_block_cannot_be_overridden_for_one_patient(self, woman, clinician):
        """A review found a pregnancy BLOCK (locked: no clinic may weaken it) lifted for one
        patient by a written reason; the lock now holds per patient as well."""
        services.record_history(woman, clinician, healthy_history(pregnant=True, lactating=False))
        scr = Screening.objects.get()
        errors = errors_of(
            services.override_block, scr, clinician, "exosome", "Patient insists; discussed."
        )
        assert errors["modality"] == [
            "The BLOCK of exosome / EV injections comes from locked rule EXO-PREGNANCY, which "
            "no override may lift: treat or rule out the cause, record the history again and "
            "screen again."
        ]
        assert not scr.overrides.exists()
        # Nor does accepting the plan ask for the override that cannot be given.
        services.record_exam(woman, clinician, {"ludwig": "I"})
        services.record_diagnosis(woman, clinician, {"condition": "aga_female"})
        [proposal] = [p for p in services.proposals(woman)[0] if p.key == "exosome"]
        assert proposal.locked_modalities == ["exosome"]
        errors = errors_of(services.accept_plan, woman, clinician, {"proposal_key": "exosome"})
        assert errors["proposal_key"] == [
            "Screening BLOCKs exosome / EV injections by locked rule EXO-PREGNANCY, which no "
            "override may lift: this plan cannot be accepted while it holds."
        ]

    def test_an_override_written_before_its_rule_was_locked_lifts_nothing(
        self, client, woman, clinician
    ):
        """An override stored by an earlier release, when the pregnancy rule was not yet
        locked, went on lifting the BLOCK: plans, the session check and the page took it."""
        from anagen.assessment.models import ScreeningOverride
        from anagen.treatments.services import screening_status

        services.record_history(woman, clinician, healthy_history(pregnant=True, lactating=False))
        scr = Screening.objects.get()
        ScreeningOverride.objects.create(  # as the earlier release stored it
            clinic=woman.clinic, screening=scr, modality="exosome",
            rule_ids=["EXO-PREGNANCY"], reason="Patient insists; discussed.",
            overridden_by=clinician,
        )  # fmt: skip
        assert services.standing_overrides(scr) == {}
        status = screening_status(woman, "exosome", TODAY)
        assert not status.ok and "locked rule EXO-PREGNANCY cannot be overridden" in status.message
        assert errors_of(
            services.override_block, scr, clinician, "exosome", "Patient insists; discussed."
        )["modality"][0].startswith("The BLOCK of exosome / EV injections comes from locked rule")
        services.record_exam(woman, clinician, {"ludwig": "I"})
        services.record_diagnosis(woman, clinician, {"condition": "aga_female"})
        [proposal] = [p for p in services.proposals(woman)[0] if p.key == "exosome"]
        assert proposal.overridden_modalities == []
        assert proposal.blocked_modalities == proposal.locked_modalities == ["exosome"]
        client.force_login(clinician)
        page = unescape(client.get(f"/consultation/{woman.pk}/").content.decode())
        assert "No longer lifts the BLOCK:</strong> its rule is now locked" in page
        assert "BLOCK overridden" not in page

    def test_the_consultation_page_reads_the_screenings_overrides_once(
        self, client, woman, clinician
    ):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from anagen.assessment.models import ScreeningOverride

        services.record_history(woman, clinician, healthy_history(pregnant=True, lactating=False))
        scr = Screening.objects.get()
        ScreeningOverride.objects.create(
            clinic=woman.clinic, screening=scr, modality="exosome",
            rule_ids=["EXO-PREGNANCY"], reason="Patient insists; discussed.",
            overridden_by=clinician,
        )  # fmt: skip
        client.force_login(clinician)
        table = ScreeningOverride._meta.db_table
        with CaptureQueriesContext(connection) as queries:
            page = unescape(client.get(f"/consultation/{woman.pk}/").content.decode())
        assert "No longer lifts the BLOCK" in page
        reads = [q["sql"] for q in queries if f'FROM "{table}"' in q["sql"]]
        assert len(reads) == 1, reads


def test_a_voided_patient_takes_no_new_history_exam_or_diagnosis(man, clinician):
    patients.void_patient(man, clinician, "Registered twice by mistake.")
    man.refresh_from_db()
    for call, data in (
        (services.record_history, healthy_history()),
        (services.record_exam, {"examined_on": TODAY, "norwood_hamilton": "III"}),
        (services.record_diagnosis, {"condition": "aga_male", "stage": "III"}),
    ):
        assert errors_of(call, man, clinician, data) == {"__all__": ["This record is voided."]}
    assert not ScalpExam.objects.exists() and not Diagnosis.objects.exists()


def test_an_exam_or_diagnosis_sent_twice_is_stored_once(man, clinician, clinic_a, make_user):
    """An integration review: a retried POST stored the same exam (and diagnosis) twice;
    neither can be voided, so the copy stayed in the record."""
    exam = {"examined_on": TODAY, "norwood_hamilton": "III", "findings": "Recession."}
    services.record_exam(man, clinician, exam)
    errors = errors_of(services.record_exam, man, clinician, exam)
    assert errors["__all__"][0].startswith("This exam is already recorded (by ")
    assert (
        f"on {TODAY.isoformat()}): a form or request sent twice is stored once."
        in (errors["__all__"][0])
    )
    diagnosis = {"condition": "aga_male", "stage": "III", "diagnosed_on": TODAY}
    services.record_diagnosis(man, clinician, diagnosis)
    errors = errors_of(services.record_diagnosis, man, clinician, diagnosis)
    assert errors["__all__"][0].startswith("This diagnosis is already recorded")
    assert ScalpExam.objects.count() == 1 and Diagnosis.objects.count() == 1
    # Anything that differs is a record of its own: another finding, date, or examiner.
    services.record_exam(man, clinician, {**exam, "findings": "Recession, miniaturisation."})
    services.record_exam(man, clinician, {**exam, "examined_on": TODAY - timedelta(days=1)})
    services.record_exam(man, make_user(Role.CLINICIAN, clinic_a, username="dr-two"), exam)
    services.record_diagnosis(man, clinician, {**diagnosis, "stage": "IV"})
    assert ScalpExam.objects.count() == 4 and Diagnosis.objects.count() == 2


def test_a_voided_patient_takes_no_screening_override_consent_or_withdrawal(man, clinician):
    """The API screened, consented and withdrew on a voided patient (a security review);
    each such write is now refused in the service, as history, exam and diagnosis were."""
    from anagen.assessment.models import ConsentWithdrawal

    plan = to_plan(man, clinician, "exosome", history=healthy_history(keloid=True))
    consent = services.record_consent(
        plan, clinician, modality="exosome", signed_name="Adam Stone", signed_on=TODAY
    )
    screenings = Screening.objects.count()
    patients.void_patient(man, clinician, "Registered twice by mistake.")
    man.refresh_from_db()
    plan.refresh_from_db()
    consent.refresh_from_db()
    voided = {"__all__": ["This record is voided."]}
    assert errors_of(services.run_screening, man, clinician) == voided
    latest = Screening.objects.filter(patient=man).order_by("-id").first()
    assert errors_of(services.override_block, latest, clinician, "exosome", "x" * 30) == voided
    assert errors_of(services.withdraw_consent, consent, clinician, "Changed their mind.") == voided
    assert errors_of(
        services.record_consent, plan, clinician, modality="exosome", signed_name="Adam Stone",
        signed_on=TODAY,
    ) == voided  # fmt: skip
    assert Screening.objects.count() == screenings and not ConsentWithdrawal.objects.exists()


def test_a_voided_patients_plan_is_neither_edited_nor_cancelled(man, clinician):
    """The API edited and cancelled the plan of a voided patient (a security review): a
    voided record is not changed, as its other consultation records are not."""
    plan = to_plan(man, clinician, "exosome")
    patients.void_patient(man, clinician, "Registered twice by mistake.")
    plan.refresh_from_db()
    voided = {"__all__": ["This record is voided."]}
    assert errors_of(services.update_plan, plan, clinician, {"notes": "Edited later."}) == voided
    assert errors_of(services.cancel_plan, plan, clinician, "Not wanted any more.") == voided
    plan.refresh_from_db()
    assert plan.status == "active" and plan.notes == ""
    assert plan.history.count() == 1


def test_a_history_dated_before_birth_is_refused_on_its_date_in_words(man, clinician):
    errors = errors_of(
        services.record_history, man, clinician, healthy_history(recorded_on=date(1979, 12, 31))
    )
    assert errors == {
        "recorded_on": ["Before the patient's date of birth (1980-01-01); check the date."]
    }
    assert not MedicalHistory.objects.exists()


def test_answers_more_than_a_year_old_are_refused_as_not_current(man, clinician):
    """Answers dated 1990 were screened on that date: a 41-year-old was blocked as a minor."""
    old = TODAY - timedelta(days=366)
    errors = errors_of(services.record_history, man, clinician, healthy_history(recorded_on=old))
    assert errors["recorded_on"][0].startswith(f"{old.isoformat()} is more than a year ago")
    assert not MedicalHistory.objects.exists()
    year = TODAY - timedelta(days=365)
    assert services.record_history(man, clinician, healthy_history(recorded_on=year)).pk


def test_free_text_is_at_most_a_long_page(man, clinician):
    """50,000 characters of history notes and 30,000 of exam findings were stored."""
    long = "x" * 5001
    errors = errors_of(services.record_history, man, clinician, healthy_history(notes=long))
    assert errors["notes"] == ["At most 5000 characters (this has 5001)."]
    errors = errors_of(
        services.record_exam, man, clinician, {"examined_on": TODAY, "findings": long}
    )
    assert errors["findings"] == ["At most 5000 characters (this has 5001)."]
    assert not MedicalHistory.objects.exists() and not ScalpExam.objects.exists()


def test_history_names_and_treatment_notes_refuse_control_characters(man, clinician):
    """A medication name, an allergy or a prior treatment's details with a right-to-left
    override or a bell were stored, while the history's notes refused them (review)."""
    history = healthy_history(
        medications=[{"drug_class": "finasteride", "name": "Pro\u202epecia", "start": None}],
        allergies=["latex\u0007"],
        prior_treatments=[{"modality": "prp", "on": TODAY.isoformat(), "notes": "3 \x00 sessions"}],
    )
    errors = errors_of(services.record_history, man, clinician, history)
    assert errors == {
        "medications[0].name": ["Remove the control or invisible character(s) U+202E."],
        "allergies": ["Remove the control or invisible character(s) U+0007."],
        "prior_treatments[0].notes": ["Remove the NUL character."],
    }
    assert not MedicalHistory.objects.exists()
    history["prior_treatments"][0]["notes"] = "x" * 5001
    errors = errors_of(services.record_history, man, clinician, history)
    assert errors["prior_treatments[0].notes"] == ["At most 5000 characters (this has 5001)."]
    kept = services.record_history(
        man, clinician,
        healthy_history(prior_treatments=[
            {"modality": "prp", "on": TODAY.isoformat(), "notes": "3 sessions\n\tno change"}
        ]),
    )  # fmt: skip
    assert kept.prior_treatments[0]["notes"] == "3 sessions\n\tno change"


def test_free_text_refuses_control_characters_and_direction_overrides(man, clinician):
    """Exam findings with a right-to-left override (U+202E) and a bell (U+0007) were stored,
    while the other apps refused them (review). Line breaks, tabs and emoji stay."""
    errors = errors_of(
        services.record_exam, man, clinician,
        {"examined_on": TODAY, "findings": "thin \u202eterces\u0007 crown"},
    )  # fmt: skip
    assert errors["findings"] == ["Remove the control or invisible character(s) U+202E, U+0007."]
    errors = errors_of(services.record_history, man, clinician, healthy_history(notes="a\x00b"))
    assert errors["notes"] == ["Remove the NUL character."]
    assert not MedicalHistory.objects.exists() and not ScalpExam.objects.exists()
    exam = services.record_exam(
        man, clinician, {"examined_on": TODAY, "findings": "line one\n\tline two 🙂"}
    )
    assert exam.findings == "line one\n\tline two 🙂"


class TestExam:
    def test_every_salt_region_out_of_range_is_named_at_once(self, man, clinician):
        """Only the first was named: one round trip per wrong region."""
        errors = errors_of(
            services.record_exam, man, clinician,
            {"examined_on": TODAY, "salt_top": 150, "salt_posterior": -3, "salt_right": 50,
             "salt_left": 101},
        )  # fmt: skip
        assert set(errors) == {"salt_top", "salt_posterior", "salt_left"}
        assert "150" in errors["salt_top"][0] and "101" in errors["salt_left"][0]

    def test_salt_and_aa_scale_are_computed_and_stored(self, man, clinician):
        exam = services.record_exam(
            man, clinician,
            {"salt_top": 50, "salt_posterior": 25, "salt_right": 0, "salt_left": 0,
             "aa_brow_or_lash_loss": True},
        )  # fmt: skip
        assert exam.salt_score == 26.0  # 0.40·50 + 0.24·25
        assert (exam.salt_band, exam.aa_iga) == ("S2", 2)
        assert (exam.aa_scale_base, exam.aa_scale_severity) == ("moderate", "severe")

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"salt_top": 101, "salt_posterior": 0, "salt_right": 0, "salt_left": 0}, "salt_top"),
            ({"salt_top": 10}, "salt_posterior"),
            ({"pull_hairs_pulled": 50, "pull_hairs_out": -1}, "pull_hairs_out"),
            ({"pull_hairs_pulled": -3, "pull_hairs_out": 0}, "pull_hairs_pulled"),
            ({"ludwig": "II"}, "ludwig"),  # female scale on a male record
            ({"sinclair": 3}, "sinclair"),
            ({"norwood_hamilton": "VIII"}, "norwood_hamilton"),
            ({"basp_basic": "M2", "basp_v": "V9"}, "basp_v"),
            ({"trichoscopy_signs": ["glitter"]}, "trichoscopy_signs"),
            ({}, "__all__"),
        ],
    )
    def test_invalid_values_give_field_errors_and_store_nothing(self, man, clinician, data, field):
        assert field in errors_of(services.record_exam, man, clinician, data)
        assert not ScalpExam.objects.exists()

    def test_ludwig_on_a_man_when_the_pattern_is_confirmed(self, man, clinician):
        exam = services.record_exam(
            man, clinician, {"ludwig": "II", "female_pattern_confirmed": True}
        )
        assert exam.ludwig == "II"

    def test_pull_test_result(self, man, clinician):
        exam = services.record_exam(man, clinician, {"pull_hairs_pulled": 50, "pull_hairs_out": 8})
        assert exam.pull_test_positive is True


class TestDiagnosis:
    def test_codes_are_stored_with_system_and_version(self, man, clinician):
        services.record_exam(man, clinician, {"norwood_hamilton": "IV"})
        dx = services.record_diagnosis(man, clinician, {"condition": "aga_male"})
        assert (dx.icd10_code, dx.icd10_system) == ("L64.9", "http://hl7.org/fhir/sid/icd-10")
        assert (dx.snomed_code, dx.snomed_system) == ("87872006", "http://snomed.info/sct")
        assert dx.icd10_version and dx.snomed_version
        assert dx.stage == "IV"  # taken from the exam

    def test_other_needs_a_manual_code(self, man, clinician):
        errors = errors_of(services.record_diagnosis, man, clinician, {"condition": "other"})
        assert {"label", "icd10_code"} <= set(errors)
        dx = services.record_diagnosis(
            man, clinician,
            {"condition": "other", "label": "Traction alopecia", "icd10_code": "l65.8"},
        )  # fmt: skip
        assert dx.icd10_code == "L65.8" and dx.snomed_code == ""

    def test_bad_stage_is_a_field_error(self, man, clinician):
        errors = errors_of(
            services.record_diagnosis, man, clinician, {"condition": "aga_male", "stage": "XIV"}
        )
        assert "stage" in errors and not Diagnosis.objects.exists()


def salt_exam(patient, user, top, rest):
    return services.record_exam(
        patient, user,
        {"salt_top": top, "salt_posterior": rest, "salt_right": rest, "salt_left": rest},
    )  # fmt: skip


class TestAlopeciaAreataTotalis:
    """Totalis / universalis is all scalp hair lost: SALT 100, S5 (REFERENCE.md §1.4)."""

    @pytest.mark.parametrize(
        ("condition", "what"),
        [
            ("aa_totalis", "Alopecia areata, totalis is the loss of all scalp hair"),
            (
                "aa_universalis",
                "Alopecia areata, universalis is the loss of all scalp and body hair",
            ),
        ],
    )
    def test_an_exam_with_a_low_salt_score_refuses_it(self, woman, clinician, condition, what):
        salt_exam(woman, clinician, 25, 0)  # SALT 10
        errors = errors_of(services.record_diagnosis, woman, clinician, {"condition": condition})
        assert errors == {
            "condition": [
                f"{what} (SALT 100, band S5; near-total loss, SALT 95–100, is AA-IGA 4), but "
                f"the scalp exam of {long_date(TODAY)} records SALT 10 (band S1): choose patchy "
                "alopecia areata, or record a new scalp exam first."
            ]
        }
        assert not Diagnosis.objects.exists()
        assert services.record_diagnosis(woman, clinician, {"condition": "aa_patchy"})

    @pytest.mark.parametrize(("top", "rest"), [(100, 100), (100, 94)])
    def test_total_or_near_total_loss_takes_it(self, woman, clinician, top, rest):
        exam = salt_exam(woman, clinician, top, rest)
        assert exam.salt_score >= 95
        dx = services.record_diagnosis(woman, clinician, {"condition": "aa_universalis"})
        assert dx.icd10_code == "L63.1"

    def test_a_typed_band_below_near_total_is_refused_on_the_stage(self, woman, clinician):
        errors = errors_of(
            services.record_diagnosis, woman, clinician, {"condition": "aa_totalis", "stage": "S2"}
        )
        assert errors["stage"][0].endswith("but the stage given is S2: check the stage.")
        assert (
            services.record_diagnosis(
                woman, clinician, {"condition": "aa_totalis", "stage": "S5"}
            ).stage
            == "S5"
        )

    @pytest.mark.parametrize(
        ("condition", "label"),
        [("aa_patchy", "Alopecia areata, patchy"), ("aa_ophiasis", "Alopecia areata, ophiasis")],
    )
    def test_a_partial_pattern_over_salt_100_is_refused(self, woman, clinician, condition, label):
        """The reverse of the low-SALT totalis: every scalp hair lost is totalis by definition,
        so patchy (L63.9) or ophiasis (L63.2) over SALT 100 is a coding mistake."""
        salt_exam(woman, clinician, 100, 100)  # SALT 100
        errors = errors_of(services.record_diagnosis, woman, clinician, {"condition": condition})
        assert errors == {
            "condition": [
                f"{label} is a partial loss, but SALT 100 (band S5) is the loss of all scalp "
                "hair, which is alopecia areata totalis (or universalis with body hair lost); "
                f"the scalp exam of {long_date(TODAY)} records SALT 100 (band S5): choose "
                "alopecia areata totalis or universalis, or record a new scalp exam first."
            ]
        }
        assert not Diagnosis.objects.exists()
        assert services.record_diagnosis(woman, clinician, {"condition": "aa_totalis"})

    def test_a_partial_pattern_just_below_total_loss_is_taken(self, woman, clinician):
        exam = salt_exam(woman, clinician, 100, 94)
        assert 95 <= exam.salt_score < 100
        assert services.record_diagnosis(woman, clinician, {"condition": "aa_patchy"})

    def test_a_typed_s5_band_on_a_partial_pattern_is_refused_on_the_stage(self, woman, clinician):
        errors = errors_of(
            services.record_diagnosis, woman, clinician, {"condition": "aa_patchy", "stage": "S5"}
        )
        assert errors["stage"][0].endswith("and the stage given is S5: check the stage.")
        assert not Diagnosis.objects.exists()


class TestDiagnosisBySex:
    """Female-pattern AGA on a male record is refused as the exam refuses Ludwig/Sinclair."""

    def test_female_pattern_on_a_male_record_is_refused_on_the_condition(self, man, clinician):
        errors = errors_of(services.record_diagnosis, man, clinician, {"condition": "aga_female"})
        assert errors == {
            "condition": [
                "Female-pattern diagnosis on a male record; choose male-pattern androgenetic "
                "alopecia, or confirm a female-type pattern with a Ludwig or Sinclair grade on "
                f"the scalp exam first: there is no scalp exam on or before {TODAY}."
            ]
        }
        assert not Diagnosis.objects.exists()

    def test_an_unconfirmed_exam_does_not_allow_it(self, man, clinician):
        services.record_exam(man, clinician, {"norwood_hamilton": "III"})
        errors = errors_of(services.record_diagnosis, man, clinician, {"condition": "aga_female"})
        (message,) = errors["condition"]
        assert message.endswith(
            f"the scalp exam of {TODAY} does not confirm a female-type pattern and records "
            "no Ludwig or Sinclair grade."
        )
        assert not Diagnosis.objects.exists()

    def test_a_ticked_box_with_only_a_norwood_stage_does_not_allow_it(self, man, clinician):
        services.record_exam(
            man, clinician, {"norwood_hamilton": "IV", "female_pattern_confirmed": True}
        )
        errors = errors_of(services.record_diagnosis, man, clinician, {"condition": "aga_female"})
        (message,) = errors["condition"]
        assert message.endswith(f"the scalp exam of {TODAY} records no Ludwig or Sinclair grade.")
        assert not Diagnosis.objects.exists()

    def test_an_exam_after_the_diagnosis_date_does_not_allow_it(self, man, clinician):
        before, exam_day = TODAY - timedelta(days=60), TODAY - timedelta(days=30)
        services.record_exam(
            man, clinician,
            {"examined_on": exam_day, "ludwig": "II", "female_pattern_confirmed": True},
        )  # fmt: skip
        errors = errors_of(
            services.record_diagnosis, man, clinician,
            {"condition": "aga_female", "diagnosed_on": before},
        )  # fmt: skip
        (message,) = errors["condition"]
        assert message.endswith(f"there is no scalp exam on or before {before}.")
        assert not Diagnosis.objects.exists()
        # Dated on or after the exam, the same diagnosis is allowed and rests on that exam.
        dx = services.record_diagnosis(
            man, clinician, {"condition": "aga_female", "diagnosed_on": exam_day}
        )
        assert (dx.stage, dx.exam.examined_on) == ("II", exam_day)

    def test_the_latest_exam_on_or_before_the_date_decides(self, man, clinician):
        earlier, later = TODAY - timedelta(days=30), TODAY - timedelta(days=10)
        services.record_exam(
            man, clinician,
            {"examined_on": earlier, "ludwig": "I", "female_pattern_confirmed": True},
        )  # fmt: skip
        services.record_exam(man, clinician, {"examined_on": later, "norwood_hamilton": "III"})
        errors = errors_of(services.record_diagnosis, man, clinician, {"condition": "aga_female"})
        assert errors["condition"][0].endswith(
            f"the scalp exam of {later} does not confirm a female-type pattern and records "
            "no Ludwig or Sinclair grade."
        )
        dx = services.record_diagnosis(
            man, clinician, {"condition": "aga_female", "diagnosed_on": earlier}
        )
        assert (dx.stage, dx.exam.examined_on) == ("I", earlier)

    def test_allowed_on_a_man_once_the_exam_confirms_a_female_type_pattern(self, man, clinician):
        services.record_exam(man, clinician, {"ludwig": "II", "female_pattern_confirmed": True})
        dx = services.record_diagnosis(man, clinician, {"condition": "aga_female"})
        assert dx.condition == "aga_female"

    @pytest.mark.parametrize("sex", ["female", "intersex", "unknown"])
    def test_only_a_male_record_restricts_it(self, clinic_a, clinician, make_patient, sex):
        patient = make_patient(clinic_a, clinician, sex_at_birth=sex)
        assert services.record_diagnosis(patient, clinician, {"condition": "aga_female"}).pk

    def test_a_female_pattern_never_takes_a_norwood_stage(self, woman, clinician):
        services.record_exam(woman, clinician, {"norwood_hamilton": "IV"})
        # From the exam: Norwood is not read for a female pattern, so no stage.
        dx = services.record_diagnosis(woman, clinician, {"condition": "aga_female"})
        assert dx.stage == ""
        # Typed: refused on the stage.
        errors = errors_of(
            services.record_diagnosis, woman, clinician, {"condition": "aga_female", "stage": "IV"}
        )
        assert "Norwood stage" in errors["stage"][0]
        assert Diagnosis.objects.count() == 1

    def test_male_pattern_in_a_woman_is_allowed_as_norwood_is_on_the_exam(self, woman, clinician):
        # The exam stages women on Norwood (male-pattern loss in women exists).
        services.record_exam(woman, clinician, {"norwood_hamilton": "III"})
        dx = services.record_diagnosis(woman, clinician, {"condition": "aga_male"})
        assert (dx.condition, dx.stage) == ("aga_male", "III")


class TestPlans:
    def test_a_plan_starts_today_or_within_two_years(self, man, clinician):
        plan = to_plan(man, clinician)
        for bad in ("9999-12-31", TODAY + timedelta(days=731), TODAY - timedelta(days=1)):
            assert "start_on" in errors_of(services.update_plan, plan, clinician, {"start_on": bad})
        updated = services.update_plan(plan, clinician, {"start_on": TODAY + timedelta(days=730)})
        assert updated.start_on == TODAY + timedelta(days=730)

    def test_accepted_plan_copies_templates_and_reasons(self, man, clinician):
        plan = to_plan(man, clinician)
        assert plan.modalities == ["prp", "minoxidil"]
        assert plan.protocols[0]["key"] == "prp_standard" and plan.reasons

    def test_finasteride_is_recorded_as_a_plan_of_no_course_beside_another(self, man, clinician):
        """Prescribed, not given here: no modality, so any in-clinic plan may follow."""
        fin = to_plan(man, clinician, "finasteride")
        assert (fin.modalities, fin.protocols) == ([], [])
        assert "Kaufman 1998" in fin.reasons[0]
        prp = services.accept_plan(man, clinician, {"proposal_key": "prp_minoxidil"})
        assert prp.modalities == ["prp", "minoxidil"]

    def test_exosome_plan_carries_the_investigational_notice(self, man, clinician):
        plan = to_plan(man, clinician, "exosome")
        assert plan.notices == [protocols.INVESTIGATIONAL_NOTICE]
        assert plan.is_investigational

    def test_block_stops_the_plan_until_a_clinician_overrides(self, man, clinician):
        services.add_rule_override(
            man.clinic, clinician, "EXO-KELOID", "set_outcome", "BLOCK", "No keloid risk here."
        )
        services.record_history(man, clinician, healthy_history(keloid=True))
        services.record_exam(man, clinician, {"norwood_hamilton": "III"})
        services.record_diagnosis(man, clinician, {"condition": "aga_male"})
        errors = errors_of(services.accept_plan, man, clinician, {"proposal_key": "exosome"})
        assert errors["proposal_key"] == [
            "Screening BLOCKs exosome / EV injections; a clinician must override the BLOCK "
            "with a written reason before this plan can be accepted."
        ]
        assert not TreatmentPlan.objects.exists()
        scr = Screening.objects.get()
        services.override_block(scr, clinician, "exosome", "Scar checked: no keloid tendency.")
        plan = services.accept_plan(man, clinician, {"proposal_key": "exosome"})
        assert any("overridden" in f for f in plan.flags)

    def test_plan_needs_current_screening(self, man, clinician):
        to_plan(man, clinician)
        services.record_history(man, clinician, healthy_history())
        # Services always screen a new history; simulate a stale screening by deleting the
        # newest result (possible only in a test).
        Screening.objects.filter(patient=man).order_by("-id").first().delete()
        errors = errors_of(services.accept_plan, man, clinician, {"proposal_key": "minoxidil"})
        assert "screen again" in " ".join(errors["__all__"])

    def test_clinic_template_edit_reaches_new_plans(self, man, clinician):
        services.ensure_protocol_templates(man.clinic, clinician)
        tpl = services.clinic_template(man.clinic, "exosome_standard")
        services.update_protocol_template(tpl, clinician, {"sessions_max": 6, "sessions_min": 4})
        plan = to_plan(man, clinician, "exosome")
        assert plan.protocols[0]["sessions_max"] == 6 and plan.sessions_planned == 6

    def test_saving_a_template_unchanged_writes_no_history(self, man, clinician):
        services.ensure_protocol_templates(man.clinic, clinician)
        tpl = services.clinic_template(man.clinic, "prp_standard")
        before = tpl.history.count()
        same = {"title": tpl.title + " ", "sessions_min": tpl.sessions_min}
        services.update_protocol_template(tpl, clinician, same)
        assert tpl.history.count() == before
        services.update_protocol_template(tpl, clinician, {"sessions_max": tpl.sessions_max + 1})
        assert tpl.history.count() == before + 1

    def test_template_validation(self, man, clinician):
        tpl = services.clinic_template(man.clinic, "prp_standard")
        errors = errors_of(
            services.update_protocol_template,
            tpl,
            clinician,
            {"sessions_min": 5, "sessions_max": 2},
        )
        assert errors == {"sessions_max": ["Must not be below the minimum."]}
        # Refused before anything is set: the object holds what is stored (it held 5 and 2,
        # so the next edit of its title was refused for a minimum nobody had kept).
        assert (tpl.sessions_min, tpl.sessions_max) == (3, 3)
        services.update_protocol_template(tpl, clinician, {"title": "PRP, three sessions"})
        tpl.refresh_from_db()
        assert (tpl.title, tpl.sessions_min, tpl.sessions_max) == ("PRP, three sessions", 3, 3)

    def test_a_template_interval_is_one_a_plan_can_have(self, man, clinician):
        """A template's interval of 0.1 weeks was kept and became the interval of every new
        plan, which a plan typed by hand refuses (0.5–52 weeks) and the follow-up schedule
        cannot take."""
        services.ensure_protocol_templates(man.clinic, clinician)
        tpl = services.clinic_template(man.clinic, "exosome_standard")
        errors = errors_of(
            services.update_protocol_template, tpl, clinician, {"interval_weeks_min": 0.1}
        )
        assert errors["interval_weeks_min"] == ["Must be at least 0.5 and at most 52."]
        tpl.refresh_from_db()
        assert tpl.interval_weeks_min == 2
        plan = to_plan(man, clinician, "exosome")
        assert plan.interval_weeks == 2

    def test_saving_a_plan_unchanged_writes_no_history(self, man, clinician):
        plan = to_plan(man, clinician, "minoxidil")
        versions = plan.history.count()
        services.update_plan(plan, clinician, {"notes": plan.notes})
        assert plan.history.count() == versions
        services.update_plan(plan, clinician, {"notes": "apply at night"})
        assert plan.history.count() == versions + 1

    def test_plan_edit_is_refused_after_consent(self, man, clinician):
        plan = to_plan(man, clinician, "minoxidil")
        services.update_plan(plan, clinician, {"notes": "apply at night"})
        services.record_consent(
            plan, clinician, modality="minoxidil", signed_name="Adam Stone", signed_on=TODAY
        )
        assert "__all__" in errors_of(services.update_plan, plan, clinician, {"notes": "x"})


def png_data_url(size=(60, 20)) -> str:
    buf = io.BytesIO()
    Image.new("RGBA", size, (0, 0, 0, 0)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def png_declaring(width: int, height: int) -> str:
    """A tiny PNG whose header declares a huge canvas (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
    return "data:image/png;base64," + base64.b64encode(raw + chunk(b"IEND", b"")).decode()


class TestConsent:
    def test_valid_consent_window_and_withdrawal(self, man, clinician):
        plan = to_plan(man, clinician, "exosome")
        assert not services.has_valid_consent(plan, "exosome", TODAY)
        consent = services.record_consent(
            plan, clinician, modality="exosome", signed_name="  adam   STONE ",
            signed_on=TODAY, signature_png=png_data_url(),
        )  # fmt: skip
        assert consent.form.investigational_clause == protocols.INVESTIGATIONAL_NOTICE
        assert services.has_valid_consent(plan, "exosome", TODAY)
        assert not services.has_valid_consent(plan, "exosome", TODAY - timedelta(days=1))
        assert not services.has_valid_consent(plan, "prp", TODAY)
        services.withdraw_consent(consent, clinician, "Patient changed her mind.", TODAY)
        assert not services.has_valid_consent(plan, "exosome", TODAY)

    def test_a_withdrawal_cannot_be_dated_before_a_session_given_under_the_consent(
        self, man, clinician
    ):
        from anagen.treatments.models import TreatmentSession

        plan = to_plan(man, clinician, "exosome")
        consent = services.record_consent(
            plan, clinician, modality="exosome", signed_name="Adam Stone", signed_on=TODAY
        )
        # Signed three days ago (a signed consent is immutable: moved in the table).
        Consent.objects.filter(pk=consent.pk).update(signed_on=TODAY - timedelta(days=3))
        consent.refresh_from_db()
        # Written directly: the session rules are tested in tests/treatments.
        session = TreatmentSession.objects.create(
            clinic=man.clinic, patient=man, plan=plan, modality="exosome",
            performed_on=TODAY, clinician=clinician,
        )  # fmt: skip
        before = TODAY - timedelta(days=1)
        reason = "Changed his mind."
        errors = errors_of(services.withdraw_consent, consent, clinician, reason, before)
        assert errors == {
            "withdrawn_on": [
                "A session of exosome / EV injections was given under this consent on "
                f"{long_date(TODAY)}: the withdrawal cannot be dated before it. If that "
                "session was entered in error, void it first."
            ]
        }
        assert not hasattr(Consent.objects.get(pk=consent.pk), "withdrawal")
        # On the session's day, after it, the withdrawal stands; a voided session does not count.
        TreatmentSession.objects.filter(pk=session.pk).update(voided_at=timezone.now())
        services.withdraw_consent(consent, clinician, reason, before)
        assert services.has_valid_consent(plan, "exosome", before - timedelta(days=1))

    def test_a_withdrawal_on_the_day_of_the_last_session_is_taken(self, man, clinician):
        from anagen.treatments.models import TreatmentSession

        plan = to_plan(man, clinician, "exosome")
        consent = services.record_consent(
            plan, clinician, modality="exosome", signed_name="Adam Stone", signed_on=TODAY
        )
        TreatmentSession.objects.create(
            clinic=man.clinic, patient=man, plan=plan, modality="exosome",
            performed_on=TODAY, clinician=clinician,
        )  # fmt: skip
        services.withdraw_consent(consent, clinician, "Pain at the session.", TODAY)
        assert Consent.objects.get(pk=consent.pk).withdrawn

    @pytest.mark.parametrize("modality", ["exosome", "prp", "minoxidil", "microneedling", "lllt"])
    def test_the_default_texts_name_the_alternatives_and_no_treatment(self, clinic_a, modality):
        body = services.default_consent_form(clinic_a, modality).body
        assert "alternatives, including" in body and "no treatment" in body
        if modality != "minoxidil":  # a prescription, not a course the clinic charges for
            assert "what the course costs me" in body

    def test_the_exosome_text_names_where_the_product_comes_from(self, clinic_a):
        body = services.default_consent_form(clinic_a, "exosome").body
        assert "who makes the product and where it comes from" in body

    def test_consent_is_immutable(self, man, clinician):
        plan = to_plan(man, clinician, "minoxidil")
        consent = services.record_consent(
            plan, clinician, modality="minoxidil", signed_name="Adam Stone", signed_on=TODAY
        )
        consent.signed_name = "Someone Else"
        with pytest.raises(ImmutableError):
            consent.save()
        form = consent.form
        form.body = "changed"
        with pytest.raises(ImmutableError):
            form.save()

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"signed_name": "Eve Stone"}, "signed_name"),
            ({"signed_name": ""}, "signed_name"),
            ({"signed_on": TODAY + timedelta(days=1)}, "signed_on"),
            ({"signed_on": None}, "signed_on"),
            ({"modality": "prp"}, "modality"),
            ({"signature_png": "data:image/png;base64,AAAA"}, "signature_png"),
            ({"signature_png": "data:image/svg+xml;base64,PHN2Zz4="}, "signature_png"),
            ({"signature_png": png_data_url((4000, 10))}, "signature_png"),
            ({"signature_png": png_declaring(30_000, 30_000)}, "signature_png"),
        ],
    )
    def test_bad_consent_is_refused_and_nothing_stored(self, man, clinician, kwargs, field):
        plan = to_plan(man, clinician, "minoxidil")
        data = {"modality": "minoxidil", "signed_name": "Adam Stone", "signed_on": TODAY}
        data.update(kwargs)
        assert field in errors_of(services.record_consent, plan, clinician, **data)
        assert not Consent.objects.exists()

    def test_new_consent_text_is_a_new_version_and_old_signatures_keep_theirs(self, man, clinician):
        plan = to_plan(man, clinician, "minoxidil")
        c1 = services.record_consent(
            plan, clinician, modality="minoxidil", signed_name="Adam Stone", signed_on=TODAY
        )
        v2 = services.add_consent_form_version(
            man.clinic, clinician, "minoxidil", "Minoxidil consent", "New wording. " * 10
        )
        assert v2.version == 2
        c1.refresh_from_db()
        assert c1.form.version == 1
        assert ConsentForm.objects.filter(clinic=man.clinic, modality="minoxidil").count() == 2

    def test_saving_the_same_consent_text_again_makes_no_new_version(self, man, clinician):
        current = services.current_consent_form(man.clinic, "minoxidil")
        errors = errors_of(
            services.add_consent_form_version,
            man.clinic, clinician, "minoxidil", current.title, current.body + "  ",
        )  # fmt: skip
        assert errors["body"] == ["Nothing changed: this is the text of version 1."]
        assert ConsentForm.objects.filter(clinic=man.clinic, modality="minoxidil").count() == 1
        # A new title alone is a new text.
        v2 = services.add_consent_form_version(
            man.clinic, clinician, "minoxidil", current.title + " (2027)", current.body
        )
        assert v2.version == 2

    def test_cancelled_plan_has_no_valid_consent(self, man, clinician):
        plan = to_plan(man, clinician, "minoxidil")
        services.record_consent(
            plan, clinician, modality="minoxidil", signed_name="Adam Stone", signed_on=TODAY
        )
        plan = services.cancel_plan(plan, clinician, "Patient moved to another city.")
        assert not services.has_valid_consent(plan, "minoxidil", TODAY)


def test_screening_results_come_in_engine_order_whatever_order_the_database_kept():
    # PostgreSQL's jsonb returns keys shortest-first ("prp" before "exosome").
    from anagen.assessment.models import Screening
    from anagen.assessment.screening import MODALITIES

    stored = {m: {"outcome": "OK", "findings": []} for m in sorted(MODALITIES, key=len)}
    row = Screening(result={"modalities": stored})
    assert [m for m, _ in row.modality_results()] == list(MODALITIES)


# --- review findings (each test failed before its fix) -----------------------------------


class TestSexChangeOverAPregnancyAnswer:
    def test_screening_again_is_a_refusal_naming_the_history_not_a_crash(self, woman, clinician):
        services.record_history(woman, clinician, healthy_history(pregnant=True))
        # As if the record had been changed without the patients service's check.
        type(woman).objects.filter(pk=woman.pk).update(sex_at_birth="male")
        woman.refresh_from_db()
        errors = errors_of(services.run_screening, woman, clinician)
        assert "version 1" in errors["__all__"][0]
        assert "Record a new history version" in errors["__all__"][0]

    def test_a_new_history_without_the_pregnancy_screens_again(self, woman, clinician):
        services.record_history(woman, clinician, healthy_history(lactating=True))
        type(woman).objects.filter(pk=woman.pk).update(sex_at_birth="male")
        woman.refresh_from_db()
        services.record_history(woman, clinician, healthy_history(lactating=False))
        assert services.run_screening(woman, clinician).medical_history.version == 2


class TestHistoryDates:
    def test_a_back_dated_version_is_refused_naming_the_latest_date(self, man, clinician):
        services.record_history(man, clinician, healthy_history(recorded_on=TODAY))
        errors = errors_of(
            services.record_history, man, clinician,
            healthy_history(recorded_on=TODAY - timedelta(days=1), keloid=True),
        )  # fmt: skip
        assert TODAY.isoformat() in errors["recorded_on"][0]
        assert MedicalHistory.objects.filter(patient=man).count() == 1

    def test_a_version_on_the_same_day_is_accepted(self, man, clinician):
        services.record_history(man, clinician, healthy_history(recorded_on=TODAY))
        later = services.record_history(man, clinician, healthy_history(recorded_on=TODAY))
        assert later.version == 2

    @pytest.mark.parametrize(
        ("answer", "field"),
        [
            ({"prior_treatments": [{"modality": "prp", "on": "1979-12-31"}]},
             "prior_treatments[0].on"),
            ({"medications": [{"drug_class": "nsaid", "start": "1979-06-01"}]},
             "medications[0].start"),
        ],
    )  # fmt: skip
    def test_treatment_dates_before_birth_are_refused(self, man, clinician, answer, field):
        errors = errors_of(services.record_history, man, clinician, healthy_history(**answer))
        assert errors[field] == ["Before the patient's date of birth (1980-01-01); check the date."]


class TestExamAndDiagnosisDatesBeforeBirth:
    def test_an_exam_before_birth_is_refused(self, man, clinician):
        errors = errors_of(
            services.record_exam, man, clinician,
            {"examined_on": date(1979, 12, 31), "norwood_hamilton": "III"},
        )  # fmt: skip
        assert "1980-01-01" in errors["examined_on"][0]
        assert not ScalpExam.objects.exists()

    def test_a_diagnosis_before_birth_is_refused(self, man, clinician):
        errors = errors_of(
            services.record_diagnosis, man, clinician,
            {"condition": "aga_male", "diagnosed_on": "1979-12-31"},
        )  # fmt: skip
        assert "1980-01-01" in errors["diagnosed_on"][0]
        assert not Diagnosis.objects.exists()


class TestDiagnosisStages:
    @pytest.mark.parametrize(
        ("typed", "stored"),
        [("Norwood IIIv", "IIIv"), ("Norwood III", "III"), ("Norwood–Hamilton IV", "IV"),
         ("Norwood-Hamilton IIIa", "IIIa"), ("BASP M2F1V2", "M2F1V2")],
    )  # fmt: skip
    def test_a_stage_typed_after_its_scale_name_is_stored_as_its_code(
        self, man, clinician, typed, stored
    ):
        """The stage may be typed after its scale's name, as the page shows it ("Norwood–
        Hamilton IV"); "Norwood III" was refused as longer than 10 characters, the stored
        code's length, and the page's own "Norwood–Hamilton" was not read as a scale."""
        row = services.record_diagnosis(man, clinician, {"condition": "aga_male", "stage": typed})
        assert row.stage == stored

    def test_a_free_text_stage_is_at_most_what_is_stored(self, man, clinician):
        errors = errors_of(
            services.record_diagnosis, man, clinician,
            {"condition": "other", "label": "Traction alopecia", "icd10_code": "L65.8",
             "stage": "frontal band"},
        )  # fmt: skip
        assert errors["stage"] == ["At most 10 characters (e.g. III, IIIv, I, M2V1)."]

    # S5 (SALT 100) is totalis by definition, refused on a patchy one (TestAlopeciaAreataTotalis).
    @pytest.mark.parametrize("stage", ["S0", "s3", "S2", "SALT S4", ""])
    def test_alopecia_areata_takes_a_salt_band_or_nothing(self, man, clinician, stage):
        row = services.record_diagnosis(man, clinician, {"condition": "aa_patchy", "stage": stage})
        assert row.stage == stage.upper().removeprefix("SALT ")

    @pytest.mark.parametrize("stage", ["severe", "S6", "50%", "III"])
    def test_alopecia_areata_refuses_free_text(self, man, clinician, stage):
        errors = errors_of(
            services.record_diagnosis, man, clinician, {"condition": "aa_patchy", "stage": stage}
        )
        assert "S0–S5" in errors["stage"][0]

    @pytest.mark.parametrize("condition", ["te_acute", "te_chronic"])
    def test_telogen_effluvium_takes_no_stage(self, man, clinician, condition):
        errors = errors_of(
            services.record_diagnosis, man, clinician, {"condition": condition, "stage": "mild"}
        )
        assert "no stage" in errors["stage"][0]
        assert services.record_diagnosis(man, clinician, {"condition": condition}).stage == ""

    def test_a_bare_sinclair_grade_on_male_pattern_says_what_it_is(self, man, clinician):
        errors = errors_of(
            services.record_diagnosis, man, clinician, {"condition": "aga_male", "stage": "3"}
        )
        assert "'3' is a Sinclair grade" in errors["stage"][0]
        assert "female-pattern" in errors["stage"][0]

    def test_a_named_scale_that_disagrees_is_named_with_capitals(self, man, clinician):
        errors = errors_of(
            services.record_diagnosis, man, clinician,
            {"condition": "aga_male", "stage": "Ludwig II"},
        )  # fmt: skip
        assert "read as a Norwood stage" in errors["stage"][0]

    def test_an_old_free_text_stage_does_not_break_the_proposals(self, man, clinician):
        services.record_history(man, clinician, healthy_history())
        row = services.record_diagnosis(man, clinician, {"condition": "aa_patchy"})
        Diagnosis.objects.filter(pk=row.pk).update(stage="severe")  # stored before the check
        found, missing = services.proposals(man)
        assert missing == [] and [p.key for p in found] == ["refer_dermatology"]


class TestPlanEditsAndDefaults:
    def test_a_plan_whose_start_has_passed_can_still_be_edited(self, man, clinician):
        plan = to_plan(man, clinician)
        started = TODAY - timedelta(days=10)
        TreatmentPlan.objects.filter(pk=plan.pk).update(start_on=started)
        plan.refresh_from_db()
        # The edit form sends every field back, the unchanged past start date included.
        edited = services.update_plan(
            plan, clinician, {"start_on": started.isoformat(), "notes": "Moved to Fridays."}
        )
        assert edited.notes == "Moved to Fridays." and edited.start_on == started

    def test_moving_the_start_into_the_past_is_still_refused(self, man, clinician):
        plan = to_plan(man, clinician)
        errors = errors_of(
            services.update_plan, plan, clinician, {"start_on": TODAY - timedelta(days=3)}
        )
        assert errors["start_on"] == ["A plan cannot start in the past."]

    def test_prp_with_minoxidil_takes_the_prp_course_as_its_default(self, man, clinician):
        plan = to_plan(man, clinician, "prp_minoxidil")
        prp = next(p for p in plan.protocols if p["modality"] == "prp")
        assert plan.sessions_planned == prp["sessions_max"] is not None
        assert plan.interval_weeks == prp["interval_weeks_min"]

    def test_the_course_is_the_only_protocol_with_sessions(self):
        prp = {"key": "prp", "sessions_max": 3, "interval_weeks_min": 4}
        daily = {"key": "minoxidil", "sessions_max": None, "interval_weeks_min": None}
        assert services.session_protocol([prp, daily]) is prp
        assert services.session_protocol([daily]) is None
        assert services.session_protocol([prp, dict(prp, key="exo")]) is None


class TestConsentDayInTheClinicsTimeZone:
    def test_consent_on_the_plans_local_day_is_accepted(self, man, clinician, settings):
        settings.TIME_ZONE = "America/Los_Angeles"
        plan = to_plan(man, clinician)
        today = timezone.localdate()
        # 23:30 in Los Angeles is 07:30 UTC the next day.
        late = timezone.make_aware(
            timezone.datetime.combine(today, timezone.datetime.min.time()).replace(
                hour=23, minute=30
            )
        )
        TreatmentPlan.objects.filter(pk=plan.pk).update(created_at=late)
        plan.refresh_from_db()
        assert plan.created_at.astimezone(timezone.UTC).date() > today
        consent = services.record_consent(
            plan, clinician, modality="prp", signed_name="Adam Stone", signed_on=today
        )
        assert consent.signed_on == today


class TestRuleOverrides:
    def test_a_second_active_override_of_one_rule_is_refused(self, man, clinician):
        services.add_rule_override(
            man.clinic, clinician, "TX-YOUNG", "set_outcome", "REFER", "Surgeon reviews all."
        )
        errors = errors_of(
            services.add_rule_override, man.clinic, clinician, "TX-YOUNG", "disable", "",
            "Surgeon's own policy now.",
        )  # fmt: skip
        assert "retire it first" in errors["rule_id"][0]

    def test_after_retiring_the_first_a_new_override_is_accepted(self, man, clinician):
        first = services.add_rule_override(
            man.clinic, clinician, "TX-YOUNG", "set_outcome", "REFER", "Surgeon reviews all."
        )
        services.retire_rule_override(first, clinician, "Policy changed this month.")
        assert services.add_rule_override(
            man.clinic, clinician, "TX-YOUNG", "disable", "", "Surgeon's own policy now."
        )

    def test_setting_the_outcome_a_rule_already_has_is_refused(self, man, clinician):
        errors = errors_of(
            services.add_rule_override, man.clinic, clinician, "TX-YOUNG", "set_outcome",
            "WARN", "Keep it as it is, for the record.",
        )  # fmt: skip
        assert "already WARN" in errors["outcome"][0]

    def test_the_pregnancy_block_of_prp_cannot_be_disabled(self, man, clinician):
        errors = errors_of(
            services.add_rule_override, man.clinic, clinician, "PRP-PREGNANCY", "disable", "",
            "We would like to treat pregnant women.",
        )  # fmt: skip
        assert "locked" in errors["action"][0]

    def test_the_migration_retires_overrides_that_weaken_a_newly_locked_rule(self, man, clinician):
        import importlib

        from django.apps import apps

        from anagen.assessment.models import ScreeningRuleOverride

        migration = importlib.import_module(
            "anagen.assessment.migrations.0004_retire_overrides_of_newly_locked_rules"
        )
        make = ScreeningRuleOverride.objects.create
        weak = make(clinic=man.clinic, rule_id="PRP-PREGNANCY", action="disable",
                    reason="made before 2026.12-3", created_by=clinician)  # fmt: skip
        kept = make(clinic=man.clinic, rule_id="TX-YOUNG", action="disable",
                    reason="not locked", created_by=clinician)  # fmt: skip
        migration.retire(apps, None)
        weak.refresh_from_db()
        kept.refresh_from_db()
        assert weak.retired_at is not None and "2026.12-3" in weak.retire_reason
        assert kept.retired_at is None
        # The retirement is in the override's history (migrations send no history signals).
        latest = weak.history.first()
        assert latest.retired_at == weak.retired_at and "2026.12-3" in latest.history_change_reason
        assert kept.history.count() == 1
        services.record_history(man, clinician, healthy_history())  # screens without error


class TestIntervalOutsideTheProtocol:
    """PRP every week (template: 4 weeks, REFERENCE.md §3.2) was stored without a word."""

    WARNING = (
        "Sessions every 1 week: outside the 4 weeks between sessions of the protocol "
        "Platelet-rich plasma injections."
    )

    def test_accepting_it_asks_for_a_confirmation_and_the_plan_keeps_the_warning(
        self, man, clinician
    ):
        diagnosed(man, clinician)
        errors = errors_of(
            services.accept_plan,
            man,
            clinician,
            {"proposal_key": "prp_minoxidil", "interval_weeks": 1},
        )
        assert errors == {"confirm_schedule": [self.WARNING, services.CONFIRM_SCHEDULE_HINT]}
        assert not TreatmentPlan.objects.exists()
        plan = services.accept_plan(
            man,
            clinician,
            {"proposal_key": "prp_minoxidil", "interval_weeks": 1, "confirm_schedule": True},
        )
        assert plan.interval_weeks == 1 and plan.schedule_warnings == [self.WARNING]
        assert self.WARNING in plan.history.first().history_change_reason

    def test_an_interval_inside_the_range_asks_nothing(self, man, clinician):
        plan = to_plan(man, clinician, "exosome")
        assert plan.schedule_warnings == []
        edited = services.update_plan(plan, clinician, {"interval_weeks": 3})
        assert edited.interval_weeks == 3 and edited.schedule_warnings == []

    def test_an_edit_to_it_asks_for_the_confirmation_once(self, man, clinician):
        plan = to_plan(man, clinician, "exosome")  # 2–4 weeks
        errors = errors_of(services.update_plan, plan, clinician, {"interval_weeks": 8})
        assert errors["confirm_schedule"][0] == (
            "Sessions every 8 weeks: outside the 2–4 weeks between sessions of the protocol "
            "Exosome / EV injections."
        )
        assert TreatmentPlan.objects.get(pk=plan.pk).interval_weeks == 2
        edited = services.update_plan(
            plan, clinician, {"interval_weeks": 8, "confirm_schedule": True}
        )
        assert edited.interval_weeks == 8 and len(edited.schedule_warnings) == 1
        # Other edits re-send the confirmed interval unchanged: not asked again.
        edited = services.update_plan(
            edited, clinician, {"interval_weeks": 8, "notes": "Every two months."}
        )
        assert edited.notes == "Every two months."


def test_the_plan_page_asks_to_confirm_an_interval_outside_the_protocol_and_shows_it(
    client, man, clinician
):
    diagnosed(man, clinician)
    client.force_login(clinician)
    url = f"/consultation/{man.pk}/plans/"
    refused = client.post(url, {"proposal_key": "prp_minoxidil", "interval_weeks": "1"})
    assert refused.status_code == 400
    text = unescape(refused.content.decode())
    assert TestIntervalOutsideTheProtocol.WARNING in text
    assert 'name="confirm_schedule"' in text
    blank = client.get(f"/consultation/{man.pk}/").content.decode()
    assert 'name="confirm_schedule"' not in blank  # offered only once asked
    r = client.post(
        url, {"proposal_key": "prp_minoxidil", "interval_weeks": "1", "confirm_schedule": "on"}
    )
    assert r.status_code == 302
    page = unescape(client.get(f"/consultation/{man.pk}/").content.decode())
    shown = page.split('class="plan-schedule-warning">')[1].split("</div>")[0]
    assert shown == TestIntervalOutsideTheProtocol.WARNING


def test_two_people_editing_one_plan_lose_neither_change(client, clinic_a, make_user, make_patient):
    """The plan form sent every field: saved whole, it put back the other person's change."""
    from anagen.accounts.roles import Role
    from anagen.assessment.models import TreatmentPlan

    from ..builders import accepted_plan
    from ..html import post_form_data

    clinician = make_user(Role.CLINICIAN, clinic_a)
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    plan = accepted_plan(patient, clinician, "prp", consent=False)
    client.force_login(clinician)
    url = f"/consultation/{patient.pk}/plans/{plan.pk}/edit/"
    opened = post_form_data(client.get(f"/consultation/{patient.pk}/").content.decode(), url)
    TreatmentPlan.objects.filter(pk=plan.pk).update(notes="Start after the holidays")
    sent = {**opened, "sessions_planned": [str(plan.sessions_planned + 1)]}
    assert client.post(url, sent).status_code == 302
    plan.refresh_from_db()
    assert plan.notes == "Start after the holidays"
    refused = client.post(url, {**opened, "notes": ["Other note"]})
    assert refused.status_code == 400
    assert "Changed by someone else" in refused.content.decode()


def test_a_plan_edited_after_consent_was_signed_elsewhere_says_why_it_was_not_saved(
    client, clinic_a, make_user, make_patient
):
    """The edit form was open in one tab, consent recorded in another: the edit came back 400
    with its error nowhere on the page (the consented plan shows no edit form)."""
    from anagen.accounts.roles import Role
    from anagen.assessment.models import TreatmentPlan

    from ..builders import accepted_plan
    from ..html import post_form_data

    clinician = make_user(Role.CLINICIAN, clinic_a)
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    plan = accepted_plan(patient, clinician, "minoxidil", consent=False)
    client.force_login(clinician)
    url = f"/consultation/{patient.pk}/plans/{plan.pk}/edit/"
    opened = post_form_data(client.get(f"/consultation/{patient.pk}/").content.decode(), url)
    services.record_consent(
        plan, clinician, modality="minoxidil", signed_name=patient.full_name, signed_on=TODAY
    )
    refused = client.post(url, {**opened, "notes": ["Apply at night"]})
    page = unescape(refused.content.decode())
    assert refused.status_code == 400
    assert 'id="unshown-errors"' in page and "Not saved." in page
    assert "The patient has consented to this plan" in page
    assert TreatmentPlan.objects.get(pk=plan.pk).notes != "Apply at night"


def test_a_plan_accepted_from_an_unknown_proposal_says_so(
    client, clinic_a, make_user, make_patient
):
    from anagen.accounts.roles import Role
    from anagen.assessment.models import TreatmentPlan

    clinician = make_user(Role.CLINICIAN, clinic_a)
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    client.force_login(clinician)
    r = client.post(
        f"/consultation/{patient.pk}/plans/",
        {"proposal_key": "no_such_proposal", "sessions_planned": 3, "interval_weeks": 4},
    )
    page = unescape(r.content.decode())
    assert r.status_code == 400
    assert 'id="unshown-errors"' in page
    assert not TreatmentPlan.objects.filter(patient=patient).exists()


def test_the_history_form_does_not_ask_a_male_record_about_pregnancy(
    client, clinic_a, make_user, make_patient
):
    """It asked, then refused a "yes" in lower-case screening jargon (a review)."""
    from anagen.accounts.roles import Role
    from anagen.assessment.models import MedicalHistory

    clinician = make_user(Role.CLINICIAN, clinic_a)
    man = make_patient(clinic_a, clinician, sex_at_birth="male")
    woman = make_patient(clinic_a, clinician, sex_at_birth="female", given_name="Eve")
    client.force_login(clinician)
    assert 'name="pregnant"' not in client.get(f"/consultation/{man.pk}/").content.decode()
    assert 'name="pregnant"' in client.get(f"/consultation/{woman.pk}/").content.decode()
    # A "yes" sent anyway is not a field of the form: the history is saved without it.
    r = client.post(
        f"/consultation/{man.pk}/history/",
        {"recorded_on": TODAY.isoformat(), "pregnant": "yes", "malignancy": "none"},
    )
    assert r.status_code == 302, unescape(r.content.decode())[:2000]
    assert MedicalHistory.objects.get(patient=man).pregnant is None
    with pytest.raises(services.AssessmentError) as refused:
        services.record_history(man, clinician, {"recorded_on": TODAY, "pregnant": True})
    assert refused.value.errors["pregnant"] == [
        "Pregnancy or breastfeeding cannot apply to a patient whose sex at birth is recorded as "
        "male: leave it unanswered, or correct the patient's record."
    ]


@pytest.mark.parametrize(
    ("who", "condition", "stage", "named"),
    [
        ("woman", "aga_female", "I", "Ludwig I"),
        ("woman", "aga_female", "3", "Sinclair 3"),
        ("man", "aga_male", "IIIv", "Norwood–Hamilton IIIv"),
    ],
)
def test_a_diagnosis_names_its_stage_with_the_scale(
    request, clinician, who, condition, stage, named
):
    """'female pattern, stage I' was read as Ludwig, Sinclair or Norwood alike (review)."""
    patient = request.getfixturevalue(who)
    dx = services.record_diagnosis(
        patient, clinician, {"condition": condition, "stage": stage, "diagnosed_on": TODAY}
    )
    assert dx.named_stage == named


def test_a_plan_without_a_procedure_is_not_shown_as_signed(man, clinician):
    """A finasteride prescription alone has no consent form here; the consent step read
    "signed" although the patient had signed nothing."""
    from anagen.assessment import selectors

    to_plan(man, clinician, "finasteride")
    step = {s.key: s for s in selectors.consultation(man).steps}["consent"]
    assert step.done and step.summary == "none needed (no procedure)"
    services.accept_plan(man, clinician, {"proposal_key": "minoxidil"})
    step = {s.key: s for s in selectors.consultation(man).steps}["consent"]
    assert not step.done and step.summary == ""
