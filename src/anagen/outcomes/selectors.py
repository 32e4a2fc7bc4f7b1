"""Reads for outcomes: per-patient progress and cohort analytics, always scoped to one clinic.

The cohort reads fetch plain columns with one query per table (no model instances, no
per-row queries) and hand pandas tables to ``outcomes.cohort``, where every number is
decided. The reports and interop apps call ``patient_progress``, ``cohort_analysis`` and
``analysis_tables`` too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, cast

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import CharField, Model, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from anagen.accounts.models import Clinic
from anagen.assessment import protocols
from anagen.assessment.coding import DIAGNOSES
from anagen.assessment.models import Diagnosis, TreatmentPlan
from anagen.core.pseudonym import pseudonym
from anagen.core.text import ascii_digits
from anagen.imaging import selectors as imaging_selectors
from anagen.imaging import services as imaging_services
from anagen.imaging.models import PhotoAnalysis
from anagen.monitoring.models import (
    HGQ_ITEMS,
    AdverseEvent,
    Measurement,
    Photo,
    Visit,
)
from anagen.monitoring.selectors import (
    baseline_visit,
    latest_by_source,
    measurement_of,
    protocol_titles,
    stand_in_baseline_note,
    stop_in_force,
)
from anagen.outcomes import cohort, progress, snapshot
from anagen.patients.models import Patient, SexAtBirth
from anagen.patients.selectors import get_patient
from anagen.products.models import Lot, Product, VialDraw
from anagen.treatments import selectors as treatment_selectors
from anagen.treatments.models import Modality, TreatmentSession

__all__ = [
    "AnalysisTables",
    "analysis_tables",
    "cohort_analysis",
    "filter_choices",
    "get_patient",
    "patient_progress",
    "pseudonym",
]


# --- helpers -------------------------------------------------------------------------------


def _frame(qs: QuerySet, columns: list[str]) -> pd.DataFrame:
    """Run a ``values_list`` queryset through the cursor: rows straight into pandas."""
    sql, params = qs.order_by().query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    return pd.DataFrame.from_records(rows, columns=columns)


def _dates(s: pd.Series) -> pd.Series:
    """Dates as datetime64 whether the driver returned text (SQLite) or date objects."""
    if s.empty:
        return s.astype("datetime64[s]")
    first = s.iloc[0]
    if isinstance(first, str):
        return pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")
    return pd.to_datetime(s, errors="coerce")


SEX_LABELS = dict(SexAtBirth.choices)


# Below this many patients a de-identified selection says it may point to a person (the
# usual small-cell rule of statistical disclosure control; 5 is a common choice).
SMALL_CELL = 5


def modality_label(key: str) -> str:
    return cohort.arm_words(key)


# --- cohort tables -------------------------------------------------------------------------


@dataclass
class AnalysisTables:
    """Clinic-wide analysis tables (one query per table)."""

    visits: pd.DataFrame
    measurements: pd.DataFrame
    attributes: pd.DataFrame
    memberships: pd.DataFrame
    sessions: pd.DataFrame
    events: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    fingerprint: str = ""  # the data fingerprint the tables were read at ("" = unknown)
    built_at: datetime | None = None  # when they were read from the clinical tables
    stale: bool = False  # newer changes exist (a snapshot served while it is rebuilt)


def _visits(clinic: Clinic) -> pd.DataFrame:
    # The date as text: the driver then hands back plain strings (no per-row date objects)
    # and pandas parses the column at once.
    qs = (
        Visit.objects.filter(clinic=clinic, voided_at__isnull=True, patient__voided_at__isnull=True)
        .annotate(date_text=Cast("visit_date", CharField()))
        .values_list("patient_id", "id", "date_text", "is_baseline")
    )
    v = _frame(qs, ["patient_id", "visit_id", "visit_date", "is_baseline"])
    v["visit_date"] = _dates(v["visit_date"])
    v["is_baseline"] = v["is_baseline"].astype(bool)
    return v


def _measurements(clinic: Clinic, columns: tuple[str, ...]) -> pd.DataFrame:
    qs = Measurement.objects.filter(
        clinic=clinic, voided_at__isnull=True, visit__voided_at__isnull=True
    ).values_list("visit_id", "id", "source", *columns)
    m = _frame(qs, ["visit_id", "measurement_id", "source", *columns])
    m["manual"] = (m["source"] == Measurement.Source.MANUAL).to_numpy()
    m = m.drop(columns=["source"])
    for c in columns:
        m[c] = pd.to_numeric(m[c], errors="coerce").astype(float)
    # The marked site each image analysis measured (None: a manual count, or no photo).
    sites = dict(
        PhotoAnalysis.objects.filter(clinic=clinic, measurement__isnull=False).values_list(
            "measurement_id", "photo__target_area"
        )
    )
    m[cohort.SITE_COLUMN] = pd.Series(
        [
            None if manual or mid not in sites else imaging_services.site_key(sites[mid] or "")
            for mid, manual in zip(m["measurement_id"], m["manual"], strict=True)
        ],
        index=m.index,
        dtype=object,
    )
    return m


def _sessions(clinic: Clinic) -> pd.DataFrame:
    """One row per session and lot used (a session without a lot: one row, lot ""), so a
    session that used two lots is in both lots' rows; count sessions by ``session_id``."""
    qs = TreatmentSession.objects.filter(
        clinic=clinic, voided_at__isnull=True, patient__voided_at__isnull=True
    ).values_list("id", "patient_id", "modality", "performed_on", "plan_id")
    s = _frame(qs, ["session_id", "patient_id", "modality", "performed_on", "plan_id"])
    s["performed_on"] = _dates(s["performed_on"])
    # Lots given at each session, by the rule the patient PDF and the FHIR export use
    # (treatments.selectors.draws_used_by): draws naming it, else draws of its day naming none.
    draws = _frame(
        treatment_selectors.given_draws(clinic).values_list(
            "patient_id", "drawn_on", "session_ref", "lot_id", "lot__product_id"
        ),
        ["patient_id", "drawn_on", "session_ref", "lot_id", "product_id"],
    )
    if draws.empty or s.empty:
        return s.assign(lot="", product="").astype({"lot": object, "product": object})
    draws["drawn_on"] = _dates(draws["drawn_on"])
    draws["session_ref"] = draws["session_ref"].fillna("").astype(str)
    used = treatment_selectors.draws_used_by(
        (
            treatment_selectors.SessionKey(int(pk), int(patient), on, modality)
            for pk, patient, on, modality in s[
                ["session_id", "patient_id", "performed_on", "modality"]
            ].itertuples(index=False)
        ),
        draws.itertuples(index=False),
    )
    lot_cols = ["lot_id", "product_id"]
    pairs = (
        pd.DataFrame(
            [(pk, d.lot_id, d.product_id) for pk, ds in used.items() for d in ds],
            columns=["session_id", *lot_cols],
        )
        .astype({"session_id": "int64"})
        .drop_duplicates()
    )
    s = s.merge(pairs, on="session_id", how="left")
    s = s.sort_values(["session_id", "lot_id"], kind="stable").reset_index(drop=True)
    s = s.rename(columns={"lot_id": "lot", "product_id": "product"})
    for c in ("lot", "product"):
        s[c] = pd.to_numeric(s[c]).astype("Int64").astype("string").fillna("").astype(object)
    return s


