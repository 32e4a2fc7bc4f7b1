"""The analysis table: one row per patient-visit, de-identified (docs/data-dictionary.md).

Rows carry no name, medical record number, date of birth, contact detail, free text or
calendar date: the patient is a keyed pseudonym (HMAC of the clinic and patient ids, so the
same patient keeps the same pseudonym across exports and cannot be reversed without the
key), age is a 10-year band at baseline, and time is days since the baseline visit.

Reads are scoped to one clinic and use a fixed number of queries whatever the cohort size.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Prefetch

from anagen.accounts.models import Clinic
from anagen.assessment.models import Diagnosis
from anagen.monitoring.models import HGQ_ITEMS, AdverseEvent, Measurement, Visit
from anagen.monitoring.selectors import measurement_of
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
    "sessions_to_date": ("integer", "Treatment sessions on or before this visit"),
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


def analysis_week(study_day: int) -> int | None:
    """The nominal visit week the cohort analysis assigns this study day to (None: none)."""
    if study_day <= 0:
        return 0 if study_day == 0 else None
    week = cohort.analysis_week(np.array([study_day]))[0]
    return None if np.isnan(week) else int(week)


@dataclass
class _PatientData:
    patient: Patient
    visits: list[Visit]
    diagnosis: Diagnosis | None
    sessions: list[TreatmentSession]
    draws: list[VialDraw]
    events: list[AdverseEvent]


def _load(clinic: Clinic, patient_ids: Sequence[int] | None = None) -> list[_PatientData]:
    patients = Patient.objects.filter(clinic=clinic).active()
    if patient_ids is not None:
        patients = patients.filter(pk__in=list(patient_ids))
    patients = list(patients.order_by("id"))
    ids = [p.pk for p in patients]
    visits: dict[int, list[Visit]] = defaultdict(list)
    measurements = Measurement.objects.filter(voided_at__isnull=True)
    for v in (
        Visit.objects.filter(clinic=clinic, patient_id__in=ids, voided_at__isnull=True)
        .prefetch_related(Prefetch("measurements", queryset=measurements))
        .order_by("visit_date", "id")
    ):
        visits[v.patient_id].append(v)
    diagnoses: dict[int, Diagnosis] = {}
    for d in Diagnosis.objects.filter(clinic=clinic, patient_id__in=ids).order_by(
        "diagnosed_on", "id"
    ):
        diagnoses[d.patient_id] = d  # the latest wins
    sessions: dict[int, list[TreatmentSession]] = defaultdict(list)
    for s in TreatmentSession.objects.filter(
        clinic=clinic, patient_id__in=ids, voided_at__isnull=True
    ).order_by("performed_on", "id"):
        sessions[s.patient_id].append(s)
    draws: dict[int, list[VialDraw]] = defaultdict(list)
    for dr in (
        VialDraw.objects.filter(clinic=clinic, patient_id__in=ids)
        .select_related("lot__product")
        .order_by("drawn_on", "id")
    ):
        draws[dr.patient_id].append(dr)
    events: dict[int, list[AdverseEvent]] = defaultdict(list)
    for e in AdverseEvent.objects.filter(
        clinic=clinic, patient_id__in=ids, voided_at__isnull=True
    ).order_by("onset_date", "id"):
        events[e.patient_id].append(e)
    return [
        _PatientData(
            p, visits[p.pk], diagnoses.get(p.pk), sessions[p.pk], draws[p.pk], events[p.pk]
        )
        for p in patients
    ]


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        if v:
            seen.setdefault(v, None)
    return list(seen)


def _rows_for(data: _PatientData) -> list[dict[str, Any]]:
    if not data.visits:
        return []
    marked = [v for v in data.visits if v.is_baseline]
    base = marked[0] if marked else data.visits[0]
    visits = [v for v in data.visits if v.visit_date >= base.visit_date]
    base_m = measurement_of(base)
    p = data.patient
    dx = data.diagnosis
    common = {
        "pseudo_id": pseudonym(p.clinic_id, p.pk),
        "age_band": age_band(age_on(p.date_of_birth, base.visit_date)),
        "sex": p.sex_at_birth,
        "diagnosis": dx.condition if dx else "",
        "icd10_code": dx.icd10_code if dx else "",
        "stage": dx.stage if dx else "",
        "modality": "+".join(sorted(_unique(s.modality for s in data.sessions))) or "none",
        "products": "; ".join(_unique(d.lot.product.name for d in data.draws)),
        "lots": "; ".join(_unique(d.lot.lot_number for d in data.draws)),
    }
    rows = []
    previous: date | None = None
    for number, v in enumerate(visits, start=1):
        m = measurement_of(v)
        day = (v.visit_date - base.visit_date).days
        row: dict[str, Any] = dict(common)
        row.update(
            visit_number=number,
            is_baseline=v.pk == base.pk,
            study_day=day,
            study_week=round(day / 7),
            analysis_week=analysis_week(day),
            sessions_to_date=sum(1 for s in data.sessions if s.performed_on <= v.visit_date),
            measurement_source=m.source if m else "",
        )
        for col in MEASUREMENT_COLUMNS:
            row[col] = getattr(m, col) if m else None
        d, d0 = row["density_per_cm2"], base_m.density_per_cm2 if base_m else None
        dia, dia0 = row["mean_diameter_um"], base_m.mean_diameter_um if base_m else None
        row["baseline_density_per_cm2"] = d0
        row["density_change_per_cm2"] = (
            round(d - d0, 3) if d is not None and d0 is not None else None
        )
        row["density_change_pct"] = round((d - d0) / d0 * 100, 2) if d is not None and d0 else None
        row["baseline_mean_diameter_um"] = dia0
        row["diameter_change_um"] = (
            round(dia - dia0, 3) if dia is not None and dia0 is not None else None
        )
        row["global_assessment"] = v.global_assessment
        for name, _ in HGQ_ITEMS:
            row[name] = getattr(v, name)
        window = [
            e
            for e in data.events
            if e.onset_date <= v.visit_date and (previous is None or e.onset_date > previous)
        ]
        row["ae_count"] = len(window)
        row["ae_max_grade"] = max((e.grade for e in window), default=None)
        previous = v.visit_date
        rows.append({c: row[c] for c in COLUMNS})
    return rows


def analysis_rows(clinic: Clinic, patient_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The de-identified analysis table of a clinic (optionally of some of its patients)."""
    out: list[dict[str, Any]] = []
    for data in _load(clinic, patient_ids):
        out.extend(_rows_for(data))
    return out


