"""Patient progress report: the PDF downloads for the roles allowed, shows what the record
holds (diagnoses, sessions with maps, measurements with change from baseline, chart, photos,
adverse events, the investigational notice), handles an empty record, and respects tenancy."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.utils import timezone

from anagen.accounts.models import AccessLog
from anagen.accounts.roles import Role
from anagen.patients.models import Patient
from anagen.reports import pdf, selectors

from .factory import course
from .pdftext import assert_pdf, boxes_past_the_right_margin, layout_text, page_count


@pytest.fixture
def treated(clinic_a, clinician, make_patient):
    patient = make_patient(
        clinic_a, clinician, sex_at_birth="male", given_name="Tom", family_name="Progress"
    )
    return patient, course(patient, clinician)


def _html(patient) -> str:
    report = selectors.patient_report(patient, generated_at=timezone.now(), generated_by="test")
    return pdf.render_html("reports/patient_progress.html", selectors.report_context(report))


def test_a_record_number_with_quotes_and_slashes_gives_a_safe_file_name(client, clinician, treated):
    patient, _ = treated
    Patient.objects.filter(pk=patient.pk).update(medical_record_number='AB"C;x=1/../é')
    client.force_login(clinician)
    pdf_header = client.get(f"/reports/patients/{patient.pk}/progress.pdf")["Content-Disposition"]
    fhir_header = client.get(f"/interop/patients/{patient.pk}/fhir.json")["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="progress-AB-C-x-1-\d{8}\.pdf"', pdf_header)
    assert fhir_header == 'attachment; filename="fhir-AB-C-x-1.json"'


def test_clinician_downloads_the_progress_report_and_the_access_is_logged(
    client, clinician, treated
):
    patient, _ = treated
    client.force_login(clinician)
    response = client.get(f"/reports/patients/{patient.pk}/progress.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    assert patient.medical_record_number in response["Content-Disposition"]
    assert_pdf(response.content, min_bytes=20_000)  # photos and maps are embedded
    assert AccessLog.objects.filter(patient=patient, user=clinician, path__contains="progress")
    if os.environ.get("ANAGEN_REPORTS_OUT"):  # for looking at it: render to PNG by hand
        out = Path(os.environ["ANAGEN_REPORTS_OUT"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "patient-progress.pdf").write_bytes(response.content)


def test_the_report_shows_every_part_of_the_record(treated):
    patient, data = treated
    html = _html(patient)
    text = " ".join(layout_text(html))
    assert "Progress report" in text and patient.full_name in text
    assert patient.medical_record_number in text
    # Diagnosis with its codes.
    assert "L64.9" in text and "87872006" in text and "III" in text
    # Measurements and change from baseline (the outcomes progress selector's figures):
    # density 120 → 128 (+8.0, +6.7 %) → 136.5 (+16.5), diameter 58 → 63.5 (+5.5), and the
    # derived cumulative thickness; visits labelled with their nominal weeks.
    assert "baseline" in text and "week 12" in text and "week 24" in text
    assert "+8.0 (+6.7 %)" in text and "+16.5 (+13.8 %)" in text and "+5.5" in text
    assert "Cumulative thickness" in text and "Global photographic assessment" in text
    # Sessions with their map thumbnails (SVG) and lots.
    assert text.count("Exosome injection") >= 3
    assert "EXO-2401" in text
    assert html.count('src="data:image/svg+xml;base64,') == 3 + 1  # 3 maps + density chart
    # Photos: baseline and latest of the same view, embedded.
    assert "Vertex · baseline" in text and "Vertex · latest" in text
    assert html.count('src="data:image/jpeg;base64,') == 2
    # Adverse events with CTCAE term, version and grade.
    assert "Injection site reaction" in text and "v5.0" in text
    # Exosome sessions carry the investigational notice.
    assert "Investigational / not approved." in text
    assert "no FDA-approved exosome products" in text


def test_the_report_labels_its_numbers(treated, clinician):
    """Session cards once read "30G · 1.5 mm"; a global assessment of 0 read "+0"; a column
    did not say whether its values were counted by hand or by image analysis."""
    from anagen.monitoring.models import Visit

    patient, _ = treated
    week_12 = Visit.objects.get(patient=patient, visit_date__gt=patient.visits.earliest(
        "visit_date").visit_date, global_assessment=1)  # fmt: skip
    Visit.objects.filter(pk=week_12.pk).update(global_assessment=0)
    text = " ".join(layout_text(_html(patient)))
    assert "needle 30G · depth 1.5 mm" in text
    import re

    assert re.findall(r"\+0(?![.\d])", text) == [] and "manual" in text


@pytest.mark.parametrize(
    ("grade", "seriousness", "badge"),
    [(3, [], "grade ≥3, not serious"), (2, ["hospitalization"], "serious"),
     (3, ["hospitalization"], "serious, grade ≥3"), (1, [], None)],
)  # fmt: skip
def test_the_report_says_whether_an_event_is_serious_or_high_grade(
    clinic_a, clinician, make_patient, grade, seriousness, badge
):
    from anagen.monitoring import services as monitoring

    patient = make_patient(clinic_a, clinician)
    monitoring.record_adverse_event(
        patient, clinician,
        {"term_key": "headache", "grade": grade, "onset_date": timezone.localdate(),
         "seriousness": seriousness},
    )  # fmt: skip
    html = _html(patient)
    events = html[html.index('id="adverse-events"') :]
    if badge is None:
        assert '<span class="badge">' not in events.split("</table>")[0]
    else:
        assert f'<span class="badge">{badge}</span>' in events


def test_a_patient_with_nothing_recorded_gets_a_short_honest_report(
    client, clinic_a, clinician, make_patient
):
    patient = make_patient(clinic_a, clinician)
    text = " ".join(layout_text(_html(patient)))
    assert "Not enough data: no visit recorded yet." in text
    assert "No treatment sessions recorded." in text
    assert "No adverse events recorded." in text
    assert "Investigational" not in text
    assert "Hair density over time" not in text  # no density: no empty chart
    client.force_login(clinician)
    response = client.get(f"/reports/patients/{patient.pk}/progress.pdf")
    assert response.status_code == 200
    assert_pdf(response.content)
    assert page_count(response.content) == 1


def test_a_single_visit_is_not_shown_as_a_change(clinic_a, clinician, make_patient):
    from anagen.monitoring import services as monitoring

    patient = make_patient(clinic_a, clinician)
    monitoring.record_visit(
        patient,
        clinician,
        {"visit_date": timezone.localdate(), "is_baseline": True, "density_per_cm2": 140},
    )
    text = " ".join(layout_text(_html(patient)))
    assert "Only the baseline visit so far" in text
    assert "(+" not in text  # no change is shown


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.ADMIN, 200),
        (Role.NURSE, 200),
        (Role.RESEARCHER, 403),
        (Role.FRONT_DESK, 403),
        (Role.QUALITY, 403),
    ],
)
def test_only_clinical_roles_download_a_patient_report(
    client, clinic_a, make_user, make_patient, role, status
):
    user = make_user(role, clinic_a)
    patient = make_patient(clinic_a, user)
    client.force_login(user)
    assert client.get(f"/reports/patients/{patient.pk}/progress.pdf").status_code == status


def test_another_clinics_patient_is_404_in_page_and_api(
    client, clinic_a, clinic_b, make_user, make_patient, api_token
):
    admin_b = make_user(Role.ADMIN, clinic_b, username="admin-b")
    other = make_patient(clinic_b, admin_b, given_name="Secret")
    user = make_user(Role.CLINICIAN, clinic_a)
    client.force_login(user)
    response = client.get(f"/reports/patients/{other.pk}/progress.pdf")
    assert response.status_code == 404 and b"Secret" not in response.content
    headers = {"Authorization": f"Bearer {api_token(user, clinic_a)}"}
    response = client.get(f"/api/v1/reports/patients/{other.pk}/progress.pdf", headers=headers)
    assert response.status_code == 404 and "detail" in response.json()


def test_the_api_returns_the_same_pdf(client, clinician, treated, api_token, clinic_a):
    patient, _ = treated
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    response = client.get(f"/api/v1/reports/patients/{patient.pk}/progress.pdf", headers=headers)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert_pdf(response.content, min_bytes=20_000)
    assert AccessLog.objects.filter(patient=patient, channel="api").exists()


@pytest.mark.parametrize(
    ("role", "report", "fhir"),
    [(Role.CLINICIAN, True, True), (Role.NURSE, True, False), (Role.FRONT_DESK, False, False)],
)
def test_patient_page_links_to_the_report_and_fhir_export_by_role(
    client, clinic_a, make_user, make_patient, role, report, fhir
):
    user = make_user(role, clinic_a)
    patient = make_patient(clinic_a, user)
    client.force_login(user)
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert (f"/reports/patients/{patient.pk}/progress.pdf" in page) is report
    assert (f"/interop/patients/{patient.pk}/fhir.json" in page) is fhir
    listing = client.get("/patients/").content.decode()
    assert ("/interop/import/" in listing) is (role in (Role.CLINICIAN, Role.FRONT_DESK))


def test_the_session_cards_fit_within_the_page_margins(clinic_a, clinician, treated):
    from datetime import timedelta

    from anagen.treatments.models import TreatmentSession

    from .pdftext import boxes_past_the_right_margin

    patient, data = treated
    last = data["sessions"][-1]
    for i in (1, 2):  # five sessions: a full row of four cards and one more
        TreatmentSession.objects.create(
            clinic=clinic_a, patient=patient, plan=data["plan"], modality="exosome",
            performed_on=last.performed_on + timedelta(days=7 * i), clinician=clinician,
        )  # fmt: skip
    html = _html(patient)
    assert boxes_past_the_right_margin(html, "table", "sessions") == []
    assert boxes_past_the_right_margin(html, "table", "pair") == []
    if os.environ.get("ANAGEN_REPORTS_OUT"):  # for looking at it: render to PNG by hand
        out = Path(os.environ["ANAGEN_REPORTS_OUT"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "patient-progress-five-sessions.pdf").write_bytes(pdf.html_to_pdf(html))


def test_the_report_rounds_a_percent_change_as_the_page_does():
    """-6.25 % read -6.2 % in the report and -6.3 % on the page (a review found it)."""
    from datetime import date

    from anagen.outcomes.progress import VisitPoint, build_progress

    points = [
        VisitPoint(visit_id=1, visit_date=date(2026, 1, 1), is_baseline=True,
                   values={"density_per_cm2": 96.0}),
        VisitPoint(visit_id=2, visit_date=date(2026, 3, 1), is_baseline=False,
                   values={"density_per_cm2": 90.0}),
    ]  # fmt: skip
    _, rows = selectors._measure_table(build_progress(points, 1))
    (density,) = [r for r in rows if r.label.startswith("Hair density")]
    assert density.cells[1].change == "-6.0 (-6.3 %)"


def test_every_page_after_the_first_names_the_patient(treated):
    """A loose page 2 (photos, sessions, adverse events) must still say whose it is."""
    patient, _ = treated
    pages = layout_text(_html(patient))
    assert len(pages) >= 2
    head = f"{patient.full_name} · MRN {patient.medical_record_number} · born"
    assert head not in pages[0]  # the first page has the full patient block instead
    for text in pages[1:]:
        assert head in text


def test_a_baseline_without_measurements_says_so_instead_of_an_empty_table(
    clinic_a, clinician, make_patient
):
    from anagen.monitoring import services as monitoring

    patient = make_patient(clinic_a, clinician)
    monitoring.record_visit(
        patient, clinician, {"visit_date": timezone.localdate(), "is_baseline": True}
    )
    html = _html(patient)
    text = " ".join(layout_text(html))
    assert "No measurements recorded at the baseline visit." in text
    assert 'id="measurements"' not in html and "Each cell: the value" not in text


def test_the_consents_section_says_when_no_consent_is_on_file(clinic_a, clinician, make_patient):
    patient = make_patient(clinic_a, clinician)
    text = " ".join(layout_text(_html(patient)))
    assert "Consents No consent recorded." in text


def test_the_density_chart_has_a_printed_caption_for_its_dashed_line(treated):
    patient, _ = treated
    # (The line may break after the slash of "hairs/cm²".)
    text = " ".join(layout_text(_html(patient))).replace("/ ", "/")
    assert "Dashed line: the baseline, 120 hairs/cm²." in text


def test_the_age_on_the_report_is_counted_on_the_clinics_date(clinic_a, clinician, make_patient):
    from datetime import UTC, date, datetime

    from anagen.accounts.clinic_time import in_clinic_time

    clinic_a.time_zone = "Pacific/Kiritimati"  # UTC+14: 20:00 UTC on 5 Dec is 6 Dec there
    patient = make_patient(clinic_a, clinician, date_of_birth=date(1986, 12, 6))
    with in_clinic_time(clinic_a):
        report = selectors.patient_report(
            patient, generated_at=datetime(2026, 12, 5, 20, 0, tzinfo=UTC), generated_by="t"
        )
    assert report.age == 40  # the birthday has come where the clinic is


def test_the_report_lists_the_further_treatment_decisions(clinician, treated):
    """A decision to stop was missing from the printed record."""
    from anagen.monitoring import services as monitoring

    patient, made = treated
    monitoring.record_decision(
        made["visits"][2], clinician, decided="stop_non_response", sessions_done=3,
        sessions_planned=3, rationale="Patient prefers to stop; no visible gain.",
    )  # fmt: skip
    html = _html(patient)
    table = html[html.index('id="decisions"') :]
    assert "Stop (non-response)" in table
    assert "Patient prefers to stop; no visible gain." in table
    assert made["visits"][2].visit_date.isoformat() in table


def test_a_report_without_decisions_says_so(treated):
    patient, _ = treated
    assert "No further-treatment decision recorded." in _html(patient)


def test_eight_visits_print_every_column_within_the_page(treated, clinician):
    """With 8 visits the measurement table ran off the right edge and the last visits'
    values were cut (review): the table is printed in blocks of at most six visits."""
    from datetime import timedelta

    from anagen.monitoring import services as monitoring

    from .pdftext import boxes_past_the_right_margin

    patient, data = treated
    start = data["visits"][0].visit_date
    densities = [141.0, 146.0, 150.0, 155.0, 159.0]
    for i, density in enumerate(densities, start=1):  # weeks 2-10, between weeks 0 and 12
        monitoring.record_visit(
            patient, clinician,
            {"visit_date": start + timedelta(weeks=2 * i), "target_area_cm2": 1.0,
             "hair_count": round(density), "density_per_cm2": density},
        )  # fmt: skip
    html = _html(patient)
    assert html.count('class="measures"') == 2  # 6 visits, then 2
    assert boxes_past_the_right_margin(html, "table", "measures") == []
    text = " ".join(layout_text(html))
    for density in densities:
        change = density - 120.0
        assert f"+{change:.1f} ({100 * change / 120.0:+.1f} %)" in text, density
    # Each block names its measures again.
    assert text.count("Hair density") >= 2


def test_the_density_chart_joins_values_of_the_baselines_source_only(treated, clinician):
    """The chart joined manual 1 cm² counts to an image-analysis field of another site
    (a jump from 136 to 357 /cm²; review). The table shows every value; the chart the
    baseline's source, and its caption says what it left out."""
    from anagen.monitoring.models import Measurement

    patient, data = treated
    # The last visit measured by image analysis only (of another site, 357 /cm²).
    Measurement.objects.filter(visit=data["visits"][-1]).update(
        source=Measurement.Source.IMAGING, density_per_cm2=357.0, target_area_cm2=0.18
    )
    report = selectors.patient_report(patient, generated_at=timezone.now(), generated_by="t")
    caption = report.density_chart_caption
    assert "by visit date, counted by the clinic." in caption
    assert "1 value measured otherwise is not plotted" in caption
    import base64

    svg = base64.b64decode(report.density_chart_uri.split(",", 1)[1]).decode()
    assert svg.count("<circle") == 2 and ": 357</title>" not in svg  # baseline and week 12


