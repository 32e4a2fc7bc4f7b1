import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from anagen.accounts.models import AccessLog
from anagen.accounts.roles import Role
from anagen.patients import selectors
from anagen.patients.models import Patient

VALID = {
    "medical_record_number": "MRN-9",
    "given_name": "Grace",
    "family_name": "Hopper",
    "date_of_birth": "1976-12-09",
    "sex_at_birth": "female",
    "phone": "",
    "email": "grace@example.org",
    "address": "",
}


@pytest.fixture
def clinician(clinic_a, make_user, client):
    user = make_user(Role.CLINICIAN, clinic_a)
    client.force_login(user)
    return user


def test_register_a_patient_and_land_on_the_record(client, clinician, clinic_a):
    response = client.post("/patients/new/", VALID)
    patient = Patient.objects.get(clinic=clinic_a)
    assert response.status_code == 302 and response["Location"] == f"/patients/{patient.pk}/"
    assert patient.family_name == "Hopper"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("date_of_birth", "1976-02-30", b"Enter a real date"),
        (
            "date_of_birth",
            (date.today() + timedelta(days=1)).isoformat(),
            b"cannot be in the future",
        ),
        ("date_of_birth", "1850-01-01", b"more than 130 years ago"),
        ("sex_at_birth", "robot", b"Select a valid choice"),
        ("email", "not-an-email", b"valid email"),
        ("given_name", "", b"This field is required"),
        ("medical_record_number", "x" * 41, b"at most 40 characters"),
    ],
)
def test_bad_fields_give_field_errors_and_store_nothing(client, clinician, field, value, message):
    response = client.post("/patients/new/", {**VALID, field: value})
    assert response.status_code == 400
    assert message in response.content
    assert Patient.objects.count() == 0


def test_a_nul_character_is_refused_and_not_echoed_into_the_page(client, clinician):
    response = client.post("/patients/new/", {**VALID, "given_name": "Gr\x00ace"})
    assert response.status_code == 400
    assert b"Null characters are not allowed" in response.content
    assert b"\x00" not in response.content  # not valid in HTML
    assert 'value="Gr\ufffdace"'.encode() in response.content
    assert Patient.objects.count() == 0


def test_a_duplicate_mrn_in_the_same_clinic_is_refused(client, clinician, clinic_a, make_patient):
    make_patient(clinic_a, clinician, medical_record_number="MRN-9")
    response = client.post("/patients/new/", VALID)
    assert b"already used in this clinic" in response.content
    assert Patient.objects.filter(clinic=clinic_a).count() == 1


def test_the_same_mrn_in_another_clinic_is_fine(clinic_a, clinic_b, make_user, make_patient):
    a = make_patient(clinic_a, make_user(Role.ADMIN, clinic_a), medical_record_number="X-1")
    b = make_patient(clinic_b, make_user(Role.ADMIN, clinic_b), medical_record_number="X-1")
    assert a.pk != b.pk


def test_list_searches_and_paginates(client, clinician, clinic_a, make_patient, settings):
    settings.ANAGEN_PAGE_SIZE = 5
    for i in range(12):
        make_patient(clinic_a, clinician, family_name=f"Family{i:02d}")
    make_patient(clinic_a, clinician, family_name="Zebedee", medical_record_number="ZZ-1")
    page1 = client.get("/patients/")
    assert page1.context["page"].paginator.num_pages == 3
    assert b"Page 1 of 3" in page1.content
    found = client.get("/patients/?q=zebed")
    assert [p.family_name for p in found.context["page"]] == ["Zebedee"]
    by_mrn = client.get("/patients/?q=ZZ-1")
    assert by_mrn.context["page"].paginator.count == 1