@dataclass(frozen=True)
class SessionRow:
    """One treatment session, de-identified, for adverse-event incidence per 100 sessions."""

    pseudo_id: str
    modality: str
    products: tuple[str, ...]
    lots: tuple[str, ...]
    adverse_events: int


def session_rows(clinic: Clinic) -> list[SessionRow]:
    """Each session with the adverse events attributed to it.

    An event is attributed to the patient's latest session on or before its onset (the
    session whose date the event names, where it names one); events before any session
    are not counted as treatment events.
    """
    out = []
    for data in _load(clinic):
        by_session: dict[int, int] = defaultdict(int)
        for e in data.events:
            on = e.related_session_date or e.onset_date
            before = [s for s in data.sessions if s.performed_on <= on]
            if before:
                by_session[before[-1].pk] += 1
        pid = pseudonym(data.patient.clinic_id, data.patient.pk)
        for s in data.sessions:
            ref = f"session:{s.pk}"
            draws = [d for d in data.draws if d.session_ref == ref]
            out.append(
                SessionRow(
                    pid,
                    s.modality,
                    tuple(_unique(d.lot.product.name for d in draws)),
                    tuple(_unique(d.lot.lot_number for d in draws)),
                    by_session[s.pk],
                )
            )
    return out


# --- file formats ----------------------------------------------------------------------------


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
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