def _protocols(clinic: Clinic, plan_ids: list[int]) -> dict[int, tuple[str, ...]]:
    out: dict[int, tuple[str, ...]] = {}
    if not plan_ids:
        return out
    qs = TreatmentPlan.objects.filter(clinic=clinic, id__in=plan_ids).values_list("id", "protocols")
    for pid, protos in qs.order_by():
        keys = []
        for p in protos or []:
            if isinstance(p, dict) and p.get("key"):
                keys.append(str(p["key"]))
        out[pid] = tuple(sorted(set(keys)))
    return out


def _events(clinic: Clinic, sessions: pd.DataFrame) -> pd.DataFrame:
    qs = AdverseEvent.objects.filter(
        clinic=clinic, voided_at__isnull=True, patient__voided_at__isnull=True
    ).values_list("id", "patient_id", "onset_date", "related_session_date", "product_lot_number")
    e = _frame(qs, ["event_id", "patient_id", "onset_date", "related_session_date", "lot_number"])
    e["onset_date"] = _dates(e["onset_date"])
    e["related_session_date"] = _dates(e["related_session_date"])
    # The lot the event names, as the sessions table spells it (the lot id as text); a
    # number shared by lots of several products is matched only through the patient's
    # sessions (cohort.event_lots).
    lots = pd.DataFrame(
        [(str(pk), number) for pk, number in
         Lot.objects.filter(clinic=clinic).values_list("id", "lot_number")],
        columns=["lot", "lot_number"],
    )  # fmt: skip
    e["related_lot"] = cohort.event_lots(e, lots, sessions).astype(object)
    return e.drop(columns=["lot_number"])


