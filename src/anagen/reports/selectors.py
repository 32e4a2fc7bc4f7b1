"""What goes into a patient's progress report: reads only, scoped to the patient's clinic."""

from __future__ import annotations

import io
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from anagen.assessment import selectors as assessment_selectors
from anagen.assessment.protocols import INVESTIGATIONAL_NOTICE
from anagen.core.text import fixed, signed_grade
from anagen.imaging import selectors as imaging_selectors
from anagen.interop.analysis import age_on
from anagen.monitoring import charts
from anagen.monitoring import selectors as monitoring_selectors
from anagen.monitoring.models import VIEWS, Measurement, Photo
from anagen.outcomes import cohort, progress
from anagen.outcomes import selectors as outcomes
from anagen.patients.models import Patient
from anagen.reports.pdf import data_uri, svg_uri
from anagen.treatments import scalp_zones
from anagen.treatments import selectors as treatment_selectors
from anagen.treatments.models import TreatmentSession

# Visit columns per measurement table on an A4 page beside the measure names (one column
# holds "+12.5 (+10.4 %)" on one line).
VISITS_PER_BLOCK = 6
PHOTO_MAX_SIDE_PX = 900  # enough for half an A4 page at ~200 dpi; keeps the PDF small


@dataclass
class VisitColumn:
    visit_date: date
    study_day: int | None
    week: int | None  # nominal analysis week (None: baseline or outside every window)
    is_baseline: bool
    source: str
    # Two visits on one date (a confirmed separate visit): "visit 1 of 2 that day", in the
    # order they were recorded, so the columns can be told apart; "" otherwise.
    same_day: str = ""
    visit_id: int | None = None


@dataclass
class DecisionRow:
    """A further-treatment decision with its visit told apart from another visit that day
    by the measurement columns' label ("visit 1 of 2 that day"; "" if alone that day)."""

    decision: Any
    same_day: str = ""


@dataclass
class MeasureCell:
    value: str  # formatted; "—" when missing
    change: str  # "+8.0 (+6.7 %)", "" at baseline or when not computable
    # Image analysis at this visit and the baseline, and the change is under its least
    # significant change (outcomes.progress.mark_within_noise).
    within_noise: bool = False


@dataclass
class MeasureRow:
    label: str
    unit: str
    cells: list[MeasureCell]


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
    visits: list[VisitColumn]
    measures: list[MeasureRow]
    baseline_date: date | None
    density_chart_uri: str
    # Printed under the chart: the dashed line is otherwise explained only in the image's
    # description, which paper does not show.
    density_chart_caption: str
    photo_pairs: list[PhotoPair]
    adverse_events: list
    # The further-treatment decisions at visits (a stop was missing from the printed record).
    decisions: list[DecisionRow]
    investigational: bool
    investigational_notice: str
    consents: list
    notes: list[str] = field(default_factory=list)
    # How far the image-analysis counts in the table can be trusted, per engine version.
    imaging_notes: list[str] = field(default_factory=list)

    within_noise_legend: str = progress.WITHIN_NOISE_LEGEND

    @property
    def has_within_noise(self) -> bool:
        return any(c.within_noise for m in self.measures for c in m.cells)

    @property
    def measure_blocks(self) -> list[tuple[list[VisitColumn], list[MeasureRow]]]:
        """The measurement table in blocks of at most VISITS_PER_BLOCK visit columns, each
        a table of its own with the measure names again: an A4 page holds no more (with 8
        visits the last columns ran off the page and their values were not printed)."""
        n = VISITS_PER_BLOCK
        return [
            (
                self.visits[i : i + n],
                [MeasureRow(m.label, m.unit, m.cells[i : i + n]) for m in self.measures],
            )
            for i in range(0, len(self.visits), n)
        ]

    @property
    def session_rows(self) -> list[list[SessionRow | None]]:
        """Sessions in rows of four for the page (the last row padded with None)."""
        rows: list[list[SessionRow | None]] = [
            list(self.sessions[i : i + 4]) for i in range(0, len(self.sessions), 4)
        ]
        if rows:
            rows[-1] = rows[-1] + [None] * (4 - len(rows[-1]))
        return rows


def _signed(grade: int) -> str:
    """A −3…+3 global assessment in print: "+2", "−1" (a typographic minus), "0"."""
    return signed_grade(grade).replace("-", "−")