def test_the_pages_of_a_search_keep_the_search(client, clinician, clinic_a, make_patient, settings):
    # The next link kept q but dropped "include voided".
    settings.ANAGEN_PAGE_SIZE = 2
    for i in range(5):
        make_patient(clinic_a, clinician, family_name=f"Family{i}")
    client.force_login(clinician)
    page = client.get("/patients/", {"q": "family", "include_voided": "on"}).content.decode()
    assert 'href="?q=family&amp;include_voided=on&amp;page=2"' in page
    second = client.get("/patients/", {"q": "family", "include_voided": "on", "page": "2"})
    assert second.context["page"].number == 2 and second.context["query"] == "family"


def test_htmx_search_returns_only_the_results_fragment(client, clinician, clinic_a, make_patient):
    make_patient(clinic_a, clinician, family_name="Zebedee")
    response = client.get(
        "/patients/?q=Zeb", headers={"HX-Request": "true", "HX-Target": "patient-results"}
    )
    assert b"<html" not in response.content and b"Zebedee" in response.content


def test_edit_records_changed_fields_in_the_history(client, clinician, clinic_a, make_patient):
    patient = make_patient(clinic_a, clinician)
    data = {
        **VALID,
        "medical_record_number": patient.medical_record_number,
        "given_name": "Augusta",
        "family_name": patient.family_name,
        "date_of_birth": "1980-05-17",
    }
    assert client.post(f"/patients/{patient.pk}/edit/", data).status_code == 302
    page = client.get(f"/patients/{patient.pk}/")
    latest = page.context["history"][0]
    assert latest["user"] == clinician and latest["kind"] == "changed"
    assert {c["field"] for c in latest["changes"]} >= {"given_name"}
    assert b"Augusta" in page.content


def test_void_needs_a_reason_and_keeps_the_record(client, clinician, clinic_a, make_patient):
    patient = make_patient(clinic_a, clinician)
    short = client.post(f"/patients/{patient.pk}/void/", {"reason": "no"})
    assert short.status_code == 400 and b"at least 5 characters" in short.content
    client.post(f"/patients/{patient.pk}/void/", {"reason": "registered twice"})
    patient.refresh_from_db()
    assert patient.is_voided and patient.void_reason == "registered twice"
    assert patient not in client.get("/patients/").context["page"].object_list
    assert client.get("/patients/?include_voided=on").context["page"].paginator.count == 1
    assert client.get(f"/patients/{patient.pk}/edit/").status_code == 302
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "Open the consultation" in page and "Continue the consultation" not in page


def test_every_view_of_a_record_is_written_to_the_access_log(
    client, clinician, clinic_a, make_patient
):
    patient = make_patient(clinic_a, clinician)
    client.get(f"/patients/{patient.pk}/")
    client.get(f"/patients/{patient.pk}/")
    rows = AccessLog.objects.filter(patient=patient)
    assert rows.count() == 2 and {r.user for r in rows} == {clinician}
    assert {r.channel for r in rows} == {"web"}


def test_the_record_lists_reads_by_sitting_and_names_people_and_fields(
    client, clinician, clinic_a, make_patient, make_user
):
    """Every read stays in the log; the page folds one person's run of reads into a line."""
    from datetime import timedelta

    patient = make_patient(clinic_a, clinician)
    clinician.first_name, clinician.last_name = "Ada", "Quinn"
    clinician.save()
    nurse = make_user(Role.NURSE, clinic_a)
    now = timezone.now()
    reads = [  # oldest first: a sitting of 3, a nurse between, then 2 more after an hour
        (clinician, now - timedelta(minutes=120)),
        (clinician, now - timedelta(minutes=110)),
        (clinician, now - timedelta(minutes=95)),
        (nurse, now - timedelta(minutes=90)),
        (clinician, now - timedelta(minutes=20)),
        (clinician, now - timedelta(minutes=10)),
    ]
    for user, at in reads:
        entry = AccessLog.objects.create(
            user=user, clinic=clinic_a, patient=patient, channel="web", path="/x/"
        )
        AccessLog.objects.filter(pk=entry.pk).update(accessed_at=at)
    sittings = selectors.access_log_for(patient)
    assert [(s.user, s.reads) for s in sittings] == [(clinician, 2), (nurse, 1), (clinician, 3)]
    assert sittings[2].first == now - timedelta(minutes=120)
    assert sittings[2].last == now - timedelta(minutes=95)
    assert len(selectors.access_log_for(patient, limit=2)) == 2
    assert AccessLog.objects.filter(patient=patient).count() == 6

    data = {**VALID, "medical_record_number": patient.medical_record_number,
            "given_name": "Augusta", "family_name": patient.family_name,
            "date_of_birth": "1980-05-17"}  # fmt: skip
    client.force_login(clinician)
    client.post(f"/patients/{patient.pk}/edit/", data)
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "<strong>Given name</strong>" in page and "<strong>given_name</strong>" not in page
    assert 'Ada Quinn <span class="muted">(' in page


