"""Demo courses of treatment with a known truth: simulated patients replayed through the app.

``anagen.simulation.demo.generate_demo_cohort(COHORT_CANDIDATES, COHORT_SEED, start)`` (start =
today − 400 days) gives patients with a plan, session dates and measured *and* true
target-area values at weeks 0, 4, 12, 24 and 48 (visit windows, dropout). The first
``COHORT_SIZE`` patients with androgenetic alopecia and a treatment become demo patients
DEMO-0037 onwards (sex, age, stage as simulated), and their whole course is entered through
the real services with the clock set to each event's date (``core.demo.demo_clock``):
history, exam, diagnosis, plan(s) and consent two and one weeks before the first session;
the follow-up schedule; sessions (injection map, vials from a lot released back then, PRP
preparation) and the minoxidil start, each modality on the day the simulator started it;
visits with the simulated *measured* values, synthetic photos, derived global assessment and
questionnaire; a few adverse events; further-treatment decisions at weeks 12, 24 and 48 (the
clinician follows the app's proposal). One advanced-stage patient has a transplant after the
last measured visit (so it cannot touch the simulated values).

The truth stays inspectable: every measured visit's notes give the model version, seed,
cohort index and two noise-free values: the *model truth* (every hair present in the target
area, ``DemoVisit.true``) and the *expected measurement* (``DemoVisit.expected``: what the
phototrichogram of ``anagen.simulation.measurement`` reads on average, young anagen hairs not
yet visible, vellus hairs detected with probability ``vellus_detection``, no relocation or
counting error). The regimen is read from each simulated patient's ``plan``. The app's
estimates from measured values target the expected measurement. ``docs/demo-data.md``
explains how to recompute them. Values do not depend on the load date (only the calendar
dates shift).
"""

from __future__ import annotations

import io
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from django.utils import timezone
from PIL import Image, ImageDraw

from anagen.accounts.models import Clinic, User
from anagen.core.history import save_with_history
from anagen.monitoring import selectors, services
from anagen.monitoring.models import Photo, ScheduledVisit, Visit
from anagen.patients.models import Patient, SexAtBirth
from anagen.simulation.demo import (
    DEMO_TODAY_OFFSET_DAYS,
    DemoMeasurement,
    DemoPatient,
    generate_demo_cohort,
)
from anagen.simulation.treatments import InjectionSessions, Minoxidil
from anagen.treatments import demo as treatments_demo
from anagen.treatments.models import Modality

COHORT_SEED = 20261125
COHORT_CANDIDATES = 60
COHORT_SIZE = 18
FIRST_NUMBER = 37  # DEMO-0001 … DEMO-0036 are the consultation-demo patients
DECISION_WEEKS = (12, 24, 48)
PHOTO_PX = (240, 180)

# (n-th cohort patient with injection sessions, CTCAE term, grade, days after the session,
#  days to resolve or None, seriousness, relatedness, action, outcome, description)
ADVERSE_EVENTS: tuple[tuple[Any, ...], ...] = (
    (0, "injection_site_reaction", 1, 0, 3, [], "definite", "none", "recovered",
     "Erythema and mild swelling at the injection points, settled in 3 days."),
    (1, "headache", 1, 0, 1, [], "possible", "medication", "recovered",
     "Tension-type headache on the evening of the session; paracetamol."),
    (2, "pain", 2, 0, 2, [], "definite", "medication", "recovered",
     "Injection pain limiting washing the hair for two days."),
    (3, "skin_infection", 3, 4, 16, ["hospitalization"], "probable", "hospitalised",
     "recovered", "Scalp cellulitis at the vertex 4 days after injections; IV antibiotics."),
    (5, "vasovagal_reaction", 3, 0, 0, [], "probable", "observation", "recovered",
     "Fainted briefly after the injections; recovered lying down within minutes."),
    (7, "folliculitis", 2, 7, None, [], "possible", "medication", "recovering",
     "Pustules over the treated area; oral antibiotic started."),
)  # fmt: skip


# --- the simulated cohort, with the regimen and the expected measurement -----------------


@dataclass(frozen=True)
class Regimen:
    """What the simulator gave one patient, in app terms: each modality with the day it
    started (first injection session, or the first day of minoxidil), and every injection
    session day up to the demo's today. ``unsupported`` names simulated treatments that the
    app cannot record (such a patient is not replayed)."""

    starts: Mapping[str, date]
    session_dates: Mapping[str, tuple[date, ...]]
    unsupported: tuple[str, ...] = ()

    @property
    def modalities(self) -> frozenset[str]:
        return frozenset(self.starts)


