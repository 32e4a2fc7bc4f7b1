"""Load a simulated cohort into the database (tests, the analytics benchmark, demos).

Values come from the follicle-cycle simulator (``anagen.simulation``), so every number has a
known truth. Rows are written with ``bulk_create`` (no history rows, no per-row signals):
this is for test and benchmark databases, not for clinical data entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from anagen.accounts.models import Clinic, User
from anagen.assessment.models import Diagnosis, MedicalHistory, Screening, TreatmentPlan
from anagen.assessment.screening import MODALITIES
from anagen.monitoring.models import AdverseEvent, Measurement, Visit
from anagen.patients.models import Patient
from anagen.products.models import DonorType, Lot, Product, ProductForm, SourceTissue, VialDraw
from anagen.simulation.cohort import PatientSpec, simulate_visits
from anagen.simulation.measurement import CHANNELS, MeasurementParams
from anagen.simulation.params import Region
from anagen.simulation.treatments import Minoxidil, Plan, Treatment, exosome, prp
from anagen.treatments.models import TreatmentSession

ARMS = ("exosome", "prp", "minoxidil", "exosome+minoxidil", "none")
ARM_P = (0.3, 0.25, 0.2, 0.15, 0.1)
NORWOOD = ("II", "III", "IIIv", "IV", "V", "VI")
LUDWIG = ("I", "II", "III")
SESSION_WEEKS = (0, 4, 8)
PROTOCOL_KEYS = {"exosome": "exosome_standard", "prp": "prp_standard", "minoxidil": "minoxidil_5"}


@dataclass
class LoadedCohort:
    patients: int
    visits: int
    measurements: int
    sessions: int
    adverse_events: int
    seconds_simulate: float
    seconds_insert: float


def _plan(arm: str) -> Plan:
    days = [7 * w for w in SESSION_WEEKS]
    parts: list[Treatment] = []
    for m in arm.split("+"):
        if m == "exosome":
            parts.append(exosome(days))
        elif m == "prp":
            parts.append(prp(days))
        elif m == "minoxidil":
            parts.append(Minoxidil())
    return Plan(tuple(parts), arm)


def _next_id(model: type[Model]) -> int:
    last = model._default_manager.order_by("-pk").values_list("pk", flat=True).first()
    return (last or 0) + 1


def _reset_sequences(models_: list[type[Model]]) -> None:
    """Explicit ids were written: move PostgreSQL's id sequences past them."""
    sql = connection.ops.sequence_reset_sql(no_style(), models_)
    if sql:
        with connection.cursor() as cur:
            for statement in sql:
                cur.execute(statement)


def _insert(model: type[Model], rows: list[dict], fast: bool, batch_size: int) -> None:
    """Insert dict rows (keys = attnames): bulk_create, or a plain executemany when fast."""
    if not rows:
        return
    if not fast:
        model._default_manager.bulk_create([model(**r) for r in rows], batch_size=batch_size)
        return
    now = timezone.now()
    fields = [
        f for f in model._meta.local_concrete_fields
        if not (f.primary_key and "id" not in rows[0])
    ]  # fmt: skip
    defaults = []
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            default = now
        else:
            default = f.get_default()
        defaults.append(f.get_db_prep_save(default, connection))
    table = connection.ops.quote_name(str(model._meta.db_table))
    cols = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"  # noqa: S608 - names from _meta

    def value(f, d, r):  # noqa: ANN001, ANN202
        if f.attname not in r:
            return d
        v = r[f.attname]
        if isinstance(v, dt.datetime):
            return f.get_db_prep_save(v, connection)
        if isinstance(v, dt.date):
            return v.isoformat()
        return v

    pairs = list(zip(fields, defaults, strict=True))
    with connection.cursor() as cur:
        for k in range(0, len(rows), batch_size):
            chunk = rows[k : k + batch_size]
            cur.executemany(sql, [tuple(value(f, d, r) for f, d in pairs) for r in chunk])