def test_nurses_do_not_see_the_audit_trail(client, clinic_a, make_user, make_patient):
    nurse = make_user(Role.NURSE, clinic_a)
    patient = make_patient(clinic_a, nurse)
    client.force_login(nurse)
    page = client.get(f"/patients/{patient.pk}/")
    assert page.status_code == 200 and "history" not in page.context


def test_unknown_and_absurd_patient_ids_are_404(client, clinician):
    assert client.get("/patients/999999/").status_code == 404
    assert client.get("/patients/99999999999999999999999/").status_code == 404
    assert (
        client.post("/patients/99999999999999999999999/void/", {"reason": "x" * 9}).status_code
        == 404
    )


def test_an_oversized_form_is_a_clear_400_and_stores_nothing(client, clinician, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    response = client.post("/patients/new/", {**VALID, "address": "x" * 5000})
    assert response.status_code == 400
    text = response.content.decode()
    assert "What was sent is larger than the 2 KB a form may send; nothing was saved." in text
    assert Patient.objects.count() == 0


def test_a_search_that_cannot_be_read_lists_nobody(client, clinician, clinic_a, make_patient):
    make_patient(clinic_a, clinician, family_name="Zebedee")
    too_long = "z" * 101
    page = client.get("/patients/", {"q": too_long})
    assert page.status_code == 400
    assert page.context["page"].paginator.count == 0 and b"Zebedee" not in page.content
    fragment = client.get(
        "/patients/",
        {"q": too_long},
        headers={"HX-Request": "true", "HX-Target": "patient-results"},
    )
    assert b"No search was run" in fragment.content and b"Zebedee" not in fragment.content


@pytest.mark.parametrize(
    "path",
    [
        "/sessions/{pid}/",
        "/consultation/{pid}/history/versions/",
        "/api/v1/monitoring/patients/{pid}/schedule",
        "/api/v1/consultation/{pid}",
        "/api/v1/monitoring/patients/{pid}/visits",
        "/api/v1/sessions/{pid}",
        "/api/v1/patients/{pid}/history",
    ],
)
def test_every_read_naming_a_patient_is_logged_once_by_page_or_api(
    client, clinician, clinic_a, make_patient, api_token, path
):
    """These reads wrote no access-log row (a security review found them); the middleware
    logs any successful read of a route with the patient's id, once."""
    patient = make_patient(clinic_a, clinician)
    url = path.format(pid=patient.pk)
    headers = {}
    if url.startswith("/api/"):
        client.logout()
        headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.content[:300]
    rows = AccessLog.objects.filter(patient=patient)
    assert rows.count() == 1
    row = rows.get()
    assert row.user == clinician and row.path == url
    assert row.channel == ("api" if url.startswith("/api/") else "web")


def test_a_page_that_logs_itself_is_not_logged_twice_and_a_refused_read_not_at_all(
    client, clinician, clinic_a, clinic_b, make_patient, make_user
):
    patient = make_patient(clinic_a, clinician)
    client.get(f"/patients/{patient.pk}/")
    assert AccessLog.objects.filter(patient=patient).count() == 1
    other = make_user(Role.CLINICIAN, clinic_b)
    client.force_login(other)
    assert client.get(f"/sessions/{patient.pk}/").status_code == 404
    assert AccessLog.objects.filter(patient=patient).count() == 1


def test_history_times_are_in_the_clinic_time_zone_and_say_so(
    client, clinician, clinic_a, make_patient, settings
):
    """The history table once claimed "(UTC)" whatever ANAGEN_TIME_ZONE said."""
    settings.TIME_ZONE = "Europe/Berlin"
    patient = make_patient(clinic_a, clinician)
    client.post(f"/patients/{patient.pk}/void/", {"reason": "registered twice"})
    page = client.get(f"/patients/{patient.pk}/?include_voided=on").content.decode()
    assert "(UTC)" not in page
    patient.refresh_from_db()
    local = patient.voided_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"Voided {local:%Y-%m-%d %H:%M} {local.tzname()}" in page
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T</td>", page)


def test_a_refused_edit_names_every_problem_in_one_round(client, clinician, clinic_a, make_patient):
    """A bad e-mail hid a taken record number and a tab in the phone until later submits."""
    make_patient(clinic_a, clinician, medical_record_number="DEMO-0002")
    patient = make_patient(clinic_a, clinician, medical_record_number="DEMO-0003")
    response = client.post(
        f"/patients/{patient.pk}/edit/",
        {
            "medical_record_number": "demo-0002", "given_name": patient.given_name,
            "family_name": patient.family_name, "date_of_birth": patient.date_of_birth,
            "sex_at_birth": patient.sex_at_birth, "email": "bad@", "phone": "+44\t123",
            "address": "",
        },
    )  # fmt: skip
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"medical_record_number", "email", "phone"}
    assert "already used in this clinic (as DEMO-0002)" in errors["medical_record_number"][0]
    assert "U+0009" in errors["phone"][0]
    patient.refresh_from_db()
    assert patient.medical_record_number == "DEMO-0003"


