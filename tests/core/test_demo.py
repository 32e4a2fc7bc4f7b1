import io
from datetime import date, timedelta

from django.core.management import call_command
from django.utils import timezone

from anagen.accounts.models import Clinic, Membership, User
from anagen.accounts.roles import Role
from anagen.assessment.models import Consent, TreatmentPlan
from anagen.core.demo import DEMO_PATIENTS, demo_clock, load_demo
from anagen.imaging import demo as imaging_demo
from anagen.imaging.models import PhotoAnalysis
from anagen.monitoring import demo as monitoring_demo
from anagen.monitoring.models import (
    AdverseEvent,
    FollowUpPlan,
    Measurement,
    Photo,
    ScheduledVisit,
    TreatmentDecision,
    Visit,
)
from anagen.patients.models import Patient
from anagen.products.models import Lot, VialDraw
from anagen.simulation.demo import DEMO_TODAY_OFFSET_DAYS, generate_demo_cohort
from anagen.treatments.models import (
    GraftRecord,
    InjectionMapEntry,
    Modality,
    PrpPreparation,
    TreatmentSession,
)

COUNTED = (
    User, Patient, Membership, TreatmentPlan, Consent, Lot, VialDraw, TreatmentSession,
    InjectionMapEntry, PrpPreparation, GraftRecord, FollowUpPlan, ScheduledVisit, Visit,
    Measurement, Photo, AdverseEvent, TreatmentDecision,
)  # fmt: skip


def _counts() -> list[int]:
    return [m.objects.count() for m in COUNTED]


