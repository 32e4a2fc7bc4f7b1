"""The clinic's audit trail: every change to its records and staff in one list, newest first,
with who, when, what and why; filtered by person, kind of record or patient; another
clinic's changes never shown. A review found role changes, password resets and most clinical
edits recorded in the history but shown on no page."""

from datetime import date

import pytest

from anagen.accounts import selectors, services
from anagen.accounts.models import Membership
from anagen.accounts.roles import PERMISSIONS, Role
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
    older = selectors.audit_trail(clinic_a, before=first[-1].cursor, limit=50)
    every = selectors.audit_trail(clinic_a, limit=100)
    assert first + older == every


def test_changes_made_at_one_instant_are_not_lost_between_pages(clinic_a, staff, make_patient):
    """Paging by time alone skipped rows sharing the last row's time (demo loads and bulk
    writes; review: 1,937 of about 1,994 rows shown)."""
    from django.utils import timezone

    from anagen.patients.models import Patient

    for i in range(7):
        make_patient(clinic_a, staff["doc"], medical_record_number=f"P-{i}")
    Patient.history.all().update(history_date=timezone.now())
    every = selectors.audit_trail(clinic_a, limit=500)
    seen, cursor = [], None
    while True:
        page = selectors.audit_trail(clinic_a, before=cursor, limit=3)
        seen += page
        if len(page) < 3:
            break
        cursor = page[-1].cursor
    assert seen == every and len(seen) == len(set(seen))
    assert sum(e.record == "patient" for e in seen) == 7


def test_a_patients_records_are_found_through_the_session_they_belong_to(
    client, clinic_a, staff, make_patient
):
    """Injection map entries have no patient column: the patient filter missed them."""
    from tests.reports.factory import course

    patient = make_patient(clinic_a, staff["doc"], medical_record_number="S-1")
    course(patient, staff["doc"], photos=False, adverse_event=False)
    client.force_login(staff["admin"])
    entries = rows(client, mrn="S-1", record="treatments.InjectionMapEntry")
    assert entries and {e.patient_id for e in entries} == {patient.pk}
    page = client.get("/accounts/audit/", {"mrn": "S-1"}).content.decode()
    assert ">S-1</a>" in page  # the patient named by record number, not an internal id


def test_account_rows_are_this_clinics_acts_not_sign_ins_or_another_clinics(
    client, clinic_a, clinic_b, staff, make_user
):
    """The trail showed another clinic's reset of a shared member, naming that clinic, and
    every sign-in as 'User changed' (review)."""
    from django.contrib.auth.models import update_last_login

    shared = staff["nurse"]
    services.set_membership(shared, clinic_b, Role.NURSE)
    update_last_login(None, shared)  # what a sign-in saves
    b_admin = make_user(Role.ADMIN, clinic_b, username="b-admin")
    Membership.objects.create(user=b_admin, clinic=clinic_a, role=Role.ADMIN.value)  # of both
    services.reset_password(
        b_admin, clinic_b, Membership.objects.get(user=shared, clinic=clinic_b).pk
    )
    client.force_login(staff["admin"])
    assert shared.history.count() >= 2  # the sign-in and the reset are in its history
    assert rows(client, record="accounts.User") == []
    # This clinic's own reset is listed.
    services.reset_password(staff["admin"], clinic_a, Membership.objects.get(user=staff["doc"]).pk)
    listed = rows(client, record="accounts.User")
    assert [(e.subject, e.reason) for e in listed] == [
        ("doc", "temporary password set by an administrator of Clinic A")
    ]


def test_an_older_changes_link_that_is_not_one_says_so(client, staff):
    client.force_login(staff["admin"])
    for bad in (
        "yesterday-ish",
        "2026-01-01T00:00:00|patients.Patient|x",
        "2026-01-01T00:00:00|no.Such|3",
        "2026-01-01T00:00:00|patients.Patient|3",
    ):
        response = client.get("/accounts/audit/", {"before": bad})
        assert response.status_code == 400, bad
        assert "This “Older changes” link is not valid" in response.content.decode()


