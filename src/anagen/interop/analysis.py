"""The analysis table: one row per patient-visit, de-identified (docs/data-dictionary.md).

Rows carry no name, medical record number, date of birth, contact detail, free text or
calendar date: the patient is a keyed pseudonym (HMAC of the clinic and patient ids, so the
same patient keeps the same pseudonym across exports and cannot be reversed without the
key), age is a 10-year band at baseline, and time is days since the baseline visit.

Reads are scoped to one clinic, use a fixed number of queries whatever the cohort size and
build no model instances (value queries), so large clinics export quickly.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np

from anagen.accounts.models import Clinic
from anagen.assessment import protocols
from anagen.assessment.models import Diagnosis
from anagen.core.pseudonym import pseudonym
from anagen.core.text import spreadsheet_safe
from anagen.monitoring.models import HGQ_ITEMS, AdverseEvent, Measurement, Visit
from anagen.outcomes import cohort
from anagen.patients.models import Patient
from anagen.products.models import VialDraw
from anagen.treatments.models import TreatmentSession

MEASUREMENT_COLUMNS = (
    "target_area_cm2",
    "hair_count",
    "density_per_cm2",
    "mean_diameter_um",
    "terminal_pct",
    "vellus_pct",
    "anagen_pct",
)

# Column name -> (type, description). The order is the order of the exported columns;
# docs/data-dictionary.md documents the same list (a test keeps them in step).
COLUMNS: dict[str, tuple[str, str]] = {
    "pseudo_id": ("string", "Keyed pseudonym of the patient (HMAC-SHA256, 16 hex characters)"),
    "age_band": ("string", "Age at the baseline visit: <30, 30-39, 40-49, 50-59 or 60+"),
    "sex": ("string", "Sex at birth: female, male, intersex or unknown"),
    "diagnosis": ("string", "Latest diagnosis key (e.g. aga_male)"),
    "icd10_code": ("string", "ICD-10 code of that diagnosis (empty if uncoded)"),
    "stage": (
        "string",
        "Stage at diagnosis after its scale's name (e.g. \"Norwood–Hamilton "
        'IIIv", "Ludwig II", "Sinclair 3", "BASP M2"): a bare III is a '
        "different stage on each scale",
    ),
    "modality": ("string", "Modalities the patient received, '+'-joined (e.g. exosome+prp)"),
    "arm": (
        "string",
        "The cohort analysis arm: the initial regimen, modalities begun within 28 days of the "
        "first session, '+'-joined ('none' = no session)",
    ),
    "products": ("string", "Products received, '; '-joined (empty if none)"),
    "lots": ("string", "Lot numbers received, '; '-joined (empty if none)"),
    "visit_number": ("integer", "1 for the baseline visit, then 2, 3, … in date order"),
    "is_baseline": ("boolean", "True for the baseline visit"),
    "study_day": ("integer", "Days since the baseline visit (0 at baseline)"),
    "study_week": ("integer", "study_day / 7, rounded to the nearest week"),
    "analysis_week": (
        "integer",
        "Nominal visit week of the cohort analysis (0 baseline; 4, 8, 12, 16, 24, 36, 48, 72, "
        "96 within ± 25 %, at least ± 2 weeks); empty outside every window",
    ),
    "sessions_to_date": (
        "integer",
        "Treatment days on or before this visit (sessions of any treatment; several on one "
        "day count once)",
    ),
    "analysis_status": (
        "string",
        "How the cohort analysis uses the row, judged on density only (the other measures "
        "follow the same rules but are not reflected here): baseline; analysed; censored (a "
        "modality was added to the initial regimen before this visit); not_analysed (outside "
        "every window, another visit of its window used, no density, no untreated baseline, "
        "or a density present but no baseline density of the same measurement source)",
    ),
    "measurement_source": ("string", "manual or imaging (empty if no measurement)"),
    "target_area_cm2": ("float", "Area of the marked target area, cm²"),
    "hair_count": ("integer", "Hairs counted in the target area"),
    "density_per_cm2": ("float", "Hair density, hairs/cm²"),
    "mean_diameter_um": ("float", "Mean hair shaft diameter, µm"),
    "terminal_pct": ("float", "Terminal hairs, % of hairs counted"),
    "vellus_pct": ("float", "Vellus hairs, % of hairs counted"),
    "anagen_pct": ("float", "Anagen (growing) hairs, %"),
    "baseline_density_per_cm2": (
        "float",
        "Density at the baseline visit measured by the same source as this row, hairs/cm² "
        "(empty if the baseline has no measurement of that source)",
    ),
    "density_change_per_cm2": ("float", "density_per_cm2 − baseline, hairs/cm²"),
    "density_change_pct": ("float", "Change from baseline, % of baseline"),
    "baseline_mean_diameter_um": (
        "float",
        "Mean diameter at the baseline visit measured by the same source as this row, µm",
    ),
    "diameter_change_um": ("float", "mean_diameter_um − baseline, µm"),
    "global_assessment": ("integer", "Investigator global photographic assessment, −3…+3"),
    **{name: ("integer", f"HGQ: {label}, −3…+3") for name, label in HGQ_ITEMS},
    "ae_count": (
        "integer",
        "Adverse events with onset after the previous row's visit date up to and including "
        "this visit's date; on the baseline row every event with onset on or before the "
        "baseline date",
    ),
    "ae_max_grade": ("integer", "Highest CTCAE grade among those events (empty if none)"),
}


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def age_band(age: int) -> str:
    """The outcomes module's age bands (<30, 30-39, 40-49, 50-59, 60+), so a researcher's
    export and the cohort page's age filter mean the same thing."""
    return cohort.age_band(age)