def test_a_point_of_care_draw_naming_no_session_is_a_lot_of_its_days_session_everywhere(
    treated, clinician
):
    """The PDF listed only lots whose draw named the session; the FHIR export's suspects
    and the cohort analysis also took a same-day draw that names none, and Procedure.used
    listed only the named ones. One rule now (treatments.selectors.draws_used_by)."""
    from decimal import Decimal

    from anagen.interop import fhir_export
    from anagen.outcomes import selectors as outcomes
    from anagen.products.models import Lot, VialDraw
    from anagen.treatments.models import TreatmentSession

    from .factory import make_lot

    patient, data = treated
    poc_lot = make_lot(patient.clinic, clinician, number="POC-0901")
    returned_lot = make_lot(patient.clinic, clinician, number="RET-0902")
    # A fourth session, its vials drawn at the point of care with no session reference
    # (one draw without any, one with a reference typed by hand) ...
    on = data["sessions"][-1].performed_on + timezone.timedelta(days=28)
    session = TreatmentSession.objects.create(
        clinic=patient.clinic, patient=patient, plan=data["plan"], modality="exosome",
        performed_on=on, clinician=clinician, total_points=100, total_volume_ml=Decimal("2.5"),
    )  # fmt: skip
    for ref in ("", "POC ticket 17"):
        VialDraw.objects.create(
            clinic=patient.clinic, lot=poc_lot, patient=patient, quantity=1,
            drawn_on=on, drawn_at=timezone.now(), drawn_by=clinician, session_ref=ref,
        )  # fmt: skip
    # ... and a draw of its day returned to stock unopened: no exposure, in no output.
    VialDraw.objects.create(
        clinic=patient.clinic, lot=returned_lot, patient=patient, quantity=1, drawn_on=on,
        drawn_at=timezone.now(), drawn_by=clinician, returned_at=timezone.now(),
    )  # fmt: skip
    # A session's own named draw keeps the same-day unnamed ones off it.
    first = data["sessions"][0]
    VialDraw.objects.create(
        clinic=patient.clinic, lot=returned_lot, patient=patient, quantity=1,
        drawn_on=first.performed_on, drawn_at=timezone.now(), drawn_by=clinician,
    )  # fmt: skip
    expected = {s.pk: ["EXO-2401"] for s in data["sessions"]} | {session.pk: ["POC-0901"]}

    report = selectors.patient_report(patient, generated_at=timezone.now(), generated_by="t")
    assert {r.session.pk: r.lots for r in report.sessions} == expected
    assert "POC-0901" in " ".join(layout_text(_html(patient)))

    bundle = fhir_export.patient_bundle_dict(patient)
    resources = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    lot_numbers = {
        url: r["identifier"][0]["value"]
        for url, r in resources.items()
        if r["resourceType"] == "BiologicallyDerivedProduct"
    }
    used = [
        sorted(lot_numbers[u["reference"]["reference"]] for u in r.get("used", []))
        for r in resources.values()
        if r["resourceType"] == "Procedure"
    ]
    assert sorted(used) == sorted(expected.values())
    fhir_export.patient_bundle(patient)  # still valid R5

    tables = outcomes.analysis_tables(patient.clinic, use_cache=False)
    numbers = dict(Lot.objects.filter(clinic=patient.clinic).values_list("pk", "lot_number"))
    lots_of = tables.sessions.groupby("session_id")["lot"].agg(
        lambda lots: sorted(numbers[int(x)] for x in lots if x)
    )
    assert lots_of.to_dict() == expected


