"""Demo consultations for the demo clinic: patients at every step of the flow.

Everything is written through the services (so demo rows obey the same rules and carry
audit history). Idempotent: a patient who already has a medical history is left alone.

Numbers follow REFERENCE.md: AGA baseline density 95–145 hairs/cm² (Part A §7 simulation
defaults), occipital density around Barman's 223 hairs/cm² (range 175–300, Part B §2),
wash-test shedding ~125 hairs in telogen effluvium (Part A §1.5, Part B §2).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.utils import timezone

from anagen.accounts.models import Clinic, User
from anagen.assessment import services
from anagen.assessment.models import MedicalHistory
from anagen.patients.models import Patient

DEMO_SEED = 20261125
# Steps in flow order; patient i reaches STEPS[i % 6] ("none" = waiting for consultation).
STEPS = ("none", "history", "exam", "diagnosis", "plan", "consent")
NORWOOD = ("II", "III", "III", "IIIv", "IV", "IV", "V", "VI")
LUDWIG_SINCLAIR = (("I", 2), ("I", 3), ("II", 3), ("II", 4), ("III", 5))


def _history(kind: str, sex: str, rng: random.Random, today: Any) -> dict[str, Any]:
    """Questionnaire answers for a scenario."""
    h: dict[str, Any] = {"recorded_on": today - timedelta(days=rng.randint(0, 20))}
    if sex == "female":
        h["pregnant"], h["lactating"] = False, False
    if kind == "finasteride":
        h["medications"] = [
            {"drug_class": "finasteride", "name": "Finasteride 1 mg", "start": "2024-03-01"}
        ]
    elif kind == "aspirin":
        h["medications"] = [{"drug_class": "antiplatelet", "name": "Aspirin 75 mg"}]
        h["conditions"] = ["cardiovascular_disease"]
    elif kind == "past_cancer":
        h["malignancy"], h["malignancy_details"] = "past", "Basal-cell carcinoma, excised 2019"
    elif kind == "active_cancer":
        h["malignancy"], h["malignancy_details"] = "active", "Prostate cancer under treatment"
    elif kind == "pregnant":
        h["pregnant"] = True
    elif kind == "keloid":
        h["keloid"] = True
    elif kind == "autoimmune":
        h["autoimmune_disease"] = True
        h["other_conditions"] = "Hashimoto thyroiditis, on levothyroxine"
    elif kind == "minoxidil_user":
        h["medications"] = [
            {"drug_class": "minoxidil", "name": "Minoxidil 5 % foam", "start": "2025-01-10"}
        ]
        h["prior_treatments"] = [
            {"modality": "prp", "on": (today - timedelta(days=200)).isoformat(),
             "notes": "3 PRP sessions elsewhere, little change"}
        ]  # fmt: skip
    elif kind == "aa":
        h["scalp_conditions"] = ["patchy_loss"]
        h["autoimmune_disease"] = True
    elif kind == "te":
        h["other_conditions"] = "Iron deficiency (ferritin 12 µg/L); COVID-19 eight months ago"
    if kind not in ("aa",) and rng.random() < 0.2:
        h["allergies"] = ["latex"]
    return h


def _exam(kind: str, sex: str, rng: random.Random, on: Any) -> dict[str, Any]:
    density = rng.randint(95, 145)
    occipital = rng.randint(180, 260)
    if kind == "aa":
        regions = [rng.choice((0, 10, 25, 40, 60)) for _ in range(4)]
        return {
            "examined_on": on,
            "salt_top": regions[0], "salt_posterior": regions[1],
            "salt_right": regions[2], "salt_left": regions[3],
            "aa_brow_or_lash_loss": rng.random() < 0.3,
            "trichoscopy_signs": ["exclamation_mark_hairs", "yellow_dots", "black_dots"],
            "findings": "Round patches of non-scarring loss; exclamation-mark hairs at the edges.",
        }  # fmt: skip
    if kind == "te":
        return {
            "examined_on": on,
            "pull_hairs_pulled": 50,
            "pull_hairs_out": rng.randint(7, 12),
            "trichoscopy_signs": ["upright_regrowing_hairs", "empty_follicles"],
            "findings": "Diffuse shedding for 8 months; wash test ~120 hairs per shampoo "
            "(TE range, Li 2022). No miniaturisation.",
        }
    findings = (
        f"Trichoscopy: frontal density ~{density} hairs/cm², occipital ~{occipital} hairs/cm²; "
        "miniaturised hairs in the affected area."
    )
    signs = ["hair_diameter_diversity", "vellus_hairs"]
    if sex == "female":
        ludwig, sinclair = rng.choice(LUDWIG_SINCLAIR)
        return {"examined_on": on, "ludwig": ludwig, "sinclair": sinclair,
                "trichoscopy_signs": signs, "findings": findings}  # fmt: skip
    norwood = rng.choice(NORWOOD)
    basp = {"II": "M1", "III": "M2", "IIIv": "M1", "IV": "M2", "V": "M3", "VI": "M3"}[norwood]
    return {
        "examined_on": on, "norwood_hamilton": norwood, "basp_basic": basp,
        "basp_v": "V2" if norwood in ("IIIv", "IV", "V", "VI") else "",
        "trichoscopy_signs": signs + ["peripilar_sign"], "findings": findings,
    }  # fmt: skip


def _diagnosis(kind: str, sex: str) -> str:
    if kind == "aa":
        return "aa_patchy"
    if kind == "te":
        return "te_chronic"
    return "aga_female" if sex == "female" else "aga_male"


def _plan_key(proposals: list[services.Proposal], rng: random.Random) -> str | None:
    ok = [p.key for p in proposals if p.can_accept]
    if not ok:
        return None
    # Clinics in the demo mostly offer PRP with minoxidil; some patients choose exosomes.
    for wanted in ("exosome" if rng.random() < 0.4 else "prp_minoxidil", "prp_minoxidil"):
        if wanted in ok:
            return wanted
    return ok[0]


def load_demo(clinic: Clinic, users: dict[str, User]) -> None:
    """Idempotent: running it twice must not duplicate anything."""
    clinician, nurse = users["clinician"], users["nurse"]
    services.ensure_protocol_templates(clinic, users["admin"])
    services.ensure_consent_forms(clinic)
    today = timezone.localdate()
    patients = list(
        Patient.objects.filter(clinic=clinic, medical_record_number__startswith="DEMO-").order_by(
            "medical_record_number"
        )
    )
    done = set(
        MedicalHistory.objects.filter(patient__in=patients).values_list("patient_id", flat=True)
    )
    steps = {p.pk: STEPS[i % len(STEPS)] for i, p in enumerate(patients)}
    kinds: dict[int, str] = {}
    # Two BLOCK cases for exosome, placed deterministically: a pregnant woman (all drug
    # and injection plans blocked: she stays at diagnosis) and a man with active cancer
    # (exosome and PRP blocked; minoxidil planned and consented).
    pregnant = next(
        (p for p in patients
         if p.sex_at_birth == "female" and services.age_on(p.date_of_birth, today) < 45
         and steps[p.pk] != "none"),
        None,
    )  # fmt: skip
    if pregnant is not None:
        kinds[pregnant.pk], steps[pregnant.pk] = "pregnant", "diagnosis"
    cancer = next((p for p in patients if p.sex_at_birth == "male" and steps[p.pk] != "none"), None)
    if cancer is not None:
        kinds[cancer.pk], steps[cancer.pk] = "active_cancer", "consent"
    common = ("healthy", "healthy", "healthy", "finasteride", "aspirin", "past_cancer",
              "keloid", "autoimmune", "minoxidil_user", "aa", "te")  # fmt: skip
    for i, patient in enumerate(patients):
        if patient.pk in done or steps[patient.pk] == "none":
            continue
        rng = random.Random(DEMO_SEED + i)
        sex = services.patient_sex(patient)
        kind = kinds.get(patient.pk) or rng.choice(
            [k for k in common if not (k == "finasteride" and sex == "female")]
        )
        step = STEPS.index(steps[patient.pk])
        history = services.record_history(patient, nurse, _history(kind, sex, rng, today))
        if step < STEPS.index("exam"):
            continue
        services.record_exam(patient, clinician, _exam(kind, sex, rng, history.recorded_on))
        if step < STEPS.index("diagnosis"):
            continue
        services.record_diagnosis(
            patient, clinician, {"condition": _diagnosis(kind, sex), "diagnosed_on": today}
        )
        if step < STEPS.index("plan"):
            continue
        found, _missing = services.proposals(patient)
        key = _plan_key(found, rng)
        if key is None:
            continue
        plan = services.accept_plan(patient, clinician, {"proposal_key": key})
        if step < STEPS.index("consent"):
            continue
        for modality in plan.modalities:
            services.record_consent(
                plan, nurse, modality=modality, signed_name=patient.full_name, signed_on=today
            )
