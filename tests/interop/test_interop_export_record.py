"""Every download of the de-identified analysis table is recorded (interop.models.DataExport).

The table is the whole clinic's patient-visits at once. The access log answers "who opened
this record?" but nothing answered "who took the clinic's table?": each download from the
page, the API or the command line now keeps who, when, which format, how many rows and
patients, and from which address. Administrators and clinicians (audit.view) read the
record at /interop/export/log/, their own clinic's only; a researcher may download but not
read who else did.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command

from anagen.accounts.roles import Role
from anagen.interop.models import DataExport

from ..reports.factory import course


@pytest.fixture
def researcher(clinic_a, make_user):
    return make_user(Role.RESEARCHER, clinic_a, username="res")


@pytest.fixture
def treated(clinic_a, clinician, make_patient):
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    course(patient, clinician, photos=False)
    return patient


def test_a_page_download_is_recorded_with_who_what_and_from_where(
    client, clinic_a, researcher, treated
):
    client.force_login(researcher)
    response = client.get("/interop/export/analysis.csv", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    rows = response.content.decode().strip().count("\n")  # lines after the header
    export = DataExport.objects.get()
    assert (export.clinic, export.user, export.channel) == (clinic_a, researcher, "web")
    assert export.table == "deidentified_csv"
    assert (export.rows, export.patients) == (rows, 1)
    assert export.ip_address == "203.0.113.9"


def test_api_and_command_line_downloads_are_recorded_too(
    client, clinic_a, researcher, treated, api_token, tmp_path
):
    token = api_token(researcher, clinic_a)
    response = client.get(
        "/api/v1/interop/deidentified.parquet", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.content
    call_command("deidentified", "--clinic", clinic_a.slug, "--user", "res",
                 "-o", str(tmp_path / "t.csv"))  # fmt: skip
    assert [(e.channel, e.table) for e in DataExport.objects.order_by("id")] == [
        ("api", "deidentified_parquet"),
        ("cli", "deidentified_csv"),
    ]


def test_a_refused_download_records_nothing(client, clinic_a, nurse, treated):
    client.force_login(nurse)
    assert client.get("/interop/export/analysis.csv").status_code == 403
    assert not DataExport.objects.exists()


def test_admins_read_their_clinics_record_researchers_do_not(
    client, clinic_a, clinic_b, admin, researcher, make_user, treated
):
    client.force_login(researcher)
    client.get("/interop/export/analysis.csv")
    assert client.get("/interop/export/log/").status_code == 403
    client.force_login(admin)
    page = client.get("/interop/export/log/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "(res)" in html and "De-identified analysis table (CSV)" in html
    # Another clinic's administrator sees none of clinic A's downloads.
    client.force_login(make_user(Role.ADMIN, clinic_b, username="admin-b"))
    other = client.get("/interop/export/log/").content.decode()
    assert "(res)" not in other and "has not been exported" in other