def test_the_density_chart_leaves_out_an_image_analysis_of_another_marked_site(
    clinic_a, clinician, make_patient
):
    from django.utils import timezone

    from anagen.reports import selectors as report_selectors

    from ..outcomes.test_outcomes_django_selectors import _imaged_visit

    p = make_patient(clinic_a, clinician)
    _imaged_visit(p, clinician, 0, "Vertex tattoo", 150.0, baseline=True)
    _imaged_visit(p, clinician, 28, "Vertex tattoo", 160.0)
    _imaged_visit(p, clinician, 56, "Frontal hairline", 90.0)
    report = report_selectors.patient_report(p, generated_at=timezone.now(), generated_by="t")
    assert "1 value measured otherwise is not plotted" in report.density_chart_caption
    assert "two marked sites" in report.density_chart_caption


def test_a_long_unbroken_word_in_free_text_wraps_within_the_page(treated, clinician):
    """An adverse event's description or a decision's rationale holding a pasted link or a
    run of characters with no space widened its table past the page edge: cut off on paper."""
    patient, data = treated
    long_word = "https://example.org/" + "x" * 300
    type(data["event"]).objects.filter(pk=data["event"].pk).update(description=long_word)
    html = _html(patient)
    assert boxes_past_the_right_margin(html, "table", "") == []
    text = " ".join(layout_text(html))
    assert "x" * 40 in text.replace(" ", "")
    # Only the free text breaks inside a word: the dates beside it stay whole.
    assert f"{data['event'].onset_date:%Y-%m-%d} Injection site reaction" in text


