"""Consultation records: medical history, screening, scalp exam, diagnosis, plan, consent.

Every row belongs to a clinic (directly, so that selectors filter on one column) and,
where it is about a person, to a patient of that clinic. Clinical records are never
deleted: a history is superseded by a new version, a plan is cancelled with a reason, a
consent is withdrawn by a separate withdrawal row. All models keep change history.

Business rules live in ``services.py`` and the pure modules (``scales``, ``screening``,
``coding``, ``protocols``); the models only hold data and a few read helpers.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from anagen.accounts.models import Clinic
from anagen.assessment import coding, protocols, scales, screening
from anagen.assessment.labels import MODALITY_LABELS as MODALITY_LABELS  # re-exported
from anagen.patients.models import Patient

MODALITY_CHOICES = [(m, m) for m in screening.MODALITIES]


class ImmutableError(Exception):
    """An attempt to change a record that may only be created (signed consent, screening)."""


class MedicalHistory(models.Model):
    """One version of the medical-history questionnaire. A new answer = a new version.

    ``answered_on`` maps each answer (field name) to the date it was last given a new
    value, so an unchanged answer keeps the date it was first recorded.
    """

    MALIGNANCY_CHOICES = [("none", "None"), ("active", "Active"), ("past", "Past")]

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="medical_histories")
    version = models.PositiveIntegerField()
    recorded_on = models.DateField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    conditions = models.JSONField(default=list, blank=True)  # codes of screening.CONDITIONS
    other_conditions = models.TextField(blank=True)
    # [{"drug_class", "name", "start", "stop"}]; dates ISO strings, stop None = still taking
    medications = models.JSONField(default=list, blank=True)
    allergies = models.JSONField(default=list, blank=True)  # substances, free text
    pregnant = models.BooleanField(null=True, blank=True)  # None = not recorded
    lactating = models.BooleanField(null=True, blank=True)
    malignancy = models.CharField(max_length=10, choices=MALIGNANCY_CHOICES, default="none")
    malignancy_details = models.TextField(blank=True)
    autoimmune_disease = models.BooleanField(default=False)
    bleeding_disorder = models.BooleanField(default=False)
    platelet_count_10e9_per_l = models.FloatField(null=True, blank=True)
    keloid = models.BooleanField(default=False)
    scalp_conditions = models.JSONField(default=list, blank=True)  # screening.SCALP_CONDITIONS
    prior_treatments = models.JSONField(default=list, blank=True)  # [{"modality", "on", "notes"}]
    notes = models.TextField(blank=True)
    answered_on = models.JSONField(default=dict, blank=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "version"], name="history_version_unique"),
        ]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"History v{self.version} of {self.patient} ({self.recorded_on})"


class ScreeningRuleOverride(models.Model):
    """A clinic's change to one screening rule (stricter outcome, or disabled), with reason.

    Overrides are retired, never deleted, so the rule set behind an old screening result
    can always be reconstructed.
    """

    ACTION_CHOICES = [("set_outcome", "Change the outcome"), ("disable", "Disable the rule")]
    OUTCOME_CHOICES = [("WARN", "WARN"), ("REFER", "REFER"), ("BLOCK", "BLOCK")]

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    rule_id = models.CharField(max_length=60)
    action = models.CharField(max_length=20, choices=ACTION_CHOICES)
    outcome = models.CharField(max_length=10, choices=OUTCOME_CHOICES, blank=True)
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    retire_reason = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.action} {self.outcome}".strip()

    def as_override(self) -> screening.Override:
        outcome = screening.Outcome(self.outcome) if self.outcome else None
        return screening.Override(self.rule_id, self.action, self.reason, outcome)


class Screening(models.Model):
    """A stored screening result: which history version, which date, which rule set."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="screenings")
    medical_history = models.ForeignKey(
        MedicalHistory, on_delete=models.PROTECT, related_name="screenings"
    )
    screened_on = models.DateField()
    ruleset_version = models.CharField(max_length=60)
    # The clinic overrides in force, copied, so the effective rule set is reproducible.
    rule_overrides = models.JSONField(default=list, blank=True)
    product_components = models.JSONField(default=list, blank=True)
    result = models.JSONField()  # screening.ScreeningResult.to_dict()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Screening of {self.patient} on {self.screened_on} ({self.ruleset_version})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A result is evidence of what the rules said on a date; re-screening makes a new row.
        if self.pk is not None:
            raise ImmutableError("A screening result cannot be changed; screen again instead.")
        super().save(*args, **kwargs)

    def modality_results(self) -> list[tuple[str, dict[str, Any]]]:
        """(modality, result) in the engine's modality order. PostgreSQL's jsonb does not
        keep key order, so pages and defaults must never rely on the stored order."""
        stored = self.result["modalities"]
        order = {m: i for i, m in enumerate(screening.MODALITIES)}
        return sorted(stored.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))

    def outcome(self, modality: str) -> str:
        return self.result["modalities"][modality]["outcome"]

    def findings(self, modality: str) -> list[dict[str, Any]]:
        return self.result["modalities"][modality]["findings"]

    def as_result(self) -> screening.ScreeningResult:
        """Rebuild the engine's result object (for protocols.propose_plans)."""
        mods = {}
        for m, r in self.modality_results():
            found = tuple(
                screening.Finding(
                    rule_id=f["rule_id"],
                    modality=f["modality"],
                    outcome=screening.Outcome(f["outcome"]),
                    reason=f["reason"],
                    source=f["source"],
                    override_reason=f.get("override_reason"),
                )
                for f in r["findings"]
            )
            mods[m] = screening.ModalityResult(m, screening.Outcome(r["outcome"]), found)
        return screening.ScreeningResult(
            self.result["ruleset_version"], date.fromisoformat(self.result["on"]), mods
        )


