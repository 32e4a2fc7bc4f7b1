"""Per-patient progress: change from baseline per visit, chart specs, forecast (no Django).

``selectors.patient_progress`` reads the patient's visits into ``VisitPoint`` objects;
everything else (study days, changes, Vega-Lite specs, the forecast panel) is decided here.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from anagen.assessment.labels import modality_label
from anagen.outcomes.cohort import OUTCOMES, analysis_week
from anagen.outcomes.sources import SOURCE_ORDER, same_source_pair
from anagen.simulation.errors import SimulationInputError
from anagen.simulation.forecast import FORECAST_LABEL, forecast
from anagen.simulation.params import LUDWIG_SHRINK, NORWOOD_SHRINK
from anagen.simulation.treatments import EXOSOME_NOTE, models_exosome

# The measures shown per visit, in table order (cumulative thickness is derived).
MEASURES: tuple[str, ...] = (
    "hair_count",
    "density_per_cm2",
    "mean_diameter_um",
    "terminal_pct",
    "vellus_pct",
    "anagen_pct",
    "cumulative_thickness_mm_per_cm2",
)
FORECAST_PLAN_PARTS = ("exosome", "minoxidil", "prp", "transplant")
FORECAST_MONTHS = 12
# 400 virtual patients: 0.33 s per progress page on the 2-core machine (1,000: 0.86 s);
# the month-12 median's Monte Carlo error (about ± 3 hairs/cm², 95 %) is stated in the notes.
FORECAST_VIRTUAL_PATIENTS = 400
PROGRESS_LABEL = (
    "Model forecast, not a prediction of this patient's result: the band shows where a "
    "measurement would fall for virtual patients of the same stage and measured baseline "
    "density in a follicle-cycle model with assumed treatment effects (their spread plus "
    "measurement error)."
)
# Legend for changes marked by mark_within_noise (progress page and PDF report).
WITHIN_NOISE_LEGEND = (
    "“Within noise”: the visit and the baseline were both measured by image analysis, and "
    "the change is smaller than that analysis's least significant change for the measure (count "
    "and density as above; mean diameter and cumulative thickness from the same benchmark's "
    "retest), so it can be measurement noise alone."
)


@dataclass
class VisitPoint:
    visit_id: int
    visit_date: date
    is_baseline: bool
    values: dict[str, Any]
    global_assessment: int | None = None
    hgq_mean: float | None = None
    hgq_answered: int = 0
    # The latest measurement of each source ("manual", "imaging"): its measures and
    # ``target_area_cm2``. Empty: ``values`` is the only measurement, of ``values["source"]``.
    by_source: dict[str, dict[str, Any]] = field(default_factory=dict)

    def sources(self) -> dict[str, dict[str, Any]]:
        if self.by_source:
            return self.by_source
        return {str(self.values.get("source", "")): self.values} if self.values else {}


@dataclass
class Cell:
    value: float | None
    change: float | None
    change_pct: float | None
    # The change is smaller than the least significant change of the image analysis that
    # measured both this visit and the baseline: it can be measurement noise alone.
    within_noise: bool = False
    # The source the value (and the change, within that source) comes from: "manual",
    # "imaging" or "" (no value).
    source: str = ""
    # Image analysis of another marked site than the baseline's: no change, and not on the
    # baseline's line in a chart.
    other_site: bool = False


@dataclass
class ProgressRow:
    visit_id: int
    visit_date: date
    study_day: int | None
    week: int | None  # nominal analysis week (None: baseline or unscheduled)
    is_baseline: bool
    cells: dict[str, Cell]
    global_assessment: int | None
    hgq_mean: float | None
    hgq_answered: int
    source: str = ""
    # The baseline of a later course (a patient back for a new course): its change is still
    # from the first baseline here, as everywhere on this page.
    course_baseline: bool = False


@dataclass
class PhotoPair:
    view: str
    baseline_photo_id: int
    baseline_date: date
    latest_photo_id: int
    latest_date: date


@dataclass
class ForecastPanel:
    ok: bool
    message: str = ""
    label: str = PROGRESS_LABEL
    plan: str = ""
    stage: str = ""
    rows: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Progress:
    rows: list[ProgressRow]
    baseline_visit_id: int | None
    messages: list[str]
    photo_pairs: list[PhotoPair] = field(default_factory=list)
    modalities: list[str] = field(default_factory=list)
    forecast: ForecastPanel | None = None
    count_areas: list[float] = field(default_factory=list)  # target areas (cm²) of the counts

    def baseline_value(self, measure: str) -> float | None:
        for r in self.rows:
            if r.is_baseline:
                return r.cells[measure].value
        return None

    @property
    def has_follow_up(self) -> bool:
        return any(not r.is_baseline for r in self.rows)

    @property
    def has_within_noise(self) -> bool:
        return any(c.within_noise for r in self.rows for c in r.cells.values())

    def to_dict(self, *, dates: bool = True) -> dict[str, Any]:
        def row(r: ProgressRow) -> dict[str, Any]:
            d: dict[str, Any] = {
                "visit_id": r.visit_id,
                "study_day": r.study_day,
                "week": r.week,
                "is_baseline": r.is_baseline,
                "course_baseline": r.course_baseline,
                "global_assessment": r.global_assessment,
                "hgq_mean": r.hgq_mean,
                "hgq_answered": r.hgq_answered,
                # The measurement shown ("manual", "imaging"; "" none), per row and value, as
                # the page and report say under each date: a client joining values of two
                # sources drew a manual 1 cm² count and an image-analysis field as one line.
                "source": r.source,
                "measures": {
                    k: {
                        "value": c.value,
                        "change": c.change,
                        "change_pct": c.change_pct,
                        "within_noise": c.within_noise,
                        "source": c.source,
                    }
                    for k, c in r.cells.items()
                },  # fmt: skip
            }
            if dates:
                d["visit_date"] = r.visit_date.isoformat()
            return d

        out: dict[str, Any] = {
            "baseline_visit_id": self.baseline_visit_id,
            "messages": self.messages,
            "units": {k: OUTCOMES[k].unit for k in MEASURES},
            "rows": [row(r) for r in self.rows],
            "modalities": self.modalities,
            "photo_pairs": [
                {
                    "view": p.view,
                    "baseline_photo_id": p.baseline_photo_id,
                    "latest_photo_id": p.latest_photo_id,
                }
                for p in self.photo_pairs
            ],  # fmt: skip
        }
        if self.forecast is not None:
            f = self.forecast
            out["forecast"] = {"ok": f.ok, "message": f.message, "label": f.label,
                               "plan": f.plan, "stage": f.stage, "rows": f.rows,
                               "notes": f.notes}  # fmt: skip
        return out


def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _derived(values: dict[str, Any]) -> float | None:
    d, dia = _num(values.get("density_per_cm2")), _num(values.get("mean_diameter_um"))
    return d * dia / 1000.0 if d is not None and dia is not None else None


def count_areas(points: list[VisitPoint]) -> list[float]:
    """The target areas (cm²) of the visits with a hair count, each once, in visit order."""
    areas: list[float] = []
    for p in points:
        area = _num(p.values.get("target_area_cm2"))
        if area is not None and _num(p.values.get("hair_count")) is not None and area not in areas:
            areas.append(area)
    return areas


SOURCE_WORDS = {"manual": "manual count", "imaging": "image analysis"}
# In a source's values: the marked site its photo shows (image analysis; "" unnamed). Absent:
# not known (a manual count, or an analysis value built without its photo).
SITE_KEY = "target_site"


def _other_site(now: dict[str, Any], base: dict[str, Any]) -> bool:
    """Both values name the site their photos show, and the sites differ: density over the
    vertex tattoo and over the frontal hairline are not a change (as the image comparison
    refuses two photos of different target areas)."""
    return SITE_KEY in now and SITE_KEY in base and now[SITE_KEY] != base[SITE_KEY]


def _source_value(values: dict[str, Any], measure: str) -> float | None:
    if measure == "cumulative_thickness_mm_per_cm2":
        return _derived(values)
    return _num(values.get(measure))


def _pick(
    visit: dict[str, dict[str, Any]], base: dict[str, dict[str, Any]], measure: str
) -> tuple[str, float | None, float | None]:
    """(source, visit value, baseline value of the same source) for one measure.

    As ``cohort.build_long``: manual against manual, else image analysis against image
    analysis; a visit value without a baseline of its source has no baseline (None)."""
    # "": a point built without a source (one measurement of unknown source).
    order = (*SOURCE_ORDER, "")
    v = {src: _source_value(values, measure) for src, values in visit.items()}
    b = {src: _source_value(values, measure) for src, values in base.items()}
    return same_source_pair(v, b, order)


def build_progress(points: list[VisitPoint], baseline_visit_id: int | None) -> Progress:
    """Change from baseline for every measure at every visit (absolute and %).

    Change is taken within one measurement source, as in the cohort analysis
    (``cohort.build_long``): a visit's manual value against the baseline's manual value, else
    its image-analysis value against the baseline's image-analysis value (a hand count of
    1 cm² and an engine's 0.18 cm² field are not compared). A value without a baseline value
    of its source has no change, and a message says so. A hair count is only compared with a
    baseline count of the same target area: counts of areas of different sizes are not
    comparable (density is count ÷ area, and is)."""
    messages: list[str] = []
    if not points:
        return Progress([], None, ["Not enough data: no visit recorded yet."])
    base = next((p for p in points if p.visit_id == baseline_visit_id), None)
    if base is None:
        messages.append("Not enough data: no baseline visit; changes cannot be computed.")
    base_src = base.sources() if base else {}
    # Per source, the visits with a value of a measure that the baseline lacks in that source.
    mismatch: dict[str, list[date]] = {}
    # Visits whose image analysis measured another marked site than the baseline's: site.
    other_site: dict[date, str] = {}
    rows = []
    for p in points:
        src = p.sources()
        cells = {}
        for k in MEASURES:
            if p is base:
                source, v, _ = _pick(src, {}, k)
                cells[k] = Cell(v, 0.0 if v is not None else None, None, source=source)
                continue
            source, v, b = _pick(src, base_src, k)
            change = v - b if v is not None and b is not None else None
            if (
                k == "hair_count"
                and change is not None
                and _num(src[source].get("target_area_cm2"))
                != _num(base_src[source].get("target_area_cm2"))
            ):
                change = None
            if change is not None and _other_site(src[source], base_src[source]):
                change = None
                other_site[p.visit_date] = str(src[source][SITE_KEY])
            pct = change / b * 100.0 if change is not None and b else None
            if (
                base is not None
                and v is not None
                and b is None
                and base_src
                and any(_source_value(vals, k) is not None for vals in base_src.values())
            ):
                dates = mismatch.setdefault(source, [])
                if p.visit_date not in dates:
                    dates.append(p.visit_date)
            far = v is not None and _other_site(src.get(source, {}), base_src.get(source, {}))
            cells[k] = Cell(v, change, pct, source=source, other_site=far)
        day = (p.visit_date - base.visit_date).days if base else None
        week = None
        if day is not None and day > 0:
            w = analysis_week([day])[0]
            week = None if math.isnan(w) else int(w)
        # The row's source: that of its density (else of its first measure with a value).
        shown = [cells["density_per_cm2"].source] + [cells[k].source for k in MEASURES]
        row_source = next((x for x in shown if x), str(p.values.get("source", "")))
        rows.append(
            ProgressRow(
                p.visit_id, p.visit_date, day, week, p is base, cells, p.global_assessment,
                p.hgq_mean, p.hgq_answered, row_source,
            )
        )  # fmt: skip
    areas = count_areas(points)
    if len(areas) > 1:
        messages.append(
            "Hair counts come from target areas of different sizes ("
            + ", ".join(f"{a:g} cm²" for a in areas)
            + "): counts are not compared across them; compare density (count ÷ area)."
        )
    if other_site and base is not None:
        base_site = base_src.get("imaging", {}).get(SITE_KEY, "")
        messages.append(
            "No change shown for the image analyses of "
            + ", ".join(f"{d.isoformat()} ({site or 'site not named'})"
                        for d, site in sorted(other_site.items()))
            + f": their photos show another marked target area than the baseline's "
            f"({base_site or 'site not named'}), and one site is not compared with another."
        )  # fmt: skip
    for source, dates in sorted(mismatch.items()):
        words = SOURCE_WORDS.get(source, source)
        messages.append(
            f"No change shown for values measured by {words} on "
            + ", ".join(d.isoformat() for d in dates)
            + f": the baseline visit has no value by {words}, and change is taken only within "
            "one measurement source (a manual count of 1 cm² and an image-analysis field are "
            "not compared)."
        )
    base_density = _pick(base_src, {}, "density_per_cm2")[1] if base else None
    if base is not None and len(points) == 1:
        messages.append("Only the baseline visit so far: change from baseline needs a follow-up.")
    elif base is not None and all(r.cells["density_per_cm2"].value is None for r in rows):
        messages.append("No density measured at any visit.")
    elif base is not None and base_density is None:
        messages.append("The baseline visit has no density: changes in density cannot be computed.")
    return Progress(rows, base.visit_id if base else None, messages, count_areas=areas)


def mark_within_noise(
    result: Progress, least_significant_change_pct: dict[int, dict[str, float]]
) -> None:
    """Mark changes smaller than the least significant change (%) of the image analysis that
    measured both the visit and the baseline (in place).

    ``least_significant_change_pct``: per visit id, for visits whose measurement comes from
    image analysis with a benchmark record, per measure. With two engine versions the larger
    applies; a measure without a figure is never marked.
    """
    base = next((r for r in result.rows if r.is_baseline), None)
    if base is None or base.visit_id not in least_significant_change_pct:
        return
    at_base = least_significant_change_pct[base.visit_id]
    for r in result.rows:
        if r.is_baseline or r.visit_id not in least_significant_change_pct:
            continue
        at_visit = least_significant_change_pct[r.visit_id]
        for k in at_visit.keys() & at_base.keys():
            lsc = max(at_visit[k], at_base[k])
            c = r.cells[k]
            imaging = c.source in ("imaging", "")  # "": a cell built without a source
            c.within_noise = imaging and c.change_pct is not None and abs(c.change_pct) < lsc


def forecast_panel(
    *,
    sex: str,
    diagnosis: str,
    stage: str,
    modalities: list[str],
    baseline_density: float | None,
) -> ForecastPanel:
    """The simulator's fan chart for the patient's stage, plan and baseline density."""
    if diagnosis not in ("aga_male", "aga_female"):
        return ForecastPanel(
            False,
            "No forecast: the model covers androgenetic alopecia only"
            + (f" (diagnosis here: {diagnosis.replace('_', ' ')})." if diagnosis else
               "; record a diagnosis and stage first."),
        )  # fmt: skip
    scale = "norwood" if diagnosis == "aga_male" else "ludwig"
    table = NORWOOD_SHRINK if scale == "norwood" else LUDWIG_SHRINK
    if stage not in table:
        return ForecastPanel(
            False, f"No forecast: stage {stage or '(none)'} is not a {scale.title()} stage the "
            "model knows.",
        )  # fmt: skip
    parts = [m for m in sorted(set(modalities)) if m in FORECAST_PLAN_PARTS]
    plan = "+".join(parts) if parts else "none"
    base = _num(baseline_density)
    try:
        f = forecast(
            stage, plan, baseline_density=base if base and base > 0 else None, scale=scale,
            months=FORECAST_MONTHS, n_virtual=FORECAST_VIRTUAL_PATIENTS, seed=0,
        )  # fmt: skip
    except SimulationInputError as exc:
        return ForecastPanel(False, f"No forecast: {exc}")
    notes = list(f.notes) + [FORECAST_LABEL]
    if models_exosome([plan]):
        notes.append(EXOSOME_NOTE)
    if base is None or base <= 0:
        notes.append("No baseline density: virtual patients are not matched to this patient.")
    left_out = sorted(set(modalities) - set(FORECAST_PLAN_PARTS) - {"none"})
    if left_out:
        # Microneedling and laser have no effect model: the forecast is the course without.
        words = ", ".join(modality_label(m) for m in left_out)
        notes.append(
            f"Not modelled: {words}. The forecast shows the plan without "
            f"{'it' if len(left_out) == 1 else 'them'}."
        )
    return ForecastPanel(True, plan=plan, stage=f"{scale.title()} {stage}", rows=f.rows(),
                         notes=notes)  # fmt: skip


# --- Vega-Lite specs -----------------------------------------------------------------------


SOURCE_LABELS = {"manual": "manual count", "imaging": "image analysis"}


def progress_chart_spec(progress: Progress) -> dict[str, Any] | None:
    """Small multiples: each measure over study weeks, baseline as a dashed rule.

    Hair count is left out when the counts come from target areas of different sizes (the
    page says so; density, count ÷ area, is plotted)."""
    comparable_counts = len(progress.count_areas) <= 1
    baselines = {k: progress.baseline_value(k) for k in MEASURES}
    labels = {k: f"{OUTCOMES[k].label.split(' (')[0]} ({OUTCOMES[k].unit})" for k in MEASURES}
    values = []
    for r in progress.rows:
        if r.study_day is None:
            continue
        for k in MEASURES:
            if k == "hair_count" and not comparable_counts:
                continue  # counts of areas of different sizes on one axis would mislead
            c = r.cells[k]
            if c.value is not None:
                base = baselines[k]
                values.append({
                    "measure": labels[k],
                    "week": round(r.study_day / 7.0, 1),
                    "value": round(c.value, 3),
                    "change": None if c.change is None else round(c.change, 3),
                    "baseline": None if base is None else round(base, 3),
                    # Another marked site than the baseline's: a line of its own.
                    "source": SOURCE_LABELS.get(c.source, c.source or "unknown")
                    + (", another marked site" if c.other_site else ""),
                })  # fmt: skip
    if not values:
        return None
    # Panels in the table's order (hair count first), not Vega-Lite's alphabetical default.
    shown = {v["measure"] for v in values}
    # One line per source where both are plotted: a manual count and an image-analysis field
    # of another size were one line (review). The legend below the panels, not beside them
    # (a phone has no width to spare).
    by_source = (
        {"color": {"field": "source", "type": "nominal", "title": "Measured by",
                   "legend": {"orient": "bottom"}}}
        if len({v["source"] for v in values}) > 1 else {}
    )  # fmt: skip
    order = [labels[k] for k in MEASURES if labels[k] in shown]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": "Measurements per visit over study weeks since baseline",
        "data": {"values": values},
        "facet": {"field": "measure", "type": "nominal", "title": None, "sort": order},
        "columns": 3,
        # Every panel its own week axis: a shared one was drawn only under the last row, so
        # the upper panels had no weeks and the empty cells of the last row bare axes.
        "resolve": {"scale": {"y": "independent"}, "axis": {"x": "independent"}},
        "spec": {
            "width": 250,
            "height": 150,
            "layer": [
                {
                    "mark": {"type": "line", "point": True},
                    "encoding": {
                        "x": {"field": "week", "type": "quantitative", "title": "Study week"},
                        "y": {"field": "value", "type": "quantitative", "title": None,
                              "scale": {"zero": False}},
                        **by_source,
                        "tooltip": [
                            {"field": "week", "title": "Week"},
                            {"field": "value", "title": "Value"},
                            {"field": "change", "title": "Change from baseline"},
                            {"field": "source", "title": "Measured by"},
                        ],
                    },
                },
                {
                    # The baseline value as a dashed horizontal rule in each panel.
                    "transform": [{"filter": "isValid(datum.baseline)"}],
                    "mark": {"type": "rule", "strokeDash": [4, 4], "color": "#888"},
                    "encoding": {
                        "y": {"field": "baseline", "type": "quantitative",
                              "aggregate": "max", "title": None, "scale": {"zero": False}},
                    },
                },
            ],
        },
    }  # fmt: skip


def forecast_chart_spec(progress: Progress) -> dict[str, Any] | None:
    f = progress.forecast
    if f is None or not f.ok or not f.rows:
        return None
    observed = [
        {"week": round(r.study_day / 7.0, 1), "density": r.cells["density_per_cm2"].value}
        for r in progress.rows
        if r.study_day is not None and r.cells["density_per_cm2"].value is not None
    ]
    band = [{k: round(v, 2) for k, v in row.items()} for row in f.rows]
    x = {"field": "week", "type": "quantitative", "title": "Weeks since baseline"}
    layers: list[dict[str, Any]] = [
        {
            "data": {"values": band},
            "mark": {"type": "area", "opacity": 0.18, "color": "#0f6e6e"},
            "encoding": {"x": x, "y": {"field": "q05", "type": "quantitative",
                                       "title": "Density (hairs/cm²)", "scale": {"zero": False}},
                         "y2": {"field": "q95"}},
        },
        {
            "data": {"values": band},
            "mark": {"type": "area", "opacity": 0.3, "color": "#0f6e6e"},
            "encoding": {"x": x, "y": {"field": "q25", "type": "quantitative"},
                         "y2": {"field": "q75"}},
        },
        {
            "data": {"values": band},
            "mark": {"type": "line", "color": "#0f6e6e", "strokeDash": [4, 3]},
            "encoding": {"x": x, "y": {"field": "q50", "type": "quantitative"}},
        },
    ]  # fmt: skip
    if observed:
        layers.append(
            {
                "data": {"values": observed},
                "mark": {"type": "point", "filled": True, "color": "#b3261e", "size": 60},
                "encoding": {"x": x, "y": {"field": "density", "type": "quantitative"},
                             "tooltip": [{"field": "week"}, {"field": "density"}]},
            }
        )  # fmt: skip
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": "Model forecast fan chart (5-95% and 25-75% bands, median dashed) with "
        "this patient's measured densities as red points",
        "title": {"text": "Model forecast — not a prediction of this patient's result",
                  "fontSize": 13},
        "width": 620,
        "height": 240,
        "layer": layers,
    }  # fmt: skip


def _legend_counts(ns: list[int]) -> list[int]:
    """Up to four patient counts for a size legend: all of them when few, else the smallest,
    the largest and two between."""
    distinct = sorted(set(ns))
    if len(distinct) <= 4:
        return distinct
    picks = {distinct[round(i * (len(distinct) - 1) / 3)] for i in range(4)}
    return sorted(picks)


# One colour per arm on every chart, whatever the filter: ordinal colours gave PRP red on the
# whole cohort and orange among women. Colour-blind-safe (Okabe & Ito) where it can be;
# combinations not listed take a colour from the rest by a stable hash of their key.
ARM_COLOURS = {
    "none": "#7f7f7f",
    "exosome": "#0072b2",
    "prp": "#d55e00",
    "minoxidil": "#009e73",
    "transplant": "#cc79a7",
    "exosome+minoxidil": "#e69f00",
    "exosome+prp": "#56b4e9",
    "minoxidil+prp": "#8c564b",
}
_OTHER_ARM_COLOURS = ("#000000", "#f0e442", "#9467bd", "#17becf", "#bcbd22", "#e377c2")


def arm_colour(arm: str) -> str:
    """The arm's colour on every cohort chart."""
    if arm in ARM_COLOURS:
        return ARM_COLOURS[arm]
    return _OTHER_ARM_COLOURS[zlib.crc32(arm.encode()) % len(_OTHER_ARM_COLOURS)]