@dataclass(frozen=True)
class SimulatedCourse:
    """One simulated candidate: the generator's patient, its regimen and, per visit week,
    the expected measurement (``DemoVisit.expected``, see
    ``anagen.simulation.measurement.expected_values``)."""

    index: int
    patient: DemoPatient
    regimen: Regimen
    expected: Mapping[int, DemoMeasurement]


def _regimen(p: DemoPatient, today: date) -> Regimen:
    starts: dict[str, date] = {}
    sessions: dict[str, tuple[date, ...]] = {}
    unsupported: list[str] = []
    for t in p.plan.treatments:
        if isinstance(t, InjectionSessions) and t.kind in (Modality.EXOSOME, Modality.PRP):
            days = [p.enrolment_date + timedelta(days=round(d)) for d in t.session_days]
            done = tuple(d for d in days if d <= today)
            if done:
                starts[str(t.kind)] = done[0]
                sessions[str(t.kind)] = done
        elif isinstance(t, Minoxidil) and t.stop_day is None:
            on = p.enrolment_date + timedelta(days=round(t.start_day))
            if on <= today:
                starts[Modality.MINOXIDIL.value] = on
        else:
            unsupported.append(type(t).__name__)
    return Regimen(starts, sessions, tuple(unsupported))


def simulated_cohort(today: date | None = None) -> list[SimulatedCourse]:
    """Every simulated candidate (``COHORT_CANDIDATES``), in simulator order."""
    today = today or timezone.localdate()
    start = today - timedelta(days=DEMO_TODAY_OFFSET_DAYS)
    patients = generate_demo_cohort(COHORT_CANDIDATES, COHORT_SEED, start)
    return [
        SimulatedCourse(i, p, _regimen(p, today), {v.week: v.expected for v in p.visits})
        for i, p in enumerate(patients)
    ]


@dataclass
class CoursePlan:
    key: str  # assessment proposal key
    session_modalities: list[str]  # modalities given at each injection session
    consent: list[str]
    minoxidil_on: date | None  # the day minoxidil starts (as simulated), or None
    notes: str
    allergies: list[str] = field(default_factory=list)
    # A second plan accepted with the first when no single proposal covers the regimen
    # (exosome + minoxidil): its proposal key; it carries the minoxidil consent and start.
    extra_key: str = ""
    regimen: Regimen | None = None

    @property
    def minoxidil_start(self) -> bool:
        return self.minoxidil_on is not None


def _course(p: DemoPatient, regimen: Regimen | None = None) -> CoursePlan | None:
    """The app's plan(s) for a simulated patient: exactly the simulated modalities."""
    if not p.diagnosis_modelled or regimen is None or regimen.unsupported:
        return None
    mods = regimen.modalities
    minox = regimen.starts.get(Modality.MINOXIDIL)
    if mods == {Modality.EXOSOME}:
        return CoursePlan("exosome", [Modality.EXOSOME], ["exosome"], None, "", regimen=regimen)
    if mods == {Modality.PRP}:
        # A recorded minoxidil allergy BLOCKs minoxidil, so the app proposes PRP alone.
        return CoursePlan("prp", [Modality.PRP], ["prp"], None, "", ["minoxidil"], regimen=regimen)
    if mods == {Modality.MINOXIDIL}:
        return CoursePlan("minoxidil", [], ["minoxidil"], minox, "", regimen=regimen)
    if mods == {Modality.PRP, Modality.MINOXIDIL}:
        return CoursePlan(
            "prp_minoxidil", [Modality.PRP], ["prp", "minoxidil"], minox, "", regimen=regimen
        )
    if mods == {Modality.EXOSOME, Modality.MINOXIDIL}:
        # No single proposal combines them: the exosome plan plus a minoxidil plan.
        return CoursePlan(
            "exosome", [Modality.EXOSOME], ["exosome"], minox,
            "Starts topical minoxidil 5 % twice daily with the first session (separate plan).",
            extra_key="minoxidil", regimen=regimen,
        )  # fmt: skip
    return None


def cohort(today: date | None = None) -> list[tuple[int, DemoPatient, CoursePlan]]:
    """(simulator index, simulated patient, course) for the demo patients, in MRN order."""
    return [(c.index, c.patient, course) for c, course in members(today)]