@pytest.mark.parametrize(
    "query",
    ["alvarez", "ÁLVAREZ", "josé álvarez", "jose nunez", "79461234", "7946 1234", "+44", "dem-9"],
)
def test_search_finds_names_without_accents_or_case_and_phones_by_their_digits(
    client, clinician, clinic_a, make_patient, query
):
    found = make_patient(clinic_a, clinician, given_name="José", family_name="Álvarez-Núñez",
                         medical_record_number="DEM-9001", phone="+44 20 7946 1234")  # fmt: skip
    make_patient(clinic_a, clinician, given_name="Ana", family_name="Silva", phone="0161 496 0000")
    client.force_login(clinician)
    page = client.get("/patients/", {"q": query}).context["page"]
    assert list(page.object_list) == [found]


@pytest.mark.parametrize(
    "query", ["+442079461234", "+44-20-7946-1234", "(20) 7946.1234", "+44 (20) 7946-1234"]
)
def test_search_finds_a_phone_number_as_a_phone_system_or_e_mail_writes_it(
    clinician, clinic_a, make_patient, query
):
    """A caller's number as the phone shows it (+442079461234) found nobody stored as
    "+44 20 7946 1234": the + and the dashes were compared as typed, not as digits."""
    from anagen.patients import selectors

    found = make_patient(clinic_a, clinician, phone="+44 20 7946 1234")
    make_patient(clinic_a, clinician, phone="+44 20 7946 4321", given_name="Other")
    assert list(selectors.search_patients(clinic_a, query)) == [found]


@pytest.mark.parametrize("query", ["+44-99", "(099)", "+1 555", "+44 20 7946 9999"])
def test_a_phone_typed_with_separators_finds_no_other_number(
    clinician, clinic_a, make_patient, query
):
    from anagen.patients import selectors

    make_patient(clinic_a, clinician, phone="+44 20 7946 1234")
    assert list(selectors.search_patients(clinic_a, query)) == []