COHORT_CHART_DODGE_WEEKS = 0.8  # arms side by side at a visit, about 10 px apart at 48 weeks


def cohort_chart_spec(rows: list[dict[str, Any]], unit: str, labels: dict[str, str]) -> dict:
    """Mean change with 95% CI per visit and arm (points + error bars + lines). Each arm is
    drawn a little to the side of the visit week (``at``) so that intervals of different
    arms do not hide each other, and a point's size shows its number of patients (a mean of
    one patient must not look like one of twenty); the tooltip gives the true week and n."""
    arms = sorted({str(r["arm"]) for r in rows})
    shift = {a: (i - (len(arms) - 1) / 2) * COHORT_CHART_DODGE_WEEKS for i, a in enumerate(arms)}
    values = [
        {"arm": labels.get(r["arm"], r["arm"]), "week": r["week"],
         "at": r["week"] + shift[str(r["arm"])], "mean": r["mean"],
         "lower": r["lower"], "upper": r["upper"], "n": r["n"]}
        for r in rows
        if r.get("n") and r.get("mean") is not None
    ]  # fmt: skip
    color = {
        "field": "arm", "type": "nominal", "title": "Arm", "legend": {"labelLimit": 360},
        "scale": {"domain": [labels.get(a, a) for a in arms],
                  "range": [arm_colour(a) for a in arms]},
    }  # fmt: skip
    ytitle = f"Mean change ({unit}) with 95% CI"
    x = {"field": "at", "type": "quantitative", "title": "Study week"}
    size = {
        "field": "n",
        "type": "quantitative",
        "title": "Patients",
        "scale": {"range": [0, 160], "zero": True},  # area proportional to n
        # Whole patients in the legend: the counts drawn (one patient's chart read 0.2, 0.4,
        # … 1.0).
        "legend": {"values": _legend_counts([v["n"] for v in values]), "format": "d"},
    }
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": "Mean change from baseline with 95% confidence interval per arm and visit",
        "data": {"values": values},
        "width": 640,
        "height": 260,
        "layer": [
            {"mark": {"type": "rule", "strokeDash": [2, 2], "color": "#888"},
             "encoding": {"y": {"datum": 0}}},
            {"mark": {"type": "line"},
             "encoding": {"x": x, "y": {"field": "mean", "type": "quantitative",
                                        "title": ytitle},
                          "color": color}},
            {"mark": {"type": "point", "filled": True},
             "encoding": {"x": x, "y": {"field": "mean", "type": "quantitative",
                                        "title": ytitle},
                          "color": color, "size": size,
                          "tooltip": [{"field": "arm"}, {"field": "week"},
                                      {"field": "n", "title": "n"},
                                      {"field": "mean", "format": ".1f"},
                                      {"field": "lower", "format": ".1f"},
                                      {"field": "upper", "format": ".1f"}]}},
            {"mark": {"type": "errorbar", "ticks": True},
             "encoding": {"x": x, "y": {"field": "lower", "type": "quantitative", "title": ytitle},
                          "y2": {"field": "upper"}, "color": color}},
        ],
    }  # fmt: skip