def members(today: date | None = None) -> list[tuple[SimulatedCourse, CoursePlan]]:
    """(simulated course, app course) for the demo patients, in MRN order."""
    out: list[tuple[SimulatedCourse, CoursePlan]] = []
    for c in simulated_cohort(today):
        course = _course(c.patient, c.regimen)
        if course is not None and len(out) < COHORT_SIZE:
            out.append((c, course))
    return out


def mrn(k: int) -> str:
    return f"DEMO-{FIRST_NUMBER + k:04d}"


# --- synthetic images -------------------------------------------------------------------


def trichoscopy_png(density: float, diameter_um: float, seed: int, stamp: str = "") -> bytes:
    """A 1 cm² field: one dark stroke per hair, thickness from the mean diameter. ``stamp``:
    the date printed in the corner, as a camera does (each visit's photo is its own file)."""
    rng = random.Random(seed)
    img = Image.new("RGB", PHOTO_PX, (222, 188, 166))
    draw = ImageDraw.Draw(img)
    width = max(1, round(diameter_um / 25))
    for _ in range(max(0, round(density))):
        x, y = rng.uniform(0, PHOTO_PX[0]), rng.uniform(0, PHOTO_PX[1])
        dx, dy = rng.uniform(-14, 14), rng.uniform(8, 22)
        shade = rng.randint(30, 80)
        draw.line((x, y, x + dx, y + dy), fill=(shade, shade - 10, shade - 20), width=width)
    draw.text((4, 4), f"SYNTHETIC {stamp}".strip(), fill=(255, 255, 255))
    return _png(img)


def global_png(view: str, density: float, stamp: str = "") -> bytes:
    """A schematic head: hair tone from the density (sparser = more scalp showing); ``stamp``
    as for trichoscopy_png."""
    img = Image.new("RGB", PHOTO_PX, (236, 236, 232))
    draw = ImageDraw.Draw(img)
    cx, cy = PHOTO_PX[0] // 2, PHOTO_PX[1] // 2 + 10
    draw.ellipse((cx - 60, cy - 70, cx + 60, cy + 70), fill=(222, 188, 166))
    cover = max(0.0, min(1.0, density / 220))
    tone = round(222 - 170 * cover)
    box = (
        (cx - 58, cy - 68, cx + 58, cy + 10)
        if view != "vertex"
        else (cx - 40, cy - 50, cx + 40, cy + 30)
    )
    draw.ellipse(box, fill=(tone, round(tone * 0.8), round(tone * 0.65)))
    draw.text((4, 4), f"SYNTHETIC {view} {stamp}".strip(), fill=(40, 40, 40))
    return _png(img)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# --- replay -------------------------------------------------------------------------------


def _seven_point(change_pct: float) -> int:
    for limit, score in ((-15, -2), (-5, -1), (5, 0), (15, 1), (30, 2)):
        if change_pct < limit:
            return score
    return 3


def _patient(clinic: Clinic, creator: User, k: int, p: DemoPatient, rng: random.Random) -> Patient:
    from anagen.core.demo import FAMILY, GIVEN_F, GIVEN_M

    sex = SexAtBirth.MALE if p.sex == "M" else SexAtBirth.FEMALE
    given = rng.choice(GIVEN_M if p.sex == "M" else GIVEN_F)
    family = rng.choice(FAMILY)
    born = p.enrolment_date - timedelta(days=365 * p.age_years + rng.randint(0, 300))
    patient = Patient(
        clinic=clinic,
        medical_record_number=mrn(k),
        given_name=given,
        family_name=family,
        date_of_birth=born,
        sex_at_birth=sex,
        phone=f"+44 20 7946 {rng.randint(0, 9999):04d}",
        email=f"{given}.{family}.{FIRST_NUMBER + k}@example.org".lower(),
    )
    save_with_history(patient, creator, "demo data (simulated course)")
    return patient