@pytest.mark.parametrize("query", ["obrien", "O'Brien", "o’brien", "Zoë obrien"])
def test_search_ignores_apostrophes(clinician, clinic_a, make_patient, query):
    """ "obrien" did not find O'Brien."""
    from anagen.patients import selectors

    found = make_patient(clinic_a, clinician, given_name="Zoë", family_name="O'Brien")
    make_patient(clinic_a, clinician, given_name="Brien", family_name="Orr")
    assert list(selectors.search_patients(clinic_a, query)) == [found]


@pytest.mark.parametrize("query", ["Rossi, Daniel", "Rossi,", "rossi ,daniel"])
def test_search_takes_the_name_as_the_list_writes_it(clinician, clinic_a, make_patient, query):
    """The list shows "Rossi, Daniel"; typed back, it found nobody (nurse review)."""
    from anagen.patients import selectors

    found = make_patient(clinic_a, clinician, given_name="Daniel", family_name="Rossi")
    make_patient(clinic_a, clinician, given_name="Dana", family_name="Ross")
    assert list(selectors.search_patients(clinic_a, query)) == [found]


@pytest.mark.parametrize("query", ["'", "’", "''"])
def test_a_search_of_apostrophes_only_finds_names_with_one_not_everybody(
    clinician, clinic_a, make_patient, query
):
    """A lone ' listed every patient of the clinic (review): its plain form is empty."""
    from anagen.patients import selectors

    found = make_patient(clinic_a, clinician, given_name="Zoë", family_name="O'Brien")
    make_patient(clinic_a, clinician, given_name="Brien", family_name="Orr")
    listed = list(selectors.search_patients(clinic_a, query))
    assert listed == ([found] if query == "'" else [])


@pytest.mark.parametrize("query", ["1984-03-14", "14.03.1984", "14/03/1984", "ada 1984-03-14"])
def test_search_finds_a_birth_date_as_typed(clinician, clinic_a, make_patient, query):
    from datetime import date

    from anagen.patients import selectors

    found = make_patient(clinic_a, clinician, given_name="Ada", date_of_birth=date(1984, 3, 14))
    make_patient(clinic_a, clinician, given_name="Ada", date_of_birth=date(1984, 3, 15))
    assert list(selectors.search_patients(clinic_a, query)) == [found]


def test_an_edit_keeps_the_search_in_step(clinician, clinic_a, make_patient):
    from anagen.patients import selectors, services

    patient = make_patient(clinic_a, clinician, given_name="Ana", family_name="Silva")
    services.update_patient(patient, clinician, {"family_name": "Sörensen"})
    assert list(selectors.search_patients(clinic_a, "sorensen")) == [patient]
    assert not selectors.search_patients(clinic_a, "silva").exists()


def test_registering_a_person_twice_asks_for_confirmation(client, clinician, clinic_a):
    """Zoë Ñúñez-Øster was registered three times, once as "zoe nunez-oster", silently."""
    client.force_login(clinician)
    first = {**VALID, "given_name": "Zoë", "family_name": "Ñúñez-Øster"}
    assert client.post("/patients/new/", first).status_code == 302
    # Names swapped, a space for the hyphen, no accents, other case.
    again = {**first, "medical_record_number": "MRN-10", "given_name": "NUNEZ OSTER",
             "family_name": "zoe"}  # fmt: skip
    refused = client.post("/patients/new/", again)
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "A patient with this name and date of birth is already registered" in html
    assert "Ñúñez-Øster, Zoë (MRN-9)" in html
    assert 'name="confirm_not_duplicate"' in html  # offered now, not before
    assert 'name="confirm_not_duplicate"' not in client.get("/patients/new/").content.decode()
    assert Patient.objects.count() == 1
    confirmed = client.post("/patients/new/", {**again, "confirm_not_duplicate": "on"})
    assert confirmed.status_code == 302 and Patient.objects.count() == 2
    # Another date of birth is another person; the edit form never asks.
    other = {**first, "medical_record_number": "MRN-11", "date_of_birth": "1977-01-01"}
    assert client.post("/patients/new/", other).status_code == 302
    patient = Patient.objects.get(medical_record_number="MRN-9")
    edit = client.get(f"/patients/{patient.pk}/edit/").content.decode()
    assert 'name="confirm_not_duplicate"' not in edit