@lru_cache(maxsize=4096)
def analysis_week(study_day: int) -> int | None:
    """The nominal visit week the cohort analysis assigns this study day to (None: none)."""
    if study_day <= 0:
        return 0 if study_day == 0 else None
    week = cohort.analysis_week(np.array([study_day]))[0]
    return None if np.isnan(week) else int(week)


_HGQ = tuple(name for name, _ in HGQ_ITEMS)
_MANUAL = Measurement.Source.MANUAL


@dataclass
class _Patient:
    sex: str
    born: date
    visits: list[tuple] = field(default_factory=list)  # (id, date, is_baseline, global, *hgq)
    diagnosis: tuple[str, str, str] = ("", "", "")  # condition, icd10, stage
    session_dates: list[date] = field(default_factory=list)
    sessions: list[tuple[str, date]] = field(default_factory=list)  # (modality, date)
    modalities: set[str] = field(default_factory=set)
    products: dict[str, None] = field(default_factory=dict)
    lots: dict[str, None] = field(default_factory=dict)
    events: list[tuple[date, int]] = field(default_factory=list)  # (onset, grade)


def _load(clinic: Clinic) -> tuple[dict[int, _Patient], dict[int, dict[bool, tuple]]]:
    """Everything the table needs in a fixed number of queries, as plain tuples (no model
    instances), so a clinic with 100,000 patients × 8 visits exports in seconds."""
    patients = {
        pk: _Patient(sex, born)
        for pk, sex, born in Patient.objects.filter(clinic=clinic, voided_at__isnull=True)
        .order_by("id")
        .values_list("id", "sex_at_birth", "date_of_birth")
        .iterator(chunk_size=5000)
    }
    for row in (
        Visit.objects.filter(clinic=clinic, voided_at__isnull=True)
        .order_by("patient_id", "visit_date", "id")
        .values_list("patient_id", "id", "visit_date", "is_baseline", "global_assessment", *_HGQ)
        .iterator(chunk_size=5000)
    ):
        p = patients.get(row[0])
        if p is not None:
            p.visits.append(row[1:])
    # The latest measurement of each source per visit (visit id -> {manual?: row}); which
    # one a row shows is decided with the baseline's (``_pick``).
    best: dict[int, dict[bool, tuple]] = {}
    for row in (
        Measurement.objects.filter(
            clinic=clinic, voided_at__isnull=True, visit__voided_at__isnull=True
        )
        .order_by("visit_id", "id")
        .values_list("visit_id", "source", *MEASUREMENT_COLUMNS)
        .iterator(chunk_size=5000)
    ):
        best.setdefault(row[0], {})[row[1] == _MANUAL] = row
    for pid, condition, icd10, stage in (
        Diagnosis.objects.filter(clinic=clinic)
        .order_by("patient_id", "diagnosed_on", "id")
        .values_list("patient_id", "condition", "icd10_code", "stage")
        .iterator(chunk_size=5000)
    ):
        if pid in patients:
            patients[pid].diagnosis = (condition, icd10, stage)  # the latest wins
    for pid, modality, on in (
        TreatmentSession.objects.filter(clinic=clinic, voided_at__isnull=True)
        .order_by("patient_id", "performed_on", "id")
        .values_list("patient_id", "modality", "performed_on")
        .iterator(chunk_size=5000)
    ):
        if pid in patients:
            dates = patients[pid].session_dates
            if not dates or dates[-1] != on:  # ordered by date: one entry per treatment day
                dates.append(on)
            patients[pid].modalities.add(modality)
            patients[pid].sessions.append((modality, on))
    for pid, product, lot in (
        VialDraw.objects.given()
        .filter(clinic=clinic)
        .order_by("patient_id", "drawn_on", "id")
        .values_list("patient_id", "lot__product__name", "lot__lot_number")
        .iterator(chunk_size=5000)
    ):
        if pid in patients:
            patients[pid].products.setdefault(product, None)
            patients[pid].lots.setdefault(lot, None)
    for pid, onset, grade in (
        AdverseEvent.objects.filter(clinic=clinic, voided_at__isnull=True)
        .order_by("patient_id", "onset_date", "id")
        .values_list("patient_id", "onset_date", "grade")
        .iterator(chunk_size=5000)
    ):
        if pid in patients:
            patients[pid].events.append((onset, grade))
    return patients, best