def _consultation(
    patient: Patient, p: DemoPatient, course: CoursePlan, users: dict[str, User], sessions: int
) -> Any:
    from anagen.assessment import services as assessment
    from anagen.core.demo import demo_clock

    nurse, clinician = users["nurse"], users["clinician"]
    consult = p.enrolment_date - timedelta(days=14)
    decided = p.enrolment_date - timedelta(days=7)
    baseline = p.visits[0].measured.density_per_cm2 if p.visits else None
    with demo_clock(consult):
        history: dict[str, Any] = {"recorded_on": consult}
        if p.sex == "F":
            history |= {"pregnant": False, "lactating": False}
        if course.allergies:
            history["allergies"] = course.allergies
        assessment.record_history(patient, nurse, history)
        exam: dict[str, Any] = {
            "examined_on": consult,
            "trichoscopy_signs": ["hair_diameter_diversity", "vellus_hairs"],
            "findings": f"Patterned thinning, {p.region} most affected"
            + (f"; target-area density ~{baseline:.0f} hairs/cm²." if baseline else "."),
        }
        if p.stage_scale == "norwood":
            exam["norwood_hamilton"] = p.stage
        else:
            exam["ludwig"] = p.stage
        assessment.record_exam(patient, clinician, exam)
        condition = "aga_male" if p.sex == "M" else "aga_female"
        assessment.record_diagnosis(
            patient, clinician, {"condition": condition, "diagnosed_on": consult}
        )
    with demo_clock(decided):
        data: dict[str, Any] = {"proposal_key": course.key, "start_on": p.enrolment_date}
        if sessions > 1:
            data |= {"sessions_planned": sessions, "interval_weeks": 4}
        if course.notes:
            data["notes"] = course.notes
        plan = assessment.accept_plan(patient, clinician, data)
        for modality in course.consent:
            assessment.record_consent(
                plan, nurse, modality=modality, signed_name=patient.full_name, signed_on=decided
            )
        extra = None
        if course.extra_key:
            extra = assessment.accept_plan(
                patient, clinician, {"proposal_key": course.extra_key, "start_on": p.enrolment_date}
            )
            for modality in extra.modalities:
                assessment.record_consent(
                    extra, nurse, modality=modality, signed_name=patient.full_name,
                    signed_on=decided,
                )  # fmt: skip
        services.create_follow_up_plan(
            patient, clinician, first_session_date=p.enrolment_date,
            sessions_planned=max(1, sessions), interval_weeks=4 if sessions > 1 else None,
            protocol_key=next(
                (t["key"] for t in plan.protocols if t["modality"] != "minoxidil"),
                plan.protocols[0]["key"],
            ),
        )  # fmt: skip
    return plan, extra


def truth_note(true: DemoMeasurement, expected: DemoMeasurement | None) -> str:
    """The visit-note sentence with both noise-free values: the model truth (every hair in
    the target area) and the expected measurement (what the measurement reads on average)."""
    text = (
        f"Model truth (all hairs present, noise-free): density {true.density_per_cm2} /cm², "
        f"diameter {true.mean_diameter_um} µm, anagen {true.anagen_pct} %."
    )
    if expected is not None:
        text += (
            f" Expected measurement (noise-free; what the phototrichogram reads on average, "
            f"young anagen and most vellus hairs unseen; compare estimates with this): density "
            f"{expected.density_per_cm2} /cm², diameter {expected.mean_diameter_um} µm, "
            f"terminal {expected.terminal_pct} %, anagen {expected.anagen_pct} %."
        )
    return text


def _visit_data(
    p: DemoPatient,
    index: int,
    j: int,
    rng: random.Random,
    seed: int,
    expected: DemoMeasurement | None = None,
) -> dict[str, Any]:
    v = p.visits[j]
    m, t = v.measured, v.true
    data: dict[str, Any] = {
        "visit_date": v.visit_date,
        "hair_count": None if m.hair_count is None else round(m.hair_count),
        "density_per_cm2": m.density_per_cm2,
        "mean_diameter_um": m.mean_diameter_um,
        "terminal_pct": m.terminal_pct,
        "vellus_pct": m.vellus_pct,
        "anagen_pct": m.anagen_pct,
        "pull_test": Visit.PullTest.NEGATIVE,
        "pull_test_hairs": rng.randint(0, 4),
        "notes": (
            f"Demo data, simulated (anagen.simulation model {p.model_version}, "
            f"generate_demo_cohort seed {seed}, patient index {index}, week {v.week}). "
            + truth_note(t, expected)
        ),
    }
    base = p.visits[0].true.density_per_cm2
    if j > 0 and base and t.density_per_cm2 is not None:
        score = _seven_point(100 * (t.density_per_cm2 - base) / base)
        data["global_assessment"] = score
        for item in ("hgq_appearance_overall", "hgq_growth", "hgq_satisfaction"):
            data[item] = max(-3, min(3, score + rng.choice((-1, 0, 0, 1))))
    return data