def _product_lot(clinic: Clinic, user: User) -> Lot:
    product, _ = Product.objects.get_or_create(
        clinic=clinic,
        manufacturer="SimuBio (simulated)",
        name="Simulated MSC exosome",
        defaults={
            "source_tissue": SourceTissue.values[0],
            "donor_type": DonorType.values[0],
            "form": ProductForm.values[0],
            "labelled_particles_per_vial": 1e10,
            "volume_ml": Decimal("2.000"),
            "storage_min_temperature_c": Decimal("-90.0"),
            "storage_max_temperature_c": Decimal("-60.0"),
            "storage_requirement": "Store at -80 °C",
        },
    )
    lot, _ = Lot.objects.get_or_create(
        clinic=clinic,
        product=product,
        lot_number="SIM-LOT-1",
        defaults={
            "expiry_date": dt.date(2030, 1, 1),
            "quantity_received": 10**9,
            "quantity_on_hand": 10**9,
            "status": "released",
            "received_at": timezone.now(),
            "received_by": user,
        },
    )
    return lot


@transaction.atomic
def load_simulated_cohort(
    clinic: Clinic,
    user: User,
    n_patients: int,
    *,
    seed: int = 1,
    visit_weeks: Sequence[int] = (0, 4, 12, 24, 48),
    start: dt.date = dt.date(2025, 1, 6),
    dropout_per_year: float = 0.15,
    arms: Sequence[str] = ARMS,
    arm_p: Sequence[float] | None = None,
    mrn_prefix: str = "SIM",
    batch_size: int = 5000,
    workers: int = 1,
    with_products: bool = True,
    ae_per_session: float = 0.05,
    fast: bool = False,
) -> LoadedCohort:
    """Simulate ``n_patients`` and insert patients, diagnoses, sessions, visits, measurements.

    ``fast=True`` writes the rows with one ``executemany`` per table instead of
    ``bulk_create`` (Django compiles every value of every row in Python, ~0.5 ms per row,
    which makes millions of rows take tens of minutes); the values are the same.
    """
    import time

    rng = np.random.default_rng(seed)
    p = np.asarray(arm_p if arm_p is not None else [ARM_P[ARMS.index(a)] for a in arms], float)
    p = p / p.sum()
    arm_of = rng.choice(np.array(arms, dtype=object), size=n_patients, p=p)
    male = rng.random(n_patients) < 0.7
    stages = np.where(
        male, rng.choice(NORWOOD, size=n_patients), rng.choice(LUDWIG, size=n_patients)
    )
    ages = rng.integers(22, 70, size=n_patients)
    enrol = rng.integers(0, 60, size=n_patients)
    t0 = time.perf_counter()
    plans = {a: _plan(a) for a in set(arm_of.tolist())}
    specs = [
        PatientSpec(str(stages[i]), "norwood" if male[i] else "ludwig", Region.VERTEX,
                    (plans[arm_of[i]],))
        for i in range(n_patients)
    ]  # fmt: skip
    vd = simulate_visits(
        specs,
        seed,
        [7 * w for w in visit_weeks],
        measurement=MeasurementParams(dropout_per_year=dropout_per_year),
        workers=workers,
        chunk_size=2048,
    )
    t_sim = time.perf_counter() - t0
    t0 = time.perf_counter()
    now = timezone.now()
    ids = {m: _next_id(m) for m in (Patient, TreatmentSession, Visit, Diagnosis)}
    pat_ids = list(range(ids[Patient], ids[Patient] + n_patients))
    _insert(
        Patient,
        [
            {
                "id": pat_ids[i], "clinic_id": clinic.pk,
                "medical_record_number": f"{mrn_prefix}-{i + 1:06d}",
                "given_name": "Sim", "family_name": f"Patient{i + 1:06d}",
                "date_of_birth": start - dt.timedelta(days=int(ages[i] * 365.25 + 100)),
                "sex_at_birth": "male" if male[i] else "female",
            }
            for i in range(n_patients)
        ],
        fast, batch_size,
    )  # fmt: skip
    dx_ids = list(range(ids[Diagnosis], ids[Diagnosis] + n_patients))
    _insert(
        Diagnosis,
        [
            {
                "id": dx_ids[i], "clinic_id": clinic.pk, "patient_id": pat_ids[i],
                "diagnosed_on": start, "diagnosed_by_id": user.pk,
                "condition": "aga_male" if male[i] else "aga_female",
                "label": "Androgenetic alopecia", "stage": str(stages[i]),
            }
            for i in range(n_patients)
        ],
        fast, batch_size,
    )  # fmt: skip
    # One plan per arm (owned by the arm's first patient): enough for the protocol filter.
    plan_ids: dict[str, int] = {}
    for arm in sorted(set(arm_of.tolist()) - {"none"}):
        i = int(np.argmax(arm_of == arm))
        mh = MedicalHistory.objects.create(
            clinic=clinic, patient_id=pat_ids[i], version=1, recorded_on=start, recorded_by=user
        )
        sc = Screening.objects.create(
            clinic=clinic, patient_id=pat_ids[i], medical_history=mh, screened_on=start,
            ruleset_version="simulated", created_by=user,
            result={"ruleset_version": "simulated", "on": start.isoformat(),
                    "modalities": {m: {"outcome": "OK", "findings": []} for m in MODALITIES}},
        )  # fmt: skip
        mods = arm.split("+")
        plan_ids[arm] = TreatmentPlan.objects.create(
            clinic=clinic, patient_id=pat_ids[i], diagnosis_id=dx_ids[i], screening=sc,
            proposal_key=mods[0], title=f"Simulated {arm}", modalities=mods,
            protocols=[{"key": PROTOCOL_KEYS[m], "modality": m} for m in mods],
            created_by=user, start_on=start,
        ).pk  # fmt: skip
    sessions = []
    sid = ids[TreatmentSession]
    for i in range(n_patients):
        arm = arm_of[i]
        if arm == "none":
            continue
        day0 = start + dt.timedelta(days=int(enrol[i]))
        for m in arm.split("+"):
            weeks = SESSION_WEEKS if m in ("exosome", "prp") else (0,)
            for w in weeks:
                sessions.append(
                    {
                        "id": sid, "clinic_id": clinic.pk, "patient_id": pat_ids[i],
                        "plan_id": plan_ids[arm], "modality": m,
                        "performed_on": day0 + dt.timedelta(days=7 * w),
                        "clinician_id": user.pk,
                    }
                )  # fmt: skip
                sid += 1
    _insert(TreatmentSession, sessions, fast, batch_size)
    if with_products and any(s["modality"] == "exosome" for s in sessions):
        lot = _product_lot(clinic, user)
        draws = [
            {
                "clinic_id": clinic.pk, "lot_id": lot.pk, "patient_id": s["patient_id"],
                "quantity": 1, "drawn_on": s["performed_on"], "drawn_at": now,
                "drawn_by_id": user.pk, "session_ref": f"session:{s['id']}",
            }
            for s in sessions
            if s["modality"] == "exosome"
        ]  # fmt: skip
        _insert(VialDraw, draws, fast, batch_size)
    visits = []
    meas = []
    vid = ids[Visit]
    for i in range(n_patients):
        day0 = start + dt.timedelta(days=int(enrol[i]))
        for j in range(len(visit_weeks)):
            if not vd.observed[i, j]:
                continue
            ga = None if j == 0 else int(np.clip(round(rng.normal(0.5, 1)), -3, 3))
            visits.append(
                {
                    "id": vid, "clinic_id": clinic.pk, "patient_id": pat_ids[i],
                    "recorded_by_id": user.pk, "is_baseline": j == 0,
                    "visit_date": day0 + dt.timedelta(days=int(vd.days[i, j])),
                    "global_assessment": ga,
                }
            )  # fmt: skip
            vals: dict = {}
            for k in CHANNELS:
                x = float(vd.measured[k][i, j])
                vals[k] = None if not np.isfinite(x) else round(x, 2)
            if vals.get("hair_count") is not None:
                vals["hair_count"] = int(round(vals["hair_count"]))
            meas.append(
                {"clinic_id": clinic.pk, "patient_id": pat_ids[i], "visit_id": vid,
                 "recorded_by_id": user.pk, "target_area_cm2": 1.0, **vals}
            )  # fmt: skip
            vid += 1
    _insert(Visit, visits, fast, batch_size)
    _insert(Measurement, meas, fast, batch_size)
    events = []
    for s in sessions:
        if rng.random() < ae_per_session:
            events.append(
                {
                    "clinic_id": clinic.pk, "patient_id": s["patient_id"],
                    "term_key": "injection_site_reaction",
                    "term_name": "Injection site reaction", "ctcae_version": "5.0", "grade": 1,
                    "grade_text": "Tenderness with or without associated symptoms",
                    "onset_date": s["performed_on"] + dt.timedelta(days=1),
                    "related_session_date": s["performed_on"], "reported_by_id": user.pk,
                }
            )  # fmt: skip
    _insert(AdverseEvent, events, fast, batch_size)
    _reset_sequences([Patient, Diagnosis, TreatmentSession, Visit])
    return LoadedCohort(
        n_patients, len(visits), len(meas), len(sessions), len(events), t_sim,
        time.perf_counter() - t0,
    )  # fmt: skip
