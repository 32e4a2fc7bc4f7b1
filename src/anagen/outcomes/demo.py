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
from django.db import transaction
from django.utils import timezone

from anagen.accounts.models import Clinic, User
from anagen.assessment.models import Diagnosis, MedicalHistory, Screening, TreatmentPlan
from anagen.monitoring.models import AdverseEvent, Measurement, Visit
from anagen.patients.models import Patient
from anagen.products.models import Lot, Product, VialDraw
from anagen.simulation.cohort import PatientSpec, simulate_visits
from anagen.simulation.measurement import CHANNELS, MeasurementParams
from anagen.simulation.params import Region
from anagen.simulation.treatments import Minoxidil, Plan, exosome, prp
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
    parts = []
    for m in arm.split("+"):
        if m == "exosome":
            parts.append(exosome(days))
        elif m == "prp":
            parts.append(prp(days))
        elif m == "minoxidil":
            parts.append(Minoxidil())
    return Plan(tuple(parts), arm)


def _product_lot(clinic: Clinic, user: User) -> Lot:
    product, _ = Product.objects.get_or_create(
        clinic=clinic,
        manufacturer="SimuBio (simulated)",
        name="Simulated MSC exosome",
        defaults={
            "source_tissue": Product._meta.get_field("source_tissue").choices[0][0],
            "donor_type": Product._meta.get_field("donor_type").choices[0][0],
            "form": Product._meta.get_field("form").choices[0][0],
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
) -> LoadedCohort:
    """Simulate ``n_patients`` and insert patients, diagnoses, sessions, visits, measurements."""
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
    pats = [
        Patient(
            clinic=clinic, medical_record_number=f"{mrn_prefix}-{i + 1:06d}",
            given_name="Sim", family_name=f"Patient{i + 1:06d}",
            date_of_birth=start - dt.timedelta(days=int(ages[i] * 365.25 + 100)),
            sex_at_birth="male" if male[i] else "female",
        )
        for i in range(n_patients)
    ]  # fmt: skip
    Patient.objects.bulk_create(pats, batch_size=batch_size)
    if pats and pats[0].pk is None:  # backends without RETURNING
        qs = Patient.objects.filter(
            clinic=clinic, medical_record_number__startswith=f"{mrn_prefix}-"
        )
        ids = dict(qs.values_list("medical_record_number", "id"))
        for pt in pats:
            pt.pk = pt.id = ids[pt.medical_record_number]
    dx = [
        Diagnosis(
            clinic=clinic, patient=pats[i], diagnosed_on=start, diagnosed_by=user,
            condition="aga_male" if male[i] else "aga_female",
            label="Androgenetic alopecia", stage=str(stages[i]),
        )
        for i in range(n_patients)
    ]  # fmt: skip
    Diagnosis.objects.bulk_create(dx, batch_size=batch_size)
    # One plan per arm (owned by the arm's first patient): enough for the protocol filter.
    plan_rows: dict[str, TreatmentPlan] = {}
    for arm in sorted(set(arm_of.tolist()) - {"none"}):
        i = int(np.argmax(arm_of == arm))
        mh = MedicalHistory.objects.create(
            clinic=clinic, patient=pats[i], version=1, recorded_on=start, recorded_by=user
        )
        sc = Screening.objects.create(
            clinic=clinic, patient=pats[i], medical_history=mh, screened_on=start,
            ruleset_version="simulated", result={}, created_by=user,
        )  # fmt: skip
        mods = arm.split("+")
        plan_rows[arm] = TreatmentPlan.objects.create(
            clinic=clinic, patient=pats[i], diagnosis=dx[i], screening=sc,
            proposal_key=mods[0], title=f"Simulated {arm}", modalities=mods,
            protocols=[{"key": PROTOCOL_KEYS[m], "modality": m} for m in mods],
            created_by=user, start_on=start,
        )  # fmt: skip
    sessions = []
    for i in range(n_patients):
        arm = arm_of[i]
        if arm == "none":
            continue
        day0 = start + dt.timedelta(days=int(enrol[i]))
        for m in arm.split("+"):
            weeks = SESSION_WEEKS if m in ("exosome", "prp") else (0,)
            for w in weeks:
                sessions.append(
                    TreatmentSession(
                        clinic=clinic, patient=pats[i], plan=plan_rows[arm], modality=m,
                        performed_on=day0 + dt.timedelta(days=7 * w), clinician=user,
                    )
                )  # fmt: skip
    TreatmentSession.objects.bulk_create(sessions, batch_size=batch_size)
    if with_products and any(s.modality == "exosome" for s in sessions):
        lot = _product_lot(clinic, user)
        draws = [
            VialDraw(
                clinic=clinic, lot=lot, patient=s.patient, quantity=1, drawn_on=s.performed_on,
                drawn_at=now, drawn_by=user,
                session_ref=f"session:{s.pk}" if s.pk else "",
            )
            for s in sessions
            if s.modality == "exosome"
        ]  # fmt: skip
        VialDraw.objects.bulk_create(draws, batch_size=batch_size)
    visits = []
    meas_values = []
    for i in range(n_patients):
        day0 = start + dt.timedelta(days=int(enrol[i]))
        for j in range(len(visit_weeks)):
            if not vd.observed[i, j]:
                continue
            visits.append(
                Visit(
                    clinic=clinic, patient=pats[i], recorded_by=user, is_baseline=(j == 0),
                    visit_date=day0 + dt.timedelta(days=int(vd.days[i, j])),
                    global_assessment=None if j == 0 else int(np.clip(rng.normal(0.5, 1), -3, 3)),
                )
            )  # fmt: skip
            meas_values.append((i, j))
    Visit.objects.bulk_create(visits, batch_size=batch_size)
    meas = []
    for v, (i, j) in zip(visits, meas_values, strict=True):
        vals = {}
        for k in CHANNELS:
            x = float(vd.measured[k][i, j])
            vals[k] = None if not np.isfinite(x) else round(x, 2)
        if vals.get("hair_count") is not None:
            vals["hair_count"] = int(round(vals["hair_count"]))
        meas.append(Measurement(clinic=clinic, patient=v.patient, visit=v, recorded_by=user,
                                target_area_cm2=1.0, **vals))  # fmt: skip
    Measurement.objects.bulk_create(meas, batch_size=batch_size)
    events = []
    for s in sessions:
        if rng.random() < ae_per_session:
            events.append(
                AdverseEvent(
                    clinic=clinic, patient=s.patient, term_key="injection_site_reaction",
                    term_name="Injection site reaction", ctcae_version="5.0", grade=1,
                    grade_text="Tenderness with or without associated symptoms",
                    onset_date=s.performed_on + dt.timedelta(days=1),
                    related_session_date=s.performed_on, reported_by=user,
                )
            )  # fmt: skip
    AdverseEvent.objects.bulk_create(events, batch_size=batch_size)
    return LoadedCohort(
        n_patients, len(visits), len(meas), len(sessions), len(events), t_sim,
        time.perf_counter() - t0,
    )  # fmt: skip
