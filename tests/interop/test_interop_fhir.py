"""FHIR R5 export: a whole course as a Bundle that fhir.resources accepts, references that
resolve inside the bundle, and tenancy."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fhir.resources.bundle import Bundle

from anagen.accounts.roles import Role
from anagen.interop import fhir_export
from anagen.monitoring.models import AdverseEvent

from ..reports.factory import course


@pytest.fixture
def treated(clinic_a, clinician, make_patient):
    patient = make_patient(
        clinic_a,
        clinician,
        sex_at_birth="male",
        given_name="Tom",
        family_name="Export",
        phone="+44 20 7946 0000",
        email="tom@example.org",
    )
    return patient, course(patient, clinician)


def _references(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                out.append(v)
            else:
                _references(v, out)
    elif isinstance(node, list):
        for v in node:
            _references(v, out)
    return out


def test_the_bundle_parses_back_with_fhir_resources_and_references_resolve(treated):
    patient, data = treated
    text = fhir_export.patient_bundle_json(patient, base_url="https://clinic.example")
    bundle = Bundle.model_validate_json(text)
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    for kind in (
        "Patient",
        "Condition",
        "Procedure",
        "Observation",
        "AdverseEvent",
        "BiologicallyDerivedProduct",
        "Consent",
        "DocumentReference",
    ):
        assert kind in kinds, kind
    full_urls = {e.fullUrl for e in bundle.entry}
    assert len(full_urls) == len(bundle.entry)
    refs = _references(json.loads(text), [])
    assert refs and set(refs) <= full_urls


def _bundle_of(text: str) -> dict:
    return json.loads(text)


def test_the_bundle_carries_codes_with_system_and_version_and_the_ctcae_grade(treated):
    patient, data = treated
    bundle = _bundle_of(fhir_export.patient_bundle_json(patient))
    by_type: dict[str, list[dict]] = {}
    for e in bundle["entry"]:
        by_type.setdefault(e["resource"]["resourceType"], []).append(e["resource"])
    (pat,) = by_type["Patient"]
    assert pat["identifier"][0]["value"] == patient.medical_record_number
    assert pat["identifier"][0]["type"]["coding"][0]["code"] == "MR"
    assert pat["birthDate"] == "1980-05-17" and pat["gender"] == "male"
    (cond,) = by_type["Condition"]
    codings = {c["system"]: c for c in cond["code"]["coding"]}
    assert codings["http://hl7.org/fhir/sid/icd-10"]["code"] == "L64.9"
    assert codings["http://hl7.org/fhir/sid/icd-10"]["version"]
    assert codings["http://snomed.info/sct"]["code"] == "87872006"
    # The clinic's label is the concept's text, not the display of SNOMED's or ICD-10's code
    # ("Male pattern alopecia", "Androgenic alopecia, unspecified").
    assert cond["code"]["text"] == "Androgenetic alopecia, male pattern"
    assert all("display" not in c for c in cond["code"]["coding"])
    assert cond["stage"][0]["summary"]["text"] == "Norwood–Hamilton III"
    procedures = by_type["Procedure"]
    assert len(procedures) == 3
    assert {b["coding"][0]["code"] for b in procedures[0]["bodySite"]} == {
        "frontal",
        "mid_scalp",
        "vertex",
    }
    assert procedures[0]["used"][0]["reference"]["reference"].startswith("urn:uuid:")
    (product,) = by_type["BiologicallyDerivedProduct"]
    assert product["identifier"][0]["value"] == "EXO-2401"
    (ae,) = by_type["AdverseEvent"]
    assert ae["code"]["coding"][0]["version"] == "5.0"
    grade = next(x for x in ae["extension"] if x["url"] == fhir_export.EXT_CTCAE_GRADE)
    assert grade["valueInteger"] == 1
    # The event names the second session: it points at that Procedure.
    second = next(
        e["fullUrl"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Procedure"
        and e["resource"]["occurrenceDateTime"] == data["sessions"][1].performed_on.isoformat()
    )
    assert ae["suspectEntity"][0]["instanceReference"]["reference"] == second
    # The clinician's relatedness travels with each suspect, in the clinic's own scale.
    event = AdverseEvent.objects.get(patient=patient)
    for suspect in ae["suspectEntity"]:
        (coding,) = suspect["causality"]["entityRelatedness"]["coding"]
        assert (coding["system"], coding["code"], coding["display"]) == (
            fhir_export.CS_AE_RELATEDNESS,
            event.relatedness,
            event.get_relatedness_display(),
        )
    assert f"Relatedness to treatment: {event.get_relatedness_display()}" in ae["note"][0]["text"]
    densities = [
        o for o in by_type["Observation"] if o["code"]["coding"][0]["code"] == "density_per_cm2"
    ]
    assert [o["valueQuantity"]["value"] for o in densities] == [120.0, 128.0, 136.5]
    assert densities[0]["valueQuantity"]["code"] == "/cm2"
    (consent,) = by_type["Consent"]
    assert consent["status"] == "active" and consent["decision"] == "permit"
    docs = by_type["DocumentReference"]
    assert len(docs) == 3
    assert docs[0]["content"][0]["attachment"]["contentType"] == "image/jpeg"


def test_the_condition_stage_names_its_scale(clinic_a, clinician, make_patient):
    """A bare "III" is Norwood–Hamilton III (mild recession) in a man and Ludwig III (full
    crown loss) in a woman: the Condition must say which, as the PDF and the CSV do."""
    from anagen.assessment import services as assessment

    stages = {}
    for sex, condition in (("male", "aga_male"), ("female", "aga_female")):
        patient = make_patient(clinic_a, clinician, sex_at_birth=sex, family_name=f"Stage{sex}")
        assessment.record_diagnosis(
            patient,
            clinician,
            {"condition": condition, "stage": "III", "diagnosed_on": date.today()},
        )
        bundle = _bundle_of(fhir_export.patient_bundle_json(patient))
        (cond,) = _resources(bundle, "Condition")
        stages[sex] = cond["stage"][0]["summary"]["text"]
    assert stages == {"male": "Norwood–Hamilton III", "female": "Ludwig III"}


def test_an_adverse_event_carries_its_resolution_date_and_seriousness_criteria(treated):
    """The progress report gives when an event resolved and why it is serious; the export
    gave the onset only and "serious" without the criteria."""
    patient, _ = treated
    event = AdverseEvent.objects.get(patient=patient)
    assert event.resolution_date is not None
    (ae,) = _resources(_bundle_of(fhir_export.patient_bundle_json(patient)), "AdverseEvent")
    assert ae["occurrencePeriod"] == {
        "start": event.onset_date.isoformat(),
        "end": event.resolution_date.isoformat(),
    }
    AdverseEvent.objects.filter(pk=event.pk).update(
        resolution_date=None, outcome="not_recovered", seriousness=["hospitalization"]
    )
    (ae,) = _resources(_bundle_of(fhir_export.patient_bundle_json(patient)), "AdverseEvent")
    assert ae["occurrencePeriod"] == {"start": event.onset_date.isoformat()}
    assert ae["seriousness"]["coding"][0]["code"] == "serious"
    assert "Serious: Requires or prolongs hospitalisation" in ae["note"][0]["text"]


def test_an_adverse_event_carries_the_action_taken(treated):
    """The export left out what was done about the event (treatment stopped, medication
    given): R5 mitigatingAction carries it, coded, and the note says it, "None" included."""
    from fhir.resources.adverseevent import AdverseEvent as FhirAdverseEvent

    patient, _ = treated
    event = AdverseEvent.objects.get(patient=patient)
    AdverseEvent.objects.filter(pk=event.pk).update(action_taken="treatment_stopped")
    (ae,) = _resources(_bundle_of(fhir_export.patient_bundle_json(patient)), "AdverseEvent")
    assert ae["mitigatingAction"] == [
        {
            "itemCodeableConcept": {
                "coding": [
                    {
                        "system": fhir_export.CS_AE_ACTION,
                        "code": "treatment_stopped",
                        "display": "Treatment stopped",
                    }
                ],
                "text": "Treatment stopped",
            }
        }
    ]
    assert "Action taken: Treatment stopped" in ae["note"][0]["text"]
    parsed = FhirAdverseEvent.model_validate(ae)
    assert parsed.mitigatingAction[0].itemCodeableConcept.text == "Treatment stopped"
    AdverseEvent.objects.filter(pk=event.pk).update(action_taken="none")
    (ae,) = _resources(_bundle_of(fhir_export.patient_bundle_json(patient)), "AdverseEvent")
    assert "mitigatingAction" not in ae
    assert "Action taken: None" in ae["note"][0]["text"]


def test_export_is_reproducible(treated):
    patient, _ = treated
    a = _bundle_of(fhir_export.patient_bundle_json(patient))
    b = _bundle_of(fhir_export.patient_bundle_json(patient))
    assert [e["fullUrl"] for e in a["entry"]] == [e["fullUrl"] for e in b["entry"]]


def test_a_patient_with_only_demographics_exports_a_one_entry_bundle(
    clinic_a, clinician, make_patient
):
    patient = make_patient(clinic_a, clinician)
    bundle = Bundle.model_validate_json(fhir_export.patient_bundle_json(patient))
    assert [e.resource.get_resource_type() for e in bundle.entry] == ["Patient"]


def test_page_and_api_download_the_bundle_and_log_the_access(
    client, clinician, treated, api_token, clinic_a
):
    from anagen.accounts.models import AccessLog

    patient, _ = treated
    client.force_login(clinician)
    response = client.get(f"/interop/patients/{patient.pk}/fhir.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    assert "attachment" in response["Content-Disposition"]
    Bundle.model_validate_json(response.content)
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    api = client.get(f"/api/v1/interop/patients/{patient.pk}/fhir", headers=headers)
    assert api.status_code == 200
    assert Bundle.model_validate_json(api.content).type == "collection"
    assert set(AccessLog.objects.filter(patient=patient).values_list("channel", flat=True)) == {
        "web",
        "api",
    }


def test_the_api_takes_fhirs_format_parameter_for_json_and_refuses_xml_with_406(
    client, clinician, treated, api_token, clinic_a
):
    """FHIR clients add `_format` (R5 http.html#mime-type); the strict query check refused it
    as unknown. JSON names are served; XML, which Anagen does not write, is 406."""
    patient, _ = treated
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    url = f"/api/v1/interop/patients/{patient.pk}/fhir"
    for name in ("json", "application/json", "application/fhir+json"):
        response = client.get(url, {"_format": name}, headers=headers)
        assert response.status_code == 200, name
        Bundle.model_validate_json(response.content)
    # An unencoded "+" arrives as a space.
    assert client.get(f"{url}?_format=application/fhir+json", headers=headers).status_code == 200
    refused = client.get(url, {"_format": "xml"}, headers=headers)
    assert refused.status_code == 406
    assert refused.json()["detail"] == (
        "_format 'xml' is not served: the FHIR export is JSON only (_format=json or "
        "application/fhir+json)."
    )
    assert client.get(url, {"format": "json"}, headers=headers).status_code == 400


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.ADMIN, 200), (Role.NURSE, 403), (Role.RESEARCHER, 403), (Role.FRONT_DESK, 403)],
)
def test_only_admins_and_clinicians_export_fhir(
    client, clinic_a, make_user, make_patient, role, status
):
    user = make_user(role, clinic_a)
    patient = make_patient(clinic_a, user)
    client.force_login(user)
    assert client.get(f"/interop/patients/{patient.pk}/fhir.json").status_code == status


def test_another_clinics_patient_is_404(
    client, clinic_a, clinic_b, make_user, make_patient, api_token
):
    admin_b = make_user(Role.ADMIN, clinic_b, username="admin-b")
    other = make_patient(clinic_b, admin_b, given_name="Secret")
    user = make_user(Role.CLINICIAN, clinic_a)
    client.force_login(user)
    response = client.get(f"/interop/patients/{other.pk}/fhir.json")
    assert response.status_code == 404 and b"Secret" not in response.content
    headers = {"Authorization": f"Bearer {api_token(user, clinic_a)}"}
    response = client.get(f"/api/v1/interop/patients/{other.pk}/fhir", headers=headers)
    assert response.status_code == 404 and "Secret" not in response.content.decode()


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_the_latest_medical_history_is_exported_as_problems_medications_and_allergies(
    treated, clinician
):
    from datetime import date

    from anagen.assessment import services as assessment

    patient, _ = treated
    # A newer version of the questionnaire: the export carries this one, not the first.
    assessment.record_history(
        patient,
        clinician,
        {
            "recorded_on": date.today(),
            "conditions": ["cardiovascular_disease"],
            "scalp_conditions": ["scarring"],
            "other_conditions": "Hypothyroidism, treated",
            "keloid": True,
            "malignancy": "past",
            "malignancy_details": "Basal cell carcinoma, excised 2015",
            "medications": [
                {"drug_class": "finasteride", "name": "Finasteride 1 mg", "start": "2024-03-01"},
                {
                    "drug_class": "nsaid",
                    "name": "Ibuprofen",
                    "start": "2025-01-10",
                    "stop": "2025-02-01",
                },
            ],  # fmt: skip
            "allergies": ["Penicillin", "Lidocaine"],
        },
    )
    text = fhir_export.patient_bundle_json(patient)
    Bundle.model_validate_json(text)  # fhir.resources accepts every new resource
    bundle = _bundle_of(text)
    problems = {
        c["code"]["text"]: c["clinicalStatus"]["coding"][0]["code"]
        for c in _resources(bundle, "Condition")
        if c.get("category", [{}])[0].get("coding", [{}])[0].get("code") == "problem-list-item"
    }
    assert problems == {
        "Cardiovascular disease": "active",
        "Scarring": "active",
        "Keloid tendency": "active",
        "Malignancy": "inactive",  # past, not active
        "Hypothyroidism, treated": "active",
    }
    (malignancy,) = [
        c for c in _resources(bundle, "Condition") if c["code"]["text"] == "Malignancy"
    ]
    assert malignancy["note"] == [{"text": "Basal cell carcinoma, excised 2015"}]
    # The diagnosis is still the one encounter diagnosis, apart from the problem list.
    assert sum(1 for c in _resources(bundle, "Condition") if "category" not in c) == 1
    meds = {
        m["medication"]["concept"]["text"]: m for m in _resources(bundle, "MedicationStatement")
    }
    assert set(meds) == {"Finasteride 1 mg", "Ibuprofen"}
    assert meds["Finasteride 1 mg"]["medication"]["concept"]["coding"][0]["code"] == "finasteride"
    assert meds["Finasteride 1 mg"]["effectivePeriod"] == {"start": "2024-03-01"}
    assert meds["Ibuprofen"]["effectivePeriod"] == {"start": "2025-01-10", "end": "2025-02-01"}
    allergies = [a["code"]["text"] for a in _resources(bundle, "AllergyIntolerance")]
    assert allergies == ["Penicillin", "Lidocaine"]
    subject = _resources(bundle, "Patient")[0]["id"]
    for kind in ("MedicationStatement", "AllergyIntolerance"):
        for r in _resources(bundle, kind):
            ref = r["subject" if kind == "MedicationStatement" else "patient"]["reference"]
            assert ref == f"urn:uuid:{subject}"


def test_the_treatment_plan_is_a_care_plan_addressing_the_diagnosis(treated):
    patient, data = treated
    bundle = _bundle_of(fhir_export.patient_bundle_json(patient))
    (plan,) = _resources(bundle, "CarePlan")
    assert plan["status"] == "active" and plan["intent"] == "plan"
    assert "Exosome" in plan["description"]
    diagnosis_url = next(
        e["fullUrl"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Condition" and "category" not in e["resource"]
    )
    assert plan["addresses"][0]["reference"]["reference"] == diagnosis_url
    # Exosome products are investigational: flagged and the notice kept verbatim.
    assert {"url": fhir_export.EXT_INVESTIGATIONAL, "valueBoolean": True} in plan["extension"]
    assert any("not approved" in n["text"].lower() for n in plan["note"])


def test_a_cancelled_plan_is_exported_as_revoked_with_its_reason(treated, clinician):
    from anagen.assessment.models import TreatmentPlan

    patient, _ = treated
    TreatmentPlan.objects.filter(patient=patient).update(
        status="cancelled", cancel_reason="Patient moved abroad"
    )
    (plan,) = _resources(_bundle_of(fhir_export.patient_bundle_json(patient)), "CarePlan")
    assert plan["status"] == "revoked"
    assert {"text": "Cancelled: Patient moved abroad"} in plan["note"]


def test_the_agenda_ahead_cancelled_and_missed_visits_are_appointments(treated, clinician):
    from datetime import datetime, time, timedelta

    from django.utils import timezone

    from anagen.monitoring import services as monitoring

    patient, _ = treated
    today = timezone.localdate()
    ahead = monitoring.add_scheduled_visit(
        patient, clinician, due_date=today + timedelta(days=30), label="Week 16 review"
    )
    monitoring.reschedule_visit(
        ahead, clinician, new_date=today + timedelta(days=37), reason="Patient on holiday"
    )
    cancelled = monitoring.add_scheduled_visit(
        patient, clinician, due_date=today + timedelta(days=60), label="Week 20 review"
    )
    monitoring.set_visit_status(cancelled, clinician, "cancelled", "Stopped the course early")
    missed = monitoring.add_scheduled_visit(
        patient, clinician, due_date=today, label="Week 12 review"
    )
    # Booked for then (a booking made today is for today or later); the day has passed.
    type(missed).objects.filter(pk=missed.pk).update(due_date=today - timedelta(days=3))
    missed.refresh_from_db()
    monitoring.set_visit_status(missed, clinician, "missed", "Did not come, no call")

    bundle = _bundle_of(fhir_export.patient_bundle_json(patient))
    by_label = {a["description"]: a for a in _resources(bundle, "Appointment")}
    no_show = by_label["Week 12 review"]
    assert no_show["status"] == "noshow"
    assert no_show["cancellationReason"] == {"text": "Did not come, no call"}
    # R5 needs a start and end for a no-show (app-3): the whole due day, as for a voided one.
    missed_day = today - timedelta(days=3)
    midnight = datetime.combine(missed_day, time.min, tzinfo=timezone.get_default_timezone())
    assert datetime.fromisoformat(no_show["start"]) == midnight
    assert datetime.fromisoformat(no_show["end"]) == midnight + timedelta(days=1)
    assert no_show["requestedPeriod"] == [
        {"start": missed_day.isoformat(), "end": missed_day.isoformat()}
    ]
    moved = by_label["Week 16 review"]
    assert moved["status"] == "proposed"
    due = (today + timedelta(days=37)).isoformat()
    assert moved["requestedPeriod"] == [{"start": due, "end": due}]
    assert moved["note"] == [{"text": f"Moved from {(today + timedelta(days=30)).isoformat()}."}]
    stopped = by_label["Week 20 review"]
    assert stopped["status"] == "cancelled"
    assert stopped["cancellationReason"] == {"text": "Stopped the course early"}
    patient_url = next(
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    assert moved["participant"] == [
        {
            "actor": {"reference": patient_url, "display": patient.full_name},
            "status": "needs-action",
        }
    ]
    Bundle.model_validate(bundle)  # the R5 model accepts them


def test_hair_growth_questionnaire_answers_are_a_questionnaire_response_per_visit(
    treated, clinician
):
    from datetime import timedelta

    from django.utils import timezone

    from anagen.monitoring import services as monitoring

    patient, _ = treated
    visit = monitoring.record_visit(
        patient,
        clinician,
        {
            "visit_date": timezone.localdate() - timedelta(days=1),
            "hgq_growth": 2,
            "hgq_satisfaction": -1,
            "hgq_bald_spot": 0,
        },
    )
    bundle = _bundle_of(fhir_export.patient_bundle_json(patient))
    # The course's visits have no questionnaire answers: only this visit gives a response.
    (response,) = _resources(bundle, "QuestionnaireResponse")
    assert response["questionnaire"] == fhir_export.Q_HGQ
    assert response["status"] == "completed"
    assert response["authored"] == visit.visit_date.isoformat()
    answers = {i["linkId"]: (i["text"], i["answer"]) for i in response["item"]}
    assert answers == {
        "hgq_growth": ("Growth of hair", [{"valueInteger": 2}]),
        "hgq_bald_spot": ("Size of the bald spot", [{"valueInteger": 0}]),
        "hgq_satisfaction": (
            "Satisfaction with the appearance of the hair",
            [{"valueInteger": -1}],
        ),
    }
    Bundle.model_validate(bundle)


# --- records voided as entered in error --------------------------------------------------------

VOID_REASON = "Entered on the wrong patient"


# The R5 value sets of `status` of the resources that take entered-in-error here.
R5_STATUSES = {
    "Observation": {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                    "entered-in-error", "unknown"},
    "QuestionnaireResponse": {"in-progress", "completed", "amended", "entered-in-error",
                              "stopped"},
    "AdverseEvent": {"in-progress", "completed", "entered-in-error", "unknown"},
    "Appointment": {"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled",
                    "noshow", "entered-in-error", "checked-in", "waitlist"},
    "DocumentReference": {"current", "superseded", "entered-in-error"},
    "Procedure": {"preparation", "in-progress", "not-done", "on-hold", "stopped", "completed",
                  "entered-in-error", "unknown"},
}  # fmt: skip


def _by_url(bundle: dict) -> dict[str, dict]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


def test_voided_records_stay_in_the_export_as_entered_in_error_under_the_same_full_urls(
    treated, clinician
):
    """A receiver that took an export before the voiding finds every record it got again,
    at the same fullUrl, now marked entered-in-error; nothing it holds silently vanishes."""
    from datetime import timedelta

    from django.utils import timezone

    from anagen.monitoring import services as monitoring

    patient, data = treated

    def url(kind: str, pk: int) -> str:
        return fhir_export.urn(patient.clinic_id, kind, pk)

    live_visit, wrong_visit = data["visits"][2], data["visits"][1]
    wrong_reading = monitoring.add_measurement(
        live_visit, clinician, {"target_area_cm2": 1.0, "density_per_cm2": 200.0}
    )
    wrong_event = monitoring.record_adverse_event(
        patient,
        clinician,
        {
            "term_key": "injection_site_reaction",
            "grade": 2,
            "onset_date": data["sessions"][2].performed_on,
            "related_session_date": data["sessions"][2].performed_on,
            "outcome": "recovering",
        },
    )
    today = timezone.localdate()
    ahead = monitoring.add_scheduled_visit(
        patient, clinician, due_date=today + timedelta(days=30), label="Week 30 review"
    )
    wrong_booking = monitoring.add_scheduled_visit(
        patient, clinician, due_date=today + timedelta(days=40), label="Booked in error"
    )
    (wrong_photo,) = live_visit.photos.all()
    before = _bundle_of(fhir_export.patient_bundle_json(patient, base_url="https://c.example"))

    for record in (wrong_visit, wrong_reading, wrong_event, wrong_booking, wrong_photo):
        monitoring.void_record(record, clinician, VOID_REASON)
    text = fhir_export.patient_bundle_json(patient, base_url="https://c.example")
    Bundle.model_validate_json(text)
    after = _by_url(_bundle_of(text))

    assert set(after) == {e["fullUrl"] for e in before["entry"]}
    status = {u: r["status"] for u, r in after.items() if "status" in r}
    # fhir.resources does not check codes against their value sets: the R5 ones, here.
    for u, s in status.items():
        assert s in R5_STATUSES.get(after[u]["resourceType"], {s}), (after[u], s)
    # The voided visit takes its measurements, global assessment and photo with it.
    (wrong_visit_reading,) = wrong_visit.measurements.all()
    (wrong_visit_photo,) = wrong_visit.photos.all()
    for name in ("density_per_cm2", "hair_count", "mean_diameter_um", "target_area_cm2"):
        assert status[url(f"measurement-{name}", wrong_visit_reading.pk)] == "entered-in-error"
    assert status[url("global", wrong_visit.pk)] == "entered-in-error"
    assert status[url("photo", wrong_visit_photo.pk)] == "entered-in-error"
    # A measurement voided on a visit that stands; the visit's own reading stays final.
    assert status[url("measurement-density_per_cm2", wrong_reading.pk)] == "entered-in-error"
    (kept_reading,) = [m for m in live_visit.measurements.all() if m.pk != wrong_reading.pk]
    assert status[url("measurement-density_per_cm2", kept_reading.pk)] == "final"
    assert status[url("global", live_visit.pk)] == "final"
    # The adverse events, the appointments and the photos, voided and not.
    assert status[url("adverse-event", wrong_event.pk)] == "entered-in-error"
    assert status[url("adverse-event", data["event"].pk)] == "completed"
    assert status[url("appointment", wrong_booking.pk)] == "entered-in-error"
    assert status[url("appointment", ahead.pk)] == "proposed"
    assert status[url("photo", wrong_photo.pk)] == "entered-in-error"
    (kept_photo,) = data["visits"][0].photos.all()
    assert status[url("photo", kept_photo.pk)] == "current"
    # Procedures are untouched: no session was voided.
    assert {s for u, s in status.items() if after[u]["resourceType"] == "Procedure"} == {
        "completed"
    }
    # The event still names its session, which stands.
    suspect = after[url("adverse-event", wrong_event.pk)]["suspectEntity"][0]
    assert suspect["instanceReference"]["reference"] == url("session", data["sessions"][2].pk)


def test_a_voided_photo_is_not_linked(treated, clinician):
    """The photo was taken in error: the receiver is not pointed at its image."""
    from anagen.monitoring import services as monitoring

    patient, data = treated
    (photo,) = data["visits"][2].photos.all()
    monitoring.void_record(photo, clinician, VOID_REASON)
    bundle = _bundle_of(fhir_export.patient_bundle_json(patient, base_url="https://c.example/"))
    docs = _by_url(bundle)
    voided = docs[fhir_export.urn(patient.clinic_id, "photo", photo.pk)]
    attachment = voided["content"][0]["attachment"]
    assert "url" not in attachment
    assert attachment["contentType"] == "image/jpeg" and attachment["title"]
    live = [d for d in _resources(bundle, "DocumentReference") if d["status"] == "current"]
    assert len(live) == 2
    assert all(
        d["content"][0]["attachment"]["url"].startswith(
            f"https://c.example/monitoring/{patient.pk}/"
        )
        for d in live
    )


def test_the_questionnaire_answers_of_a_voided_visit_are_entered_in_error(treated, clinician):
    from datetime import timedelta

    from django.utils import timezone

    from anagen.monitoring import services as monitoring

    patient, _ = treated
    day = timezone.localdate() - timedelta(days=1)
    kept = monitoring.record_visit(patient, clinician, {"visit_date": day, "hgq_growth": 1})
    wrong = monitoring.record_visit(
        patient, clinician, {"visit_date": day, "hgq_growth": -2, "confirm_same_day": True}
    )
    monitoring.void_record(wrong, clinician, VOID_REASON)
    bundle = _bundle_of(fhir_export.patient_bundle_json(patient))
    responses = _by_url(bundle)
    assert responses[fhir_export.urn(patient.clinic_id, "hgq", wrong.pk)]["status"] == (
        "entered-in-error"
    )
    assert responses[fhir_export.urn(patient.clinic_id, "hgq", kept.pk)]["status"] == "completed"
    Bundle.model_validate(bundle)


def test_a_voided_appointment_spans_its_due_day_and_drops_the_cancellation_reason(
    treated, clinician
):
    """R5 lets an appointment go without a start and end only while proposed, cancelled or
    waitlisted (app-3), and gives a cancellation reason only to a cancelled or no-show one
    (app-4): entered-in-error needs the one and may not have the other."""
    from datetime import UTC, datetime, timedelta

    from django.utils import timezone

    from anagen.monitoring import services as monitoring

    patient, _ = treated
    due = timezone.localdate() + timedelta(days=60)
    sv = monitoring.add_scheduled_visit(patient, clinician, due_date=due, label="Week 20")
    monitoring.set_visit_status(sv, clinician, "cancelled", "Stopped the course early")
    monitoring.void_record(sv, clinician, VOID_REASON)
    (appointment,) = _resources(_bundle_of(fhir_export.patient_bundle_json(patient)), "Appointment")
    assert appointment["status"] == "entered-in-error"
    assert "cancellationReason" not in appointment
    assert appointment["requestedPeriod"] == [{"start": due.isoformat(), "end": due.isoformat()}]
    start = datetime.fromisoformat(appointment["start"])
    end = datetime.fromisoformat(appointment["end"])
    midnight = datetime.combine(due, datetime.min.time(), tzinfo=timezone.get_default_timezone())
    assert start == midnight.astimezone(UTC) and end - start == timedelta(days=1)


def test_appointments_still_planned_for_a_voided_record_are_entered_in_error(treated, clinician):
    """They were exported as proposed while Patient.active was false."""
    from datetime import timedelta

    from django.utils import timezone

    from anagen.monitoring import services as monitoring
    from anagen.patients import services as patients

    patient, _ = treated
    due = timezone.localdate() + timedelta(days=30)
    monitoring.add_scheduled_visit(patient, clinician, due_date=due, label="Review")
    before = _resources(_bundle_of(fhir_export.patient_bundle_json(patient)), "Appointment")
    assert {a["status"] for a in before if a["description"] == "Review"} == {"proposed"}
    patients.void_patient(patient, clinician, "Registered twice")
    patient.refresh_from_db()
    after = _resources(_bundle_of(fhir_export.patient_bundle_json(patient)), "Appointment")
    assert {a["status"] for a in after if a["description"] == "Review"} == {"entered-in-error"}
    assert all("start" in a for a in after if a["status"] == "entered-in-error")


def test_a_voided_patient_record_takes_its_clinical_resources_with_it(treated, clinician):
    """Voided as entered in error, the record's Observations and Procedures were still
    exported final and completed beside a Patient with active false."""
    from anagen.patients import services as patients

    patient, _ = treated
    kinds = ("Observation", "Procedure", "QuestionnaireResponse", "AdverseEvent")
    before = _bundle_of(fhir_export.patient_bundle_json(patient))
    assert all(_resources(before, "Observation")) and _resources(before, "Procedure")
    assert "entered-in-error" not in {r["status"] for k in kinds for r in _resources(before, k)}
    patients.void_patient(patient, clinician, "Registered twice")
    patient.refresh_from_db()
    after = _bundle_of(fhir_export.patient_bundle_json(patient))
    assert _resources(after, "Patient")[0]["active"] is False
    for kind in kinds:
        assert {r["status"] for r in _resources(after, kind)} <= {"entered-in-error"}, kind
    assert len(_resources(after, "Observation")) == len(_resources(before, "Observation"))


def test_a_voided_patient_record_retracts_its_conditions_allergies_plans_and_consents(
    treated, clinician
):
    """Beside the Observations, the record's diagnoses and problems stayed confirmed, its
    allergies and medications stood and its consents stayed active: a receiver kept them."""
    from anagen.assessment import services as assessment
    from anagen.patients import services as patients

    patient, _ = treated
    assessment.record_history(
        patient,
        clinician,
        {
            "recorded_on": date.today(),
            "conditions": ["cardiovascular_disease"],
            "keloid": True,
            "medications": [{"drug_class": "finasteride", "name": "Finasteride 1 mg"}],
            "allergies": ["Penicillin"],
        },
    )
    before = _bundle_of(fhir_export.patient_bundle_json(patient))
    diagnoses = [c for c in _resources(before, "Condition") if "category" not in c]
    problems = [c for c in _resources(before, "Condition") if "category" in c]
    assert diagnoses and problems
    assert {c["verificationStatus"]["coding"][0]["code"] for c in diagnoses} == {"confirmed"}
    assert all("verificationStatus" not in c for c in problems)
    assert all("verificationStatus" not in a for a in _resources(before, "AllergyIntolerance"))
    assert {r["status"] for r in _resources(before, "Consent")} == {"active"}
    patients.void_patient(patient, clinician, "Registered twice")
    patient.refresh_from_db()
    text = fhir_export.patient_bundle_json(patient)
    Bundle.model_validate_json(text)  # still valid R5
    after = _bundle_of(text)
    conditions = _resources(after, "Condition")
    assert len(conditions) == len(diagnoses) + len(problems)
    for c in conditions:
        assert c["verificationStatus"]["coding"] == [
            {"system": fhir_export.CONDITION_VERIFICATION, "code": "entered-in-error"}
        ]
        assert c["clinicalStatus"]  # required in R5
    (allergy,) = _resources(after, "AllergyIntolerance")
    assert allergy["verificationStatus"]["coding"] == [
        {"system": fhir_export.ALLERGY_VERIFICATION, "code": "entered-in-error"}
    ]
    assert "clinicalStatus" not in allergy  # R5 ait-2
    for kind in ("Consent", "CarePlan", "MedicationStatement"):
        assert _resources(after, kind), kind
        assert {r["status"] for r in _resources(after, kind)} == {"entered-in-error"}, kind


def test_an_event_does_not_name_a_voided_session_as_its_suspect(treated, clinician):
    from anagen.treatments import services as treatments

    patient, data = treated
    treatments.void_session(data["sessions"][1], clinician, VOID_REASON)
    resources = _by_url(_bundle_of(fhir_export.patient_bundle_json(patient)))
    session = resources[fhir_export.urn(patient.clinic_id, "session", data["sessions"][1].pk)]
    assert session["status"] == "entered-in-error"
    event = resources[fhir_export.urn(patient.clinic_id, "adverse-event", data["event"].pk)]
    # As the cohort analysis charges it: the latest session not voided that used the lot
    # it names, 28 days before onset (within the 30-day window), then the lot.
    lot = fhir_export.urn(patient.clinic_id, "lot", data["lot"].pk)
    first = fhir_export.urn(patient.clinic_id, "session", data["sessions"][0].pk)
    assert event["status"] == "completed"
    assert [s["instanceReference"]["reference"] for s in event["suspectEntity"]] == [first, lot]


def test_pregnancy_breastfeeding_and_platelets_are_loinc_observations_dated_when_answered(
    clinic_a, clinician, make_patient
):
    from datetime import date, timedelta

    from anagen.assessment import services as assessment

    patient = make_patient(clinic_a, clinician, sex_at_birth="female")
    first_day = date.today() - timedelta(days=30)
    answers = {"pregnant": False, "lactating": True, "platelet_count_10e9_per_l": 182.0}
    assessment.record_history(patient, clinician, {"recorded_on": first_day, **answers})
    # A later version changes only the platelet count: the other answers keep their date.
    assessment.record_history(
        patient,
        clinician,
        {"recorded_on": date.today(), **answers, "platelet_count_10e9_per_l": 140.0},
    )
    text = fhir_export.patient_bundle_json(patient)
    Bundle.model_validate_json(text)
    observations = {
        o["code"]["coding"][0]["code"]: o
        for o in _resources(_bundle_of(text), "Observation")
        if o["code"]["coding"][0]["system"] == "http://loinc.org"
    }
    assert set(observations) == {"82810-3", "63895-7", "777-3"}
    pregnancy = observations["82810-3"]
    assert pregnancy["valueCodeableConcept"]["coding"][0]["code"] == "LA26683-5"  # not pregnant
    assert pregnancy["effectiveDateTime"] == first_day.isoformat()
    breastfeeding = observations["63895-7"]
    assert breastfeeding["valueCodeableConcept"]["coding"][0]["code"] == "LA29252-6"
    platelets = observations["777-3"]
    assert platelets["valueQuantity"]["value"] == 140.0
    assert platelets["valueQuantity"]["code"] == "10*9/L"
    assert platelets["effectiveDateTime"] == date.today().isoformat()
    assert platelets["category"][0]["coding"][0]["code"] == "laboratory"


def test_unanswered_pregnancy_and_platelets_are_not_exported(treated, clinician):
    from datetime import date

    from anagen.assessment import services as assessment

    patient, _ = treated
    assessment.record_history(patient, clinician, {"recorded_on": date.today()})
    bundle = _bundle_of(fhir_export.patient_bundle_json(patient))
    codes = {o["code"]["coding"][0]["system"] for o in _resources(bundle, "Observation")}
    assert "http://loinc.org" not in codes


def test_the_performer_is_named_and_an_expired_lot_is_not_available(treated, clinician):
    from datetime import timedelta

    from django.utils import timezone

    from anagen.products.models import Lot

    patient, _ = treated
    clinician.first_name, clinician.last_name = "Ada", "Quinn"
    clinician.save()
    by_type = {}
    for e in _bundle_of(fhir_export.patient_bundle_json(patient))["entry"]:
        by_type.setdefault(e["resource"]["resourceType"], []).append(e["resource"])
    assert {p["performer"][0]["actor"]["display"] for p in by_type["Procedure"]} == {"Ada Quinn"}
    (product,) = by_type["BiologicallyDerivedProduct"]
    assert product["productStatus"]["code"] == "available"

    expired_on = timezone.localdate() - timedelta(days=1)
    Lot.objects.filter(lot_number="EXO-2401").update(expiry_date=expired_on)
    (product,) = _resources(
        _bundle_of(fhir_export.patient_bundle_json(patient)), "BiologicallyDerivedProduct"
    )
    assert product["productStatus"]["code"] == "unavailable"
    # The code system's display; the lot's own status is a property.
    assert product["productStatus"]["display"] == "Unavailable"
    status = next(p for p in product["property"] if p["type"]["text"] == "Lot status")
    assert status["valueString"].endswith(f", expired {expired_on.isoformat()}")


def test_an_event_on_a_day_with_two_sessions_names_every_one_or_the_one_with_its_lot(
    treated, clinician
):
    from anagen.monitoring import services as monitoring
    from anagen.treatments.models import TreatmentSession

    patient, data = treated
    exosome = data["sessions"][1]
    # A minoxidil course begun the same day, recorded after the exosome session.
    minoxidil = TreatmentSession.objects.create(
        clinic=patient.clinic, patient=patient, plan=data["plan"], modality="minoxidil",
        performed_on=exosome.performed_on, clinician=clinician,
    )  # fmt: skip
    no_lot = monitoring.record_adverse_event(
        patient,
        clinician,
        {
            "term_key": "injection_site_reaction",
            "grade": 1,
            "onset_date": exosome.performed_on,
            "related_session_date": exosome.performed_on,
            "relatedness": "possible",
            "outcome": "recovered",
            "resolution_date": exosome.performed_on,
        },
    )
    resources = _by_url(_bundle_of(fhir_export.patient_bundle_json(patient)))

    def suspects(event) -> list[str]:
        url = fhir_export.urn(patient.clinic_id, "adverse-event", event.pk)
        return [s["instanceReference"]["reference"] for s in resources[url]["suspectEntity"]]

    def session(s) -> str:
        return fhir_export.urn(patient.clinic_id, "session", s.pk)

    assert session(minoxidil) in resources  # both Procedures of the day are exported
    lot = fhir_export.urn(patient.clinic_id, "lot", data["lot"].pk)
    assert resources[lot]["resourceType"] == "BiologicallyDerivedProduct"
    assert suspects(data["event"]) == [session(exosome), lot]  # it names the exosome lot
    assert suspects(no_lot) == [session(exosome), session(minoxidil)]


def test_an_event_without_a_session_date_names_the_session_the_cohort_charges(treated, clinician):
    from datetime import timedelta

    from anagen.monitoring import services as monitoring

    patient, data = treated
    second = data["sessions"][1]
    onset = second.performed_on + timedelta(days=3)
    undated = monitoring.record_adverse_event(
        patient,
        clinician,
        {
            "term_key": "injection_site_reaction",
            "grade": 1,
            "onset_date": onset,
            "relatedness": "possible",
            "outcome": "recovered",
            "resolution_date": onset,
        },
    )
    resources = _by_url(_bundle_of(fhir_export.patient_bundle_json(patient)))
    event = resources[fhir_export.urn(patient.clinic_id, "adverse-event", undated.pk)]
    # The latest session in the 30 days before onset, as cohort.event_sessions charges it.
    assert [s["instanceReference"]["reference"] for s in event["suspectEntity"]] == [
        fhir_export.urn(patient.clinic_id, "session", second.pk)
    ]


def test_a_whole_day_is_midnight_to_midnight_where_the_clinic_is(clinic_a):
    from datetime import date

    from anagen.accounts.clinic_time import in_clinic_time

    clinic_a.time_zone = "Pacific/Kiritimati"  # UTC+14
    with in_clinic_time(clinic_a):
        start, end = fhir_export._day_span(date(2026, 12, 5))
    # Written as UTC instants: 10:00 UTC the day before is midnight in Kiritimati.
    assert (start, end) == ("2026-12-04T10:00:00+00:00", "2026-12-05T10:00:00+00:00")


def test_every_adverse_event_outcome_has_a_code_of_the_code_system_it_names(treated):
    from anagen.monitoring.models import AdverseEvent

    outcomes = {value for value, _ in AdverseEvent._meta.get_field("outcome").choices}
    assert outcomes == set(fhir_export.AE_OUTCOME)
    # The codes of http://terminology.hl7.org/CodeSystem/adverse-event-outcome (FHIR R4B).
    code_system = {"resolved", "recovering", "ongoing", "resolvedWithSequelae", "fatal", "unknown"}
    assert {code for code, _ in fhir_export.AE_OUTCOME.values()} <= code_system
    patient, data = treated
    resources = _by_url(_bundle_of(fhir_export.patient_bundle_json(patient)))
    event = data["event"]
    outcome = resources[fhir_export.urn(patient.clinic_id, "adverse-event", event.pk)]["outcome"]
    assert outcome[0]["coding"][0]["code"] == fhir_export.AE_OUTCOME[event.outcome][0]
    assert outcome[0]["text"] == event.get_outcome_display()


def test_history_answers_keep_their_identity_across_versions_and_dropped_ones_go_inactive(
    clinic_a, clinician, make_patient
):
    """A receiver that loaded the first export must update, not duplicate, the allergy and the
    pregnancy status, and must learn that an answer the new version dropped is no longer so."""
    from datetime import date, timedelta

    from anagen.assessment import services as assessment

    patient = make_patient(clinic_a, clinician, sex_at_birth="female")
    first_day = date.today() - timedelta(days=30)
    first = {
        "recorded_on": first_day,
        "pregnant": False,
        "allergies": ["Latex", "Penicillin"],
        "keloid": True,
        "medications": [{"drug_class": "nsaid", "name": "Ibuprofen"}],
    }
    assessment.record_history(patient, clinician, first)

    def urls(kind: str) -> dict[str, dict]:
        bundle = _bundle_of(fhir_export.patient_bundle_json(patient))
        return {e["fullUrl"]: e["resource"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == kind}  # fmt: skip

    before = {k: urls(k) for k in ("AllergyIntolerance", "Observation", "Condition",
                                   "MedicationStatement")}  # fmt: skip
    # The same answers again, except penicillin, the keloid and the ibuprofen.
    assessment.record_history(
        patient, clinician,
        {"recorded_on": date.today(), "pregnant": False, "allergies": ["latex "]},
    )  # fmt: skip
    text = fhir_export.patient_bundle_json(patient)
    Bundle.model_validate_json(text)
    after = {k: urls(k) for k in before}
    for kind in before:
        assert set(after[kind]) == set(before[kind]), kind  # no new identities, none lost
    allergies = {r["code"]["text"]: r for r in after["AllergyIntolerance"].values()}
    # Still listed, as the new version spells it: active (R5 ait-1 wants a clinicalStatus).
    assert allergies["latex"]["clinicalStatus"]["coding"][0]["code"] == "active"
    assert allergies["Penicillin"]["clinicalStatus"]["coding"][0]["code"] == "inactive"
    assert "Not listed in the medical history of" in allergies["Penicillin"]["note"][0]["text"]
    (keloid,) = after["Condition"].values()
    assert keloid["clinicalStatus"]["coding"][0]["code"] == "inactive"
    (ibuprofen,) = after["MedicationStatement"].values()
    assert ibuprofen["adherence"]["code"]["coding"][0]["code"] == "not-taking"
    (pregnancy,) = after["Observation"].values()
    assert pregnancy["effectiveDateTime"] == first_day.isoformat()


def test_a_diagnosis_date_is_sent_as_when_it_was_asserted_not_as_the_onset_of_hair_loss(
    treated,
):
    # Androgenetic alopecia diagnosed today began years ago: Condition.onset is when the
    # condition began, which the clinic does not record.
    patient, data = treated
    bundle = _bundle_of(fhir_export.patient_bundle_json(patient))
    (condition,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"
    ]
    diagnosis = patient.diagnoses.get()
    assert not any(k.startswith("onset") for k in condition)
    assert {
        "url": "http://hl7.org/fhir/StructureDefinition/condition-assertedDate",
        "valueDateTime": diagnosis.diagnosed_on.isoformat(),
    } in condition["extension"]
    Bundle.model_validate(bundle)


def test_a_grade_4_event_stored_without_seriousness_before_the_rule_is_exported_as_serious(
    treated,
):
    """Grade 4 ("life-threatening consequences") is serious since the services add the
    criterion; an event stored before that lacked it and was exported as non-serious."""
    patient, _ = treated
    event = AdverseEvent.objects.get(patient=patient)
    AdverseEvent.objects.filter(pk=event.pk).update(
        grade=4, seriousness=[], serious_or_high_grade=True
    )
    (ae,) = _resources(_bundle_of(fhir_export.patient_bundle_json(patient)), "AdverseEvent")
    assert ae["seriousness"]["coding"][0]["code"] == "serious"
    assert "Serious: Life-threatening" in ae["note"][0]["text"]


def _ait_1_holds(allergy: dict) -> bool:
    """R5 invariant ait-1 (fhir.resources does not check FHIRPath invariants): clinicalStatus
    SHALL be present if verificationStatus is not entered-in-error."""
    verification = (allergy.get("verificationStatus") or {}).get("coding") or []
    retracted = any(
        c.get("system") == fhir_export.ALLERGY_VERIFICATION and c.get("code") == "entered-in-error"
        for c in verification
    )
    return retracted or bool(allergy.get("clinicalStatus"))


def test_an_allergy_still_listed_is_exported_as_active_as_r5_requires(treated, clinician):
    from fhir.resources.allergyintolerance import AllergyIntolerance

    from anagen.assessment import services as assessment

    patient, _ = treated
    assessment.record_history(
        patient, clinician, {"recorded_on": date.today(), "allergies": ["Penicillin", "Latex"]}
    )
    text = fhir_export.patient_bundle_json(patient)
    Bundle.model_validate_json(text)
    allergies = _resources(_bundle_of(text), "AllergyIntolerance")
    assert [a["code"]["text"] for a in allergies] == ["Penicillin", "Latex"]
    for allergy in allergies:
        AllergyIntolerance.model_validate(allergy)
        assert _ait_1_holds(allergy), allergy
        assert allergy["clinicalStatus"]["coding"] == [
            {"system": fhir_export.ALLERGY_CLINICAL, "code": "active"}
        ]
        assert "verificationStatus" not in allergy  # not retracted
