"""What goes into a patient's progress report: reads only, scoped to the patient's clinic."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.core.files.storage import default_storage
from PIL import Image

from anagen.assessment import selectors as assessment_selectors
from anagen.assessment.protocols import INVESTIGATIONAL_NOTICE
from anagen.interop.analysis import age_on
from anagen.monitoring import charts
from anagen.monitoring import selectors as monitoring_selectors
from anagen.monitoring.models import Photo
from anagen.patients.models import Patient
from anagen.products.models import VialDraw
from anagen.reports.pdf import data_uri, svg_uri
from anagen.treatments import scalp_zones
from anagen.treatments.models import TreatmentSession

PHOTO_MAX_SIDE_PX = 900  # enough for half an A4 page at ~200 dpi; keeps the PDF small


@dataclass
class MeasurementRow:
    visit_date: date
    week: int
    is_baseline: bool
    source: str
    hair_count: int | None
    density_per_cm2: float | None
    density_change: float | None
    density_change_pct: float | None
    mean_diameter_um: float | None
    diameter_change_um: float | None
    terminal_pct: float | None
    vellus_pct: float | None
    global_assessment: int | None


@dataclass
class SessionRow:
    session: TreatmentSession
    lots: list[str]
    map_svg_uri: str | None
    zones: list[str]


@dataclass
class PhotoPair:
    view: str
    baseline: Photo
    baseline_uri: str | None
    latest: Photo
    latest_uri: str | None


@dataclass
class PatientReport:
    patient: Patient
    age: int
    generated_at: datetime
    generated_by: str
    diagnoses: list
    plans: list
    sessions: list[SessionRow]
    measurements: list[MeasurementRow]
    baseline_date: date | None
    density_chart_uri: str
    photo_pairs: list[PhotoPair]
    adverse_events: list
    investigational: bool
    investigational_notice: str
    consents: list
    notes: list[str] = field(default_factory=list)

    @property
    def session_rows(self) -> list[list[SessionRow | None]]:
        """Sessions in rows of four for the page (the last row padded with None)."""
        rows = [self.sessions[i : i + 4] for i in range(0, len(self.sessions), 4)]
        if rows:
            rows[-1] = rows[-1] + [None] * (4 - len(rows[-1]))
        return rows


def _photo_uri(photo: Photo) -> str | None:
    """The stored photo, downscaled and re-encoded as JPEG, as a data: URI (None if unreadable)."""
    try:
        with default_storage.open(photo.image.name, "rb") as f:
            img = Image.open(f)
            img.load()
    except (OSError, ValueError):
        return None
    img = img.convert("RGB")
    img.thumbnail((PHOTO_MAX_SIDE_PX, PHOTO_MAX_SIDE_PX))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=82)
    return data_uri(out.getvalue(), "image/jpeg")


def _measurements(patient: Patient) -> tuple[list[MeasurementRow], date | None, float | None]:
    visits = list(
        monitoring_selectors.visits_of(patient)
        .prefetch_related("measurements")
        .order_by("visit_date", "id")
    )
    base = monitoring_selectors.baseline_visit(patient)
    if base is None:
        return [], None, None
    base_m = monitoring_selectors.measurement_of(next(v for v in visits if v.pk == base.pk))
    d0 = base_m.density_per_cm2 if base_m else None
    dia0 = base_m.mean_diameter_um if base_m else None
    rows = []
    for v in visits:
        m = monitoring_selectors.measurement_of(v)
        d = m.density_per_cm2 if m else None
        dia = m.mean_diameter_um if m else None
        is_base = v.pk == base.pk
        rows.append(
            MeasurementRow(
                visit_date=v.visit_date,
                week=round((v.visit_date - base.visit_date).days / 7),
                is_baseline=is_base,
                source=m.get_source_display() if m else "",
                hair_count=m.hair_count if m else None,
                density_per_cm2=d,
                density_change=None if is_base or d is None or d0 is None else round(d - d0, 1),
                density_change_pct=None
                if is_base or d is None or not d0
                else round((d - d0) / d0 * 100, 1),
                mean_diameter_um=dia,
                diameter_change_um=None
                if is_base or dia is None or dia0 is None
                else round(dia - dia0, 1),
                terminal_pct=m.terminal_pct if m else None,
                vellus_pct=m.vellus_pct if m else None,
                global_assessment=v.global_assessment,
            )
        )
    return rows, base.visit_date, d0


def _photo_pairs(patient: Patient, baseline_date: date | None) -> list[PhotoPair]:
    """For each view: the baseline photo and the latest later photo of the same view."""
    photos = list(
        Photo.objects.filter(
            clinic=patient.clinic,
            patient=patient,
            voided_at__isnull=True,
            visit__voided_at__isnull=True,
            kind=Photo.Kind.GLOBAL,
        )
        .select_related("visit")
        .order_by("visit__visit_date", "id")
    )
    pairs = []
    views = dict(Photo._meta.get_field("view").choices)
    for view in views:
        same = [p for p in photos if p.view == view]
        if len(same) < 2:
            continue
        first = next((p for p in same if p.visit.is_baseline), same[0])
        if baseline_date is not None and first.visit.visit_date != baseline_date:
            first = same[0]
        last = same[-1]
        if last.visit_id == first.visit_id:
            continue
        pairs.append(PhotoPair(views[view], first, _photo_uri(first), last, _photo_uri(last)))
    return pairs


def _sessions(patient: Patient) -> list[SessionRow]:
    sessions = list(
        TreatmentSession.objects.filter(
            clinic=patient.clinic, patient=patient, voided_at__isnull=True
        )
        .select_related("clinician")
        .prefetch_related("map_entries")
        .order_by("performed_on", "id")
    )
    draws = list(
        VialDraw.objects.filter(clinic=patient.clinic, patient=patient).select_related("lot")
    )
    rows = []
    for s in sessions:
        entries = [e.as_map_entry() for e in s.map_entries.all()]
        svg = None
        zones = []
        if entries:
            try:
                svg = svg_uri(scalp_zones.render_scalp_svg(entries, "top"))
            except scalp_zones.MapError:
                svg = None
            zones = [
                f"{scalp_zones.ALL_CODES.get(e['zone'], e['zone'])}: {e['points']} pts, "
                f"{e['volume_ml']:g} mL"
                for e in entries
            ]
        ref = f"session:{s.pk}"
        lots = sorted({d.lot.lot_number for d in draws if d.session_ref == ref})
        rows.append(SessionRow(s, lots, svg, zones))
    return rows


def _with_margin(svg: str, margin: int = 40) -> str:
    """Widen the chart's viewBox so the last date label is not clipped at the edge."""
    old = f'viewBox="0 0 {charts.WIDTH} {charts.HEIGHT}"'
    new = f'viewBox="0 0 {charts.WIDTH + margin} {charts.HEIGHT}"'
    return svg.replace(old, new, 1)


