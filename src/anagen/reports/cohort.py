"""Cohort report data: mean change from baseline with 95% CI per nominal visit, and adverse
events per 100 sessions with exact CIs, on the de-identified analysis table.

The outcomes pages have their own selectors; this module is the report's small, self-contained
summary over ``interop.analysis`` so the PDF needs nothing but the table and
``outcomes.stats``. Missing visits are not imputed (observed cases), which the report says.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from anagen.accounts.models import Clinic
from anagen.interop.analysis import analysis_rows, session_rows
from anagen.outcomes.stats import NotEnoughDataError, incidence_per_100, mean_change_ci

NOMINAL_WEEKS = (4, 12, 24, 48)  # REFERENCE.md A.2: trial time points and default visits
SMALL_N = 10
OUTCOMES = {
    "density_change_per_cm2": "Density change (hairs/cm²)",
    "diameter_change_um": "Mean diameter change (µm)",
}
FILTER_LABELS = {
    "modality": "Modality",
    "diagnosis": "Diagnosis",
    "stage": "Stage",
    "sex": "Sex at birth",
    "age_band": "Age band",
    "product": "Product",
    "lot": "Lot",
}


def window(week: int) -> tuple[int, int]:
    half = max(2, round(week * 0.25))
    return week - half, week + half


def nominal_week(study_week: int) -> int | None:
    for w in NOMINAL_WEEKS:
        lo, hi = window(w)
        if lo <= study_week <= hi:
            return w
    return None


@dataclass
class VisitSummary:
    week: int
    outcome: str
    label: str
    n: int
    mean: float | None = None
    lower: float | None = None
    upper: float | None = None
    message: str = ""


@dataclass
class IncidenceRow:
    group: str
    events: int
    sessions: int
    per_100: float | None = None
    lower: float | None = None
    upper: float | None = None
    message: str = ""


@dataclass
class CohortSummary:
    filters: dict[str, str]
    n_patients: int
    n_with_baseline: int
    visits: list[VisitSummary]
    incidence_by_modality: list[IncidenceRow]
    incidence_by_lot: list[IncidenceRow]
    outside_windows: int
    missing_data: str
    warnings: list[str] = field(default_factory=list)


def _matches(row: dict[str, Any], filters: dict[str, str]) -> bool:
    for key, value in filters.items():
        if key == "modality" and value not in row["modality"].split("+"):
            return False
        if key == "product" and value not in row["products"].split("; "):
            return False
        if key == "lot" and value not in row["lots"].split("; "):
            return False
        if key in ("diagnosis", "stage", "sex", "age_band") and str(row[key]) != value:
            return False
    return True


def _incidence(group: str, events: int, sessions: int) -> IncidenceRow:
    try:
        inc = incidence_per_100(events, sessions)
    except NotEnoughDataError as exc:
        return IncidenceRow(group, events, sessions, message=f"Not enough data: {exc}.")
    return IncidenceRow(group, events, sessions, inc.per_100, inc.lower, inc.upper)


def cohort_summary(clinic: Clinic, filters: dict[str, Any] | None = None) -> CohortSummary:
    active = {k: str(v) for k, v in (filters or {}).items() if v not in (None, "")}
    rows = [r for r in analysis_rows(clinic) if _matches(r, active)]
    patients = {r["pseudo_id"] for r in rows}
    with_baseline = {
        r["pseudo_id"] for r in rows if r["is_baseline"] and r["density_per_cm2"] is not None
    }
    # One row per patient and nominal visit: the one closest to the nominal week.
    chosen: dict[tuple[str, int], dict[str, Any]] = {}
    outside = 0
    for r in rows:
        if r["is_baseline"]:
            continue
        w = nominal_week(r["study_week"])
        if w is None:
            outside += 1
            continue
        key = (r["pseudo_id"], w)
        best = chosen.get(key)
        if best is None or abs(r["study_week"] - w) < abs(best["study_week"] - w):
            chosen[key] = r
    visits = []
    for outcome, label in OUTCOMES.items():
        for w in NOMINAL_WEEKS:
            values = [r[outcome] for (_, week), r in chosen.items() if week == w]
            values = [v for v in values if v is not None]
            if not values:
                continue
            try:
                ci = mean_change_ci(values)
            except NotEnoughDataError:
                visits.append(
                    VisitSummary(
                        w,
                        outcome,
                        label,
                        len(values),
                        message="Not enough data: a confidence interval needs at least 2 patients.",
                    )
                )
                continue
            visits.append(VisitSummary(w, outcome, label, ci.n, ci.mean, ci.lower, ci.upper))
    # Adverse events per 100 sessions, over the filtered patients' sessions.
    sessions = [s for s in session_rows(clinic) if s.pseudo_id in patients]
    if "product" in active:
        sessions = [s for s in sessions if active["product"] in s.products]
    if "lot" in active:
        sessions = [s for s in sessions if active["lot"] in s.lots]
    by_modality: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_lot: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in sessions:
        by_modality[s.modality][0] += s.adverse_events
        by_modality[s.modality][1] += 1
        for lot in s.lots:
            by_lot[lot][0] += s.adverse_events
            by_lot[lot][1] += 1
    warnings = []
    if not patients:
        warnings.append("No patients match these filters: nothing to summarise.")
    elif len(with_baseline) < SMALL_N:
        warnings.append(
            f"Only {len(with_baseline)} patient(s) with a baseline density: estimates are "
            "imprecise and can change a lot with each new patient."
        )
    return CohortSummary(
        filters={FILTER_LABELS[k]: v for k, v in active.items() if k in FILTER_LABELS},
        n_patients=len(patients),
        n_with_baseline=len(with_baseline),
        visits=visits,
        incidence_by_modality=[_incidence(m, *v) for m, v in sorted(by_modality.items())],
        incidence_by_lot=[_incidence(m, *v) for m, v in sorted(by_lot.items())],
        outside_windows=outside,
        missing_data=(
            "Observed cases: each visit summarises the patients measured in its window "
            "(nominal week ± 25%, at least ± 2 weeks); missing visits are not imputed, so "
            "later visits may describe a smaller, selected group."
        ),
        warnings=warnings,
    )


def report_context(summary: CohortSummary, clinic: Clinic, *, generated_at: datetime) -> dict:
    return {
        "s": summary,
        "clinic": clinic,
        "generated_at": generated_at,
        "windows": [(w, *window(w)) for w in NOMINAL_WEEKS],
    }