def _pick(visit: dict[bool, tuple], base: dict[bool, tuple]) -> tuple[tuple | None, tuple | None]:
    """The measurement a row shows and the baseline measurement of the same source (None if
    the baseline has none), as the cohort analysis takes density change
    (``cohort.build_long``): manual to manual, else image analysis to image analysis, both
    with a density; else, as the analysis, the visit's density (manual first) with no baseline;
    else a pair of one source; else the visit's manual one, else its latest."""
    density = 2 + MEASUREMENT_COLUMNS.index("density_per_cm2")
    for manual in (True, False):
        pair = (visit.get(manual), base.get(manual))
        if pair[0] and pair[1] and pair[0][density] is not None and pair[1][density] is not None:
            return pair
    for manual in (True, False):
        shown = visit.get(manual)
        if shown and shown[density] is not None:
            return shown, None
    for manual in (True, False):
        if manual in visit and manual in base:
            return visit[manual], base[manual]
    return visit.get(True) or visit.get(False), None


def _rows_for(
    pid: int,
    clinic_id: int,
    p: _Patient,
    best: dict[int, dict[bool, tuple]],
    arm: str = "none",
    status: dict[int, str] | None = None,
) -> list[dict]:
    if not p.visits:
        return []
    status = status or {}
    base = next((v for v in p.visits if v[2]), p.visits[0])
    base_date = base[1]
    visits = [v for v in p.visits if v[1] >= base_date]
    base_ms = best.get(base[0], {})
    idx = {c: i + 2 for i, c in enumerate(MEASUREMENT_COLUMNS)}
    condition, icd10, stage = p.diagnosis
    common = {
        "pseudo_id": pseudonym(clinic_id, pid),
        "age_band": age_band(age_on(p.born, base_date)),
        "sex": p.sex,
        "diagnosis": condition,
        "icd10_code": icd10,
        "stage": protocols.named_stage(condition, stage, p.sex) if condition else stage,
        "modality": "+".join(sorted(p.modalities)) or "none",
        "arm": arm,
        "products": "; ".join(x for x in p.products if x),
        "lots": "; ".join(x for x in p.lots if x),
    }
    onsets = [e[0] for e in p.events]
    rows = []
    previous: date | None = None
    for number, v in enumerate(visits, start=1):
        vid, on, _, global_assessment, *hgq = v
        m, base_m = _pick(best.get(vid, {}), base_ms)
        d0 = base_m[idx["density_per_cm2"]] if base_m else None
        dia0 = base_m[idx["mean_diameter_um"]] if base_m else None
        day = (on - base_date).days
        row: dict[str, Any] = dict(common)
        row.update(
            visit_number=number,
            is_baseline=vid == base[0],
            study_day=day,
            study_week=round(day / 7),
            analysis_week=analysis_week(day),
            sessions_to_date=bisect_right(p.session_dates, on),
            analysis_status=status.get(vid, "not_analysed"),
            measurement_source=m[1] if m else "",
        )
        for col in MEASUREMENT_COLUMNS:
            row[col] = m[idx[col]] if m else None
        d, dia = row["density_per_cm2"], row["mean_diameter_um"]
        row["baseline_density_per_cm2"] = d0
        row["density_change_per_cm2"] = (
            round(d - d0, 3) if d is not None and d0 is not None else None
        )
        row["density_change_pct"] = round((d - d0) / d0 * 100, 2) if d is not None and d0 else None
        row["baseline_mean_diameter_um"] = dia0
        row["diameter_change_um"] = (
            round(dia - dia0, 3) if dia is not None and dia0 is not None else None
        )
        row["global_assessment"] = global_assessment
        row.update(zip(_HGQ, hgq, strict=True))
        lo = 0 if previous is None else bisect_right(onsets, previous)
        window = p.events[lo : bisect_right(onsets, on)]
        row["ae_count"] = len(window)
        row["ae_max_grade"] = max((g for _, g in window), default=None)
        previous = on
        rows.append({c: row[c] for c in COLUMNS})
    return rows