def _attributes(
    clinic: Clinic, visits: pd.DataFrame, sessions: pd.DataFrame, today: date
) -> pd.DataFrame:
    pats = _frame(
        Patient.objects.filter(clinic=clinic, voided_at__isnull=True).values_list(
            "id", "sex_at_birth", "date_of_birth"
        ),
        ["patient_id", "sex", "date_of_birth"],
    )
    if pats.empty:
        return pats.assign(arm=[], age_band=[], diagnosis=[], stage=[])
    pats["date_of_birth"] = _dates(pats["date_of_birth"])
    # Age at the baseline visit (the first marked baseline, else the first visit), as the
    # de-identified export takes it (interop.analysis); without a visit, today. The first
    # visit alone put a patient whose consultation came before a birthday and the baseline
    # after it in another band than the export.
    first = None
    if not visits.empty:
        marked = visits[visits["is_baseline"]].groupby("patient_id")["visit_date"].min()
        first = marked.combine_first(visits.groupby("patient_id")["visit_date"].min())
    ref = pd.Series(pd.Timestamp(today), index=pats["patient_id"])
    if first is not None:
        ref = first.reindex(pats["patient_id"]).fillna(pd.Timestamp(today))
    # Completed years, as interop.analysis.age_on (the export's band): days / 365.25 put a
    # patient on a 30th birthday spanning 7 leap days at 29.999, under "<30".
    on = pd.DatetimeIndex(ref.to_numpy())
    born = pd.DatetimeIndex(pats["date_of_birth"].to_numpy())
    before_birthday = (on.month < born.month) | ((on.month == born.month) & (on.day < born.day))
    age = np.asarray(on.year - born.year, dtype=float) - before_birthday
    pats["age_band"] = cohort.age_bands(age)
    pats = pats.drop(columns=["date_of_birth"])
    dx = _frame(
        Diagnosis.objects.filter(clinic=clinic).values_list(
            "patient_id", "condition", "stage", "diagnosed_on", "id"
        ),
        ["patient_id", "diagnosis", "stage", "diagnosed_on", "id"],
    )
    if not dx.empty:
        dx = dx.sort_values(["patient_id", "diagnosed_on", "id"]).drop_duplicates(
            "patient_id", keep="last"
        )
        pats = pats.merge(dx[["patient_id", "diagnosis", "stage"]], on="patient_id", how="left")
        # The stage with its scale's name: a bare "III" filtered Norwood III men together
        # with Ludwig III women (review).
        pats["stage"] = [
            protocols.named_stage(str(d), str(st), str(sex)) if isinstance(st, str) else st
            for d, st, sex in zip(pats["diagnosis"], pats["stage"], pats["sex"], strict=True)
        ]
    else:
        pats["diagnosis"] = ""
        pats["stage"] = ""
    pats["diagnosis"] = pats["diagnosis"].fillna("").astype(str)
    pats["stage"] = pats["stage"].fillna("").astype(str)
    if sessions.empty:
        pats["arm"] = "none"
        return pats
    # Arm = the initial regimen (modalities begun within the first weeks of treatment).
    arms = cohort.treatment_courses(sessions).set_index("patient_id")["arm"]
    pats["arm"] = arms.reindex(pats["patient_id"]).fillna("none").to_numpy()
    return pats


def _memberships(clinic: Clinic, sessions: pd.DataFrame) -> pd.DataFrame:
    """(patient, kind, value) rows: products and lots received, protocols of their plans."""
    parts = []
    for kind, col in (("product", "product"), ("lot", "lot")):
        x = sessions.loc[sessions[col] != "", ["patient_id", col]].drop_duplicates()
        parts.append(pd.DataFrame({"patient_id": x["patient_id"], "kind": kind, "value": x[col]}))
    if not sessions.empty:
        proto = _protocols(clinic, sorted(int(x) for x in sessions["plan_id"].unique()))
        plan_keys = pd.DataFrame(
            [(pid, k) for pid, keys in proto.items() for k in keys], columns=["plan_id", "value"]
        )
        sp = sessions[["patient_id", "plan_id"]].drop_duplicates().merge(plan_keys, on="plan_id")
        sp = sp[["patient_id", "value"]].drop_duplicates()
        parts.append(pd.DataFrame({"patient_id": sp["patient_id"], "kind": "protocol",
                                   "value": sp["value"]}))  # fmt: skip
    if not parts:
        return pd.DataFrame({"patient_id": [], "kind": [], "value": []})
    return pd.concat(parts, ignore_index=True)


# Tables the cohort numbers are computed from: any change to one of them (insert: a new
# highest id; edit or void: a new history row) gives a new fingerprint, so cached tables and
# results are never served stale. The cache is Django's (per process by default; a shared
# cache in production), so nothing assumes a single process.
_FINGERPRINT_MODELS = (
    Patient, Diagnosis, TreatmentPlan, TreatmentSession, VialDraw, Visit, Measurement,
    AdverseEvent, Lot, Product,
)  # fmt: skip
SOURCE_MODELS = _FINGERPRINT_MODELS  # outcomes.signals schedules a snapshot rebuild on these
CACHE_SECONDS = 3600
STALE_REBUILD_SECONDS = 120  # a stale page asks for a rebuild at most this often per clinic