def _photo_uri(photo: Photo) -> str | None:
    """The stored photo, downscaled and re-encoded as JPEG, as a data: URI (None if unreadable)."""
    if not photo.image.name:
        return None
    img: Image.Image
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


def _fmt(value: float | None, decimals: int, *, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return fixed(value, decimals, signed=signed)


def _measure_table(result: progress.Progress) -> tuple[list[VisitColumn], list[MeasureRow]]:
    """Visits as columns, measures as rows (value, then change from baseline), as on paper."""
    visits = [
        VisitColumn(r.visit_date, r.study_day, r.week, r.is_baseline, r.source, visit_id=r.visit_id)
        for r in result.rows
    ]
    # Rows come by date, then the order of entry: number the visits that share a date.
    per_day = Counter(v.visit_date for v in visits)
    seen: Counter[date] = Counter()
    for v in visits:
        if per_day[v.visit_date] > 1:
            seen[v.visit_date] += 1
            v.same_day = f"visit {seen[v.visit_date]} of {per_day[v.visit_date]} that day"
    rows = []
    for key in progress.MEASURES:
        if all(r.cells[key].value is None for r in result.rows):
            continue
        o = cohort.OUTCOMES[key]
        cells = []
        for r in result.rows:
            c = r.cells[key]
            change = ""
            if not r.is_baseline and c.change is not None:
                change = _fmt(c.change, o.decimals, signed=True)
                if c.change_pct is not None:
                    # As the page rounds it (halves up): -6.25 % reads -6.3 % in both.
                    change += f" ({fixed(c.change_pct, 1, signed=True)} %)"
            cells.append(MeasureCell(_fmt(c.value, o.decimals), change, c.within_noise))
        rows.append(MeasureRow(o.label, o.unit, cells))
    if any(r.global_assessment is not None for r in result.rows):
        rows.append(
            MeasureRow(
                "Global photographic assessment",
                "−3…+3",
                [
                    MeasureCell(
                        "—" if r.global_assessment is None else _signed(r.global_assessment), ""
                    )
                    for r in result.rows
                ],
            )
        )
    if any(r.hgq_mean is not None for r in result.rows):
        rows.append(
            MeasureRow(
                "Hair Growth Questionnaire, mean",
                "−3…+3",
                [
                    MeasureCell(
                        _fmt(r.hgq_mean, 1, signed=True),
                        f"{r.hgq_answered}/7 answered" if r.hgq_mean is not None else "",
                    )
                    for r in result.rows
                ],
            )
        )
    return visits, rows


def _photo_pairs(patient: Patient, pairs: list[progress.PhotoPair]) -> list[PhotoPair]:
    """The outcomes selector's baseline/latest pairs (same view), with the images embedded."""
    ids = {p.baseline_photo_id for p in pairs} | {p.latest_photo_id for p in pairs}
    photos = {
        ph.pk: ph
        for ph in Photo.objects.filter(
            clinic=patient.clinic, patient=patient, pk__in=ids
        ).select_related("visit")
    }
    views = dict(VIEWS)
    out = []
    for p in pairs:
        first, last = photos.get(p.baseline_photo_id), photos.get(p.latest_photo_id)
        if first is None or last is None:
            continue
        out.append(
            PhotoPair(views.get(p.view, p.view), first, _photo_uri(first), last, _photo_uri(last))
        )
    return out


def _sessions(patient: Patient) -> list[SessionRow]:
    sessions = list(
        TreatmentSession.objects.filter(
            clinic=patient.clinic, patient=patient, voided_at__isnull=True
        )
        .select_related("clinician")
        .prefetch_related("map_entries")
        .order_by("performed_on", "id")
    )
    # The lots each session used, by the rule the FHIR export and the cohort analysis use.
    used = treatment_selectors.draws_used_by(
        sessions,
        treatment_selectors.given_draws(patient.clinic, patient)
        .select_related("lot")
        .order_by("drawn_on", "id"),
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
        lots = sorted({d.lot.lot_number for d in used.get(s.pk, [])})
        rows.append(SessionRow(s, lots, svg, zones))
    return rows


def _with_margin(svg: str, margin: int = 40) -> str:
    """Widen the chart's viewBox so the last date label is not clipped at the edge."""
    old = f'viewBox="0 0 {charts.WIDTH} {charts.HEIGHT}"'
    new = f'viewBox="0 0 {charts.WIDTH + margin} {charts.HEIGHT}"'
    return svg.replace(old, new, 1)


SOURCE_WORDS = {"manual": "counted by the clinic", "imaging": "measured by image analysis"}


def _density_caption(baseline: float | None, source: str = "", left_out: int = 0) -> str:
    text = "Hair density (hairs/cm²) at each visit with a density, by visit date"
    text += f", {source}." if source else "."
    if baseline is not None:
        text += f" Dashed line: the baseline, {_fmt(baseline, 0)} hairs/cm²."
    if left_out:
        text += (
            f" {left_out} value{'s' if left_out > 1 else ''} measured otherwise "
            f"{'are' if left_out > 1 else 'is'} not plotted (a manual count and an "
            "image-analysis field, or two marked sites, are not comparable); the table gives "
            "them."
        )
    return text


def _decisions(patient: Patient, visits: list[VisitColumn]) -> list[DecisionRow]:
    """The patient's live decisions at live visits, oldest first, each with its visit's
    same-day label from the measurement columns: two decisions at two visits on one date
    read alike (date only) and could not be matched to their columns."""
    same_day = {v.visit_id: v.same_day for v in visits}
    return [
        DecisionRow(d, same_day.get(d.visit_id, ""))
        for d in monitoring_selectors.live_decisions(patient)
        .select_related("visit", "decided_by")
        .order_by("visit__visit_date", "visit_id", "decided_at", "id")
    ]


def patient_report(patient: Patient, *, generated_at: datetime, generated_by: str) -> PatientReport:
    """Everything the progress report shows; change from baseline and photo pairs come from
    the outcomes progress selector, so the PDF and the progress page agree."""
    result = outcomes.patient_progress(patient, with_forecast=False)
    visits, measures = _measure_table(result)
    baseline = next((r for r in result.rows if r.is_baseline), None)
    # One line joins values of one source only: the baseline's (as the table's changes). A
    # line from manual 1 cm² counts to an image-analysis field jumped 106-151 -> 357 (review).
    densities = [
        (r.visit_date, r.cells["density_per_cm2"]) for r in result.rows
        if r.cells["density_per_cm2"].value is not None
    ]  # fmt: skip
    plotted = baseline.cells["density_per_cm2"].source if baseline else ""
    if not plotted and densities:
        plotted = densities[0][1].source
    series = [
        (d, c.value) for d, c in densities
        if c.source == plotted and c.value is not None and not c.other_site
    ]  # fmt: skip
    left_out = len(densities) - len(series)
    chart = charts.line_chart_svg(
        series,
        title="Hair density over time",
        description="Density in the target area at each visit; dashed line: baseline.",
        y_label="hairs/cm²",
        chart_id="density",
        reference=result.baseline_value("density_per_cm2"),
    )
    sessions = _sessions(patient)
    plans = list(assessment_selectors.plans(patient))
    investigational = any(r.session.is_investigational for r in sessions) or any(
        p.is_investigational for p in plans
    )
    return PatientReport(
        patient=patient,
        # The clinic's date (the active zone), not UTC's: on a birthday morning ahead of UTC.
        age=age_on(patient.date_of_birth, timezone.localtime(generated_at).date()),
        generated_at=generated_at,
        generated_by=generated_by,
        diagnoses=list(assessment_selectors.diagnoses(patient)),
        plans=plans,
        sessions=sessions,
        visits=visits,
        measures=measures,
        baseline_date=baseline.visit_date if baseline else None,
        # No density recorded: no chart (an empty frame read as a chart with nothing on it).
        density_chart_uri=svg_uri(_with_margin(chart)) if series else "",
        density_chart_caption=_density_caption(
            result.baseline_value("density_per_cm2"), SOURCE_WORDS.get(plotted, ""), left_out
        ),
        photo_pairs=_photo_pairs(patient, result.photo_pairs),
        adverse_events=list(monitoring_selectors.adverse_events_of(patient)),
        decisions=_decisions(patient, visits),
        investigational=investigational,
        # The heading says "Investigational / not approved."; the verbatim text follows it.
        investigational_notice=INVESTIGATIONAL_NOTICE.removeprefix(
            "Investigational — not approved. "
        ),
        consents=list(assessment_selectors.consents(patient)),
        notes=list(result.messages),
        imaging_notes=imaging_selectors.accuracy_notes(
            patient, (v.visit_date for v in visits if v.source == Measurement.Source.IMAGING)
        ),
    )


def report_context(report: PatientReport) -> dict[str, Any]:
    return {"r": report, "patient": report.patient}