def test_a_voided_record_lists_no_appointments_to_come(client, clinician, clinic_a, make_patient):
    from datetime import timedelta

    from django.utils import timezone

    from anagen.monitoring import services as monitoring
    from anagen.patients import services as patients

    patient = make_patient(clinic_a, clinician)
    due = timezone.localdate() + timedelta(days=5)
    monitoring.add_scheduled_visit(patient, clinician, due_date=due, label="Consultation")
    assert "Consultation" in client.get(f"/patients/{patient.pk}/").content.decode()
    patients.void_patient(patient, clinician, "Registered twice")
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "none (the record is voided)" in page and f"{due:%Y-%m-%d} Consultation" not in page


def test_the_access_log_names_the_copies_of_the_record_taken(
    client, clinic_a, make_user, make_patient
):
    """A FHIR export and a progress PDF read as "web page, 3 reads" like any page view."""
    admin = make_user(Role.ADMIN, clinic_a)
    clinician = make_user(Role.CLINICIAN, clinic_a)
    patient = make_patient(clinic_a, clinician)
    client.force_login(clinician)
    assert client.get(f"/patients/{patient.pk}/").status_code == 200
    assert client.get(f"/interop/patients/{patient.pk}/fhir.json").status_code == 200
    client.force_login(admin)
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    log = page[page.index('id="access-log"') :]
    assert "<td>FHIR export</td>" in log
    (sitting,) = [s for s in page_context_sittings(client, patient) if s.user == clinician]
    assert sitting.copies == ["FHIR export"] and sitting.reads == 2


def page_context_sittings(client, patient):
    return client.get(f"/patients/{patient.pk}/").context["access_log"]


def test_editing_a_record_into_another_registered_person_asks_for_confirmation(
    client, clinician, clinic_a, make_patient
):
    make_patient(clinic_a, clinician, given_name="Ben", family_name="Ash",
                 date_of_birth=date(1975, 5, 5))  # fmt: skip
    other = make_patient(clinic_a, clinician, given_name="Ben", family_name="Ashe",
                         date_of_birth=date(1975, 5, 5))  # fmt: skip
    url = f"/patients/{other.pk}/edit/"
    data = {"medical_record_number": other.medical_record_number, "given_name": "Ben",
            "family_name": "Ash", "date_of_birth": "1975-05-05", "sex_at_birth": "female",
            "phone": "", "email": "", "address": ""}  # fmt: skip
    refused = client.post(url, data)
    assert refused.status_code == 400
    assert "already registered" in refused.content.decode()
    other.refresh_from_db()
    assert other.family_name == "Ashe"
    assert client.post(url, {**data, "confirm_not_duplicate": "on"}).status_code == 302
    other.refresh_from_db()
    assert other.family_name == "Ash"
    # A change of phone only is not a question of identity.
    assert client.post(url, {**data, "phone": "+44 20 7946 0000"}).status_code == 302