class ScreeningOverride(models.Model):
    """A clinician lets a plan go ahead despite a BLOCK for one modality, in writing."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="overrides")
    modality = models.CharField(max_length=20, choices=MODALITY_CHOICES)
    rule_ids = models.JSONField(default=list)  # the BLOCK rules overridden
    reason = models.TextField()
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["screening", "modality"], name="one_override_per_modality"
            ),
        ]

    def __str__(self) -> str:
        return f"Override of {self.modality} BLOCK ({', '.join(self.rule_ids)})"


class ScalpExam(models.Model):
    """Scalp examination: stage scales, SALT, pull test, trichoscopy, findings.

    Derived values (SALT score, band, AA-IGA, AA Scale, pull-test result, BASP final type)
    are computed by ``scales`` when the exam is recorded and stored with it.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="scalp_exams")
    examined_on = models.DateField()
    examined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    norwood_hamilton = models.CharField(
        max_length=5, blank=True, choices=[(k, k) for k in scales.NORWOOD_HAMILTON]
    )
    ludwig = models.CharField(max_length=3, blank=True, choices=[(k, k) for k in scales.LUDWIG])
    sinclair = models.PositiveSmallIntegerField(null=True, blank=True)
    female_pattern_confirmed = models.BooleanField(default=False)
    basp_basic = models.CharField(max_length=2, blank=True)
    basp_f = models.CharField(max_length=2, blank=True)
    basp_v = models.CharField(max_length=2, blank=True)
    basp_final = models.CharField(max_length=8, blank=True)

    salt_top = models.FloatField(null=True, blank=True)
    salt_posterior = models.FloatField(null=True, blank=True)
    salt_right = models.FloatField(null=True, blank=True)
    salt_left = models.FloatField(null=True, blank=True)
    salt_score = models.FloatField(null=True, blank=True)
    salt_band = models.CharField(max_length=3, blank=True)
    aa_iga = models.PositiveSmallIntegerField(null=True, blank=True)
    aa_qol_impact = models.PositiveSmallIntegerField(null=True, blank=True)
    aa_brow_or_lash_loss = models.BooleanField(default=False)
    aa_months_failed_treatment = models.FloatField(null=True, blank=True)
    aa_rapid_loss = models.BooleanField(default=False)
    aa_diffuse_pull_test = models.BooleanField(default=False)
    aa_scale_base = models.CharField(max_length=10, blank=True)
    aa_scale_severity = models.CharField(max_length=10, blank=True)

    pull_hairs_pulled = models.PositiveIntegerField(null=True, blank=True)
    pull_hairs_out = models.PositiveIntegerField(null=True, blank=True)
    pull_test_positive = models.BooleanField(null=True, blank=True)

    trichoscopy_signs = models.JSONField(default=list, blank=True)
    findings = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-examined_on", "-id"]

    def __str__(self) -> str:
        return f"Scalp exam of {self.patient} on {self.examined_on}"

    @property
    def stage(self) -> str:
        """The stage to plan with: Norwood, else Ludwig, else Sinclair, else BASP."""
        if self.norwood_hamilton:
            return self.norwood_hamilton
        if self.ludwig:
            return self.ludwig
        if self.sinclair:
            return str(self.sinclair)
        return self.basp_final

    def named_stage(self, *, female_pattern: bool) -> str:
        """The stage after its scale's name ("Ludwig II", "NH IIIv"), so it is read with
        the scale it was recorded on; for a female pattern Ludwig, then Sinclair, and never
        Norwood (a Norwood stage does not stage a female pattern), else Norwood first. BASP
        types are unambiguous and stay bare."""
        recorded = [
            ("NH", self.norwood_hamilton),
            ("Ludwig", self.ludwig),
            ("Sinclair", str(self.sinclair) if self.sinclair else ""),
        ]
        if female_pattern:
            recorded = recorded[1:]
        for name, value in recorded:
            if value:
                return f"{name} {value}"
        return self.basp_final

    @property
    def aa_scale_upgrade_reasons(self) -> list[str]:
        """Why the AA Scale went up a level (King 2022), from the inputs stored with it."""
        if self.salt_score is None or not self.aa_scale_severity:
            return []
        return list(
            scales.aa_scale(
                self.salt_score,
                qol_impact=self.aa_qol_impact,
                brow_or_lash_loss=self.aa_brow_or_lash_loss,
                months_of_failed_treatment=self.aa_months_failed_treatment,
                diffuse_positive_pull_test=self.aa_diffuse_pull_test,
                rapid_loss=self.aa_rapid_loss,
            ).upgrade_reasons
        )

    @property
    def trichoscopy_labels(self) -> list[str]:
        return [
            scales.TRICHOSCOPY_SIGNS[c].label
            for c in self.trichoscopy_signs
            if c in scales.TRICHOSCOPY_SIGNS
        ]


