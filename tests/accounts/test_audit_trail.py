"""The clinic's audit trail: every change to its records and staff in one list, newest first,
with who, when, what and why; filtered by person, kind of record or patient; another
clinic's changes never shown. A review found role changes, password resets and most clinical
edits recorded in the history but shown on no page."""

from datetime import date

import pytest

from anagen.accounts import selectors, services
from anagen.accounts.models import Membership
from anagen.accounts.roles import Role
from anagen.assessment import services as assessment


@pytest.fixture
def staff(clinic_a, make_user):
    return {
        "admin": make_user(Role.ADMIN, clinic_a, username="boss"),
        "doc": make_user(Role.CLINICIAN, clinic_a, username="doc"),
        "nurse": make_user(Role.NURSE, clinic_a, username="nina"),
    }


def rows(client, **query):
    response = client.get("/accounts/audit/", query)
    assert response.status_code == 200, response.content
    return response.context["entries"]


def test_changes_across_the_apps_are_listed_newest_first_with_who_and_why(
    client, clinic_a, clinic_b, staff, make_patient, make_user
):
    patient = make_patient(clinic_a, staff["doc"], medical_record_number="A-1")
    assessment.record_exam(patient, staff["doc"], {"examined_on": date.today(), "findings": "x"})
    services.add_member(staff["admin"], clinic_a, "nina", Role.CLINICIAN)
    other = make_user(Role.ADMIN, clinic_b, username="other")
    make_patient(clinic_b, other, medical_record_number="B-1")
    client.force_login(staff["doc"])
    entries = rows(client)
    whens = [e.when for e in entries]
    assert whens == sorted(whens, reverse=True)
    seen = [(e.record, e.kind, e.user, e.reason) for e in entries]
    assert ("membership", "changed", "boss", "role set to Clinician") in seen
    assert ("scalp exam", "created", "doc", "scalp exam recorded") in seen
    assert ("patient", "created", "doc") in [s[:3] for s in seen]
    # Nothing of clinic B: not its patient, not its admin's membership.
    assert "other" not in {e.user for e in entries}
    page = client.get("/accounts/audit/").content.decode()
    assert "role set to Clinician" in page and "B-1" not in page


def test_one_patient_one_person_or_one_kind_of_record(client, clinic_a, staff, make_patient):
    first = make_patient(clinic_a, staff["doc"], medical_record_number="A-1")
    second = make_patient(clinic_a, staff["nurse"], medical_record_number="A-2")
    assessment.record_exam(first, staff["doc"], {"examined_on": date.today(), "findings": "a"})
    assessment.record_exam(second, staff["doc"], {"examined_on": date.today(), "findings": "b"})
    client.force_login(staff["admin"])
    of_first = rows(client, mrn="a-1")
    assert {e.patient_id for e in of_first} == {first.pk}
    assert {e.record for e in of_first} == {"patient", "scalp exam"}
    assert {e.user for e in rows(client, user="nina")} == {"nina"}
    exams = rows(client, record="assessment.ScalpExam")
    assert {(e.record, e.patient_id) for e in exams} == {
        ("scalp exam", first.pk), ("scalp exam", second.pk)
    }  # fmt: skip


def test_an_unknown_record_number_or_a_bad_filter_is_a_clear_error(client, staff):
    client.force_login(staff["admin"])
    response = client.get("/accounts/audit/", {"mrn": "NOPE-9"})
    assert response.status_code == 400
    assert response.context["form"].errors["mrn"] == [
        "No patient of this clinic has this record number."
    ]
    assert client.get("/accounts/audit/", {"record": "auth.Secret"}).status_code == 400
    assert client.get("/accounts/audit/", {"before": "yesterday-ish"}).status_code == 400


def test_a_patient_of_another_clinic_is_not_found_by_its_number(
    client, clinic_b, staff, make_user, make_patient
):
    make_patient(clinic_b, make_user(Role.ADMIN, clinic_b), medical_record_number="B-1")
    client.force_login(staff["admin"])
    assert client.get("/accounts/audit/", {"mrn": "B-1"}).status_code == 400


def test_a_password_reset_is_listed_where_this_clinic_made_it_only(
    client, clinic_a, clinic_b, staff, make_user
):
    shared = make_user(Role.NURSE, clinic_b, username="shared")
    b_admin = make_user(Role.ADMIN, clinic_b, username="b-admin")
    services.reset_password(b_admin, clinic_b, Membership.objects.get(user=shared).pk)
    services.reset_password(
        staff["admin"], clinic_a, Membership.objects.get(user=staff["nurse"]).pk
    )
    client.force_login(staff["admin"])
    reasons = {(e.record, e.reason) for e in rows(client, record="accounts.User")}
    assert reasons == {
        ("user", "temporary password set by an administrator of Clinic A"),
    }


def test_older_changes_are_a_page_further(clinic_a, staff, make_patient):
    for i in range(5):
        make_patient(clinic_a, staff["doc"], medical_record_number=f"P-{i}")
    first = selectors.audit_trail(clinic_a, limit=3)
    older = selectors.audit_trail(clinic_a, before=first[-1].when, limit=50)
    every = selectors.audit_trail(clinic_a, limit=100)
    assert first + older == every


def test_the_page_is_for_those_who_may_see_the_audit_only(client, staff):
    client.force_login(staff["nurse"])
    assert client.get("/accounts/audit/").status_code == 403
    client.force_login(staff["doc"])
    assert client.get("/accounts/audit/").status_code == 200
    assert client.post("/accounts/audit/").status_code == 405


def test_the_page_links_to_older_changes_that_follow_on(client, clinic_a, staff, make_patient):
    from anagen.accounts import views

    for i in range(views.AUDIT_PAGE + 3):
        make_patient(clinic_a, staff["doc"], medical_record_number=f"P-{i}")
    client.force_login(staff["admin"])
    first = client.get("/accounts/audit/")
    older = first.context["older"]
    assert older and "before=" in older
    second = client.get(f"/accounts/audit/?{older}")
    assert second.status_code == 200
    newest, rest = first.context["entries"], second.context["entries"]
    assert rest and rest[0].when < newest[-1].when
    assert len(newest) + len(rest) == len(selectors.audit_trail(clinic_a, limit=500))