class TestTwoPeopleEditingOneRecord:
    """A form sends every field; saved as a whole it put back what another person had
    changed in the meantime (a lost update). Each field now carries the value it had when the
    form was opened: only what this person changed is saved, and a field both changed is
    refused with the other value named."""

    @pytest.fixture
    def opened(self, client, clinician, clinic_a, make_patient):
        from ..html import post_form_data

        patient = make_patient(clinic_a, clinician, phone="+44 20 7946 0001")
        url = f"/patients/{patient.pk}/edit/"
        form = post_form_data(client.get(url).content.decode(), url)
        assert form["opened-phone"] == ['"+44 20 7946 0001"']  # JSON
        return patient, url, form

    def test_an_opened_value_tampered_with_is_refused_not_a_500(self, client, opened):
        """A number where the opened date of birth was raised AttributeError (a 500)."""
        patient, url, form = opened
        response = client.post(url, {**form, "opened-date_of_birth": ["5"]})
        assert response.status_code in (302, 400)
        patient.refresh_from_db()
        assert patient.phone == "+44 20 7946 0001"

    def test_a_field_changed_meanwhile_by_someone_else_is_kept(self, client, opened):
        patient, url, form = opened
        Patient.objects.filter(pk=patient.pk).update(phone="+44 20 7946 0002")
        assert client.post(url, {**form, "email": ["new@example.org"]}).status_code == 302
        patient.refresh_from_db()
        assert patient.email == "new@example.org" and patient.phone == "+44 20 7946 0002"

    def test_a_field_both_changed_is_refused_naming_the_other_value_then_saves(
        self, client, opened
    ):
        patient, url, form = opened
        Patient.objects.filter(pk=patient.pk).update(phone="+44 20 7946 0002")
        refused = client.post(url, {**form, "phone": ["+44 20 7946 0003"]})
        assert refused.status_code == 400
        assert "Changed by someone else since you opened this page" in refused.content.decode()
        assert "+44 20 7946 0002" in refused.content.decode()
        patient.refresh_from_db()
        assert patient.phone == "+44 20 7946 0002"
        # Sent again after a look (the page now carries the stored value as opened): saved.
        from ..html import post_form_data

        again = post_form_data(refused.content.decode(), url)
        assert again["opened-phone"] == ['"+44 20 7946 0002"']
        assert again["phone"] == ["+44 20 7946 0003"]
        assert client.post(url, again).status_code == 302
        patient.refresh_from_db()
        assert patient.phone == "+44 20 7946 0003"

    def test_the_same_change_made_twice_is_no_conflict(self, client, opened):
        patient, url, form = opened
        Patient.objects.filter(pk=patient.pk).update(phone="+44 20 7946 0009")
        assert client.post(url, {**form, "phone": ["+44 20 7946 0009"]}).status_code == 302

    def test_a_change_sent_with_a_refused_field_is_saved_once_that_is_fixed(self, client, opened):
        """The refused page must carry the values as opened, not as just sent: it carried
        the sent ones, so the phone change read as no change and was dropped."""
        from ..html import post_form_data

        patient, url, form = opened
        refused = client.post(
            url, {**form, "phone": ["+44 20 7946 0777"], "date_of_birth": ["2999-01-01"]}
        )
        assert refused.status_code == 400
        again = post_form_data(refused.content.decode(), url)
        assert again["opened-phone"] == ['"+44 20 7946 0001"']
        again["date_of_birth"] = ["1980-01-01"]
        assert client.post(url, again).status_code == 302
        patient.refresh_from_db()
        assert patient.phone == "+44 20 7946 0777"

    def test_a_page_opened_before_the_opened_values_existed_still_saves(self, client, opened):
        from ..html import post_form_data

        patient, url, form = opened
        old = {k: v for k, v in form.items() if not k.startswith("opened-")}
        refused = client.post(url, {**old, "phone": ["+44 20 7946 0777"], "date_of_birth": [""]})
        assert refused.status_code == 400
        again = post_form_data(refused.content.decode(), url)
        again["date_of_birth"] = ["1980-01-01"]
        assert client.post(url, again).status_code == 302
        patient.refresh_from_db()
        assert patient.phone == "+44 20 7946 0777"

    def test_the_refused_page_shows_the_other_persons_changes_as_stored(self, client, opened):
        from ..html import post_form_data

        patient, url, form = opened
        Patient.objects.filter(pk=patient.pk).update(
            phone="+44 20 7946 0002", email="moved@example.org", address="2 New Street"
        )
        refused = client.post(url, {**form, "phone": ["+44 20 7946 0003"]})
        assert refused.status_code == 400
        again = post_form_data(refused.content.decode(), url)
        assert again["email"] == ["moved@example.org"] and again["address"] == ["2 New Street"]
        assert client.post(url, again).status_code == 302
        patient.refresh_from_db()
        assert (patient.phone, patient.email, patient.address) == (
            "+44 20 7946 0003",
            "moved@example.org",
            "2 New Street",
        )