def patient_sex(patient: Patient) -> str:
    """The patient's sex in the vocabulary of ``scales``/``screening``."""
    return protocols.scale_sex(patient.sex_at_birth)


class Diagnosis(models.Model):
    """A coded diagnosis; each code stored with its system and version (DESIGN.md)."""

    CONDITION_CHOICES = [(d.key, d.label) for d in coding.DIAGNOSES.values()]

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="diagnoses")
    exam = models.ForeignKey(
        ScalpExam, null=True, blank=True, on_delete=models.PROTECT, related_name="diagnoses"
    )
    diagnosed_on = models.DateField()
    diagnosed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    condition = models.CharField(max_length=20, choices=CONDITION_CHOICES)
    label = models.CharField(max_length=200)
    stage = models.CharField(max_length=10, blank=True)
    icd10_code = models.CharField(max_length=10, blank=True)
    icd10_system = models.CharField(max_length=100, blank=True)
    icd10_version = models.CharField(max_length=60, blank=True)
    icd11_code = models.CharField(max_length=20, blank=True)
    icd11_system = models.CharField(max_length=100, blank=True)
    icd11_version = models.CharField(max_length=60, blank=True)
    snomed_code = models.CharField(max_length=20, blank=True)
    snomed_system = models.CharField(max_length=100, blank=True)
    snomed_version = models.CharField(max_length=100, blank=True)
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-diagnosed_on", "-id"]
        verbose_name_plural = "diagnoses"

    def __str__(self) -> str:
        return f"{self.label} ({self.icd10_code or 'uncoded'})"

    @property
    def named_stage(self) -> str:
        """The stage after its scale's name ("Ludwig I", "Norwood–Hamilton IIIv"): a bare
        "stage I" read as Ludwig, Sinclair or Norwood alike (clinician review)."""
        return protocols.named_stage(self.condition, self.stage, self.patient.sex_at_birth)


