"""The lot recall notice PDF (rendered by products.selectors.recall_notice_pdf and linked
from the reports page) names the lot, the reason and every patient who received it."""

from __future__ import annotations

import os
from pathlib import Path

from anagen.accounts.roles import Role
from anagen.products import services as products

from .factory import course
from .pdftext import assert_pdf, layout_text


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


def test_a_lot_not_recalled_gets_a_trace_report_that_asks_for_no_action(
    client, clinic_a, make_user, make_patient
):
    """A red "Product recall notice" telling staff to quarantine stock and call patients was
    printed for released lots in use; printed and handed on, it would be acted on."""
    from datetime import timedelta

    from django.utils import timezone

    from anagen.products import selectors

    clinician = make_user(Role.CLINICIAN, clinic_a)
    quality = make_user(Role.QUALITY, clinic_a)
    patient = make_patient(clinic_a, clinician, given_name="Traced", family_name="Person")
    lot = course(patient, clinician, photos=False)["lot"]
    now = timezone.now()
    text = " ".join(layout_text(selectors.recall_notice_html(lot, generated_at=now)))
    assert "Lot trace report" in text and "recall notice" not in text.lower()
    assert "This lot has not been recalled." in text and "asks for no action" in text
    assert "quarantined" not in text and "contact every patient" not in text
    assert "Person, Traced" in text and "(expired)" not in text
    later = now + timedelta(days=(lot.expiry_date - now.date()).days + 1)
    assert "(expired)" in " ".join(
        layout_text(selectors.recall_notice_html(lot, generated_at=later))
    )
    client.force_login(quality)
    response = client.get(f"/products/lots/{lot.pk}/recall-notice.pdf")
    assert "trace-report" in response["Content-Disposition"]
    assert "Trace report (PDF)" in client.get(f"/products/lots/{lot.pk}/trace/").content.decode()

    products.recall_lot(lot, quality, "Endotoxin above the limit in retained sample")
    lot.refresh_from_db()
    text = " ".join(layout_text(selectors.recall_notice_html(lot, generated_at=now)))
    assert "Product recall notice" in text and "Endotoxin above the limit" in text
    assert "must be quarantined" in text and "contact every patient listed" in text
    response = client.get(f"/products/lots/{lot.pk}/recall-notice.pdf")
    assert "recall-notice" in response["Content-Disposition"]


def test_a_voided_patient_who_received_the_lot_is_listed_and_marked_voided(
    clinic_a, make_user, make_patient
):
    """A record voided as entered in error (a duplicate) stays on the call list (the vials
    were given to someone), but it was printed as any other record: staff called from a
    record the clinic no longer uses, or twice."""
    from django.utils import timezone

    from anagen.patients.services import void_patient
    from anagen.products import selectors

    clinician = make_user(Role.CLINICIAN, clinic_a)
    patient = make_patient(clinic_a, clinician, given_name="Twice", family_name="Entered")
    lot = course(patient, clinician, photos=False)["lot"]
    void_patient(patient, clinician, "Duplicate of MRN-9999")
    lot.refresh_from_db()
    text = " ".join(layout_text(selectors.recall_notice_html(lot, generated_at=timezone.now())))
    assert "Entered, Twice Voided record (Duplicate of MRN-9999)" in text


def test_a_long_email_address_does_not_push_the_call_list_past_the_page_edge(
    clinic_a, make_user, make_patient
):
    """The contact columns are kept on one line; a 64-character address did so too and the
    table ran 150 pt past the margin: the columns after it were cut off on paper."""
    from django.utils import timezone

    from anagen.patients.models import Patient
    from anagen.products import selectors

    from .pdftext import boxes_past_the_right_margin

    clinician = make_user(Role.CLINICIAN, clinic_a)
    patient = make_patient(clinic_a, clinician, given_name="Maximiliane", family_name="Long")
    lot = course(patient, clinician, photos=False)["lot"]
    email = "maximiliane.alexandra.wolfeschlegelsteinhausen@example-mail.com"
    Patient.objects.filter(pk=patient.pk).update(email=email, phone="+44 20 7946 0958")
    html = selectors.recall_notice_html(lot, generated_at=timezone.now())
    assert boxes_past_the_right_margin(html, "table", "contacts") == []
    text = " ".join(layout_text(html))
    assert "+44 20 7946 0958" in text  # the phone number stays on one line
    assert patient.medical_record_number in text