def patient_report(patient: Patient, *, generated_at: datetime, generated_by: str) -> PatientReport:
    measurements, baseline_date, d0 = _measurements(patient)
    series = [(r.visit_date, r.density_per_cm2) for r in measurements if r.density_per_cm2]
    chart = charts.line_chart_svg(
        series,
        title="Hair density over time",
        description="Density in the target area at each visit; dashed line: baseline.",
        y_label="hairs/cm²",
        chart_id="density",
        reference=d0,
    )
    sessions = _sessions(patient)
    plans = list(assessment_selectors.plans(patient))
    investigational = any(r.session.is_investigational for r in sessions) or any(
        p.is_investigational for p in plans
    )
    notes = []
    if not measurements:
        notes.append("No visits recorded yet: no change from baseline can be shown.")
    elif len([r for r in measurements if r.density_per_cm2 is not None]) < 2:
        notes.append("Fewer than two density measurements: no change from baseline yet.")
    return PatientReport(
        patient=patient,
        age=age_on(patient.date_of_birth, generated_at.date()),
        generated_at=generated_at,
        generated_by=generated_by,
        diagnoses=list(assessment_selectors.diagnoses(patient)),
        plans=plans,
        sessions=sessions,
        measurements=measurements,
        baseline_date=baseline_date,
        density_chart_uri=svg_uri(_with_margin(chart)),
        photo_pairs=_photo_pairs(patient, baseline_date),
        adverse_events=list(monitoring_selectors.adverse_events_of(patient)),
        investigational=investigational,
        # The heading says "Investigational / not approved."; the verbatim text follows it.
        investigational_notice=INVESTIGATIONAL_NOTICE.removeprefix(
            "Investigational — not approved. "
        ),
        consents=list(assessment_selectors.consents(patient)),
        notes=notes,
    )


def report_context(report: PatientReport) -> dict[str, Any]:
    return {"r": report, "patient": report.patient}
