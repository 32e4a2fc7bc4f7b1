"""Demo consultations: every step is represented, BLOCK cases exist, and reloading adds
nothing."""

from __future__ import annotations

from anagen.assessment import services
from anagen.assessment.models import (
    Consent,
    Diagnosis,
    MedicalHistory,
    ScalpExam,
    Screening,
    TreatmentPlan,
)
from anagen.core.demo import load_demo
from anagen.patients.models import Patient

MODELS = (MedicalHistory, Screening, ScalpExam, Diagnosis, TreatmentPlan, Consent)


def test_demo_patients_are_at_every_step_and_reloading_adds_nothing(db):
    load_demo()
    counts = [m.objects.count() for m in MODELS]
    load_demo()
    assert [m.objects.count() for m in MODELS] == counts
    demo = Patient.objects.filter(clinic__slug="demo")
    with_history = demo.filter(medical_histories__isnull=False).distinct()
    assert 0 < with_history.count() < demo.count()  # some still wait for a consultation
    assert counts[0] > counts[2] > counts[3] > counts[4] > 0  # fewer at each later step
    assert Consent.objects.exists()
    for plan in TreatmentPlan.objects.all():
        for consent in plan.consents.all():
            assert services.has_valid_consent(plan, consent.modality, consent.signed_on)


def test_demo_has_an_exosome_block_for_pregnancy_and_for_active_cancer(db):
    load_demo()
    blocked = {
        f["rule_id"]
        for s in Screening.objects.filter(clinic__slug="demo")
        for f in s.findings("exosome")
        if f["outcome"] == "BLOCK"
    }
    assert {"EXO-PREGNANCY", "EXO-MALIGNANCY-ACTIVE"} <= blocked
    # No plan in the demo goes against an un-overridden BLOCK.
    for plan in TreatmentPlan.objects.all():
        for m in plan.modalities:
            assert plan.screening.outcome(m) != "BLOCK"
