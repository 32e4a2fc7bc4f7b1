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
import hashlib
import hmac
import io
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
from django.conf import settings

from anagen.accounts.models import Clinic
from anagen.assessment.models import Diagnosis
from anagen.core.text import spreadsheet_safe
from anagen.monitoring.models import HGQ_ITEMS, AdverseEvent, Measurement, Visit
from anagen.outcomes import cohort
from anagen.patients.models import Patient
from anagen.products.models import VialDraw
from anagen.treatments.models import TreatmentSession

PSEUDONYM_LENGTH = 16  # hex characters of the HMAC-SHA256 (64 bits)

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
    "stage": ("string", "Stage at diagnosis (Norwood–Hamilton, Ludwig, Sinclair or BASP)"),
    "modality": ("string", "Modalities the patient received, '+'-joined (e.g. exosome+prp)"),
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
    "measurement_source": ("string", "manual or imaging (empty if no measurement)"),
    "target_area_cm2": ("float", "Area of the marked target area, cm²"),
    "hair_count": ("integer", "Hairs counted in the target area"),
    "density_per_cm2": ("float", "Hair density, hairs/cm²"),
    "mean_diameter_um": ("float", "Mean hair shaft diameter, µm"),
    "terminal_pct": ("float", "Terminal hairs, % of hairs counted"),
    "vellus_pct": ("float", "Vellus hairs, % of hairs counted"),
    "anagen_pct": ("float", "Anagen (growing) hairs, %"),
    "baseline_density_per_cm2": ("float", "Density at the baseline visit, hairs/cm²"),
    "density_change_per_cm2": ("float", "density_per_cm2 − baseline, hairs/cm²"),
    "density_change_pct": ("float", "Change from baseline, % of baseline"),
    "baseline_mean_diameter_um": ("float", "Mean diameter at the baseline visit, µm"),
    "diameter_change_um": ("float", "mean_diameter_um − baseline, µm"),
    "global_assessment": ("integer", "Investigator global photographic assessment, −3…+3"),
    **{name: ("integer", f"HGQ: {label}, −3…+3") for name, label in HGQ_ITEMS},
    "ae_count": ("integer", "Adverse events with onset after the previous visit up to this one"),
    "ae_max_grade": ("integer", "Highest CTCAE grade among those events (empty if none)"),
}


def pseudonym(clinic_id: int, patient_id: int) -> str:
    """A stable pseudonym; without the key (ANAGEN_PSEUDONYM_KEY or SECRET_KEY) irreversible."""
    key = getattr(settings, "ANAGEN_PSEUDONYM_KEY", None) or settings.SECRET_KEY
    msg = f"anagen-patient:{clinic_id}:{patient_id}".encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()[:PSEUDONYM_LENGTH]


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
    modalities: set[str] = field(default_factory=set)
    products: dict[str, None] = field(default_factory=dict)
    lots: dict[str, None] = field(default_factory=dict)
    events: list[tuple[date, int]] = field(default_factory=list)  # (onset, grade)


def _load(clinic: Clinic) -> tuple[dict[int, _Patient], dict[int, tuple]]:
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
    # The visit's measurement used for outcomes: the latest manual one, else the latest
    # (monitoring.selectors.measurement_of).
    best: dict[int, tuple] = {}
    for row in (
        Measurement.objects.filter(
            clinic=clinic, voided_at__isnull=True, visit__voided_at__isnull=True
        )
        .order_by("visit_id", "created_at", "id")
        .values_list("visit_id", "source", *MEASUREMENT_COLUMNS)
        .iterator(chunk_size=5000)
    ):
        current = best.get(row[0])
        if current is None or row[1] == _MANUAL or current[1] != _MANUAL:
            best[row[0]] = row
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
    for pid, product, lot in (
        VialDraw.objects.filter(clinic=clinic)
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


def _rows_for(pid: int, clinic_id: int, p: _Patient, best: dict[int, tuple]) -> list[dict]:
    if not p.visits:
        return []
    base = next((v for v in p.visits if v[2]), p.visits[0])
    base_date = base[1]
    visits = [v for v in p.visits if v[1] >= base_date]
    base_m = best.get(base[0])
    idx = {c: i + 2 for i, c in enumerate(MEASUREMENT_COLUMNS)}
    d0 = base_m[idx["density_per_cm2"]] if base_m else None
    dia0 = base_m[idx["mean_diameter_um"]] if base_m else None
    condition, icd10, stage = p.diagnosis
    common = {
        "pseudo_id": pseudonym(clinic_id, pid),
        "age_band": age_band(age_on(p.born, base_date)),
        "sex": p.sex,
        "diagnosis": condition,
        "icd10_code": icd10,
        "stage": stage,
        "modality": "+".join(sorted(p.modalities)) or "none",
        "products": "; ".join(x for x in p.products if x),
        "lots": "; ".join(x for x in p.lots if x),
    }
    onsets = [e[0] for e in p.events]
    rows = []
    previous: date | None = None
    for number, v in enumerate(visits, start=1):
        vid, on, _, global_assessment, *hgq = v
        m = best.get(vid)
        day = (on - base_date).days
        row: dict[str, Any] = dict(common)
        row.update(
            visit_number=number,
            is_baseline=vid == base[0],
            study_day=day,
            study_week=round(day / 7),
            analysis_week=analysis_week(day),
            sessions_to_date=bisect_right(p.session_dates, on),
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


def analysis_rows(clinic: Clinic) -> list[dict[str, Any]]:
    """The de-identified analysis table of a clinic, one dict per patient-visit."""
    patients, best = _load(clinic)
    out: list[dict[str, Any]] = []
    for pid, p in patients.items():
        out.extend(_rows_for(pid, clinic.pk, p, best))
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
