"""The lot recall notice PDF (rendered by products.selectors.recall_notice_pdf and linked
from the reports page) names the lot, the reason and every patient who received it."""

from __future__ import annotations

import os
from pathlib import Path

from anagen.accounts.roles import Role
from anagen.products import services as products

from .factory import course
from .pdftext import assert_pdf


def test_recall_notice_pdf_lists_the_patients_who_received_the_lot(
    client, clinic_a, make_user, make_patient
):
    clinician = make_user(Role.CLINICIAN, clinic_a)
    quality = make_user(Role.QUALITY, clinic_a)
    patient = make_patient(clinic_a, clinician, given_name="Recalled", family_name="Person")
    data = course(patient, clinician, photos=False)
    products.recall_lot(data["lot"], quality, "Endotoxin above the limit in retained sample")
    client.force_login(quality)
    response = client.get(f"/products/lots/{data['lot'].pk}/recall-notice.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert_pdf(response.content)
    if os.environ.get("ANAGEN_REPORTS_OUT"):
        out = Path(os.environ["ANAGEN_REPORTS_OUT"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "recall-notice.pdf").write_bytes(response.content)
    # The reports page links quality users to the lots, where the notice is.
    admin = make_user(Role.ADMIN, clinic_a)
    client.force_login(admin)
    index = client.get("/reports/").content.decode()
    assert 'href="/products/">lots</a>' in index
    assert client.get("/products/").status_code == 200  # the link leads to the lot list
    client.force_login(clinician)
    assert client.get(f"/products/lots/{data['lot'].pk}/recall-notice.pdf").status_code == 403
