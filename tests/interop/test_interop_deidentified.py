"""De-identified analysis export: one row per patient-visit, pseudonymous, no direct
identifiers or calendar dates, CSV and Parquet with the documented columns, research role."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from anagen.accounts.roles import Role
from anagen.interop import analysis
from anagen.treatments.models import TreatmentSession

from ..reports.factory import course

DOCS = Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md"


@pytest.fixture
def researcher(clinic_a, make_user):
    return make_user(Role.RESEARCHER, clinic_a)


@pytest.fixture
def treated(clinic_a, clinician, make_patient):
    patient = make_patient(
        clinic_a,
        clinician,
        sex_at_birth="male",
        given_name="Zebulon",
        family_name="Quixote",
        medical_record_number="MRN-SECRET-77",
        phone="+44 20 7946 1234",
        email="zq@example.org",
    )
    return patient, course(patient, clinician)


def identifiers(patient) -> list[str]:
    return [
        patient.given_name,
        patient.family_name,
        patient.medical_record_number,
        patient.date_of_birth.isoformat(),
        patient.email,
        patient.phone,
        str(patient.pk),
    ]


def test_one_row_per_visit_with_study_day_and_change_from_baseline(clinic_a, treated):
    patient, data = treated
    rows = analysis.analysis_rows(clinic_a)
    assert [r["study_week"] for r in rows] == [0, 12, 24]
    assert [r["study_day"] for r in rows] == [0, 84, 168]
    assert [r["analysis_week"] for r in rows] == [0, 12, 24]
    assert [r["is_baseline"] for r in rows] == [True, False, False]
    assert [r["density_change_per_cm2"] for r in rows] == [0.0, 8.0, 16.5]
    assert rows[2]["diameter_change_um"] == 5.5
    assert {r["pseudo_id"] for r in rows} == {analysis.pseudonym(clinic_a.pk, patient.pk)}
    assert rows[0]["age_band"] == "40-49" and rows[0]["sex"] == "male"
    assert rows[0]["diagnosis"] == "aga_male" and rows[0]["icd10_code"] == "L64.9"
    assert rows[0]["modality"] == "exosome" and rows[0]["lots"] == "EXO-2401"
    assert [r["sessions_to_date"] for r in rows] == [1, 3, 3]


def test_sessions_to_date_counts_treatment_days_not_rows(clinic_a, treated):
    patient, data = treated
    second = data["sessions"][1]
    # A second entry on the day of session 2 (e.g. another treatment area, confirmed).
    TreatmentSession.objects.create(
        clinic=patient.clinic, patient=patient, plan=data["plan"], modality="exosome",
        performed_on=second.performed_on, clinician=second.clinician,
    )  # fmt: skip
    rows = analysis.analysis_rows(clinic_a)
    assert [r["sessions_to_date"] for r in rows] == [1, 3, 3]
    # The grade-1 event after session 2 falls between the baseline and the week-12 visit.
    assert [r["ae_count"] for r in rows] == [0, 1, 0]
    assert rows[1]["ae_max_grade"] == 1
    assert list(rows[0]) == list(analysis.COLUMNS)


def test_ae_count_windows_run_from_the_previous_visit_and_the_baseline_row_takes_all_before(
    clinic_a, clinician, treated
):
    """docs/data-dictionary.md: a row counts events with onset after the previous row's
    visit date up to and including its own; the baseline row has no previous visit, so it
    counts every event up to the baseline (an event before it is not lost), and an event
    after the last visit is in no row yet."""
    from datetime import timedelta

    from anagen.monitoring import services as monitoring

    patient, data = treated
    baseline, week_12, week_24 = (v.visit_date for v in data["visits"])

    def event(onset, grade):
        monitoring.record_adverse_event(
            patient, clinician,
            {"term_key": "injection_site_reaction", "grade": grade, "onset_date": onset,
             "relatedness": "unlikely", "outcome": "recovering"},
        )  # fmt: skip

    event(baseline - timedelta(days=40), 2)  # before the baseline
    event(baseline, 1)  # on the baseline day
    event(week_12, 1)  # on the week-12 visit day: that visit's row
    event(week_24 + timedelta(days=1), 3)  # after the last visit
    rows = analysis.analysis_rows(clinic_a)
    assert [r["ae_count"] for r in rows] == [2, 2, 0]
    assert [r["ae_max_grade"] for r in rows] == [2, 1, None]
    # The Parquet field description and the dictionary say so (they said "after the
    # previous visit", which a baseline row does not have).
    described = analysis.COLUMNS["ae_count"][1]
    (documented,) = [line for line in DOCS.read_text().splitlines()
                     if line.startswith("| `ae_count` |")]  # fmt: skip
    for text in (described, documented):
        assert "up to and including this visit's date" in text
        assert "on the baseline row every event with onset on or before the baseline" in text
    assert "not a count of treatment-emergent events" in DOCS.read_text()


def test_pseudonyms_are_stable_distinct_and_not_the_ids():
    a = analysis.pseudonym(1, 2)
    assert a == analysis.pseudonym(1, 2)
    assert a != analysis.pseudonym(1, 3) != analysis.pseudonym(2, 2)
    assert re.fullmatch(r"[0-9a-f]{16}", a)


@pytest.mark.parametrize(
    ("age", "band"), [(17, "<30"), (29, "<30"), (30, "30-39"), (46, "40-49"), (95, "60+")]
)
def test_age_bands(age, band):
    assert analysis.age_band(age) == band


def test_csv_and_parquet_hold_no_direct_identifier_or_calendar_date(client, researcher, treated):
    patient, data = treated
    client.force_login(researcher)
    page = client.get("/interop/export/")
    assert page.status_code == 200 and "3</strong> rows" in page.content.decode()
    assert "patients without a recorded visit have no rows" in page.content.decode()
    response = client.get("/interop/export/analysis.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 and list(rows[0]) == list(analysis.COLUMNS)
    for needle in identifiers(patient)[:-1]:
        assert needle not in text, needle
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # no calendar dates at all
    response = client.get("/interop/export/analysis.parquet")
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(response.content))
    assert table.column_names == list(analysis.COLUMNS)
    assert table.num_rows == 3
    assert table.column("density_per_cm2").to_pylist() == [120.0, 128.0, 136.5]
    assert str(table.schema.field("study_day").type) == "int64"
    dumped = str(table.to_pylist())
    for needle in identifiers(patient)[:-1]:
        assert needle not in dumped, needle


def test_the_api_exports_for_researchers_only(
    client, clinic_a, researcher, clinician, treated, api_token
):
    headers = {"Authorization": f"Bearer {api_token(researcher, clinic_a)}"}
    csv_r = client.get("/api/v1/interop/deidentified.csv", headers=headers)
    assert csv_r.status_code == 200 and "pseudo_id" in csv_r.content.decode()
    pq_r = client.get("/api/v1/interop/deidentified.parquet", headers=headers)
    assert pq.read_table(io.BytesIO(pq_r.content)).num_rows == 3
    headers = {"Authorization": f"Bearer {api_token(clinician, clinic_a)}"}
    assert client.get("/api/v1/interop/deidentified.csv", headers=headers).status_code == 403


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.ADMIN, 200), (Role.RESEARCHER, 200), (Role.CLINICIAN, 403), (Role.NURSE, 403)],
)
def test_export_page_roles(client, clinic_a, make_user, role, status):
    client.force_login(make_user(role, clinic_a))
    assert client.get("/interop/export/analysis.csv").status_code == status


def test_another_clinics_patients_are_not_exported(
    client, clinic_a, clinic_b, make_user, researcher, make_patient
):
    admin_b = make_user(Role.ADMIN, clinic_b, username="admin-b")
    other = make_patient(clinic_b, admin_b)
    course(other, admin_b)
    client.force_login(researcher)
    text = client.get("/interop/export/analysis.csv").content.decode()
    assert text.strip() == ",".join(analysis.COLUMNS)
    assert analysis.pseudonym(clinic_b.pk, other.pk) not in text


def test_a_clinic_without_visits_exports_a_header_only(clinic_a):
    assert analysis.to_csv(analysis.analysis_rows(clinic_a)).strip() == ",".join(analysis.COLUMNS)
    assert pq.read_table(io.BytesIO(analysis.to_parquet([]))).num_rows == 0


def test_the_data_dictionary_documents_every_column():
    text = DOCS.read_text()
    for name in analysis.COLUMNS:
        assert f"`{name}`" in text, name


def test_the_dictionary_says_analysis_status_is_judged_on_density_within_one_source():
    described = analysis.COLUMNS["analysis_status"][1]
    (documented,) = [line for line in DOCS.read_text().splitlines()
                     if line.startswith("| `analysis_status` |")]  # fmt: skip
    for text in (described, documented):
        assert "judged on density only" in text
        assert "no baseline density of the same measurement source" in text


def test_the_measurement_used_is_the_one_outcomes_use(clinic_a, clinician, treated):
    """A later image-analysis reading does not replace the manual one (measurement_of)."""
    from anagen.monitoring import services as monitoring
    from anagen.monitoring.selectors import measurement_of

    patient, data = treated
    visit = data["visits"][1]
    monitoring.add_measurement(visit, clinician, {"density_per_cm2": 999}, source="imaging")
    rows = analysis.analysis_rows(clinic_a)
    assert rows[1]["density_per_cm2"] == measurement_of(visit).density_per_cm2 == 128.0
    assert rows[1]["measurement_source"] == "manual"


def test_grouping_analysed_rows_by_arm_reproduces_the_cohort_mean_change(clinic_a, clinician):
    from datetime import timedelta

    from anagen.outcomes import cohort, selectors
    from anagen.outcomes.demo import load_simulated_cohort

    load_simulated_cohort(clinic_a, clinician, 40, seed=3)
    # One patient adds a transplant at week 20: the visits after it are censored.
    first = TreatmentSession.objects.filter(clinic=clinic_a).order_by("performed_on", "id")[0]
    TreatmentSession.objects.create(
        clinic=clinic_a, patient=first.patient, plan=first.plan, modality="transplant",
        performed_on=first.performed_on + timedelta(weeks=20), clinician=clinician,
    )  # fmt: skip
    rows = analysis.analysis_rows(clinic_a)
    view = selectors.cohort_analysis(
        clinic_a, cohort.CohortFilters(), cohort.CohortOptions(), deidentified=True,
        use_cache=False,
    )  # fmt: skip
    statuses = {r["analysis_status"] for r in rows}
    assert statuses >= {"baseline", "analysed", "censored"}
    assert all(r["is_baseline"] for r in rows if r["analysis_status"] == "baseline")
    cells: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        if r["analysis_status"] == "analysed":
            cells.setdefault((r["arm"], r["analysis_week"]), []).append(r["density_change_per_cm2"])
    expected = {
        (c["arm"], c["week"]): (c["n"], c["mean"])
        for c in view.result.sections["by_visit"].data["rows"]
    }
    assert set(cells) == set(expected)
    for key, values in cells.items():
        n, mean = expected[key]
        assert len(values) == n
        assert sum(values) / n == pytest.approx(mean, abs=1e-3)


def test_a_row_shows_the_density_the_analysis_uses_when_no_source_pairs():
    """A visit's manual measurement without a density beside an image analysis with one, and
    a baseline measured by hand only: the row showed the manual one with no density, while
    the analysis used the image analysis value (a code review found it)."""
    from anagen.interop.analysis import MEASUREMENT_COLUMNS, _pick

    def row(manual: bool, density: float | None) -> tuple:
        values = dict.fromkeys(MEASUREMENT_COLUMNS)
        values["density_per_cm2"] = density
        return (1, "manual" if manual else "imaging", *values.values())

    visit = {True: row(True, None), False: row(False, 410.0)}
    base = {True: row(True, 106.0)}
    shown, baseline = _pick(visit, base)
    assert shown == visit[False] and baseline is None
    # With a density on both manual measurements, hand is compared with hand, as before.
    visit[True] = row(True, 110.0)
    assert _pick(visit, base) == (visit[True], base[True])
