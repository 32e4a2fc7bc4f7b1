"""Cohort analysis on plain tables (pandas/NumPy, no Django).

``selectors.py`` reads the database into the tables described here; everything that decides
a number lives in this module so the API, the pages, the PDF reports and the CLI share it
and it is tested without a database.

Tables
------
visits:        patient_id, visit_id, visit_date (datetime64), is_baseline (bool)
measurements:  visit_id, measurement_id, manual (bool), <outcome columns> (float, NaN = missing)
attributes:    patient_id, arm, sex, age_band, diagnosis, stage
memberships:   patient_id, kind ("product", "lot", "protocol"), value (text): the products and
               lots a patient received and the protocols of their plans (many rows per patient)
sessions:      session_id, patient_id, modality, performed_on (datetime64), plan_id, product,
               lot (text, "" if none): one row per session and lot used (count by session_id)
events:        event_id, patient_id, onset_date, related_session_date (NaT if none),
               related_lot (the lot's id as text, ``event_lots``; "" if none or ambiguous)

Analysis visits
---------------
Each patient's baseline is the visit marked baseline (earliest if several), else the earliest
visit (as ``monitoring.selectors.baseline_visit``). Each later visit is assigned to the nearest
nominal study week (``NOMINAL_WEEKS``) if it lies within that week's window
(``max(14 days, 25 % of the week)``); otherwise it is an unscheduled visit and not analysed.
Where a patient has two visits in one window, the one nearer the nominal day among those
with a value is used. Change is taken within one measurement source (``build_long``): per
visit and source the latest measurement is kept, and a visit's manual value is compared with
the baseline's manual value, else its image-analysis value with the baseline's
image-analysis value; a value of a source the baseline lacks has no change. The patient
progress page (``progress.build_progress``) and ``monitoring.selectors.change_from_baseline``
apply the same rule.

Arms and what is compared
-------------------------
A patient's arm is the initial regimen: the modalities begun within ``INITIAL_REGIMEN_DAYS``
of the first treatment session (``treatment_courses``). A modality begun later changes the
treatment: the patient's visits from that day on are not analysed (censored), so a
transplant at week 30 is not credited to the minoxidil the patient had until then. A
patient whose baseline visit comes after the first session has no untreated baseline and
is not analysed (a baseline on the day of the first session counts: it is taken before).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from statsmodels.stats.multitest import multipletests

from anagen.assessment.labels import combination_label
from anagen.core.text import ascii_digits
from anagen.monitoring.schedule import visit_window_days
from anagen.outcomes.stats import (
    NotEnoughDataError,
    ancova,
    clopper_pearson,
    fit_mmrm,
    incidence_per_100,
    mean_change_ci,
    responder_rate,
)
from anagen.outcomes.stats._long import NO_EXCLUSION

NOMINAL_WEEKS: tuple[int, ...] = (4, 8, 12, 16, 24, 36, 48, 72, 96)
SMALL_N = 10  # below this per arm (or per cell), every result carries a small-n warning
CAUTION_N = 30
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("<30", 0, 29),
    ("30-39", 30, 39),
    ("40-49", 40, 49),
    ("50-59", 50, 59),
    ("60+", 60, 200),
)
AE_WINDOW_DAYS = 30  # an adverse event is attributed to a session at most this long before it
# Combination treatment is seldom begun on one day (minoxidil is often started a few weeks
# after the first injection session): modalities begun within four weeks of the first
# session form the initial regimen; one begun later is a change of treatment.
INITIAL_REGIMEN_DAYS = 28


@dataclass(frozen=True)
class Outcome:
    key: str
    label: str
    unit: str
    responder_default: float
    decimals: int = 1
    better: Literal["increase", "decrease"] = "increase"  # the direction of improvement

    @property
    def change_unit(self) -> str:
        """The unit of a change: a share's change is in percentage points ("≥ 5 %" read as
        five per cent of the baseline)."""
        return "percentage points" if self.unit == "%" else self.unit


OUTCOMES: dict[str, Outcome] = {
    o.key: o
    for o in (
        Outcome("density_per_cm2", "Hair density", "hairs/cm²", 10.0),
        Outcome("hair_count", "Target-area hair count", "hairs", 10.0, 0),
        Outcome("mean_diameter_um", "Mean hair diameter", "µm", 5.0),
        Outcome("terminal_pct", "Terminal hairs", "%", 5.0),
        Outcome("vellus_pct", "Vellus hairs", "%", -5.0, better="decrease"),
        Outcome("anagen_pct", "Anagen hairs", "%", 5.0),
        Outcome(
            "cumulative_thickness_mm_per_cm2",
            "Cumulative thickness (derived: density × mean diameter)",
            "mm/cm²",
            0.5,
            2,
        ),
    )
}
# The area a hair count was taken over (cm²): counts of areas of different sizes are not
# compared (density, count ÷ area, is).
AREA_COLUMN = "target_area_cm2"
# The marked site an image analysis measured (its photo's target area as
# ``imaging.services.site_key`` compares it; None: not known): values of two sites are not
# compared.
SITE_COLUMN = "target_site"
MEASURED_COLUMNS = (
    "hair_count",
    "density_per_cm2",
    "mean_diameter_um",
    "terminal_pct",
    "vellus_pct",
    "anagen_pct",
)


def add_derived(measurements: pd.DataFrame) -> pd.DataFrame:
    """Add cumulative thickness (mm/cm²) = density (/cm²) × mean diameter (µm) / 1000.

    An estimate of TAHW per cm² from the two measured means; it counts every hair, vellus
    included, so it is labelled "derived" wherever it is shown.
    """
    if "density_per_cm2" in measurements and "mean_diameter_um" in measurements:
        measurements = measurements.assign(
            cumulative_thickness_mm_per_cm2=measurements["density_per_cm2"]
            * measurements["mean_diameter_um"]
            / 1000.0
        )
    return measurements


def age_band(age_years: float | None) -> str:
    if age_years is None or (isinstance(age_years, float) and math.isnan(age_years)):
        return "unknown"
    for label, lo, hi in AGE_BANDS:
        if lo <= age_years <= hi:
            return label
    return "unknown"


def age_bands(age_years: np.ndarray) -> np.ndarray:
    out = np.full(age_years.shape, "unknown", dtype=object)
    for label, lo, hi in AGE_BANDS:
        out[(age_years >= lo) & (age_years <= hi)] = label
    return out


def arm_label(modalities: Iterable[str]) -> str:
    """The treatment combination as one label: sorted modalities joined by '+'."""
    mods = sorted({m for m in modalities if m})
    return "+".join(mods) if mods else "none"


def analysis_week(days: ArrayLike, nominal: Sequence[int] = NOMINAL_WEEKS) -> np.ndarray:
    """Nominal study week of each post-baseline study day (NaN if outside every window)."""
    d = np.asarray(days, dtype=float)
    weeks = np.asarray(nominal, dtype=float)
    out = np.full(d.shape, np.nan)
    if d.size == 0:
        return out
    dist = np.abs(d[:, None] - 7.0 * weeks[None, :])
    j = np.argmin(dist, axis=1)
    reach = np.array([visit_window_days(w) for w in weeks])
    ok = (d > 0) & (dist[np.arange(d.size), j] <= reach[j])
    out[ok] = weeks[j[ok]]
    return out


def _no_ids() -> np.ndarray:
    return np.array([], dtype=np.int64)


@dataclass
class LongTable:
    """One row per patient and analysed post-baseline visit, plus per-patient baselines."""

    outcome: str
    rows: pd.DataFrame  # patient_id, visit_id, week, day, value, change, baseline, source
    baselines: pd.DataFrame  # patient_id, baseline_date, baseline (value, NaN = missing)
    n_patients: int
    n_unscheduled_visits: int
    n_before_baseline: int
    # Patients left out because their baseline visit came after their first session.
    late_baseline_ids: np.ndarray = field(default_factory=_no_ids)
    # One patient id per analysis visit left out because the treatment had changed by then.
    censored_visit_ids: np.ndarray = field(default_factory=_no_ids)
    # One patient id per analysed visit with a value but no baseline of the same source.
    source_mismatch_ids: np.ndarray = field(default_factory=_no_ids)
    # One patient id per analysed hair count taken over another area than the baseline's.
    area_mismatch_ids: np.ndarray = field(default_factory=_no_ids)
    # One patient id per analysed image-analysis value of another marked site than the
    # baseline's analysis.
    site_mismatch_ids: np.ndarray = field(default_factory=_no_ids)


def treatment_courses(sessions: pd.DataFrame) -> pd.DataFrame:
    """Per patient with a session: ``first_session``, ``arm`` (the modalities begun within
    ``INITIAL_REGIMEN_DAYS`` of it, as ``arm_label``), ``changed_on`` (the day a later modality
    was begun, NaT if none) and ``added`` (those modalities' label, "" if none).

    ``sessions``: patient_id, modality, performed_on (datetime64), one row per session.
    """
    columns = ["patient_id", "first_session", "arm", "changed_on", "added"]
    if sessions.empty:
        return pd.DataFrame(
            {
                "patient_id": pd.Series(dtype="int64"),
                "first_session": pd.Series(dtype="datetime64[s]"),
                "arm": pd.Series(dtype=object),
                "changed_on": pd.Series(dtype="datetime64[s]"),
                "added": pd.Series(dtype=object),
            }
        )[columns]
    starts = sessions.groupby(["patient_id", "modality"], sort=True)["performed_on"].min()
    starts = starts.reset_index()
    first = starts.groupby("patient_id")["performed_on"].transform("min")
    initial = starts["performed_on"] <= first + pd.Timedelta(days=INITIAL_REGIMEN_DAYS)
    by_patient = starts.groupby("patient_id")
    out = pd.DataFrame({"first_session": by_patient["performed_on"].min()})
    out["arm"] = starts[initial].groupby("patient_id")["modality"].agg(arm_label)
    later = starts[~initial].groupby("patient_id")
    out["changed_on"] = later["performed_on"].min().reindex(out.index)
    added = later["modality"].agg(lambda m: "+".join(sorted(set(m))))
    out["added"] = added.reindex(out.index).fillna("").astype(object)
    return out.reset_index()[columns]


def pick_measurements(measurements: pd.DataFrame) -> pd.DataFrame:
    """One measurement per visit: the latest manual one, else the latest one."""
    if measurements.empty:
        return measurements
    m = measurements.sort_values(
        ["visit_id", "manual", "measurement_id"], ascending=[True, False, False], kind="stable"
    )
    return m.drop_duplicates("visit_id", keep="first")


def pick_by_source(measurements: pd.DataFrame) -> pd.DataFrame:
    """One measurement per visit and source (``manual`` True/False): the latest of each."""
    if measurements.empty:
        return measurements
    m = measurements.sort_values(
        ["visit_id", "manual", "measurement_id"], ascending=[True, False, False], kind="stable"
    )
    return m.drop_duplicates(["visit_id", "manual"], keep="first")


def _source_values(m: pd.DataFrame, column: str, manual: bool) -> pd.Series:
    """visit_id -> ``column`` of that visit's latest measurement of one source."""
    if m.empty or column not in m:
        return pd.Series(dtype=float)
    sub = m[m["manual"].astype(bool) == manual]
    return pd.Series(sub[column].to_numpy(dtype=float), index=sub["visit_id"].to_numpy())


def build_long(
    visits: pd.DataFrame,
    measurements: pd.DataFrame,
    outcome: str,
    courses: pd.DataFrame | None = None,
) -> LongTable:
    """Baseline and change from baseline per analysis week for ``outcome``.

    Change is taken within one measurement source: a visit's manual value minus the
    baseline's manual value, else its image-analysis value minus the baseline's
    image-analysis value (a hand count of 1 cm² and an engine's 0.18 cm² field are not
    compared). A visit with a value but no baseline of the same source keeps its value, has
    no change, and is counted in ``source_mismatch_ids``. A hair count taken over another
    target area than the baseline's count (``AREA_COLUMN``, where the measurements carry it)
    has no change either, and is counted in ``area_mismatch_ids``. Rows carry the ``baseline`` and
    ``source`` ("manual" or "imaging") their change was taken from; ``baselines`` holds
    each patient's baseline value (manual, else image analysis).

    With ``courses`` (``treatment_courses``), patients whose baseline comes after their first
    session are left out, and so are visits from the day the treatment changed. Visits
    without a value are dropped before the visit nearest the nominal day is chosen.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    empty_rows = pd.DataFrame(
        {
            "patient_id": pd.Series(dtype="int64"),
            "visit_id": pd.Series(dtype="int64"),
            "week": pd.Series(dtype=float),
            "day": pd.Series(dtype=float),
            "value": pd.Series(dtype=float),
            "change": pd.Series(dtype=float),
            "baseline": pd.Series(dtype=float),
            "source": pd.Series(dtype=object),
        }
    )
    empty_base = pd.DataFrame(
        {
            "patient_id": pd.Series(dtype="int64"),
            "baseline_date": pd.Series(dtype="datetime64[s]"),
            "baseline": pd.Series(dtype=float),
        }
    )
    if visits.empty:
        return LongTable(outcome, empty_rows, empty_base, 0, 0, 0)
    v = visits[["patient_id", "visit_id", "visit_date", "is_baseline"]]
    # Baseline: marked baseline first (earliest), else earliest visit; ties by id.
    order = v.sort_values(
        ["patient_id", "is_baseline", "visit_date", "visit_id"],
        ascending=[True, False, True, True],
        kind="stable",
    )
    base_visits = order.drop_duplicates("patient_id", keep="first")
    m = pick_by_source(add_derived(measurements))
    manual_of = _source_values(m, outcome, True)
    imaging_of = _source_values(m, outcome, False)

    def per_visit(ids: pd.Series, values: pd.Series) -> np.ndarray:
        return values.reindex(ids.to_numpy()).to_numpy(dtype=float)

    v = v.assign(
        v_manual=per_visit(v["visit_id"], manual_of), v_imaging=per_visit(v["visit_id"], imaging_of)
    )
    base = base_visits[["patient_id", "visit_id", "visit_date"]].rename(
        columns={"visit_id": "baseline_visit_id", "visit_date": "baseline_date"}
    )
    base = base.assign(
        b_manual=per_visit(base["baseline_visit_id"], manual_of),
        b_imaging=per_visit(base["baseline_visit_id"], imaging_of),
    )
    base["baseline"] = base["b_manual"].where(base["b_manual"].notna(), base["b_imaging"])
    late_ids = _no_ids()
    changed_on = pd.Series(dtype="datetime64[s]")
    if courses is not None and not courses.empty:
        c = courses.set_index("patient_id")
        first = c["first_session"].reindex(base["patient_id"].to_numpy()).to_numpy()
        late = base["baseline_date"].to_numpy() > first  # NaT (never treated) compares False
        late_ids = base.loc[late, "patient_id"].to_numpy(dtype=np.int64)
        base = base[~late]
        changed_on = c["changed_on"]
    v = v.merge(base.drop(columns="baseline"), on="patient_id", how="inner")
    v = v[v["visit_id"] != v["baseline_visit_id"]]
    day = (v["visit_date"] - v["baseline_date"]).dt.days.to_numpy(dtype=float)
    week = analysis_week(day)
    n_before = int((day <= 0).sum())
    n_unscheduled = int(((day > 0) & np.isnan(week)).sum())
    v = v.assign(day=day, week=week)
    v = v[~np.isnan(week)]
    censored = _no_ids()
    if len(changed_on):
        after = v["visit_date"].to_numpy() >= changed_on.reindex(v["patient_id"]).to_numpy()
        censored = v.loc[after, "patient_id"].to_numpy(dtype=np.int64)
        v = v[~after]
    # Change within one source: manual to manual, else image analysis to image analysis.
    by_manual = v["v_manual"].notna() & v["b_manual"].notna()
    by_imaging = ~by_manual & v["v_imaging"].notna() & v["b_imaging"].notna()
    value = np.where(by_manual | v["v_manual"].notna() & ~by_imaging, v["v_manual"], v["v_imaging"])
    baseline = np.where(by_manual, v["b_manual"], np.where(by_imaging, v["b_imaging"], np.nan))
    source = np.where(by_manual, "manual", np.where(by_imaging, "imaging", ""))
    v = v.assign(value=value.astype(float), baseline=baseline.astype(float), source=source)
    v = v.assign(change=v["value"] - v["baseline"])
    other_area = np.zeros(len(v), bool)
    if outcome == "hair_count" and AREA_COLUMN in m:
        # Areas of the same source as the values compared: counts over a missing area
        # (not given) are compared only with counts whose area was not given either, as
        # the patient's progress compares them.
        areas = {src: _source_values(m, AREA_COLUMN, src) for src in (True, False)}
        v_area = np.where(by_manual, per_visit(v["visit_id"], areas[True]),
                          per_visit(v["visit_id"], areas[False]))  # fmt: skip
        b_area = np.where(by_manual, per_visit(v["baseline_visit_id"], areas[True]),
                          per_visit(v["baseline_visit_id"], areas[False]))  # fmt: skip
        same_area = np.isclose(v_area, b_area, equal_nan=True)
        other_area = (by_manual | by_imaging).to_numpy() & ~same_area
        v = v.assign(change=v["change"].where(~other_area), _other_area=other_area)
    if SITE_COLUMN in m and not m.empty:
        # Image analysis against image analysis of the same marked site only.
        imaged = m[~m["manual"].astype(bool)]
        sites = pd.Series(imaged[SITE_COLUMN].to_numpy(dtype=object), index=imaged["visit_id"])
        v_site = sites.reindex(v["visit_id"].to_numpy()).to_numpy(dtype=object)
        b_site = sites.reindex(v["baseline_visit_id"].to_numpy()).to_numpy(dtype=object)
        known = pd.notna(v_site) & pd.notna(b_site)
        other_site = by_imaging.to_numpy() & known & (v_site != b_site)
        v = v.assign(change=v["change"].where(~other_site), _other_site=other_site)
    # Visits without a value cannot stand for their window; of the rest, those with a
    # change first, then the one nearest the nominal day.
    v = v[v["value"].notna()]
    v = v.assign(_dist=np.abs(v["day"] - 7.0 * v["week"]), _nochange=v["change"].isna())
    v = v.sort_values(["patient_id", "week", "_nochange", "_dist", "visit_id"], kind="stable")
    v = v.drop_duplicates(["patient_id", "week"], keep="first")
    none = pd.Series(False, index=v.index)
    by_area = v["_other_area"].astype(bool) if "_other_area" in v else none
    by_site = v["_other_site"].astype(bool) & ~by_area if "_other_site" in v else none
    area_mismatch = v.loc[by_area, "patient_id"].to_numpy(dtype=np.int64)
    site_mismatch = v.loc[by_site, "patient_id"].to_numpy(dtype=np.int64)
    mismatch = v.loc[v["change"].isna() & ~by_area & ~by_site, "patient_id"]
    mismatch = mismatch.to_numpy(dtype=np.int64)
    rows = v[["patient_id", "visit_id", "week", "day", "value", "change", "baseline", "source"]]
    rows = rows.astype({"source": object}).reset_index(drop=True)
    baselines = base[["patient_id", "baseline_date", "baseline"]].reset_index(drop=True)
    return LongTable(
        outcome, rows, baselines, int(base_visits.shape[0]), n_unscheduled, n_before,
        late_baseline_ids=late_ids, censored_visit_ids=censored, source_mismatch_ids=mismatch,
        area_mismatch_ids=area_mismatch, site_mismatch_ids=site_mismatch,
    )  # fmt: skip


# --- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortFilters:
    modalities: tuple[str, ...] = ()  # patients who received every one of these
    combination: str = ""  # exact arm label, e.g. "exosome+minoxidil"
    diagnosis: str = ""
    stage: str = ""
    sex: str = ""
    age_band: str = ""
    product: str = ""
    lot: str = ""
    protocol: str = ""


def apply_filters(
    attributes: pd.DataFrame, f: CohortFilters, memberships: pd.DataFrame | None = None
) -> pd.DataFrame:
    a = attributes
    if a.empty:
        return a
    keep = np.ones(len(a), dtype=bool)
    if f.modalities:
        arms = a["arm"].astype(str)
        for m in f.modalities:
            keep &= arms.str.split("+").map(lambda parts, m=m: m in parts).to_numpy(dtype=bool)
    if f.combination:
        keep &= (a["arm"] == f.combination).to_numpy()
    for name in ("diagnosis", "stage", "sex", "age_band"):
        value = getattr(f, name)
        if value:
            keep &= (a[name].astype(str) == value).to_numpy()
    for kind in ("product", "lot", "protocol"):
        value = getattr(f, kind)
        if value:
            if memberships is None or memberships.empty:
                keep &= False
                continue
            m = memberships
            ids = m.loc[(m["kind"] == kind) & (m["value"] == value), "patient_id"].unique()
            keep &= a["patient_id"].isin(ids).to_numpy()
    return a[keep]


# --- results -------------------------------------------------------------------------------


@dataclass
class Section:
    """One result block: either data or a plain 'not enough data' message, never both."""

    key: str
    title: str
    ok: bool
    message: str = ""
    data: Any = None
    missing_data: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = self.data
        if hasattr(data, "to_dict"):
            data = data.to_dict()
        return {
            "key": self.key,
            "title": self.title,
            "ok": self.ok,
            "message": self.message,
            "data": _json(data),
            "missing_data": self.missing_data,
            "warnings": list(self.warnings),
        }


def _finite(x: Any) -> float | None:
    """None for a missing or undefined number (NaN/inf), so no page or API shows NaN."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _json(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _json(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _not_enough(key: str, title: str, exc: Exception, missing: str = "") -> Section:
    msg = str(exc)
    if not msg.startswith("not enough data"):
        msg = f"not enough data: {msg}"
    return Section(key, title, False, message=msg[0].upper() + msg[1:], missing_data=missing)


def arm_words(arm: str) -> str:
    """A cohort arm in words, the arm of patients without a session ("none") included."""
    return "No session recorded" if arm == "none" else combination_label(arm)


def _small_n_warnings(n_by_arm: dict[str, int], noun: str, where: str = "") -> list[str]:
    """``noun`` is plural ("patients"), ``where`` follows the count (" at week 12"); arms are
    named in words."""
    out = []
    for arm, n in sorted(n_by_arm.items()):
        name = arm_words(arm)
        count = f"{n} {noun.removesuffix('s') if n == 1 else noun}{where}"
        if n < SMALL_N:
            out.append(
                f"Small n: {name} has only {count}; estimates are very imprecise and a "
                "difference may be chance."
            )
        elif n < CAUTION_N:
            out.append(f"Limited n: {name} has {count}; read the confidence interval.")
    return out


def _week_label(w: float) -> str:
    return f"week {int(w)}"


# The arms contrasts are made against when none is chosen, in order of preference: patients
# with no session (the nearest this series has to a control), else topical minoxidil alone
# (the licensed first-line treatment, the usual active comparator of trials), else an arm of
# established treatments. An investigational exosome arm is the reference only when every
# arm has exosomes: contrasts "against exosome" would make it the yardstick it is not.
PREFERRED_REFERENCE_ARMS = ("none", "minoxidil")


def default_reference(arms: Iterable[str], sizes: dict[str, int] | None = None,
                      min_n: int = 0) -> str:  # fmt: skip
    """The reference arm among ``arms`` when the user chose none ("" when there is no arm).
    With ``sizes`` (patients per arm), arms of fewer than ``min_n`` are passed over while
    another arm is large enough: a view that withholds small arms' results would withhold
    every contrast against such a reference."""
    present = sorted(set(arms))
    if sizes is not None and min_n > 0:
        large = [a for a in present if sizes.get(a, 0) >= min_n]
        present = large or present
    for arm in PREFERRED_REFERENCE_ARMS:
        if arm in present:
            return arm
    established = [a for a in present if "exosome" not in a.split("+")]
    return (established or present or [""])[0]


@dataclass
class CohortOptions:
    outcome: str = "density_per_cm2"
    threshold: float | None = None  # responder threshold (change in outcome units)
    landmark_week: int | None = None  # default: default_landmark
    reference_arm: str = ""  # default: default_reference() of the arms
    # The default reference passes over arms of fewer patients than this (0: none); views
    # that withhold small cells set it to their threshold.
    min_reference_n: int = 0
    level: float = 0.95
    df_method: str = "kenward-roger"  # Kenward-Roger for clinic-sized cohorts (REF B§4)
    max_mmrm_arms: int = 6


@dataclass
class CohortResult:
    outcome: Outcome
    filters: CohortFilters
    options: CohortOptions
    n_patients: int  # matching the filters
    n_with_baseline: int  # ... with a baseline value of the outcome
    n_analysed: int  # ... with a baseline and at least one analysed follow-up value
    arms: list[str]
    weeks: list[int]
    reference_arm: str
    landmark_week: int | None
    sections: dict[str, Section]
    notes: list[str]

    @property
    def enough(self) -> bool:
        return self.n_analysed >= 2

    def to_dict(self) -> dict[str, Any]:
        o = self.outcome
        return {
            "outcome": {"key": o.key, "label": o.label, "unit": o.unit},
            "filters": {
                k: (list(v) if isinstance(v, tuple) else v)
                for k, v in self.filters.__dict__.items()
            },
            "threshold": self.options.threshold,
            "level": self.options.level,
            "n_patients": self.n_patients,
            "n_with_baseline": self.n_with_baseline,
            "n_analysed": self.n_analysed,
            "arms": self.arms,
            "weeks": self.weeks,
            "reference_arm": self.reference_arm,
            "landmark_week": self.landmark_week,
            "notes": self.notes,
            "sections": {k: s.to_dict() for k, s in self.sections.items()},
        }


def _count(n: int, one: str, many: str) -> str:
    """'1 patient matches', '3 patients match'."""
    return f"{n} {one if n == 1 else many}"


def _left_out(patient_ids: np.ndarray, selected: np.ndarray, what: str, why: str) -> str:
    """ " N <what>s of M patients left out: <why>" for the selected patients' ids (one per
    value), or "" when none was."""
    ids = patient_ids[np.isin(patient_ids, selected)]
    if not ids.size:
        return ""
    n_pat = int(np.unique(ids).size)
    return (
        f" {ids.size} {what}{'s' if ids.size != 1 else ''} of {n_pat} "
        f"patient{'s' if n_pat != 1 else ''} left out: {why}"
    )


def analyse_cohort(
    long: LongTable,
    attributes: pd.DataFrame,
    options: CohortOptions,
    filters: CohortFilters | None = None,
) -> CohortResult:
    """Mean change per arm and visit, responders, ANCOVA and MMRM for the selected patients.

    ``attributes`` holds the selected patients only (after ``apply_filters``); ``long`` may
    hold more patients: it is restricted here.
    """
    filters = filters or CohortFilters()
    outcome = OUTCOMES[options.outcome]
    threshold = outcome.responder_default if options.threshold is None else options.threshold
    threshold += 0.0  # -0 is 0 ("change ≥ -0" read as a typo)
    options.threshold = threshold
    ids = attributes["patient_id"].to_numpy() if not attributes.empty else np.array([], int)
    arm_of = (
        pd.Series(attributes["arm"].to_numpy(), index=ids) if len(ids) else pd.Series(dtype=str)
    )
    rows = long.rows[long.rows["patient_id"].isin(ids)]
    bases = long.baselines[long.baselines["patient_id"].isin(ids)]
    n_with_baseline = int(bases["baseline"].notna().sum())
    rows = rows[rows["change"].notna()]
    rows = rows.assign(arm=arm_of.reindex(rows["patient_id"].to_numpy()).to_numpy())
    n_analysed = int(rows["patient_id"].nunique())
    arms = sorted(rows["arm"].unique().tolist())
    weeks = sorted(int(w) for w in rows["week"].unique())
    notes = [
        f"{_count(len(ids), 'patient matches', 'patients match')} the filters; "
        f"{_count(n_with_baseline, 'patient has', 'patients have')} a baseline value of "
        f"{outcome.label.lower()}; {_count(n_analysed, 'patient also has', 'patients also have')}"
        " at "
        "least one analysed follow-up value.",
        "Arms are as treated: the modalities of each patient's recorded, non-voided treatment "
        f"sessions begun within {INITIAL_REGIMEN_DAYS} days of the first one ('none' = no "
        "session recorded); visits after a modality was added later are not analysed. This is "
        "an observational clinic series, not a randomised trial: differences between arms may "
        "reflect who was offered which treatment (confounding), not the treatment itself.",
        WITHIN_ARM_NOTE,
    ]
    late = int(np.isin(long.late_baseline_ids, ids).sum())
    if late:
        notes.append(
            f"{late} patient{'s' if late != 1 else ''} not analysed: the baseline visit came "
            "after the first treatment session, so there is no untreated baseline to measure "
            "change from."
        )
    censored = long.censored_visit_ids[np.isin(long.censored_visit_ids, ids)]
    if censored.size:
        n_pat = int(np.unique(censored).size)
        notes.append(
            f"{censored.size} follow-up visit{'s' if censored.size != 1 else ''} of {n_pat} "
            f"patient{'s' if n_pat != 1 else ''} not analysed: by then another modality had been "
            "added to the initial regimen (the change would mix both treatments)."
        )
    if long.n_unscheduled_visits:
        notes.append(
            f"{long.n_unscheduled_visits} visits fell outside every nominal visit window and are "
            "not analysed (clinic-wide count)."
        )
    reference = options.reference_arm if options.reference_arm in arms else ""
    if not reference:
        sizes = {str(a): int(n) for a, n in rows.groupby("arm")["patient_id"].nunique().items()}
        reference = default_reference(arms, sizes, options.min_reference_n)
        if reference != default_reference(arms) and not options.reference_arm:
            notes.append(
                f"The comparisons use {arm_words(reference)} as the reference: "
                f"{arm_words(default_reference(arms))}, the usual one, has fewer than "
                f"{options.min_reference_n} patients, too few to be the reference (figures "
                "of so few patients are left out of the PDF report)."
            )
        if options.reference_arm and arms:
            notes.append(
                f"The chosen reference arm {arm_words(options.reference_arm)} has no patient "
                f"with a follow-up value in this selection; the comparisons use "
                f"{arm_words(reference)}."
            )
    sections: dict[str, Section] = {}
    result = CohortResult(
        outcome, filters, options, int(len(ids)), n_with_baseline, n_analysed, arms, weeks,
        reference, None, sections, notes,
    )  # fmt: skip
    title_cbv = f"Mean change from baseline in {outcome.label.lower()} ({outcome.change_unit})"
    if n_analysed == 0:
        reason = (
            "no patient matches the filters"
            if len(ids) == 0
            else "no patient has both a baseline and a follow-up value of this outcome"
        )
        for key, title in _section_titles(outcome, threshold):
            sections[key] = Section(key, title, False, message=f"Not enough data: {reason}.")
        sections["by_visit"].title = title_cbv
        return result

    # 1. Observed mean change with a t interval per arm and week (mean_change_ci per cell;
    #    the same numbers as stats.change_by_visit, without its per-cell scans of all rows).
    table = []
    warn_cells = 0
    by_cell = rows.groupby(["arm", "week"], sort=True)["change"]
    for (arm, week), x in by_cell:
        values = x.to_numpy(dtype=float)
        n = int(values.size)
        cell = {"arm": str(arm), "week": int(week), "n": n, "mean": _finite(values.mean()),
                "sd": None, "lower": None, "upper": None, "small_n": n < SMALL_N}  # fmt: skip
        if n >= 2:
            ci = mean_change_ci(values, level=options.level)
            cell.update(sd=_finite(ci.sd), lower=_finite(ci.lower), upper=_finite(ci.upper))
        warn_cells += n < SMALL_N
        table.append(cell)
    warnings = []
    if warn_cells:
        warnings.append(
            f"Small n: {warn_cells} arm-visit cells have fewer than {SMALL_N} patients "
            "(marked); cells with one patient show no interval."
        )
    n_rows_all = int(long.rows["patient_id"].isin(ids).sum())
    missing = (
        f"Observed-case summary: {len(rows)} of {n_rows_all} analysed follow-up visits have both "
        f"a baseline and a visit value ({n_analysed} of {len(ids)} patients). Missing visits "
        "are not imputed (no LOCF), so later visits summarise a shrinking, possibly selected "
        "group; the MMRM below uses all observed visits and is valid under missing at random."
    )
    missing += _left_out(
        long.source_mismatch_ids, ids, "follow-up value",
        "measured by a different source (manual count or image analysis) than the baseline, "
        "which has no value of that source; change is taken only within one source.",
    )  # fmt: skip
    missing += _left_out(
        long.area_mismatch_ids, ids, "follow-up hair count",
        "counted over another target area than the baseline's, so the counts are not "
        "comparable (density is).",
    )  # fmt: skip
    missing += _left_out(
        long.site_mismatch_ids, ids, "follow-up image-analysis value",
        "its photo shows another marked target area than the baseline's analysis, and one "
        "site is not compared with another.",
    )  # fmt: skip
    sections["by_visit"] = Section(
        "by_visit", title_cbv, True, data={"rows": table, "level": options.level},
        missing_data=missing, warnings=warnings,
    )  # fmt: skip

    counts = rows.groupby(["week", "arm"]).size().unstack(fill_value=0)
    landmark = options.landmark_week
    if landmark is None:
        landmark = default_landmark(counts)
    result.landmark_week = int(landmark)
    at_landmark = rows[rows["week"] == float(landmark)]

    # 2. Responders at the landmark, per arm (Clopper-Pearson).
    direction: Literal["increase", "decrease"] = "increase" if threshold >= 0 else "decrease"
    sign = "≥" if direction == "increase" else "≤"
    # A threshold against the good direction counts patients who got worse: say so.
    worsening = direction != outcome.better
    who = "Worsening (not responders)" if worsening else "Responders"
    title_resp = (
        f"{who} at week {landmark}: change {sign} {threshold:g} {outcome.change_unit} "
        "(exact 95% CI)"
    )
    resp_rows = []
    resp_missing = ""
    # Eligible: the selected patients with a baseline value (a patient who never had one
    # cannot have a change, and the ANCOVA does not count them either).
    eligible = bases.loc[bases["baseline"].notna(), "patient_id"].to_numpy()
    arm_of_eligible = arm_of[arm_of.index.isin(eligible)]
    # Arms whose patients have a baseline but no follow-up value at all are listed too: the
    # table says they have none rather than leaving them out unsaid.
    resp_arms = arms + sorted(set(arm_of_eligible.astype(str)) - set(arms))
    for arm in resp_arms:
        x = at_landmark.loc[at_landmark["arm"] == arm, "change"].to_numpy(dtype=float)
        n_arm = int(arm_of_eligible.eq(arm).sum())
        # The arm's eligible patients without a value at the landmark are its missing values.
        n_missing = max(0, n_arm - x.size)
        x = np.concatenate([x, np.full(n_missing, np.nan)])
        if n_missing == n_arm:
            # Said in words: the statistics module's "no non-missing change values" is not.
            resp_rows.append({"arm": arm, "n": 0, "n_in_arm": n_arm, "n_missing": n_missing,
                              "small_n": True, "message": f"No patient of this arm has a "
                              f"value at week {landmark} ({n_arm} with a baseline)."})  # fmt: skip
            continue
        try:
            rr = responder_rate(x, threshold, direction=direction, level=options.level)
            resp_rows.append({"arm": arm, **rr.to_dict(), "n_in_arm": n_arm,
                              "small_n": rr.n < SMALL_N, "message": ""})  # fmt: skip
        except (NotEnoughDataError, ValueError) as exc:
            resp_rows.append({"arm": arm, "n": 0, "n_in_arm": n_arm, "n_missing": n_missing,
                              "message": str(exc), "small_n": True})  # fmt: skip
    if resp_rows and any(r.get("proportion") is not None for r in resp_rows):
        # Patients who stayed away are more often those who did worse: leaving them out
        # makes a response rate too high and a worsening rate too low.
        resp_missing = (
            f"Patients without a value at week {landmark} are left out of the denominator "
            f"(counted neither as {'worsening' if worsening else 'responders'} nor as "
            f"{'not worsening' if worsening else 'non-responders'}); missing values are not "
            "imputed. If those who stayed away did worse, the rate is too "
            f"{'low' if worsening else 'high'}."
        )
        sections["responders"] = Section(
            "responders", title_resp, True, data={"rows": resp_rows, "threshold": threshold,
                                                  "direction": direction,
                                                  "counted": "Worsened" if worsening
                                                  else "Responders"},
            missing_data=resp_missing,
            warnings=_small_n_warnings(
                {r["arm"]: r.get("n", 0) for r in resp_rows if r.get("n")}, "patients",
                f" at week {landmark}",
            ),
        )  # fmt: skip
    else:
        sections["responders"] = Section(
            "responders", title_resp, False,
            message=f"Not enough data: no patient has a value at week {landmark}.",
        )  # fmt: skip

    # 3. ANCOVA at the landmark (baseline covariate).
    title_anc = f"ANCOVA of change at week {landmark} (baseline as covariate)"
    if len(arms) < 2:
        sections["ancova"] = Section(
            "ancova", title_anc, False,
            message=f"Not enough data: only one arm ({arm_words(arms[0])}) in the selection; a "
            "comparison needs at least two. Widen the filters.",
        )  # fmt: skip
    else:
        # Patients with a baseline in the compared arms but no value at the landmark: the
        # landmark rows passed below cannot show them, and the statement must count them.
        without_value = int((~arm_of_eligible.index.isin(at_landmark["patient_id"])).sum())
        # An arm of one patient at the landmark is left out, as from the MMRM: its "adjusted
        # difference" would be that patient's residual, with a p-value, in the Holm family.
        per_arm = at_landmark.groupby("arm")["patient_id"].nunique()
        single = sorted(str(a) for a in per_arm.index if per_arm[a] < 2)
        at_landmark = at_landmark[~at_landmark["arm"].isin(single)]
        with_value = set(at_landmark["arm"])
        dropped = sorted(set(arm_of_eligible.astype(str)) - with_value - set(single))
        reference_note = []
        anc_reference = reference
        if reference not in with_value and with_value:
            # The cohort's own default among the arms that can be compared, said on the page.
            anc_reference = default_reference(with_value)
            reference_note.append(
                f"The reference arm {arm_words(reference)} has no value at week "
                f"{landmark}; the contrasts are against {arm_words(anc_reference)} "
                "instead."
            )
        single_note = (
            [f"Not compared (too few patients with a value at week {landmark} to estimate; "
             "an arm needs two): "
             f"{', '.join(arm_words(a) for a in single)}."]
            if single else []
        )  # fmt: skip
        try:
            if len(with_value) < 2:
                raise NotEnoughDataError(
                    f"fewer than two arms have at least two patients with a value at week "
                    f"{landmark}; a comparison needs two. Widen the filters."
                )
            res = ancova(
                at_landmark["patient_id"].to_numpy(),
                at_landmark["arm"].to_numpy(),
                at_landmark["week"].to_numpy().astype(int),  # "week 24", not "24.0"
                _row_baselines(at_landmark, bases),
                at_landmark["change"].to_numpy(),
                landmark_visit=int(landmark),
                reference_arm=anc_reference if with_value else None,
                level=options.level,
                visit_label=f"week {int(landmark)}",
                n_without_landmark=without_value,
            )
            data = _ancova_dict(res)
            statement = res.missing_data
            if dropped:
                statement += " " + _arms_without_value(dropped, arm_of_eligible, landmark)
            if single_note:
                # The fit saw only the compared arms: its "No subject was excluded." read so
                # beside the arm just left out (review).
                n_single = sum(int(per_arm[a]) for a in per_arm.index if str(a) in single)
                statement = statement.replace(NO_EXCLUSION, "").strip()
                statement += (
                    f" {n_single} patient{'s' if n_single != 1 else ''} with a value at week "
                    f"{landmark} excluded with {'their arms' if len(single) > 1 else 'their arm'}"
                    f". {single_note[0]}"
                )
            sections["ancova"] = Section(
                "ancova", title_anc, True, data=data, missing_data=statement,
                warnings=add_holm(data["contrasts"]) + _small_n_warnings(
                    dict(zip(res.arms, res.n_per_arm, strict=True)), "patients",
                    f" at week {landmark}",
                ) + reference_note,
            )  # fmt: skip
        except (NotEnoughDataError, ValueError) as exc:
            sections["ancova"] = _not_enough("ancova", title_anc, exc)

    # 4. MMRM over the weeks where every arm has at least two values.
    title_mmrm = "MMRM: treatment × visit, baseline × visit, unstructured covariance (REML)"
    sections["mmrm"] = _mmrm_section(rows, bases, arms, counts, reference, options, title_mmrm)
    return result


def _arms_without_value(arms: list[str], arm_of: pd.Series, landmark: int) -> str:
    """The statement for arms left out of a landmark comparison: none of their patients has
    a value there (their patients are among those counted as without a value)."""
    named = ", ".join(f"{arm_words(a)} ({int(arm_of.eq(a).sum())} with a baseline)"
                      for a in arms)  # fmt: skip
    return (
        f"Arm{'s' if len(arms) != 1 else ''} not compared because no patient has a value at "
        f"week {landmark}: {named}."
    )


def one_source_per_patient(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of a repeated-measures fit, one measurement source per patient.

    Change is taken within one source per visit, so a patient measured by hand at one visit
    and by image analysis at another has two baselines; the MMRM needs one per patient (a
    baseline that varies within a subject is refused, which dropped the fit for the whole
    cohort). Such a patient keeps the manual rows; a patient with no manual change keeps the
    image-analysis rows. Rows without a source (built without one) are kept."""
    if rows.empty or "source" not in rows:
        return rows
    manual = rows["source"].eq("manual")
    has_manual = manual.groupby(rows["patient_id"]).transform("any")
    return rows[manual | ~has_manual | rows["source"].eq("")]


def _row_baselines(rows: pd.DataFrame, bases: pd.DataFrame) -> np.ndarray:
    """The baseline each row's change was taken from (same source); the patient's baseline
    for rows built without one."""
    base_map = pd.Series(bases["baseline"].to_numpy(), index=bases["patient_id"])
    per_patient = base_map.reindex(rows["patient_id"].to_numpy()).to_numpy(dtype=float)
    if "baseline" not in rows:
        return per_patient
    own = rows["baseline"].to_numpy(dtype=float)
    return np.where(np.isnan(own), per_patient, own)


def default_landmark(counts: pd.DataFrame) -> int:
    """The analysis week with the most patients among weeks where at least two arms have
    two or more values each (later week on a tie); with no such week, the week with the most
    patients. ``counts``: patients per week (index) and arm (columns).

    Not "the latest week with data in every arm": one arm of a single patient would push
    that to the last week anyone came back, where each arm has one value or none.
    """
    per_week = counts.sum(axis=1)
    comparable = [w for w in counts.index if int((counts.loc[w] >= 2).sum()) >= 2]
    pool = per_week.loc[comparable] if comparable else per_week
    best = pool[pool == pool.max()]
    return int(max(best.index))


def _section_titles(outcome: Outcome, threshold: float) -> list[tuple[str, str]]:
    return [
        ("by_visit", f"Mean change from baseline ({outcome.change_unit})"),
        ("responders", f"Responders (change ≥ {threshold:g} {outcome.change_unit})"),
        ("ancova", "ANCOVA at the landmark visit"),
        ("mmrm", "MMRM (treatment × visit)"),
    ]


# Said with every analysis: an arm's mean change from baseline has no control group.
WITHIN_ARM_NOTE = (
    "An arm's change from baseline is not a treatment effect: without a control group it also "
    "holds the change hair shows untreated (the natural course, seasonal shedding), "
    "measurement variation and regression to the mean (patients often start treatment when "
    "their hair looks worst). An interval that excludes zero does not show that a treatment "
    "works."
)


MULTIPLICITY_NOTE = (
    "p is each comparison's own (unadjusted); p (Holm) adjusts for the {n} comparisons in this "
    "table (Holm's step-down, family-wise error 5 %). Read the confidence intervals first: a "
    "clinic series is not powered or planned for these tests."
)


def add_holm(contrasts: list[dict[str, Any]]) -> list[str]:
    """Add ``p_holm`` to each contrast (Holm's step-down over the table's p-values, as
    statsmodels' ``multipletests``); returns the note for the section (none for one test)."""
    ps: dict[int, float] = {}
    for i, c in enumerate(contrasts):
        c["p_holm"] = None
        p = c.get("p")
        if p is not None and math.isfinite(float(p)):
            ps[i] = float(p)
    finite = list(ps)
    if not finite:
        return []
    adjusted = multipletests([ps[i] for i in finite], method="holm")[1]
    for i, q in zip(finite, adjusted, strict=True):
        contrasts[i]["p_holm"] = float(q)
    return [MULTIPLICITY_NOTE.format(n=len(finite))] if len(finite) > 1 else []


def _ancova_dict(res: Any) -> dict[str, Any]:
    return {
        "visit": res.visit,
        "arms": list(res.arms),
        "reference_arm": res.reference_arm,
        "n_used": res.n_used,
        "n_per_arm": list(res.n_per_arm),
        "residual_sd": res.residual_sd,
        "df_residual": res.df_residual,
        "lsmeans": [x.to_dict() for x in res.lsmeans],
        "contrasts": [x.to_dict() for x in res.contrasts],
        "method": res.method,
    }


def _mmrm_section(
    rows: pd.DataFrame,
    bases: pd.DataFrame,
    arms: list[str],
    counts: pd.DataFrame,
    reference: str,
    options: CohortOptions,
    title: str,
) -> Section:
    # Arms too thin to estimate (fewer than two values at most visits) are left out and named,
    # rather than letting one near-empty arm block the comparison of the others.
    half = max(1, (len(counts.index) + 1) // 2)
    thin = [a for a in arms if int((counts[a] >= 2).sum()) < half]
    kept = [a for a in arms if a not in thin]
    if len(kept) < 2:
        why = (
            "only one arm in the selection; the MMRM compares arms. Widen the filters."
            if len(arms) < 2
            else "fewer than two arms have at least two patients at most visits "
            "(unbalanced visits)."
        )
        return Section("mmrm", title, False, message=f"Not enough data: {why}")
    if len(kept) > options.max_mmrm_arms:
        return Section(
            "mmrm", title, False,
            message=f"Not fitted: {len(kept)} arms (at most {options.max_mmrm_arms}); filter by "
            "modality or combination to compare fewer arms.",
        )  # fmt: skip
    sub = counts[kept]
    usable = [int(w) for w in sub.index if (sub.loc[w] >= 2).all()]
    dropped = [int(w) for w in sub.index if int(w) not in usable]
    if not usable:
        return Section(
            "mmrm", title, False,
            message="Not enough data: no visit has at least two patients in every arm "
            "(unbalanced visits).",
        )  # fmt: skip
    use = rows[rows["week"].isin([float(w) for w in usable]) & rows["arm"].isin(kept)]
    before_sources = use
    use = one_source_per_patient(use)
    n_other_source = len(before_sources) - len(use)
    n_other_patients = before_sources.loc[
        ~before_sources.index.isin(use.index), "patient_id"
    ].nunique()
    reference_note = []
    if reference not in kept:
        chosen, reference = reference, default_reference(kept)
        reference_note.append(
            f"The reference arm {arm_words(chosen)} is not in the MMRM (too few "
            f"values); the contrasts are against {arm_words(reference)} instead."
        )
    try:
        fit = fit_mmrm(
            use["patient_id"].to_numpy(),
            use["arm"].to_numpy(),
            use["week"].to_numpy(),
            _row_baselines(use, bases),
            use["change"].to_numpy(),
            reference_arm=reference if reference in set(use["arm"].unique()) else None,
            visit_order=[float(w) for w in usable],
            level=options.level,
            df_method="satterthwaite",
        )
        if options.df_method == "kenward-roger":
            # On failure keep Satterthwaite; df_method in the result says which was used.
            with contextlib.suppress(NotEnoughDataError, ValueError, np.linalg.LinAlgError):
                fit = fit.with_df_method("kenward-roger")
    except (NotEnoughDataError, ValueError, np.linalg.LinAlgError) as exc:
        return _not_enough("mmrm", title, exc)
    missing = fit.missing_data
    if thin:
        # The fit saw only the kept arms: its "No subject was excluded." is not the whole
        # story (it read so right after an arm had been left out).
        missing = missing.replace(NO_EXCLUSION, "").strip()
        n_thin = int(rows.loc[rows["arm"].isin(thin), "patient_id"].nunique())
        missing += (
            f" {n_thin} patient{'s' if n_thin != 1 else ''} excluded with "
            f"{'their arms' if len(thin) > 1 else 'their arm'}, left out of the MMRM because "
            f"{'they have' if len(thin) > 1 else 'it has'} fewer than two values at most "
            f"visits: {', '.join(arm_words(a) for a in thin)}."
        )
    if n_other_source:
        missing += (
            f" {n_other_source} value{'s' if n_other_source != 1 else ''} of "
            f"{n_other_patients} patient{'s' if n_other_patients != 1 else ''} measured by "
            "image analysis at some visits and by hand at others left out: the MMRM takes one "
            "measurement source per patient (the manual one), and counts them as missing."
        )
    if dropped:
        missing += (
            f" Visits left out of the MMRM because some arm has fewer than two values there: "
            f"{', '.join(_week_label(w) for w in dropped)} (unbalanced visits)."
        )
    n_by_arm = use.groupby("arm")["patient_id"].nunique().to_dict()
    contrasts = [c.to_dict() for c in fit.contrasts]
    for c in contrasts:
        c["week"] = int(float(c["visit"]))
    lsmeans = [x.to_dict() for x in fit.lsmeans]
    for x in lsmeans:
        x["week"] = int(float(x["visit"]))
    data = {
        "arms": list(fit.arms),
        "reference_arm": fit.reference_arm,
        "weeks": usable,
        "n_subjects": fit.n_subjects,
        "n_observations": fit.n_observations,
        "n_incomplete_subjects": fit.n_incomplete_subjects,
        "df_method": fit.df_method,
        "method": fit.method,
        "covariance_structure": fit.covariance_structure,
        "lsmeans": lsmeans,
        "contrasts": contrasts,
    }
    return Section(
        "mmrm", title, True, data=data, missing_data=missing,
        warnings=add_holm(contrasts)
        + _small_n_warnings({str(k): int(v) for k, v in n_by_arm.items()}, "patients")
        + reference_note,
    )  # fmt: skip


# --- adverse events ------------------------------------------------------------------------


def event_lots(events: pd.DataFrame, lots: pd.DataFrame, sessions: pd.DataFrame) -> pd.Series:
    """The lot each adverse event names (its id as text, "" if none or ambiguous).

    ``events``: patient_id, lot_number (the number the event records, "" if none).
    ``lots``: lot (id as text), lot_number: the clinic's lots. ``sessions``: patient_id,
    lot (id as text), one row per session and lot used.

    Lot numbers are unique per product only, and an event records a number, not a product:
    a number held by one lot names it; one held by lots of several products names the one
    among them used in the patient's sessions, and stays unmatched ("") when that is not
    exactly one (the event is then charged to every session of its day).
    """
    out = pd.Series("", index=events.index, dtype=object)
    if events.empty or lots.empty:
        return out
    numbers = events["lot_number"].fillna("").astype(str)
    candidates = lots[["lot", "lot_number"]].astype(str).drop_duplicates()
    per_number = candidates.groupby("lot_number")["lot"].agg(list).to_dict()
    ambiguous = {x for lots_of in per_number.values() if len(lots_of) > 1 for x in lots_of}
    used: dict[Any, set[str]] = {}
    if ambiguous and not sessions.empty:
        s = sessions.loc[sessions["lot"].astype(str).isin(ambiguous), ["patient_id", "lot"]]
        for pid, lot in s.itertuples(index=False):
            used.setdefault(pid, set()).add(str(lot))
    for i, pid, number in zip(events.index, events["patient_id"], numbers, strict=True):
        found = per_number.get(number, []) if number else []
        if len(found) > 1:
            found = [x for x in found if x in used.get(pid, set())]
        if len(found) == 1:
            out[i] = found[0]
    return out


def event_sessions(sessions: pd.DataFrame, events: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The sessions each adverse event is charged to, as (event_id, session_id) pairs.

    ``sessions``: session_id, patient_id, performed_on (datetime64), lot (text, "" if none).
    ``events``: event_id, patient_id, onset_date, related_session_date (NaT if not given),
    related_lot (the lot the event names, in the sessions' ``lot`` spelling; "" or absent if
    none).

    First the day: the named session date when the patient had a session that day; else,
    for an event naming a lot, the latest session with that lot on or up to
    ``AE_WINDOW_DAYS`` before onset; else the patient's latest session in that window. Then
    the sessions of that day: those that used the named lot when one of them did, otherwise
    every session of the day (an exosome session and a minoxidil start on one day are both
    charged). Returns the pairs and the number of events charged to no session.
    """
    pairs_empty = pd.DataFrame(
        {"event_id": pd.Series(dtype="int64"), "session_id": pd.Series(dtype="int64")}
    )
    if sessions.empty or events.empty:
        return pairs_empty, int(len(events))
    e = events[["event_id", "patient_id", "onset_date", "related_session_date"]].copy()
    lot_col = events["related_lot"] if "related_lot" in events else pd.Series("", index=e.index)
    e["related_lot"] = lot_col.fillna("").astype(str).to_numpy()
    s = sessions[["session_id", "patient_id", "performed_on"]].copy()
    lots = sessions["lot"] if "lot" in sessions else pd.Series("", index=s.index)
    s["lot"] = lots.fillna("").astype(str).to_numpy()
    days = s[["patient_id", "performed_on"]].drop_duplicates()
    e["day"] = pd.Series(pd.NaT, index=e.index, dtype=s["performed_on"].dtype)
    # 1. The named session date, where the patient had a session that day.
    named = pd.MultiIndex.from_arrays([e["patient_id"], e["related_session_date"]])
    has_day = named.isin(pd.MultiIndex.from_frame(days)) & e["related_session_date"].notna()
    e.loc[has_day, "day"] = e.loc[has_day, "related_session_date"]
    tolerance = pd.Timedelta(days=AE_WINDOW_DAYS)
    # 2. The latest session with the named lot in the window before onset.
    want = e[e["day"].isna() & (e["related_lot"] != "")]
    with_lot = s[s["lot"] != ""]
    if not want.empty and not with_lot.empty:
        got = pd.merge_asof(
            want.drop(columns="day").sort_values("onset_date"),
            with_lot[["patient_id", "lot", "performed_on"]]
            .rename(columns={"lot": "related_lot"})
            .drop_duplicates()
            .sort_values("performed_on"),
            left_on="onset_date", right_on="performed_on", by=["patient_id", "related_lot"],
            direction="backward", tolerance=tolerance,
        )  # fmt: skip
        day_of = pd.Series(got["performed_on"].to_numpy(), index=got["event_id"].to_numpy())
        e.loc[want.index, "day"] = day_of.reindex(want["event_id"].to_numpy()).to_numpy()
    # 3. The patient's latest session day in the window before onset.
    want = e[e["day"].isna()]
    if not want.empty:
        got = pd.merge_asof(
            want.drop(columns="day").sort_values("onset_date"),
            days.sort_values("performed_on"),
            left_on="onset_date", right_on="performed_on", by="patient_id",
            direction="backward", tolerance=tolerance,
        )  # fmt: skip
        day_of = pd.Series(got["performed_on"].to_numpy(), index=got["event_id"].to_numpy())
        e.loc[want.index, "day"] = day_of.reindex(want["event_id"].to_numpy()).to_numpy()
    n_unattributed = int(e["day"].isna().sum())
    e = e[e["day"].notna()]
    pairs = e.merge(
        s.rename(columns={"performed_on": "day"}), on=["patient_id", "day"], how="inner"
    )
    if pairs.empty:
        return pairs_empty, n_unattributed
    # Of the day's sessions, those that used the named lot, when any did.
    lot_hit = (pairs["related_lot"] != "") & (pairs["lot"] == pairs["related_lot"])
    any_hit = lot_hit.groupby(pairs["event_id"]).transform("any")
    pairs = pairs[lot_hit | ~any_hit]
    out = pairs[["event_id", "session_id"]].drop_duplicates().reset_index(drop=True)
    return out.astype("int64"), n_unattributed


def attribute_events(sessions: pd.DataFrame, events: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``sessions`` with ``has_event`` (bool: some event is charged to it, ``event_sessions``)
    and the number of events not attributed to any session."""
    s = sessions.copy()
    pairs, n_unattributed = event_sessions(sessions, events)
    s["has_event"] = s["session_id"].isin(pairs["session_id"]) if len(s) else False
    return s, n_unattributed


def _group_order(item: tuple[Any, Any]) -> tuple[int, int, str]:
    """Groups in a stable, natural order: product and lot ids as numbers (as text, lot 10
    came before lot 5), then other values as text, missing last."""
    value = item[0]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return (2, 0, "")
    text = str(value)
    return (0, int(text), "") if ascii_digits(text) else (1, 0, text)


def ae_incidence(
    sessions: pd.DataFrame,
    events: pd.DataFrame,
    *,
    by: str,
    level: float = 0.95,
    label: Callable[[str], str] | None = None,
    recorded_only: bool = False,
) -> Section:
    """Sessions with at least one adverse event per 100 sessions, by ``by`` (Clopper-Pearson).

    Events are attributed over all ``sessions``; with ``recorded_only`` sessions without a
    ``by`` value (a PRP session has no product or lot) are then left out of the table and
    counted in its note, not their events called unattributed.
    """
    title = (
        f"Adverse events by {by}: per 100 sessions and per patient (exact Clopper–Pearson 95% CI)"
    )
    if sessions.empty:
        return Section(
            f"ae_{by}",
            title,
            False,
            message="Not enough data: no treatment session in the selection.",
        )
    pairs, n_unattributed = event_sessions(sessions, events)
    # ``sessions`` has a row per session and lot: one row per session and ``by`` value (a
    # session that used two lots is in both lots' rows, once in its modality's).
    s = sessions.drop_duplicates(["session_id", by]).reset_index(drop=True)
    # An event charged to two sessions of one group (two sessions of one day with the same
    # modality) counts once in that group: keep its first session per group value.
    pairs = pairs.merge(
        s[["session_id", by]].rename(columns={by: "_group"}), on="session_id", how="inner"
    )
    if by == "lot" and "related_lot" in events and not pairs.empty:
        # A session that used two lots: an event naming one of them counts against that lot.
        named = pd.Series(events["related_lot"].fillna("").astype(str).to_numpy(),
                          index=events["event_id"].to_numpy())  # fmt: skip
        named = named[~named.index.duplicated()]
        hit = pairs["_group"].astype(str) == named.reindex(pairs["event_id"]).to_numpy()
        any_hit = hit.groupby([pairs["event_id"], pairs["session_id"]]).transform("any")
        pairs = pairs[hit | ~any_hit]
    pairs = pairs.sort_values(["event_id", "session_id"], kind="stable")
    pairs = pairs.drop_duplicates(["event_id", "_group"], keep="first")
    hit = set(zip(pairs["session_id"], pairs["_group"].fillna("\0"), strict=True))
    keys = zip(s["session_id"], s[by].fillna("\0"), strict=True)
    s["has_event"] = np.array([k in hit for k in keys], dtype=bool)
    without = pd.Series(False, index=s.index)
    if recorded_only:
        without = s[by].isna() | (s[by].astype(str) == "")
    n_without, k_without = int(without.sum()), int(s.loc[without, "has_event"].sum())
    s = s[~without]
    if s.empty:
        return Section(
            f"ae_{by}", title, False,
            message=f"Not enough data: no session in the selection has a {by} recorded.",
        )  # fmt: skip
    rows = []
    sessions_by_group: dict[str, int] = {}
    for value, grp in sorted(s.groupby(by, dropna=False, sort=False), key=_group_order):
        name = "not recorded" if value is None or (isinstance(value, float) and np.isnan(value)) \
            else str(value)  # fmt: skip
        if name == "":
            name = "not recorded"
        n = int(len(grp))
        k = int(grp["has_event"].sum())
        inc = incidence_per_100(k, n, level=level, method="proportion")
        group = label(name) if label else name
        sessions_by_group[group] = n
        # Patients too: a lot used on one patient tells whether that patient had an event.
        n_patients = int(grp["patient_id"].nunique()) if "patient_id" in grp else None
        row = {
            "group": group,
            "sessions": n, "sessions_with_event": k, "per_100": inc.per_100,
            "lower": inc.lower, "upper": inc.upper, "small_n": n < SMALL_N,
            "patients": n_patients,
        }  # fmt: skip
        if n_patients:
            # Patients are independent where one patient's sessions are not: the share of
            # patients with an event has an exact interval that holds.
            k_patients = int(grp.loc[grp["has_event"], "patient_id"].nunique())
            per_patient = incidence_per_100(
                k_patients, n_patients, level=level, method="proportion"
            )
            row["patients_with_event"] = k_patients
            row["per_patient"] = {"pct": per_patient.per_100, "lower": per_patient.lower,
                                  "upper": per_patient.upper}  # fmt: skip
        rows.append(row)
    missing = (
        "Each adverse event is attributed to the session day it names or else to the "
        f"patient's latest session day in the {AE_WINDOW_DAYS} days before onset; of that "
        "day's sessions, to those that used the lot it names, else to every one of them (each "
        "modality, product and lot counts it once); a session counts once however many "
        "events follow it. Events without such a session are not counted"
        f" ({n_unattributed} here). Sessions with no follow-up contact may have unreported "
        "events, so rates are lower bounds. The exact interval treats each session as "
        "independent; sessions of one patient are not (a patient prone to reactions has them "
        "at several), so its true uncertainty is wider than shown. The share of patients with "
        "at least one event after a session of the group has an exact interval that holds "
        "(patients are independent), but patients with more sessions have more chances."
    )
    if n_without:
        missing += (
            f" {n_without} sessions without a {by} (PRP, minoxidil, transplant) are not in "
            f"this table; {k_without} of them were followed by an adverse event."
        )
    if by == "modality" and (s[by] == "minoxidil").any():
        missing += (
            " For minoxidil, applied at home, a session is the recorded start of a course: its "
            "rate is per course, not per application, and is not comparable with injection "
            "sessions."
        )
    warnings = _small_n_warnings(sessions_by_group, "sessions")
    return Section(f"ae_{by}", title, True, data={"rows": rows, "unattributed": n_unattributed},
                   missing_data=missing, warnings=warnings)  # fmt: skip


def exact_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    try:
        ci = clopper_pearson(k, n, level)
    except NotEnoughDataError:
        return None
    return ci.lower, ci.upper