def data_fingerprint(clinic: Clinic | None = None) -> str:
    """A short digest of the newest row and the newest history entry of every source table.

    With ``clinic``, of that clinic's rows only: a write in another clinic leaves it alone
    (its cached tables, results and analysis snapshot stay fresh).
    """
    parts = [f"clinic:{clinic.pk}" if clinic is not None else "all"]
    for model in _FINGERPRINT_MODELS:
        # The newest row and its creation time (a rolled-back or flushed database may reuse
        # an id, never a timestamp), then the newest edit or void (history).
        stamp = next(
            (f for f in ("created_at", "drawn_at", "received_at") if _has_field(model, f)), None
        )
        cols = ("pk", stamp) if stamp else ("pk",)
        rows = model.objects.all() if clinic is None else model.objects.filter(clinic=clinic)
        last_id = rows.order_by("-pk").values_list(*cols).first()
        history = getattr(model, "history", None)
        last_change = None
        if history is not None:
            # Newest history row by id, with its time: with a clinic filter, ordering by id
            # is an index lookup (SQLite's clinic index holds the ids in order; PostgreSQL
            # walks the primary key), ordering by history_date would sort all the clinic's
            # history rows.
            h = history.all() if clinic is None else history.filter(clinic_id=clinic.pk)
            last_change = h.order_by("-pk").values_list("pk", "history_date").first()
        parts.append(f"{model._meta.label}:{last_id}:{last_change}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _has_field(model: type[Model], name: str) -> bool:
    return any(f.name == name for f in model._meta.get_fields())


def _cache_key(kind: str, clinic: Clinic, fingerprint: str, extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode()).hexdigest()[:16]
    # The tables' format in the key too: results cached from an older layout or meaning
    # are not read back after an upgrade.
    return (
        f"outcomes:{kind}:v{snapshot.FORMAT_VERSION}:{connection.alias}:{clinic.pk}:"
        f"{fingerprint}:{digest}"
    )


@dataclass(frozen=True)
class Freshness:
    """How current the numbers are: the time their tables were read from the clinical
    records, and whether newer changes exist that they do not include yet.

    The notice names the time of day and the age, not the calendar date: de-identified pages
    and API answers show no calendar dates at all (the JSON's ``as_of`` is left out there).
    """

    as_of: datetime | None
    stale: bool = False

    def age_seconds(self) -> float | None:
        return (timezone.now() - self.as_of).total_seconds() if self.as_of else None

    @property
    def notice(self) -> str:
        if not self.stale:
            return ""
        return f"Data as of {self._when()}; newer changes are being included — refresh in a minute."

    def _when(self) -> str:
        age = self.age_seconds()
        if age is None or self.as_of is None:
            return "an earlier time"
        minutes = max(0, int(age // 60))
        if minutes < 60:
            ago = "less than a minute ago" if minutes == 0 else _plural(minutes, "minute") + " ago"
        elif minutes < 24 * 60:
            ago = _plural(minutes // 60, "hour") + " ago"
        else:
            return _plural(minutes // (24 * 60), "day") + " ago"
        return f"{timezone.localtime(self.as_of):%H:%M %Z} ({ago})"

    def to_dict(self, *, deidentified: bool = False) -> dict[str, Any]:
        age = self.age_seconds()
        out: dict[str, Any] = {
            "stale": self.stale,
            "age_seconds": round(age, 1) if age is not None else None,
            "notice": self.notice,
        }
        if not deidentified:
            out["as_of"] = self.as_of.isoformat() if self.as_of else None
        return out


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "s")


def build_analysis_tables(clinic: Clinic, *, fingerprint: str = "") -> AnalysisTables:
    """Read the clinic's clinical tables into the analysis tables (the slow path: at 100,000
    patients x 8 visits some seconds). ``fingerprint`` labels the result: compute it before
    calling, so rows written during the read make the label older, never newer, than the
    content (the snapshot is then rebuilt once more, never wrongly taken as fresh)."""
    import time

    built_at = timezone.now()
    t = {}
    t0 = time.perf_counter()
    visits = _visits(clinic)
    t["visits_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    measurements = _measurements(clinic, (*cohort.MEASURED_COLUMNS, cohort.AREA_COLUMN))
    t["measurements_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sessions = _sessions(clinic)
    events = _events(clinic, sessions)
    attrs = _attributes(clinic, visits, sessions, timezone.localdate())
    members = _memberships(clinic, sessions)
    t["attributes_s"] = time.perf_counter() - t0
    return AnalysisTables(
        visits, measurements, attrs, members, sessions, events, t,
        fingerprint=fingerprint, built_at=built_at,
    )  # fmt: skip


def background_rebuilds() -> bool:
    """True when enqueued tasks run elsewhere (``ANAGEN_TASKS=database`` and a worker).

    With the immediate backend an enqueued task runs inside the request that enqueues it, so
    nothing is rebuilt on write and a stale snapshot is rebuilt when a page needs it."""
    from django.tasks import task_backends
    from django.tasks.backends.immediate import ImmediateBackend

    return not isinstance(task_backends["default"], ImmediateBackend)


def analysis_tables(
    clinic: Clinic,
    *,
    use_cache: bool = True,
    allow_stale: bool = False,
    fingerprint: str | None = None,
) -> AnalysisTables:
    """All patients, visits, measurements, sessions and adverse events of the clinic.

    In order: Django's cache (keyed by the clinic's data fingerprint); the clinic's analysis
    snapshot if it was built from the current fingerprint; with ``allow_stale`` and a task
    worker, an older snapshot, marked ``stale`` (a rebuild is enqueued) — pages and the API
    show it with a notice; else the clinical tables are read now and the snapshot replaced.
    ``use_cache=False`` reads the clinical tables and touches neither cache nor snapshot.
    """
    if not use_cache:
        return build_analysis_tables(clinic)
    from anagen.outcomes.models import AnalysisSnapshot

    fp = fingerprint or data_fingerprint(clinic)
    cached = cache.get(_cache_key("tables", clinic, fp))
    if cached is not None:
        cached.timings = {"cache": 1.0}
        cached.stale = False
        return cached
    snap = (
        AnalysisSnapshot.objects.filter(clinic=clinic, format_version=snapshot.FORMAT_VERSION)
        .values_list("pk", "fingerprint")
        .first()
    )
    if snap is not None and (snap[1] == fp or (allow_stale and background_rebuilds())):
        tables = cache.get(_cache_key("tables", clinic, snap[1]))
        if tables is None:
            tables = _load_snapshot(snap[0])
        if tables is not None:
            cache.set(_cache_key("tables", clinic, tables.fingerprint), tables, CACHE_SECONDS)
            tables.stale = tables.fingerprint != fp
            if tables.stale:
                request_rebuild(clinic, fp)
            return tables
    # No snapshot, or a stale one that may not be shown: read the clinical tables now.
    from anagen.outcomes.services import store_snapshot

    tables = build_analysis_tables(clinic, fingerprint=fp)
    store_snapshot(clinic, tables)
    cache.set(_cache_key("tables", clinic, fp), tables, CACHE_SECONDS)
    return tables


def _load_snapshot(pk: int) -> AnalysisTables | None:
    """The snapshot's tables, labelled with the fingerprint stored in the same row (a rebuild
    between two queries can never pair old tables with a new label)."""
    import time

    from anagen.outcomes.models import AnalysisSnapshot

    t0 = time.perf_counter()
    row = (
        AnalysisSnapshot.objects.filter(pk=pk)
        .values_list("fingerprint", "built_at", *AnalysisSnapshot.TABLE_FIELDS)
        .first()
    )
    if row is None:
        return None
    fp, built_at, *blobs = row
    visits, measurements, attributes, memberships, sessions, events = (
        snapshot.from_parquet(b) for b in blobs
    )
    return AnalysisTables(
        visits, measurements, attributes, memberships, sessions, events,
        timings={"snapshot_s": time.perf_counter() - t0}, fingerprint=fp, built_at=built_at,
    )  # fmt: skip


def request_rebuild(clinic: Clinic, fingerprint: str) -> None:
    """Enqueue a snapshot rebuild for a stale page, once per clinic and fingerprint per
    ``STALE_REBUILD_SECONDS`` (many page views of a stale snapshot enqueue one task)."""
    if not background_rebuilds():
        return
    key = _cache_key("rebuild-requested", clinic, fingerprint)
    if cache.add(key, 1, STALE_REBUILD_SECONDS):
        from anagen.outcomes.services import enqueue_rebuild

        enqueue_rebuild(clinic.pk)


@dataclass
class CohortView:
    result: cohort.CohortResult
    ae_sections: list[cohort.Section]
    arm_labels: dict[str, str]
    # One row per selected patient (patient_id, sex, age_band, arm, diagnosis, stage, weeks
    # with a value): the listing's pages are read from it (``listing_page``), so paging does
    # not recompute the analysis.
    roster: pd.DataFrame
    deidentified: bool
    timings: dict[str, float]
    freshness: Freshness = field(default_factory=lambda: Freshness(None))

    @property
    def small_cells(self) -> int:
        """How many results rest on fewer than SMALL_CELL patients (the PDF leaves them out)."""
        hidden = small_cells_hidden(self.result.sections, SMALL_CELL, self.ae_sections)
        return int(hidden["n_hidden"])

    def to_dict(self) -> dict[str, Any]:
        out = self.result.to_dict()
        out["arm_labels"] = self.arm_labels
        out["adverse_events"] = [s.to_dict() for s in self.ae_sections]
        out["deidentified"] = self.deidentified
        # The page's and the report's small-cell notice, for API clients to show as well.
        n = self.result.n_patients
        out["small_selection"] = bool(self.deidentified and 0 < n < SMALL_CELL)
        out["small_cells"] = self.small_cells if self.deidentified else 0
        out["data_freshness"] = self.freshness.to_dict(deidentified=self.deidentified)
        return out


def small_cells_hidden(
    sections: dict[str, Any], small: int, ae_sections: list[Any] | None = None
) -> dict[str, Any]:
    """The report's rows, each marked ``hidden`` where it rests on fewer than ``small``
    patients: the PDF is made to be shared, and one patient's "mean change" is that
    patient's change (with sex, age band, diagnosis and arm, it can point to a person).
    Copies: the analysis may be the cached one the cohort page also shows."""

    def rows(key: str, field: str) -> list[dict[str, Any]]:
        section = sections.get(key)
        return [dict(r) for r in section.data[field]] if section and section.ok else []

    by_visit = rows("by_visit", "rows")
    n_at = {(r["arm"], r["week"]): r["n"] for r in by_visit}
    for r in by_visit:
        r["hidden"] = 0 < r["n"] < small
    responders = rows("responders", "rows")
    for r in responders:
        r["hidden"] = 0 < r.get("n", 0) < small
    ancova = rows("ancova", "contrasts")
    if ancova:
        data = sections["ancova"].data
        n_arm = dict(zip(data["arms"], data["n_per_arm"], strict=True))
        for c in ancova:
            c["hidden"] = min(n_arm.get(c["arm"], 0), n_arm.get(data["reference_arm"], 0)) < small
    mmrm = rows("mmrm", "contrasts")
    if mmrm:
        reference = sections["mmrm"].data["reference_arm"]
        for c in mmrm:
            n = min(n_at.get((c["arm"], c["week"]), 0), n_at.get((reference, c["week"]), 0))
            c["hidden"] = n < small
    ae: dict[str, list[dict[str, Any]]] = {}
    for section in ae_sections or []:
        if section.ok:
            ae[section.key] = [dict(r) for r in section.data["rows"]]
            for r in ae[section.key]:
                # Rows from a snapshot written before patients were counted: by sessions.
                r["hidden"] = 0 < (r.get("patients") or r["sessions"]) < small
    every = [*by_visit, *responders, *ancova, *mmrm, *(r for rs in ae.values() for r in rs)]
    return {
        "by_visit": by_visit,
        "responders": responders,
        "ancova": ancova,
        "mmrm": mmrm,
        "ae": ae,
        "n_hidden": sum(r["hidden"] for r in every),
    }


def cohort_analysis(
    clinic: Clinic,
    filters: cohort.CohortFilters,
    options: cohort.CohortOptions,
    *,
    deidentified: bool,
    use_cache: bool = True,
    allow_stale: bool = False,
    fingerprint: str | None = None,
    tables: AnalysisTables | None = None,
) -> CohortView:
    """Everything the cohort page, the cohort API and the cohort report show.

    Results are cached per data fingerprint, filters and options (``use_cache=False`` to
    recompute from the database). ``allow_stale`` (pages and API, never reports): while a
    background rebuild of the analysis snapshot runs, answer from the previous snapshot;
    ``view.freshness`` then says so (``stale``, ``as_of``, ``notice``). A page that already
    holds the clinic's fingerprint and tables passes them (one read per request).
    """
    import time

    t0 = time.perf_counter()
    if deidentified and not options.reference_arm:
        # Small arms' results are withheld here: an automatic reference of fewer than
        # SMALL_CELL patients hid every contrast (review).
        options = replace(options, min_reference_n=SMALL_CELL)
    extra = repr((filters, options, deidentified))
    if use_cache:
        fingerprint = fingerprint or data_fingerprint(clinic)
        cached = cache.get(_cache_key("cohort", clinic, fingerprint, extra))
        if cached is not None:
            cached.timings = {"cached_result": 1.0, "total_s": time.perf_counter() - t0}
            cached.freshness = Freshness(cached.freshness.as_of, stale=False)
            return cached
    if tables is None:
        tables = analysis_tables(
            clinic, use_cache=use_cache, allow_stale=allow_stale, fingerprint=fingerprint or None
        )
    freshness = Freshness(tables.built_at, stale=tables.stale)
    key = _cache_key("cohort", clinic, tables.fingerprint, extra)
    if use_cache and tables.stale:
        cached = cache.get(key)
        if cached is not None:
            cached.timings = {"cached_result": 1.0, "total_s": time.perf_counter() - t0}
            cached.freshness = freshness
            return cached
    timings = dict(tables.timings)
    t1 = time.perf_counter()
    selected = cohort.apply_filters(tables.attributes, filters, tables.memberships)
    courses = cohort.treatment_courses(tables.sessions)
    long = cohort.build_long(tables.visits, tables.measurements, options.outcome, courses)
    timings["long_table_s"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    result = cohort.analyse_cohort(long, selected, options, filters)
    timings["statistics_s"] = time.perf_counter() - t1
    sel_ids = set(selected["patient_id"].tolist()) if not selected.empty else set()
    sess = tables.sessions[tables.sessions["patient_id"].isin(sel_ids)]
    ev = tables.events[tables.events["patient_id"].isin(sel_ids)]
    products = dict(Product.objects.filter(clinic=clinic).values_list("id", "name"))
    lots = dict(Lot.objects.filter(clinic=clinic).values_list("id", "lot_number"))
    ae_sections = [
        cohort.ae_incidence(sess, ev, by="modality", label=modality_label),
        cohort.ae_incidence(
            sess, ev, by="product", recorded_only=True,
            label=lambda k: products.get(int(k), k) if ascii_digits(k) else k,
        ),
        cohort.ae_incidence(
            sess, ev, by="lot", recorded_only=True,
            label=lambda k: lots.get(int(k), k) if ascii_digits(k) else k,
        ),
    ]  # fmt: skip
    # Every arm a section names: the responders table also lists arms whose patients have a
    # baseline only (not in result.arms, which holds arms with a follow-up value).
    named = set(result.arms)
    for section in result.sections.values():
        named |= {str(r["arm"]) for r in (section.data or {}).get("rows", []) if "arm" in r}
    arm_labels = {a: modality_label(a) for a in sorted(named)}
    roster = _roster(selected, long)
    timings["total_s"] = time.perf_counter() - t0
    view = CohortView(result, ae_sections, arm_labels, roster, deidentified, timings,
                      Freshness(tables.built_at))  # fmt: skip
    if use_cache:
        cache.set(key, view, CACHE_SECONDS)  # stored fresh: the key names the tables' data
    view.freshness = freshness
    return view


ROSTER_COLUMNS = ["patient_id", "sex", "age_band", "arm", "diagnosis", "stage", "weeks"]
LISTING_PAGE_SIZE = 50


def _roster(selected: pd.DataFrame, long: cohort.LongTable) -> pd.DataFrame:
    """The selected patients with the study weeks at which each has a value."""
    if selected.empty:
        return pd.DataFrame(columns=ROSTER_COLUMNS)
    rows = long.rows
    shown = rows[rows["patient_id"].isin(selected["patient_id"]) & rows["value"].notna()]
    weeks = shown.groupby("patient_id")["week"].agg(lambda w: sorted(int(x) for x in w))
    roster = selected[ROSTER_COLUMNS[:-1]].copy()
    roster["weeks"] = [weeks.get(pid, []) for pid in roster["patient_id"]]
    return roster.reset_index(drop=True)


def listing_page(
    clinic: Clinic, view: CohortView, number: str | int | None, per_page: int = LISTING_PAGE_SIZE
) -> Page[dict[str, Any]]:
    """One page of the patients behind the numbers (``Paginator.get_page``: a page number
    that cannot be read or is out of range gives the first or the last page). Researchers get
    study ids, age bands and study weeks; others also names and record numbers, read for the
    page's patients only."""
    page = Paginator(range(len(view.roster)), per_page).get_page(number)
    rows = view.roster.iloc[list(page.object_list)]
    names: dict[int, tuple[str, str]] = {}
    if not view.deidentified and len(rows):
        names = {
            pid: (f"{fam}, {giv}", mrn)
            for pid, fam, giv, mrn in Patient.objects.filter(
                clinic=clinic, id__in=[int(x) for x in rows["patient_id"]]
            ).values_list("id", "family_name", "given_name", "medical_record_number")
        }
    items = []
    for row in rows.itertuples(index=False):
        pid = int(row.patient_id)
        item = {
            "study_id": pseudonym(clinic.pk, pid),
            "sex": row.sex,
            "age_band": row.age_band,
            "arm": row.arm,
            "diagnosis": row.diagnosis,
            "stage": row.stage,
            "weeks": list(row.weeks),
            # The same in words, for the page (the codes stay for the API and exports).
            "sex_label": SEX_LABELS.get(row.sex, row.sex),
            "arm_label": modality_label(row.arm),
            "diagnosis_label": DIAGNOSES[row.diagnosis].label
            if row.diagnosis in DIAGNOSES
            else row.diagnosis,
        }
        if not view.deidentified:
            item["patient_id"] = pid
            item["name"], item["mrn"] = names.get(pid, ("", ""))
        items.append(item)
    # The same page (number, counts, links), holding the rows instead of their positions.
    paginator = cast("Paginator[dict[str, Any]]", page.paginator)  # only its counts are read
    return Page(items, page.number, paginator)


def filter_choices(
    clinic: Clinic, *, allow_stale: bool = False, tables: AnalysisTables | None = None
) -> dict[str, list[tuple[str, str]]]:
    """Choices for the cohort filter form, from what the clinic has recorded."""
    tables = tables or analysis_tables(clinic, allow_stale=allow_stale)
    labels = dict(Modality.choices)
    mods = sorted(tables.sessions["modality"].unique().tolist()) if not tables.sessions.empty \
        else []  # fmt: skip
    attrs = tables.attributes
    stages = sorted({s for s in attrs["stage"].unique().tolist() if s}) if len(attrs) else []
    m = tables.memberships
    protos = sorted(m.loc[m["kind"] == "protocol", "value"].unique().tolist()) if len(m) else []
    titles = protocol_titles(clinic) if protos else {}
    return {
        "modality": [(x, labels.get(x, x)) for x in mods],
        "diagnosis": [(k, d.label) for k, d in DIAGNOSES.items()],
        "stage": [(x, x) for x in stages],
        "product": [
            (str(pk), name)
            for pk, name in Product.objects.filter(clinic=clinic).values_list("id", "name")
        ],
        "lot": [
            (str(pk), f"{num} ({prod})")
            for pk, num, prod in Lot.objects.filter(clinic=clinic).values_list(
                "id", "lot_number", "product__name"
            )
        ],
        "protocol": [(p, titles.get(p, p)) for p in protos],
    }


def combination_choices(
    clinic: Clinic, *, allow_stale: bool = False, tables: AnalysisTables | None = None
) -> list[tuple[str, str]]:
    attrs = (tables or analysis_tables(clinic, allow_stale=allow_stale)).attributes
    combos = sorted(set(attrs["arm"].unique().tolist() if len(attrs) else []) | {"none"})
    return [(c, modality_label(c)) for c in combos]


# --- per patient ---------------------------------------------------------------------------


def _hgq_mean(visit: Visit) -> tuple[float | None, int]:
    vals = [getattr(visit, f) for f, _ in HGQ_ITEMS if getattr(visit, f) is not None]
    return (sum(vals) / len(vals), len(vals)) if vals else (None, 0)


def _measurement_values(m: Measurement) -> dict[str, Any]:
    values: dict[str, Any] = {c: getattr(m, c) for c in cohort.MEASURED_COLUMNS}
    values["target_area_cm2"] = m.target_area_cm2
    return {k: (float(x) if isinstance(x, int | float) else x) for k, x in values.items()}


def patient_progress(patient: Patient, *, with_forecast: bool = True) -> progress.Progress:
    """Change from baseline per visit, photo pairs and the model forecast for one patient."""
    visits = list(
        Visit.objects.filter(clinic=patient.clinic, patient=patient, voided_at__isnull=True)
        .prefetch_related("measurements", "photos")
        .order_by("visit_date", "id")
    )
    base = baseline_visit(patient)
    points = []
    imaging_measurement_of_visit = {}
    for v in visits:
        m = measurement_of(v)
        values: dict[str, Any] = {}
        if m is not None:
            values = _measurement_values(m)
            values["source"] = m.source
        by_source = {}
        for source, latest in latest_by_source(v).items():
            by_source[source] = _measurement_values(latest)
            if source == Measurement.Source.IMAGING:
                imaging_measurement_of_visit[v.pk] = latest.pk
        hgq, hgq_n = _hgq_mean(v)
        points.append(
            progress.VisitPoint(
                visit_id=v.pk,
                visit_date=v.visit_date,
                is_baseline=base is not None and v.pk == base.pk,
                values=values,
                global_assessment=v.global_assessment,
                hgq_mean=hgq,
                hgq_answered=hgq_n,
                by_source=by_source,
            )
        )  # fmt: skip
    # The marked site each image analysis measured: change is taken within one site only.
    sites = imaging_selectors.measurement_sites(patient, imaging_measurement_of_visit.values())
    for point in points:
        m_id = imaging_measurement_of_visit.get(point.visit_id)
        if m_id in sites:
            point.by_source[Measurement.Source.IMAGING][progress.SITE_KEY] = sites[m_id]
    sessions = list(
        TreatmentSession.objects.filter(
            clinic=patient.clinic, patient=patient, voided_at__isnull=True
        ).values_list("modality", "performed_on")
    )
    dx = (
        Diagnosis.objects.filter(clinic=patient.clinic, patient=patient)
        .order_by("-diagnosed_on", "-id")
        .first()
    )
    result = progress.build_progress(points, base.pk if base else None)
    if stand_in := stand_in_baseline_note(patient, base, with_sessions=False):
        result.messages.append(stand_in)
    marked = [v.visit_date for v in visits if v.is_baseline]
    later_bases = {v.pk for v in visits if v.is_baseline and (base is None or v.pk != base.pk)}
    for r in result.rows:
        r.course_baseline = r.visit_id in later_bases
    if len(marked) > 1:
        result.messages.append(
            f"This patient has a baseline for each of {len(marked)} courses ("
            + ", ".join(d.isoformat() for d in marked)
            + f"): this page measures change from the first ({marked[0].isoformat()}). "
            "Each visit's own page compares it with the baseline of its course."
        )
    lsc = imaging_selectors.least_significant_changes(
        patient, imaging_measurement_of_visit.values()
    )
    progress.mark_within_noise(
        result, {v: lsc[m] for v, m in imaging_measurement_of_visit.items() if m in lsc}
    )
    result.photo_pairs = _photo_pairs(patient, visits, base)
    result.modalities = sorted({m for m, _ in sessions})
    course = cohort.treatment_courses(
        pd.DataFrame(
            {
                "patient_id": [patient.pk] * len(sessions),
                "modality": [m for m, _ in sessions],
                "performed_on": pd.to_datetime([d for _, d in sessions]),
            }
        )
    )
    initial = result.modalities
    if not course.empty:
        c = course.iloc[0]
        initial = str(c["arm"]).split("+")
        first = c["first_session"].date()
        if base is not None and base.visit_date > first:
            result.messages.append(
                f"The baseline visit ({base.visit_date}) came after the first treatment session "
                f"({first}): changes are measured from an already treated scalp, and the "
                "patient is left out of the cohort comparison."
            )
        if c["added"]:
            result.messages.append(
                f"{modality_label(str(c['added']))} began on {c['changed_on'].date()}, after "
                f"the initial regimen ({modality_label(str(c['arm']))}): later changes mix both, "
                "and the cohort comparison stops at that day."
            )
    stopped = stop_in_force(patient)
    if stopped is not None:
        # The forecast is said only where it is shown (the progress PDF has none).
        result.messages.append(
            f"Treatment was stopped at the visit of {stopped.visit.visit_date} "
            f"(“{stopped.get_decision_display()}”)"
            + (
                ": the forecast below shows the plan's course as if it went on, not what "
                "follows a stop."
                if with_forecast
                else "."
            )
        )
    if with_forecast:
        result.forecast = progress.forecast_panel(
            sex=patient.sex_at_birth,
            diagnosis=dx.condition if dx else "",
            stage=dx.stage if dx else "",
            modalities=initial,
            baseline_density=result.baseline_value("density_per_cm2"),
        )
    return result


def _photo_pairs(
    patient: Patient, visits: list[Visit], base: Visit | None
) -> list[progress.PhotoPair]:
    """Baseline vs latest global photo of the same view (latest visit that has that view)."""
    if base is None:
        return []

    def photos(v: Visit) -> dict[str, Photo]:  # noqa: E306
        out: dict[str, Photo] = {}
        for p in sorted(v.photos.all(), key=lambda p: p.pk):
            if p.voided_at is None and p.kind == Photo.Kind.GLOBAL and p.view:
                out[p.view] = p
        return out

    base_photos = photos(base)
    pairs = []
    later = [v for v in visits if v.visit_date > base.visit_date]
    for view, bp in base_photos.items():
        for v in reversed(later):
            lp = photos(v).get(view)
            if lp is not None:
                pairs.append(
                    progress.PhotoPair(
                        view=view,
                        baseline_photo_id=bp.pk,
                        baseline_date=base.visit_date,
                        latest_photo_id=lp.pk,
                        latest_date=v.visit_date,
                    )
                )
                break
    return pairs
