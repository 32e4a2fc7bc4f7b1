"""The simulated demo courses keep their known truth: the regimen as simulated, and both
noise-free values (model truth and expected measurement) next to each measured visit.

That the expected measurement is the mean of the simulated measurement is tested with the
simulation (``tests/simulation/test_simulation_measurement.py``)."""

from __future__ import annotations

import statistics
from datetime import date

import pytest
from django.utils import timezone

from anagen.assessment.models import Consent, TreatmentPlan
from anagen.core.demo import load_demo
from anagen.monitoring import demo as monitoring_demo
from anagen.monitoring.models import Measurement
from anagen.patients.models import Patient
from anagen.treatments.models import Modality, TreatmentSession

TODAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
def simulated() -> list[monitoring_demo.SimulatedCourse]:
    return monitoring_demo.simulated_cohort(TODAY)


def test_measured_values_scatter_around_the_expected_measurement_not_the_truth(simulated):
    members = [
        (c, course)
        for c in simulated
        if (course := monitoring_demo._course(c.patient, c.regimen)) is not None
    ][: monitoring_demo.COHORT_SIZE]
    gaps_expected, gaps_truth = [], []
    for c, _course in members:
        assert sorted(c.expected) == [v.week for v in c.patient.visits]
        for v in c.patient.visits:
            gaps_expected.append(v.measured.density_per_cm2 - c.expected[v.week].density_per_cm2)
            gaps_truth.append(v.measured.density_per_cm2 - v.true.density_per_cm2)
    n = len(gaps_expected)
    assert n >= 3 * monitoring_demo.COHORT_SIZE
    se = statistics.stdev(gaps_expected) / n**0.5
    assert abs(statistics.mean(gaps_expected)) < 4 * se
    assert statistics.mean(gaps_truth) < -10  # the all-hairs truth is a different quantity


def test_regimen_is_read_from_the_simulated_plan(simulated):
    for c in simulated:
        p = c.patient
        mods = c.regimen.modalities
        assert not c.regimen.unsupported
        expected = {
            "exosome": {"exosome"},
            "prp": {"prp"},
            "minoxidil": {"minoxidil"},
            "none": set(),
        }.get(p.modality)
        if expected is None:  # combination: the description names both
            first = "prp" if p.plan_description.startswith("PRP") else "exosome"
            expected = {first, "minoxidil"}
        assert mods == expected, (c.index, p.plan_description)
        for modality, days in c.regimen.session_dates.items():
            assert list(days) == p.session_dates, (c.index, modality)
        if "minoxidil" in mods:
            assert c.regimen.starts["minoxidil"] == p.enrolment_date


def test_demo_records_each_patient_in_the_simulated_arm(db, settings, tmp_path):
    """Every demo patient's recorded plans, consents, sessions and minoxidil start match the
    simulated regimen (modalities and start dates); the truth notes carry both values."""
    settings.MEDIA_ROOT = tmp_path
    load_demo()
    today = timezone.localdate()
    transplant_mrns = set(
        TreatmentPlan.objects.filter(proposal_key="transplant").values_list(
            "patient__medical_record_number", flat=True
        )
    )
    assert len(transplant_mrns) == 1  # documented: one patient, after the last visit
    combined = 0
    for k, (c, _course) in enumerate(monitoring_demo.members(today)):
        patient = Patient.objects.get(medical_record_number=monitoring_demo.mrn(k))
        simulated_mods = set(c.regimen.modalities)
        sessions = TreatmentSession.objects.filter(patient=patient, voided_at__isnull=True)
        plans = TreatmentPlan.objects.filter(patient=patient)
        extra: set[str] = set()
        if patient.medical_record_number in transplant_mrns:
            extra = {Modality.TRANSPLANT}
            (op,) = sessions.filter(modality=Modality.TRANSPLANT)
            assert op.performed_on > c.patient.visits[-1].visit_date
        recorded = set(sessions.values_list("modality", flat=True))
        assert recorded == simulated_mods | extra, patient.medical_record_number
        planned = {m for plan in plans for m in plan.modalities}
        assert planned == simulated_mods | extra, patient.medical_record_number
        consented = set(Consent.objects.filter(patient=patient).values_list("modality", flat=True))
        assert consented == simulated_mods | extra, patient.medical_record_number
        for modality, start in c.regimen.starts.items():
            first = sessions.filter(modality=modality).order_by("performed_on").first()
            assert first is not None and first.performed_on == start, (k, modality)
        for modality, days in c.regimen.session_dates.items():
            got = sessions.filter(modality=modality).order_by("performed_on")
            assert [s.performed_on for s in got] == list(days), (k, modality)
        combined += len(simulated_mods) > 1
        for v in c.patient.visits:
            m = Measurement.objects.get(
                patient=patient, visit__visit_date=v.visit_date, source=Measurement.Source.MANUAL
            )
            e = c.expected[v.week]
            assert f"all hairs present, noise-free): density {v.true.density_per_cm2} /cm²" in (
                m.visit.notes
            )
            assert "Expected measurement (noise-free" in m.visit.notes
            assert f"density {e.density_per_cm2} /cm²" in m.visit.notes
    assert combined >= 1  # the cohort has a combination course (exosome + minoxidil)


def test_demo_adverse_events_use_grades_their_ctcae_term_has():
    """Alopecia has grades 1–2 only, Anaphylaxis starts at 3 …: the demo never grades outside."""
    from anagen.monitoring import ctcae

    for ae in monitoring_demo.ADVERSE_EVENTS:
        term, grade = ae[1], ae[2]
        assert grade in ctcae.resolve_term(term).grades, ae