def _photos(p: DemoPatient, j: int, seed: int) -> list[services.PhotoUpload]:
    m = p.visits[j].measured
    density = m.density_per_cm2 or 0.0
    view = "vertex" if p.region == "vertex" else "frontal"
    stamp = p.visits[j].visit_date.isoformat()
    return [
        services.PhotoUpload(io.BytesIO(global_png(view, density, stamp)), Photo.Kind.GLOBAL, view),
        services.PhotoUpload(
            io.BytesIO(trichoscopy_png(density, m.mean_diameter_um or 40.0, seed, stamp)),
            Photo.Kind.TRICHOSCOPY,
            target_area=f"{p.region.capitalize()} tattoo, 1 cm²",
        ),
    ]


def _replay(
    clinic: Clinic, users: dict[str, User], k: int, index: int, p: DemoPatient,
    course: CoursePlan, adverse_events: tuple[tuple[Any, ...], ...] = (), today: date | None = None,
    expected: Mapping[int, DemoMeasurement] | None = None,
) -> list[Any]:  # fmt: skip
    from anagen.core.demo import demo_clock

    rng = random.Random(COHORT_SEED * 100 + index)
    with demo_clock(p.enrolment_date - timedelta(days=21)):  # registered before the consult
        patient = _patient(clinic, users["front_desk"], k, p, rng)
    # Each injection modality on its own simulated session days (all of them, in practice,
    # the generator's ``session_dates``); minoxidil from its simulated first day.
    given = course.regimen.session_dates if course.regimen else {}
    by_modality = {mod: list(given.get(mod, p.session_dates)) for mod in course.session_modalities}
    sessions = sorted({d for days in by_modality.values() for d in days})
    n_planned = 3 if course.session_modalities else 1
    plan, extra = _consultation(patient, p, course, users, n_planned)
    scheduled = {
        sv.week: sv for sv in ScheduledVisit.objects.filter(patient=patient).order_by("due_date")
    }
    pre_session = [
        sv for sv in scheduled.values() if sv.kind == ScheduledVisit.Kind.PRE_SESSION
        and sv.week not in {v.week for v in p.visits}
    ]  # fmt: skip
    last_seen = p.visits[-1].visit_date if p.visits else p.enrolment_date
    # Events in time order; on the same day the visit (measurements before injection) first.
    events: list[tuple[date, int, str, Any]] = [
        (v.visit_date, 0, "visit", j) for j, v in enumerate(p.visits)
    ]
    events += [(sv.due_date, 0, "short", sv) for sv in pre_session if sv.due_date <= last_seen]
    events += [
        (d, 1, "session", (mod, n)) for mod, days in by_modality.items() for n, d in enumerate(days)
    ]
    if course.minoxidil_on is not None:
        events.append((course.minoxidil_on, 2, "minoxidil", None))
    if sessions:
        # Each adverse event is recorded on the day it was reported, in time order with the
        # visits, so that a decision after that day sees it (as it would have in the clinic).
        for ae in adverse_events:
            events.append((_ae_dates(sessions[0], ae, today or date.max)[2], 3, "ae", ae))
    events.sort(key=lambda e: (e[0], e[1]))
    nurse, clinician = users["nurse"], users["clinician"]
    photo_visits = {0, len(p.visits) - 1}
    session_rows = []
    for day, order, kind, item in events:
        with demo_clock(day, time(9 + order, 0)):
            if kind == "visit":
                v = p.visits[item]
                visit = services.record_visit(
                    patient, nurse,
                    _visit_data(p, index, item, rng, COHORT_SEED, (expected or {}).get(v.week)),
                    scheduled_visit=scheduled.get(v.week),
                    photos=_photos(p, item, COHORT_SEED + index) if item in photo_visits else (),
                )  # fmt: skip
                if v.week in DECISION_WEEKS:
                    _decide(visit, clinician)
            elif kind == "short":
                services.record_visit(
                    patient, nurse,
                    {"visit_date": day, "notes": "Pre-session check: scalp intact, no new "
                     "medication; no measurements at this visit."},
                    scheduled_visit=item,
                )  # fmt: skip
            elif kind == "session":
                modality, n = item
                session_rows.append(
                    treatments_demo.record_demo_session(
                        clinic,
                        clinician,
                        plan,
                        modality,
                        day,
                        notes=f"Demo: session {n + 1} of the simulated course "
                        f"(cohort index {index}).",
                    )  # fmt: skip
                )
            elif kind == "ae":
                _adverse_event(patient, clinician, session_rows[0], item, today or date.max)
            else:
                treatments_demo.record_demo_session(
                    clinic, clinician, extra or plan, Modality.MINOXIDIL, day,
                    notes=f"Demo: minoxidil started as simulated (cohort index {index}).",
                )  # fmt: skip
    return session_rows