def test_an_older_changes_link_out_of_range_is_refused_not_an_error(client, clinic_a, staff):
    # Each was a 500: a time that is before year 1 or after 9999 in UTC, a digit that is not
    # 0-9 ("²" passed isdigit, then int() failed), a row number past the database's integers.
    client.force_login(staff["admin"])
    token = services.create_api_token(staff["admin"], clinic_a, "audit reader")[1]
    for bad in (
        "0001-01-01T00:00:00+14:00|patients.Patient|1",
        "9999-12-31T23:59:59-14:00|patients.Patient|1",
        "2026-01-01T00:00:00+00:00|patients.Patient|²",
        "2026-01-01T00:00:00+00:00|patients.Patient|" + "9" * 30,
    ):
        response = client.get("/accounts/audit/", {"before": bad})
        assert response.status_code == 400, bad
        assert "This “Older changes” link is not valid" in response.content.decode()
        assert client.get("/accounts/audit/export.csv", {"before": bad}).status_code == 400
        answer = client.get(
            "/api/v1/clinic/audit", {"before": bad}, HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert answer.status_code == 400, bad
        assert answer.json()["detail"].startswith("before: Not a cursor this API gave")


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
    assert rest and rest[0].cursor != newest[-1].cursor and rest[0] not in newest
    assert len(newest) + len(rest) == len(selectors.audit_trail(clinic_a, limit=500))


def change_page(client, entry):
    return client.get(f"/accounts/audit/{entry.record_label}/{entry.history_id}/")


def test_a_change_shows_each_value_before_and_after_and_who_voided_by_name(
    client, clinic_a, staff, make_patient
):
    from anagen.accounts.models import AccessLog
    from anagen.patients import services as patients

    patient = make_patient(clinic_a, staff["doc"], medical_record_number="A-1")
    patients.void_patient(patient, staff["doc"], "entered for the wrong person")
    client.force_login(staff["admin"])
    voiding = next(e for e in rows(client, mrn="A-1") if e.kind == "changed")
    before = AccessLog.objects.filter(patient=patient).count()
    response = change_page(client, voiding)
    assert response.status_code == 200
    change = response.context["change"]
    by_label = {c.label: (c.old, c.new) for c in change.changes}
    assert by_label["Void reason"] == ("(empty)", "entered for the wrong person")
    assert by_label["Voided by"][0] == "(empty)" and "doc" in by_label["Voided by"][1]
    assert change.previous is not None
    # Only what changed: the name the patient was registered with did not.
    assert "Family name" not in by_label
    # The page shows the patient's values: read as an opening of the record.
    assert AccessLog.objects.filter(patient=patient).count() == before + 1
    page = response.content.decode()
    assert "entered for the wrong person" in page and "Before" in page
    assert f"/accounts/audit/{voiding.record_label}/{voiding.history_id}/" in (
        client.get("/accounts/audit/").content.decode()
    )


def test_a_creation_shows_the_values_it_was_stored_with(client, clinic_a, staff, make_patient):
    patient = make_patient(clinic_a, staff["doc"], medical_record_number="A-1")
    assessment.record_exam(
        patient, staff["doc"], {"examined_on": date.today(), "findings": "miniaturised hairs"}
    )
    client.force_login(staff["doc"])
    created = next(e for e in rows(client, record="assessment.ScalpExam"))
    change = change_page(client, created).context["change"]
    assert change.previous is None
    assert ("", "miniaturised hairs") in {(c.old, c.new) for c in change.changes}
    assert all(c.new != "(empty)" for c in change.changes)  # empty fields left out


def test_an_account_change_never_shows_a_password_hash(client, clinic_a, staff):
    services.reset_password(
        staff["admin"], clinic_a, Membership.objects.get(user=staff["nurse"]).pk
    )
    client.force_login(staff["admin"])
    reset = next(e for e in rows(client, record="accounts.User") if e.subject == "nina")
    response = change_page(client, reset)
    assert response.status_code == 200
    changes = {c.label.lower(): (c.old, c.new) for c in response.context["change"].changes}
    # That the password changed is shown (it was "nothing changed"); its hash never is.
    assert changes["password"] == ("(not shown)", "changed")
    assert "last login" not in changes
    assert "pbkdf2" not in response.content.decode()


def test_another_clinics_change_or_an_unknown_kind_is_not_found(
    client, clinic_a, clinic_b, staff, make_user, make_patient
):
    other = make_user(Role.ADMIN, clinic_b, username="other")
    make_patient(clinic_b, other, medical_record_number="B-1")
    client.force_login(other)
    theirs = rows(client, mrn="B-1")[0]
    client.force_login(staff["admin"])
    assert change_page(client, theirs).status_code == 404
    assert client.get(f"/accounts/audit/auth.Secret/{theirs.history_id}/").status_code == 404
    assert client.get("/accounts/audit/patients.Patient/999999/").status_code == 404


def test_a_change_is_for_those_who_may_see_the_audit_only(client, clinic_a, staff, make_patient):
    make_patient(clinic_a, staff["doc"], medical_record_number="A-1")
    client.force_login(staff["doc"])
    entry = rows(client, mrn="A-1")[0]
    client.force_login(staff["nurse"])
    assert change_page(client, entry).status_code == 403


def test_every_app_with_audited_records_names_the_permission_to_read_its_values():
    for label, _ in selectors.record_kinds():
        assert selectors.view_permission_for(label) in PERMISSIONS


def csv_rows(response) -> list[list[str]]:
    import csv

    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads the names as UTF-8
    return list(csv.reader(text[1:].splitlines()))


def test_the_export_holds_every_matching_change_not_one_page(
    client, clinic_a, clinic_b, staff, make_patient, make_user, monkeypatch
):
    from anagen.accounts import views

    monkeypatch.setattr(views, "AUDIT_EXPORT_CHUNK", 3)  # several chunks from a few rows
    for i in range(7):
        make_patient(clinic_a, staff["doc"], medical_record_number=f"P-{i}")
    other = make_user(Role.ADMIN, clinic_b, username="other")
    make_patient(clinic_b, other, medical_record_number="B-1")
    client.force_login(staff["admin"])
    response = client.get("/accounts/audit/export.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    header, *body = csv_rows(response)
    assert header == views.AUDIT_CSV_COLUMNS
    every = selectors.audit_trail(clinic_a, limit=1000)
    assert [(r[2], int(r[3]), r[4]) for r in body] == [
        (e.record, e.record_id, e.kind) for e in every
    ]
    numbers = {r[6] for r in body if r[2] == "patient"}
    assert numbers == {f"P-{i}" for i in range(7)}  # none of clinic B's
    # The filters apply: one patient's changes only.
    _, *one = csv_rows(client.get("/accounts/audit/export.csv", {"mrn": "P-3"}))
    assert one and {r[6] for r in one} == {"P-3"}


def test_a_cell_that_starts_like_a_formula_is_exported_as_text(
    client, clinic_a, staff, make_patient
):
    from anagen.patients.models import Patient

    make_patient(clinic_a, staff["doc"], medical_record_number="A-1")
    # However a reason came to start with "=" (an import, an older version), a spreadsheet
    # must not run it.
    Patient.history.update(history_change_reason="=HYPERLINK(1)")
    client.force_login(staff["admin"])
    _, *body = csv_rows(client.get("/accounts/audit/export.csv"))
    assert "'=HYPERLINK(1)" in {r[5] for r in body}


def test_an_export_with_a_bad_filter_is_a_plain_400_that_says_why(client, staff):
    client.force_login(staff["admin"])
    response = client.get("/accounts/audit/export.csv", {"mrn": "NOPE-9"})
    assert response.status_code == 400
    assert response.content.decode() == ("mrn: No patient of this clinic has this record number.")
    client.force_login(staff["nurse"])
    assert client.get("/accounts/audit/export.csv").status_code == 403


def test_the_page_links_to_the_export_with_its_filters_from_the_newest(
    client, clinic_a, staff, make_patient
):
    for i in range(3):
        make_patient(clinic_a, staff["doc"], medical_record_number=f"P-{i}")
    client.force_login(staff["admin"])
    page = client.get("/accounts/audit/", {"user": "doc"}).content.decode()
    assert 'href="/accounts/audit/export.csv?user=doc"' in page


def api_get(client, token, path, **query):
    return client.get(f"/api/v1/clinic{path}", query, headers={"Authorization": f"Bearer {token}"})


def test_the_api_pages_through_the_trail_with_the_pages_filters(
    client, clinic_a, staff, make_patient, api_token
):
    for i in range(5):
        make_patient(clinic_a, staff["doc"], medical_record_number=f"P-{i}")
    token = api_token(staff["admin"], clinic_a)
    seen, before = [], ""
    while True:
        page = api_get(client, token, "/audit", limit=2, before=before).json()
        seen += page["entries"]
        if page["before_next"] is None:
            break
        before = page["before_next"]
    every = selectors.audit_trail(clinic_a, limit=1000)
    assert [e["history_id"] for e in seen] == [e.history_id for e in every]
    one = api_get(client, token, "/audit", mrn="P-2").json()["entries"]
    assert one and {e["patient_record_number"] for e in one} == {"P-2"}
    refused = api_get(client, token, "/audit", mrn="NOPE-9")
    assert refused.status_code == 400
    assert refused.json()["detail"] == "mrn: No patient of this clinic has this record number."
    assert api_get(client, token, "/audit", limit=0).status_code in (400, 422)
    # A cursor the API did not give is named as the field, not as the page's link.
    bad = api_get(client, token, "/audit", before="yesterday-ish")
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("before: Not a cursor this API gave")


def test_the_api_shows_one_change_and_logs_the_patients_reading(
    client, clinic_a, clinic_b, staff, make_patient, make_user, api_token
):
    from anagen.accounts.models import AccessLog
    from anagen.patients import services as patients

    patient = make_patient(clinic_a, staff["doc"], medical_record_number="A-1")
    patients.void_patient(patient, staff["doc"], "entered for the wrong person")
    token = api_token(staff["doc"], clinic_a)
    entry = next(
        e
        for e in api_get(client, token, "/audit", mrn="A-1").json()["entries"]
        if e["change"] == "changed"
    )
    response = api_get(client, token, f"/audit/{entry['record_kind']}/{entry['history_id']}")
    assert response.status_code == 200
    body = response.json()
    changes = {c["field"]: (c["before"], c["after"]) for c in body["changes"]}
    assert changes["Void reason"] == ("(empty)", "entered for the wrong person")
    assert body["entry"]["patient_record_number"] == "A-1" and body["previous_stored_at"]
    # Two readings: the list of the patient's changes, then the change with its values.
    assert AccessLog.objects.filter(patient=patient, channel="api").count() == 2
    # Another clinic's caller does not find it; a nurse may not read the audit.
    other = api_token(make_user(Role.ADMIN, clinic_b, username="other"), clinic_b)
    path = f"/audit/{entry['record_kind']}/{entry['history_id']}"
    assert api_get(client, other, path).status_code == 404
    assert api_get(client, api_token(staff["nurse"], clinic_a), path).status_code == 403
    assert api_get(client, token, f"/audit/auth.Secret/{entry['history_id']}").status_code == 404


def test_a_deletion_shows_the_values_the_record_had(client, clinic_a, staff, make_patient):
    from anagen.accounts.models import Membership as M

    membership = M.objects.get(user=staff["nurse"], clinic=clinic_a)
    membership.delete()  # no service deletes clinical rows; a membership row can go
    client.force_login(staff["admin"])
    deleted = next(e for e in rows(client, record="accounts.Membership") if e.kind == "deleted")
    response = change_page(client, deleted)
    change = response.context["change"]
    assert not change.before_and_after
    assert ("", "Nurse") in {(c.old, c.new) for c in change.changes}
    assert "Value when deleted" in response.content.decode()


def test_times_are_shown_to_the_second_and_a_drawn_signature_as_image_data():
    from datetime import UTC, datetime

    from anagen.assessment.models import Consent

    names: dict = {}
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert selectors.shown_value(Consent, "recorded_at", at, names).endswith("03:04:05")
    png = "data:image/png;base64," + "A" * 5000
    assert selectors.shown_value(Consent, "signature_png", png, names) == (
        "(image data, 5,022 characters)"
    )


def test_the_export_gives_times_in_the_clinics_time_zone(client, clinic_a, staff, make_patient):
    clinic_a.time_zone = "America/New_York"
    clinic_a.save()
    make_patient(clinic_a, staff["doc"], medical_record_number="A-1")
    client.force_login(staff["admin"])
    _, *body = csv_rows(client.get("/accounts/audit/export.csv"))
    offsets = {r[0][-6:] for r in body}
    assert offsets <= {"-05:00", "-04:00"}, offsets


def test_one_patients_changes_listed_or_exported_are_a_logged_reading_of_the_record(
    client, clinic_a, staff, make_patient, api_token
):
    from anagen.accounts.models import AccessLog

    patient = make_patient(clinic_a, staff["doc"], medical_record_number="A-1")
    make_patient(clinic_a, staff["doc"], medical_record_number="A-2")
    client.force_login(staff["admin"])
    rows(client)  # the whole clinic's trail names no one patient: nothing logged
    assert not AccessLog.objects.exists()
    rows(client, mrn="A-1")
    b"".join(client.get("/accounts/audit/export.csv", {"mrn": "A-1"}).streaming_content)
    api_get(client, api_token(staff["admin"], clinic_a), "/audit", mrn="A-1")
    logged = AccessLog.objects.filter(user=staff["admin"]).order_by("pk")
    assert [(r.patient_id, r.channel, r.path) for r in logged] == [
        (patient.pk, "web", "/accounts/audit/"),
        (patient.pk, "web", "/accounts/audit/export.csv"),
        (patient.pk, "api", "/api/v1/clinic/audit"),
    ]
    client.get("/accounts/audit/", {"mrn": "NOPE-1"})  # refused: nothing read
    assert logged.count() == 3
