"""The clinic's access log: every read of a patient record, by person, 50 to a page."""

from __future__ import annotations

import re

import pytest

from anagen.accounts.models import AccessLog
from anagen.accounts.roles import Role

pytestmark = pytest.mark.django_db


def test_a_privacy_officer_lists_which_records_one_person_opened_across_the_clinic(
    client, clinic_a, clinic_b, make_user, make_patient
):
    """Each record listed its own readers; which records one person read could not be asked."""
    admin = make_user(Role.ADMIN, clinic_a)
    clinician = make_user(Role.CLINICIAN, clinic_a)
    nurse = make_user(Role.NURSE, clinic_a)
    patients = [make_patient(clinic_a, clinician) for _ in range(3)]
    other_clinic = make_patient(clinic_b, make_user(Role.CLINICIAN, clinic_b))
    for i in range(55):
        AccessLog.objects.create(
            user=clinician, clinic=clinic_a, patient=patients[i % 3], channel="web",
            path=f"/patients/{patients[i % 3].pk}/", ip_address="10.0.0.5",
        )  # fmt: skip
    AccessLog.objects.create(
        user=nurse, clinic=clinic_a, patient=patients[0], channel="api", path="/api/x"
    )
    AccessLog.objects.create(
        user=clinician, clinic=clinic_b, patient=other_clinic, channel="web", path="/b/"
    )
    client.force_login(admin)

    page = client.get("/accounts/access-log/", {"user": clinician.pk})
    assert page.status_code == 200
    reads = page.context["reads"]
    assert len(reads) == 50 and {r.user for r in reads} == {clinician}
    html = page.content.decode()
    assert all(p.medical_record_number in html for p in patients) and "10.0.0.5" in html
    older = re.search(r'href="\?([^"]+)" id="access-log-older"', html)
    assert older is not None
    rest = client.get("/accounts/access-log/?" + older.group(1).replace("&amp;", "&"))
    assert len(rest.context["reads"]) == 5  # the clinic B read is not clinic A's
    assert {r.clinic_id for r in rest.context["reads"]} == {clinic_a.pk}
    assert other_clinic.medical_record_number not in rest.content.decode()
    assert 'id="access-log-older"' not in rest.content.decode()
    everyone = client.get("/accounts/access-log/").context["reads"]
    assert everyone[0].user == nurse

    client.force_login(nurse)  # no audit.view
    assert client.get("/accounts/access-log/").status_code == 403


@pytest.mark.parametrize("value", ["²", "١٢", "9" * 30, "0", "-1"])
def test_a_person_or_page_that_is_not_an_id_lists_from_the_newest_for_everyone(
    client, clinic_a, make_user, make_patient, value
):
    # "²" and "١٢" pass str.isdigit() but int() refused them: a 500 instead of the log.
    admin = make_user(Role.ADMIN, clinic_a)
    patient = make_patient(clinic_a, admin)
    AccessLog.objects.create(
        user=admin, clinic=clinic_a, patient=patient, channel="web", path="/patients/1/"
    )
    client.force_login(admin)
    for name in ("user", "before"):
        page = client.get("/accounts/access-log/", {name: value})
        assert page.status_code == 200
        assert page.context["user_id"] is None and len(page.context["reads"]) == 1
    for name in ("access_user", "access_before"):
        record = client.get(f"/patients/{patient.pk}/", {name: value})
        assert record.status_code == 200
        assert record.context["access_user"] is None