def test_a_voided_patients_report_says_so_at_the_top_and_on_every_page(treated, clinician):
    """A voided record (entered in error) said so only in a box under the patient's details:
    a loose later page read as a valid record of that patient."""
    from anagen.patients.services import void_patient

    patient, _ = treated
    void_patient(patient, clinician, "Duplicate of another record")
    patient.refresh_from_db()
    pages = layout_text(_html(patient))
    assert len(pages) >= 2
    assert pages[0].index("Voided record") < pages[0].index("Diagnoses")
    for text in pages[1:]:
        assert "VOIDED RECORD" in text


def test_two_visits_on_one_date_are_told_apart_in_the_measurement_table(clinician, treated):
    """A confirmed separate visit on the day of the week-12 visit: both columns carried the
    same date and "week 12", so a reader could not tell which values were which."""
    from anagen.monitoring import services as monitoring

    patient, data = treated
    day = data["visits"][1].visit_date
    monitoring.record_visit(
        patient,
        clinician,
        {"visit_date": day, "density_per_cm2": 131.0, "confirm_same_day": True},
    )
    report = selectors.patient_report(patient, generated_at=timezone.now(), generated_by="test")
    labels = [v.same_day for v in report.visits if v.visit_date == day]
    assert labels == ["visit 1 of 2 that day", "visit 2 of 2 that day"]
    assert all(v.same_day == "" for v in report.visits if v.visit_date != day)
    text = " ".join(layout_text(_html(patient)))
    assert "visit 1 of 2 that day" in text and "visit 2 of 2 that day" in text