def test_demo_has_every_role_and_patients_and_is_idempotent(
    db, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    with django_capture_on_commit_callbacks(execute=True):  # queued analyses run after commit
        first = load_demo()
    counts = _counts()
    second = load_demo()
    assert _counts() == counts
    assert first == second
    demo = Clinic.objects.get(slug="demo")
    assert {m.role for m in demo.memberships.all()} == {r.value for r in Role}
    assert (
        Patient.objects.filter(clinic=demo).count() == DEMO_PATIENTS + monitoring_demo.COHORT_SIZE
    )

    # Sessions of every kind the demo promises, each through the real service.
    sessions = TreatmentSession.objects.filter(clinic=demo)
    for modality in (Modality.EXOSOME, Modality.PRP, Modality.MINOXIDIL, Modality.TRANSPLANT):
        assert sessions.filter(modality=modality).exists(), modality
    for s in sessions.filter(modality=Modality.EXOSOME):
        assert s.map_entries.exists()
        assert VialDraw.objects.filter(session_ref=f"session:{s.pk}").count() == 1
        assert not s.limit_warnings
    # Every vial drawn belongs to a session in the same patient's record, on the same day:
    # the lot trace and the cohort's product filter name only patients who had the session.
    for draw in VialDraw.objects.filter(clinic=demo):
        session = sessions.get(pk=int(draw.session_ref.removeprefix("session:")))
        assert (session.patient_id, session.performed_on) == (draw.patient_id, draw.drawn_on)
        assert session.modality == Modality.EXOSOME
    assert PrpPreparation.objects.count() == sessions.filter(modality=Modality.PRP).count()
    assert GraftRecord.objects.filter(session__clinic=demo).exists()
    # Consultation patients with consent get session 1 today; the replay fills the past.
    today = timezone.localdate()
    assert sessions.filter(performed_on=today).exists()
    assert sessions.filter(performed_on__lt=today - timedelta(days=300)).exists()
    assert all(s.performed_on <= today for s in sessions)

    visits = Visit.objects.filter(clinic=demo)
    assert visits.filter(is_baseline=True).count() >= monitoring_demo.COHORT_SIZE - 1
    assert Measurement.objects.filter(clinic=demo).count() >= 3 * monitoring_demo.COHORT_SIZE
    assert Photo.objects.filter(clinic=demo, kind=Photo.Kind.TRICHOSCOPY).exists()
    assert Photo.objects.filter(clinic=demo, kind=Photo.Kind.GLOBAL).exists()
    events = AdverseEvent.objects.filter(clinic=demo)
    assert 3 <= events.count() <= 10
    assert events.filter(serious_or_high_grade=True).exists()
    assert events.filter(grade__gte=3).exists()
    assert TreatmentDecision.objects.filter(clinic=demo).exists()
    # The agenda has visits still to come (future follow-ups of the courses).
    assert ScheduledVisit.objects.filter(
        clinic=demo, status=ScheduledVisit.Status.PLANNED, due_date__gt=today
    ).exists()

    # Measured values are exactly the simulator's output for the documented seed.
    start = today - timedelta(days=DEMO_TODAY_OFFSET_DAYS)
    simulated = generate_demo_cohort(
        monitoring_demo.COHORT_CANDIDATES, monitoring_demo.COHORT_SEED, start
    )
    checked = 0
    for k, (index, p, _course) in enumerate(monitoring_demo.cohort(today)):
        assert simulated[index].visits == p.visits
        patient = Patient.objects.get(clinic=demo, medical_record_number=monitoring_demo.mrn(k))
        assert patient.sex_at_birth == ("male" if p.sex == "M" else "female")
        rows = {
            m.visit.visit_date: m
            for m in Measurement.objects.filter(
                patient=patient, source=Measurement.Source.MANUAL
            ).select_related("visit")
        }
        assert sorted(rows) == [v.visit_date for v in p.visits]
        for v in p.visits:
            m = rows[v.visit_date]
            assert m.density_per_cm2 == v.measured.density_per_cm2
            assert m.mean_diameter_um == v.measured.mean_diameter_um
            assert m.anagen_pct == v.measured.anagen_pct
            assert m.hair_count == round(v.measured.hair_count)
            # The truth is kept next to the measured value, in the visit notes.
            assert f"density {v.true.density_per_cm2} /cm²" in m.visit.notes
            assert f"seed {monitoring_demo.COHORT_SEED}" in m.visit.notes
            checked += 1
        first_session = patient.sessions.order_by("performed_on").first()
        if p.session_dates:
            assert first_session.performed_on == p.session_dates[0]
    assert checked >= 3 * monitoring_demo.COHORT_SIZE

    # Synthetic trichoscopy fields with a known truth, analysed by the engine, once each.
    analyses = PhotoAnalysis.objects.filter(clinic=demo, photo__target_area__startswith="Synthetic")
    assert analyses.count() == imaging_demo.DEMO_IMAGED
    for analysis in analyses.select_related("photo"):
        assert analysis.status == PhotoAnalysis.Status.DONE, analysis.error
        drawn = int(analysis.photo.target_area.split(": ")[1].split()[0])
        found = analysis.result["summary"]["count"]
        assert abs(found - drawn) <= max(3, 0.5 * drawn), (found, drawn)  # accuracy: benchmarks/
        assert analysis.measurement.source == Measurement.Source.IMAGING
    # The schematic pictures wait for a scale of their own, and say so: the clinic has a
    # calibration (for another image size), not none.
    waiting = PhotoAnalysis.objects.filter(clinic=demo, status="needs_calibration")
    assert waiting.exists()
    assert not waiting.filter(error__startswith="No calibration").exists()


def test_demo_clock_sets_now_and_today():
    with demo_clock(date(2025, 3, 4)):
        assert timezone.localdate() == date(2025, 3, 4)
    assert timezone.localdate() != date(2025, 3, 4)


def test_every_printed_demo_login_signs_in(client, db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    logins = load_demo()
    # The second quality user (release overrides need two people) is printed too.
    assert ("quality2", "quality") in {(login.username, login.role) for login in logins}
    for login in logins:
        response = client.post(
            "/accounts/login/", {"username": login.username, "password": login.password}
        )
        assert response.status_code == 302, login.username
        client.logout()


def test_load_demo_prints_where_to_sign_in_and_every_login(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    out = io.StringIO()
    call_command("load_demo", "--url", "http://127.0.0.1:8765", stdout=out)
    text = out.getvalue()
    # make demo passes its own host and port: the printed address is the one served.
    assert "Sign in at http://127.0.0.1:8765" in text
    for login in load_demo():
        assert f"{login.username:<12} {login.password:<24} {login.role:<11}" in text


def test_healthz_reveals_no_data(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