def test_the_access_log_filters_by_person_pages_past_fifty_and_shows_the_client_address(
    client, clinic_a, make_user, make_patient
):
    """A privacy officer asking who read a record saw the latest 50 sittings only, of
    everyone, without where the reads came from."""
    admin = make_user(Role.ADMIN, clinic_a)
    clinician = make_user(Role.CLINICIAN, clinic_a)
    nurse = make_user(Role.NURSE, clinic_a)
    patient = make_patient(clinic_a, clinician)
    now = timezone.now()
    # 60 sittings of the clinician two hours apart, the oldest from another address, and
    # one nurse's read in between.
    for i in range(60):
        entry = AccessLog.objects.create(
            user=clinician, clinic=clinic_a, patient=patient, channel="web", path="/x/",
            ip_address="198.51.100.7" if i == 59 else "10.0.0.5",
        )  # fmt: skip
        AccessLog.objects.filter(pk=entry.pk).update(accessed_at=now - timedelta(hours=2 * i))
    entry = AccessLog.objects.create(
        user=nurse, clinic=clinic_a, patient=patient, channel="api", path="/y/"
    )
    AccessLog.objects.filter(pk=entry.pk).update(accessed_at=now - timedelta(hours=11))
    client.force_login(admin)

    page = client.get(f"/patients/{patient.pk}/", {"access_user": clinician.pk})
    sittings = page.context["access_log"]
    assert len(sittings) == 50 and {s.user for s in sittings} == {clinician}
    assert "10.0.0.5" in page.content.decode()[page.content.decode().index('id="access-log"') :]
    older = re.search(r'href="\?([^"]+)#access-log" id="access-log-older"', page.content.decode())
    assert older is not None
    rest = client.get(f"/patients/{patient.pk}/?{unescape_amp(older.group(1))}")
    remaining = rest.context["access_log"]
    assert len(remaining) == 10 and {s.user for s in remaining} == {clinician}
    assert remaining[-1].ip_addresses == ["198.51.100.7"]
    assert 'id="access-log-older"' not in rest.content.decode()
    # Everyone's reads hold the nurse's; one person's reads, only theirs.
    everyone = client.get(f"/patients/{patient.pk}/").context["access_log"]
    assert nurse in {s.user for s in everyone}
    mine = client.get(f"/patients/{patient.pk}/", {"access_user": nurse.pk})
    assert [(s.user, s.channel) for s in mine.context["access_log"]] == [(nurse, "api")]


def unescape_amp(query: str) -> str:
    return query.replace("&amp;", "&")


def test_behind_the_proxy_the_access_log_records_the_clients_address_not_the_proxys(
    client, clinician, clinic_a, make_patient, settings
):
    """Behind the load balancer every read was logged from the balancer's own address."""
    patient = make_patient(clinic_a, clinician)
    client.force_login(clinician)
    via_proxy = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.9"}
    settings.ANAGEN_BEHIND_PROXY = True
    assert client.get(f"/patients/{patient.pk}/", **via_proxy).status_code == 200
    # Without a proxy the header is anyone's to send: the connection's address counts.
    settings.ANAGEN_BEHIND_PROXY = False
    assert client.get(f"/patients/{patient.pk}/", **via_proxy).status_code == 200
    logged = AccessLog.objects.filter(patient=patient).order_by("id")
    assert list(logged.values_list("ip_address", flat=True)) == ["203.0.113.9", "10.0.0.2"]