def _decide(visit: Visit, clinician: User) -> None:
    proposal = selectors.proposal_for(visit)
    if proposal.error or proposal.decision is None:
        return
    services.record_decision(
        visit, clinician, decided=proposal.decision.proposal.value,
        rationale="Agreed with the proposal after reviewing photos and measurements.",
    )  # fmt: skip


def _ae_dates(first_session: date, ae: tuple, today: date) -> tuple[date, date | None, date]:
    """Onset, resolution (None while unresolved) and reporting day of a demo event."""
    after, resolve = ae[3], ae[4]
    onset = first_session + timedelta(days=after)
    resolved = None if resolve is None else onset + timedelta(days=resolve)
    return onset, resolved, min(today, resolved or onset + timedelta(days=1))


def _adverse_event(patient: Patient, user: User, session: Any, ae: tuple, today: date) -> None:
    from anagen.core.demo import demo_clock

    _, term, grade, after, resolve, serious, related, action, outcome, text = ae
    onset, resolved, reported = _ae_dates(session.performed_on, ae, today)
    from anagen.products.models import VialDraw

    lot = (
        VialDraw.objects.filter(session_ref=f"session:{session.pk}")
        .values_list("lot__lot_number", flat=True)
        .first()
    )
    with demo_clock(reported):
        services.record_adverse_event(
            patient, user, {
                "term_key": term, "grade": grade, "description": text, "onset_date": onset,
                "resolution_date": resolved, "seriousness": serious, "relatedness": related,
                "related_session_date": session.performed_on, "product_lot_number": lot or "",
                "action_taken": action, "outcome": outcome,
            },
        )  # fmt: skip


def _transplant(
    clinic: Clinic,
    users: dict[str, User],
    today: date,
    members: list[tuple[int, DemoPatient, CoursePlan]],
) -> None:
    """An advanced-stage patient chooses a transplant after the last measured visit."""
    from anagen.assessment import services as assessment
    from anagen.assessment.models import TreatmentPlan
    from anagen.core.demo import demo_clock

    if TreatmentPlan.objects.filter(clinic=clinic, proposal_key="transplant").exists():
        return
    for k, (_, p, _course_plan) in enumerate(members):
        if p.sex != "M" or p.stage not in ("V", "VI") or not p.visits:
            continue
        decided = p.visits[-1].visit_date + timedelta(days=7)
        operated = decided + timedelta(days=21)
        if operated > today:
            continue
        patient = Patient.objects.get(clinic=clinic, medical_record_number=mrn(k))
        with demo_clock(decided):
            plan = assessment.accept_plan(
                patient, users["clinician"],
                {"proposal_key": "transplant", "start_on": operated,
                 "notes": "Wants more coverage at the hairline than medical therapy gives."},
            )  # fmt: skip
            assessment.record_consent(
                plan, users["nurse"], modality="transplant", signed_name=patient.full_name,
                signed_on=decided,
            )  # fmt: skip
        with demo_clock(operated):
            treatments_demo.record_demo_session(
                clinic, users["clinician"], plan, Modality.TRANSPLANT, operated,
                reactions="Expected post-operative oozing from the donor area; dressing.",
                notes="Demo: after the last simulated measurement, so it does not change "
                "the simulated values.",
            )  # fmt: skip
        return


def load_demo(clinic: Clinic, users: dict[str, User]) -> None:
    """Idempotent: a cohort patient who exists already is left alone."""
    today = timezone.localdate()
    services.clinic_settings(clinic)
    simulated = members(today)
    replayed = [(c.index, c.patient, course) for c, course in simulated]
    if not replayed:
        return
    start = today - timedelta(days=DEMO_TODAY_OFFSET_DAYS)
    existing = set(
        Patient.objects.filter(
            clinic=clinic, medical_record_number__in=[mrn(k) for k in range(len(replayed))]
        ).values_list("medical_record_number", flat=True)
    )
    if len(existing) < len(replayed):
        treatments_demo.ensure_history_lots(clinic, users, start)
    injected = 0
    for k, (c, course) in enumerate(simulated):
        if mrn(k) in existing:
            continue
        events = tuple(ae for ae in ADVERSE_EVENTS if ae[0] == injected)
        if _replay(clinic, users, k, c.index, c.patient, course, events, today, c.expected):
            injected += 1  # the n-th patient with injection sessions has the n-th events
    _transplant(clinic, users, today, replayed)