class ProtocolTemplate(models.Model):
    """A clinic's copy of a protocol template (seeded from ``protocols.TEMPLATES``)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    key = models.SlugField(max_length=60)
    title = models.CharField(max_length=200)
    modality = models.CharField(max_length=20, choices=MODALITY_CHOICES)
    sessions_min = models.PositiveSmallIntegerField(null=True, blank=True)
    sessions_max = models.PositiveSmallIntegerField(null=True, blank=True)
    interval_weeks_min = models.FloatField(null=True, blank=True)
    interval_weeks_max = models.FloatField(null=True, blank=True)
    maintenance_interval_months = models.PositiveSmallIntegerField(null=True, blank=True)
    schedule = models.TextField()
    # Technical parameters (volume, dose, needle, depth, spacing, review week) as in
    # protocols.ProtocolTemplate, kept together because the treatment issue reads them whole.
    parameters = models.JSONField(default=dict, blank=True)
    investigational = models.BooleanField(default=False)
    source = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "key"], name="protocol_key_per_clinic"),
        ]
        ordering = ["modality", "key"]

    def __str__(self) -> str:
        return self.title

    def snapshot(self) -> dict[str, Any]:
        """The template as plain data, copied into a plan when the plan is accepted."""
        return {
            "key": self.key,
            "title": self.title,
            "modality": self.modality,
            "sessions_min": self.sessions_min,
            "sessions_max": self.sessions_max,
            "interval_weeks_min": self.interval_weeks_min,
            "interval_weeks_max": self.interval_weeks_max,
            "maintenance_interval_months": self.maintenance_interval_months,
            "schedule": self.schedule,
            "parameters": self.parameters,
            "investigational": self.investigational,
            "source": self.source,
        }


class TreatmentPlan(models.Model):
    """A plan the clinician accepted (from a proposal) and may edit until consent."""

    STATUS_CHOICES = [("active", "Active"), ("cancelled", "Cancelled")]

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="treatment_plans")
    diagnosis = models.ForeignKey(Diagnosis, on_delete=models.PROTECT, related_name="plans")
    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="plans")
    proposal_key = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    modalities = models.JSONField(default=list)
    protocols = models.JSONField(default=list)  # ProtocolTemplate.snapshot() per template
    reasons = models.JSONField(default=list)
    flags = models.JSONField(default=list)
    notices = models.JSONField(default=list)  # verbatim texts (investigational notice)
    sessions_planned = models.PositiveSmallIntegerField(null=True, blank=True)
    interval_weeks = models.FloatField(null=True, blank=True)
    start_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="active")
    cancel_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.title} for {self.patient}"

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def is_investigational(self) -> bool:
        return any(p.get("investigational") for p in self.protocols)

    @property
    def schedule_warnings(self) -> list[str]:
        """The weeks between sessions, where they lie outside a protocol's range (kept in
        view on the plan once the clinician confirmed them)."""
        return protocols.interval_warnings(self.protocols, self.interval_weeks)


class ConsentForm(models.Model):
    """One version of a clinic's consent text for a modality. New text = new version."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    modality = models.CharField(max_length=20, choices=MODALITY_CHOICES)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    # Exosome forms carry the investigational / not-approved clause (protocols.py).
    investigational_clause = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "modality", "version"], name="consent_form_version_unique"
            ),
        ]
        ordering = ["modality", "-version"]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Patients signed this exact text: it must never change under their signature.
        if self.pk is not None:
            raise ImmutableError("A consent form version cannot be changed; add a new version.")
        super().save(*args, **kwargs)


class Consent(models.Model):
    """A patient's signed consent to one modality of one plan. Immutable once stored."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    plan = models.ForeignKey(TreatmentPlan, on_delete=models.PROTECT, related_name="consents")
    modality = models.CharField(max_length=20, choices=MODALITY_CHOICES)
    form = models.ForeignKey(ConsentForm, on_delete=models.PROTECT, related_name="consents")
    signed_name = models.CharField(max_length=200)
    signed_on = models.DateField()
    signature_png = models.TextField(blank=True)  # data:image/png;base64,… (optional)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-signed_on", "-id"]

    def __str__(self) -> str:
        return f"Consent to {self.modality} by {self.signed_name} on {self.signed_on}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ImmutableError("A signed consent cannot be changed; withdraw it instead.")
        super().save(*args, **kwargs)

    @property
    def withdrawn(self) -> bool:
        return hasattr(self, "withdrawal")


class ConsentWithdrawal(models.Model):
    """The patient withdrew a consent (or it was recorded in error). Also immutable."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    consent = models.OneToOneField(Consent, on_delete=models.PROTECT, related_name="withdrawal")
    withdrawn_on = models.DateField()
    reason = models.TextField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Withdrawal of {self.consent} on {self.withdrawn_on}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ImmutableError("A withdrawal cannot be changed.")
        super().save(*args, **kwargs)