def test_a_grade_4_event_stored_without_seriousness_is_printed_as_serious(treated):
    """Not "grade ≥3, not serious": grade 4 is life-threatening, serious by ICH E2A, also
    for an event stored before the services added the criterion."""
    from anagen.monitoring.models import AdverseEvent

    patient, data = treated
    AdverseEvent.objects.filter(pk=data["event"].pk).update(
        grade=4, seriousness=[], serious_or_high_grade=True
    )
    text = " ".join(layout_text(_html(patient)))
    assert "serious, grade ≥3" in text
    assert "not serious" not in text


def test_two_decisions_at_two_visits_on_one_date_are_told_apart_in_the_decisions_table(
    clinician, treated
):
    """The measurement columns number two visits on one date; the decisions table gave the
    date only, so two decisions that day could not be matched to their visits."""
    from anagen.monitoring import services as monitoring

    patient, data = treated
    first = data["visits"][2]
    second = monitoring.record_visit(
        patient,
        clinician,
        {"visit_date": first.visit_date, "density_per_cm2": 131.0, "confirm_same_day": True},
    )
    for visit, rationale in ((first, "First look."), (second, "Second look.")):
        monitoring.record_decision(
            visit, clinician, decided="stop_non_response", sessions_done=3,
            sessions_planned=3, rationale=rationale,
        )  # fmt: skip
    report = selectors.patient_report(patient, generated_at=timezone.now(), generated_by="test")
    assert [(row.decision.rationale, row.same_day) for row in report.decisions] == [
        ("First look.", "visit 1 of 2 that day"),
        ("Second look.", "visit 2 of 2 that day"),
    ]
    html = _html(patient)
    start = html.index('id="decisions"')
    table = html[start : html.index("</table>", start)]
    assert table.index("visit 1 of 2 that day") < table.index("First look.")
    assert table.index("First look.") < table.index("visit 2 of 2 that day")
    assert table.index("visit 2 of 2 that day") < table.index("Second look.")