def _analysis_status(
    patients: dict[int, _Patient], best: dict[int, dict[bool, tuple]]
) -> tuple[dict[int, str], dict[int, str]]:
    """Each patient's arm (``cohort.treatment_courses``) and each visit's ``analysis_status``
    for density, from the cohort analysis itself (``cohort.build_long``)."""
    import pandas as pd

    sessions = pd.DataFrame(
        [(pid, mod, on) for pid, p in patients.items() for mod, on in p.sessions],
        columns=["patient_id", "modality", "performed_on"],
    )
    sessions["performed_on"] = pd.to_datetime(sessions["performed_on"])
    courses = cohort.treatment_courses(sessions)
    arms = dict(zip(courses["patient_id"].tolist(), courses["arm"].tolist(), strict=True))
    visits = pd.DataFrame(
        [(pid, v[0], v[1], bool(v[2])) for pid, p in patients.items() for v in p.visits],
        columns=["patient_id", "visit_id", "visit_date", "is_baseline"],
    )
    visits["visit_date"] = pd.to_datetime(visits["visit_date"])
    density = 2 + MEASUREMENT_COLUMNS.index("density_per_cm2")
    records = [
        (vid, manual, np.nan if row[density] is None else float(row[density]))
        for vid, by_source in best.items()
        for manual, row in by_source.items()
    ]
    measurements = pd.DataFrame(records, columns=["visit_id", "manual", "density_per_cm2"])
    measurements["measurement_id"] = np.arange(len(measurements), dtype=np.int64)
    long = cohort.build_long(visits, measurements, "density_per_cm2", courses)
    status: dict[int, str] = {}
    analysed = long.rows[long.rows["change"].notna()]
    status.update(dict.fromkeys(analysed["visit_id"].tolist(), "analysed"))
    changed = dict(zip(courses["patient_id"].tolist(), courses["changed_on"].tolist(), strict=True))
    late = set(long.late_baseline_ids.tolist())
    for pid, p in patients.items():
        if not p.visits:
            continue
        base = next((v for v in p.visits if v[2]), p.visits[0])
        on_change = changed.get(pid)
        for v in p.visits:
            if pid in late:
                status[v[0]] = "not_analysed"
            elif v[0] == base[0]:
                status[v[0]] = "baseline"
            elif not pd.isna(on_change) and pd.Timestamp(v[1]) >= on_change:
                status[v[0]] = "censored"
    return arms, status


def analysis_rows(clinic: Clinic) -> list[dict[str, Any]]:
    """The de-identified analysis table of a clinic, one dict per patient-visit."""
    patients, best = _load(clinic)
    arms, status = _analysis_status(patients, best)
    out: list[dict[str, Any]] = []
    for pid, p in patients.items():
        out.extend(_rows_for(pid, clinic.pk, p, best, arms.get(pid, "none"), status))
    return out


# --- file formats ----------------------------------------------------------------------------


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        # Text cells may hold what staff typed (product names, diagnosis labels): guard
        # formulas as the other CSVs do (spreadsheet_safe); numbers stay numbers.
        writer.writerow(
            {
                k: ("" if v is None else spreadsheet_safe(v) if isinstance(v, str) else v)
                for k, v in row.items()
            }  # fmt: skip
        )
    return out.getvalue()


def to_parquet(rows: Sequence[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"string": pa.string(), "integer": pa.int64(), "float": pa.float64()}
    types["boolean"] = pa.bool_()
    schema = pa.schema(
        [
            pa.field(name, types[kind], nullable=True, metadata={"description": desc})
            for name, (kind, desc) in COLUMNS.items()
        ],
        metadata={"anagen": "de-identified analysis table; see docs/data-dictionary.md"},
    )
    columns = {
        name: [
            None if r[name] is None else (float(r[name]) if kind == "float" else r[name])
            for r in rows
        ]
        for name, (kind, _) in COLUMNS.items()
    }
    table = pa.Table.from_pydict(columns, schema=schema)
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()
