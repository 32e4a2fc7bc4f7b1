"""Monitoring: follow-up schedule, visits, measurements, photos, adverse events, decisions.

Every row carries its clinic (tenancy) and its patient. Rows are voided with a reason,
never deleted; django-simple-history keeps every change with user and time.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from anagen.accounts.models import Clinic
from anagen.monitoring import ctcae, decision
from anagen.patients.models import Patient

# Plausible ranges (field errors outside them). Terminal hair shafts are ~60–120 µm and
# vellus ≤30 µm (REFERENCE.md A.2); 5–150 µm covers every real hair with margin.
DIAMETER_UM_RANGE = (5.0, 150.0)
# Normal scalp has ~150–300 hairs/cm²; 1,000/cm² is far beyond any real scalp.
DENSITY_PER_CM2_MAX = 1000.0
HAIR_COUNT_MAX = 10000
TARGET_AREA_CM2_RANGE = (0.1, 30.0)  # 1 cm² minoxidil area .. 1-inch circle 5.1 cm² and more
PULL_TEST_HAIRS_MAX = 100  # 40-60 hairs are grasped; >10 % out is positive (REFERENCE A.1.5)

VIEWS = [
    ("frontal", "Frontal"),
    ("vertex", "Vertex"),
    ("left", "Left"),
    ("right", "Right"),
    ("top", "Top"),
]

# Hair Growth Questionnaire (men; 7 global questions, REFERENCE.md A.2). Each answered on
# the 7-point scale −3 (greatly worse) … +3 (greatly better), so that items add up: for the
# bald spot, better is smaller (HGQ_BALD_SPOT_POINT).
HGQ_ITEMS = [
    ("hgq_appearance_hairline", "Appearance of the hair at the hairline"),
    ("hgq_appearance_vertex", "Appearance of the hair on top of the head"),
    ("hgq_appearance_overall", "Overall appearance of the hair"),
    ("hgq_growth", "Growth of hair"),
    ("hgq_bald_spot", "Size of the bald spot"),
    ("hgq_slowing_loss", "Slowing down of hair loss"),
    ("hgq_satisfaction", "Satisfaction with the appearance of the hair"),
]

SEVEN_POINT = [
    (-3, "−3 greatly decreased"),
    (-2, "−2 moderately decreased"),
    (-1, "−1 slightly decreased"),
    (0, "0 no change"),
    (1, "+1 slightly increased"),
    (2, "+2 moderately increased"),
    (3, "+3 greatly increased"),
]


HGQ_POINT = [
    (-3, "−3 greatly worse"),
    (-2, "−2 moderately worse"),
    (-1, "−1 slightly worse"),
    (0, "0 no change"),
    (1, "+1 slightly better"),
    (2, "+2 moderately better"),
    (3, "+3 greatly better"),
]
# Its choices read "increased … decreased" like the others until 2026-12-05, so a bald spot
# that grew scored +3, an improvement in the HGQ mean (migration 0006 turned those answers).
HGQ_BALD_SPOT_POINT = [
    (-3, "−3 greatly larger (worse)"),
    (-2, "−2 moderately larger"),
    (-1, "−1 slightly larger"),
    (0, "0 no change"),
    (1, "+1 slightly smaller"),
    (2, "+2 moderately smaller"),
    (3, "+3 greatly smaller (better)"),
]
HGQ_SCALES = {"hgq_bald_spot": HGQ_BALD_SPOT_POINT}  # the items not on HGQ_POINT


def _seven_point(
    label: str, choices: list[tuple[int, str]] = HGQ_POINT
) -> models.SmallIntegerField:
    return models.SmallIntegerField(
        label,
        null=True,
        blank=True,
        choices=choices,
        validators=[MinValueValidator(-3), MaxValueValidator(3)],
    )


class Voidable(models.Model):
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    void_reason = models.TextField(blank=True)

    class Meta:
        abstract = True

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None


class MonitoringSettings(models.Model):
    """Per-clinic response thresholds for the further-treatment proposal (decision.py)."""

    clinic = models.OneToOneField(
        Clinic, on_delete=models.PROTECT, related_name="monitoring_settings"
    )
    min_density_pct = models.FloatField(default=decision.Thresholds.min_density_pct)
    response_density_pct = models.FloatField(default=decision.Thresholds.response_density_pct)
    min_diameter_um = models.FloatField(default=decision.Thresholds.min_diameter_um)
    min_global = models.SmallIntegerField(default=decision.Thresholds.min_global)
    response_global = models.SmallIntegerField(default=decision.Thresholds.response_global)
    stop_ae_grade = models.SmallIntegerField(default=decision.Thresholds.stop_ae_grade)
    max_extra_sessions = models.SmallIntegerField(default=decision.Thresholds.max_extra_sessions)
    maintenance_interval_months = models.SmallIntegerField(
        default=decision.Thresholds.maintenance_interval_months
    )
    overdue_grace_days = models.SmallIntegerField(
        default=7, help_text="Days after the due date before a visit is flagged overdue"
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    THRESHOLD_FIELDS = (
        "min_density_pct",
        "response_density_pct",
        "min_diameter_um",
        "min_global",
        "response_global",
        "stop_ae_grade",
        "max_extra_sessions",
        "maintenance_interval_months",
    )

    def __str__(self) -> str:
        return f"Monitoring settings of {self.clinic}"

    def thresholds(self) -> decision.Thresholds:
        return decision.Thresholds(**{f: getattr(self, f) for f in self.THRESHOLD_FIELDS})


class FollowUpPlan(Voidable):
    """One course of treatment's follow-up schedule, generated by schedule.build_schedule."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="follow_up_plans")
    protocol_key = models.CharField(
        max_length=40, blank=True, help_text="assessment.protocols template key, if any"
    )
    first_session_date = models.DateField()
    sessions_planned = models.PositiveSmallIntegerField()
    interval_weeks = models.FloatField()
    follow_up_weeks = models.CharField(max_length=200, help_text="e.g. 4,12,24,48")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the course is ended early (services.end_course): its sessions not given are no
    # longer planned.
    ended_on = models.DateField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    end_reason = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-first_session_date", "-id"]

    def __str__(self) -> str:
        return f"Course from {self.first_session_date} ({self.sessions_planned} sessions)"


class ScheduledVisit(Voidable):
    """An appointment on the follow-up agenda. Rescheduling is kept in the history."""

    class Kind(models.TextChoices):
        BASELINE = "baseline", "Baseline"
        PRE_SESSION = "pre_session", "Before a session"
        FOLLOW_UP = "follow_up", "Follow-up"
        EXTRA = "extra", "Extra visit"

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        DONE = "done", "Done"
        MISSED = "missed", "Missed"
        CANCELLED = "cancelled", "Cancelled"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="scheduled_visits")
    plan = models.ForeignKey(
        FollowUpPlan, null=True, blank=True, on_delete=models.PROTECT, related_name="visits"
    )
    due_date = models.DateField(db_index=True)
    original_due_date = models.DateField(help_text="The date the protocol gave, before any move")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    label = models.CharField(max_length=120)
    week = models.SmallIntegerField(null=True, blank=True)
    session_number = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The planned session this visit precedes"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLANNED)
    reschedule_count = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    # Not stored: selectors.mark_overdue sets it for the pages and API that flag late visits.
    overdue: bool = False

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["clinic", "status", "due_date"])]

    def __str__(self) -> str:
        return f"{self.label} on {self.due_date}"


class Visit(Voidable):
    """A follow-up visit that took place: assessments, measurements and photos hang off it."""

    class PullTest(models.TextChoices):
        NOT_DONE = "not_done", "Not done"
        NEGATIVE = "negative", "Negative (≤10 % of the hairs grasped)"
        POSITIVE = "positive", "Positive (>10 % of the hairs grasped)"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits")
    scheduled_visit = models.OneToOneField(
        ScheduledVisit, null=True, blank=True, on_delete=models.PROTECT, related_name="visit"
    )
    visit_date = models.DateField(db_index=True)
    is_baseline = models.BooleanField(
        default=False, help_text="Measurements here are the reference for change from baseline"
    )
    global_assessment = models.SmallIntegerField(
        null=True,
        blank=True,
        choices=SEVEN_POINT,
        validators=[MinValueValidator(-3), MaxValueValidator(3)],
        help_text="Investigator 7-point global photographic assessment vs baseline",
    )
    pull_test = models.CharField(max_length=10, choices=PullTest.choices, default=PullTest.NOT_DONE)
    pull_test_hairs = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(PULL_TEST_HAIRS_MAX)]
    )
    pull_test_hairs_grasped = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(PULL_TEST_HAIRS_MAX)]
    )
    # Hair Growth Questionnaire (patient self-assessment), see HGQ_ITEMS.
    hgq_appearance_hairline = _seven_point("Appearance of the hair at the hairline")
    hgq_appearance_vertex = _seven_point("Appearance of the hair on top of the head")
    hgq_appearance_overall = _seven_point("Overall appearance of the hair")
    hgq_growth = _seven_point("Growth of hair")
    hgq_bald_spot = _seven_point("Size of the bald spot", HGQ_SCALES["hgq_bald_spot"])
    hgq_slowing_loss = _seven_point("Slowing down of hair loss")
    hgq_satisfaction = _seven_point("Satisfaction with the appearance of the hair")
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["visit_date", "id"]

    def __str__(self) -> str:
        return f"Visit {self.visit_date}"


class Measurement(Voidable):
    """Target-area measurements: manual (entered at the visit) or from image analysis."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        IMAGING = "imaging", "Image analysis"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="measurements")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="measurements")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    # Blank: not given (a count entered without its area). It was once stored as 1 cm², which
    # exports and outcomes could not tell from a measured 1 cm² (migration 0009).
    target_area_cm2 = models.FloatField(
        null=True,
        blank=True,
        validators=[
            MinValueValidator(TARGET_AREA_CM2_RANGE[0]),
            MaxValueValidator(TARGET_AREA_CM2_RANGE[1]),
        ],
    )
    hair_count = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(HAIR_COUNT_MAX)]
    )
    density_per_cm2 = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(DENSITY_PER_CM2_MAX)],
    )
    mean_diameter_um = models.FloatField(
        null=True,
        blank=True,
        validators=[
            MinValueValidator(DIAMETER_UM_RANGE[0]),
            MaxValueValidator(DIAMETER_UM_RANGE[1]),
        ],
    )
    terminal_pct = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    vellus_pct = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    anagen_pct = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["visit__visit_date", "id"]

    def __str__(self) -> str:
        return f"Measurement at visit {self.visit_id}"


def photo_upload_to(instance: Photo, filename: str) -> str:
    # A random name: the uploaded file name may contain the patient's name.
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"monitoring/{instance.clinic_id}/{instance.patient_id}/{uuid.uuid4().hex}.{ext}"


class Photo(Voidable):
    """A standardized global photo or a trichoscopy image of the marked target area.

    Stored without metadata (GPS gone) and upright (EXIF orientation applied)
    (uploads.clean_image). Trichoscopy images wait for the imaging module's analysis.
    """

    class Kind(models.TextChoices):
        GLOBAL = "global", "Global photo"
        TRICHOSCOPY = "trichoscopy", "Trichoscopy (target area)"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="photos")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="photos")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    view = models.CharField(max_length=10, choices=VIEWS, blank=True)
    target_area = models.CharField(
        max_length=80, blank=True, help_text="Marked target area (trichoscopy), e.g. vertex tattoo"
    )
    # No width_field/height_field: with them Django opens every photo's file whenever a row is
    # loaded (and fails when a file is missing); the sizes are stored once, at upload.
    image = models.ImageField(upload_to=photo_upload_to)
    width_px = models.PositiveIntegerField(null=True)
    height_px = models.PositiveIntegerField(null=True)
    content_type = models.CharField(max_length=40)
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["visit__visit_date", "kind", "view", "id"]
        # Every upload looks its file up among the clinic's photos (filed twice, or for
        # another patient).
        indexes = [models.Index(fields=["clinic", "sha256"], name="photo_clinic_sha256")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.view}".strip()

    @property
    def file_missing(self) -> bool:
        """The stored image file is gone (lost disk, a restore without the media folder)."""
        return not self.image.name or not self.image.storage.exists(self.image.name)


class AdverseEvent(Voidable):
    """An adverse event graded with CTCAE (term and version stored with the grade)."""

    class Relatedness(models.TextChoices):
        NOT_ASSESSED = "not_assessed", "Not assessed"
        UNRELATED = "unrelated", "Not related"
        UNLIKELY = "unlikely", "Unlikely"
        POSSIBLE = "possible", "Possibly related"
        PROBABLE = "probable", "Probably related"
        DEFINITE = "definite", "Definitely related"

    class Action(models.TextChoices):
        NONE = "none", "None"
        OBSERVATION = "observation", "Observation"
        MEDICATION = "medication", "Medication given"
        PROCEDURE = "procedure", "Procedure"
        SESSION_POSTPONED = "session_postponed", "Next session postponed"
        TREATMENT_STOPPED = "treatment_stopped", "Treatment stopped"
        HOSPITALISED = "hospitalised", "Hospitalised"
        OTHER = "other", "Other"

    class Outcome(models.TextChoices):
        RECOVERING = "recovering", "Recovering / resolving"
        RECOVERED = "recovered", "Recovered / resolved"
        RECOVERED_SEQUELAE = "recovered_sequelae", "Recovered with sequelae"
        NOT_RECOVERED = "not_recovered", "Not recovered / not resolved"
        FATAL = "fatal", "Fatal"
        UNKNOWN = "unknown", "Unknown"

    TERM_CHOICES = [(t.key, t.name) for t in ctcae.TERMS.values()]
    SERIOUSNESS_CHOICES = [
        ("death", "Results in death"),
        ("life_threatening", "Life-threatening"),
        ("hospitalization", "Requires or prolongs hospitalisation"),
        ("disability", "Persistent or significant disability"),
        ("congenital_anomaly", "Congenital anomaly"),
        ("important_medical_event", "Important medical event"),
    ]

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="adverse_events")
    visit = models.ForeignKey(
        Visit, null=True, blank=True, on_delete=models.PROTECT, related_name="adverse_events"
    )
    term_key = models.CharField(max_length=40, choices=TERM_CHOICES)
    term_name = models.CharField(max_length=80)
    ctcae_version = models.CharField(max_length=10)
    grade = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    grade_text = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    onset_date = models.DateField()
    resolution_date = models.DateField(null=True, blank=True)
    seriousness = models.JSONField(default=list, blank=True, help_text="ICH E2A criteria met")
    serious_or_high_grade = models.BooleanField(default=False, db_index=True)
    relatedness = models.CharField(
        max_length=20, choices=Relatedness.choices, default=Relatedness.NOT_ASSESSED
    )
    # The session by its date and the lot by its number, checked when entered or changed
    # (services._check_session_link): a non-voided session of the patient on that day, a
    # lot of the clinic used in the patient's sessions (in that session when one is named),
    # stored in the lot's spelling. A session voided later leaves the stored values as
    # they were.
    related_session_date = models.DateField(null=True, blank=True)
    product_lot_number = models.CharField(max_length=60, blank=True)
    action_taken = models.CharField(max_length=20, choices=Action.choices, default=Action.NONE)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.RECOVERING)
    meddra_code = models.CharField(max_length=12, blank=True, help_text="Licensed sites only")
    meddra_version = models.CharField(max_length=10, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-onset_date", "-id"]

    def __str__(self) -> str:
        return f"{self.term_name} grade {self.grade} (CTCAE v{self.ctcae_version})"

    @property
    def serious_criteria(self) -> list[str]:
        """The ICH E2A criteria met: those stored and those the grade or the action imply
        (``ctcae.implied_seriousness``; a grade-4 event stored before the rule lacks
        "life_threatening" but is serious)."""
        return ctcae.implied_seriousness(
            self.grade,
            self.seriousness or [],
            hospitalised=self.action_taken == self.Action.HOSPITALISED,
        )

    @property
    def is_serious(self) -> bool:
        return bool(self.serious_criteria)

    @property
    def is_serious_or_high_grade(self) -> bool:
        """Reportable: the stored flag, or serious by an implied criterion (an event
        "Hospitalised" before that made it serious was stored with the flag off)."""
        return self.serious_or_high_grade or self.is_serious

    @property
    def seriousness_labels(self) -> list[str]:
        """The ICH E2A criteria met, in the words of the form."""
        labels = dict(self.SERIOUSNESS_CHOICES)
        return [labels.get(c, c) for c in self.serious_criteria]

    @property
    def is_related(self) -> bool | None:
        if self.relatedness == self.Relatedness.NOT_ASSESSED:
            return None
        return self.relatedness not in (self.Relatedness.UNRELATED, self.Relatedness.UNLIKELY)


class TreatmentDecision(Voidable):
    """The app's proposal (with its inputs) and the clinician's decision at a visit. One live
    decision per visit; one recorded in error is voided, and the visit decided again."""

    PROPOSAL_CHOICES = [
        (decision.Proposal.CONTINUE.value, "Continue as planned"),
        (decision.Proposal.ADD_SESSIONS.value, "Add sessions"),
        (decision.Proposal.SWITCH_OR_COMBINE.value, "Switch or combine modality"),
        (decision.Proposal.STOP_NON_RESPONSE.value, "Stop (non-response)"),
        (decision.Proposal.STOP_ADVERSE_EVENT.value, "Stop (adverse event)"),
        (decision.Proposal.MAINTENANCE.value, "Maintenance interval"),
    ]

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="decisions")
    proposal = models.CharField(max_length=30, choices=PROPOSAL_CHOICES)
    response = models.CharField(max_length=20)
    proposal_reasons = models.JSONField(default=list)
    inputs = models.JSONField(default=dict, help_text="Progress and thresholds behind the proposal")
    decision = models.CharField(max_length=30, choices=PROPOSAL_CHOICES)
    extra_sessions = models.PositiveSmallIntegerField(null=True, blank=True)
    maintenance_interval_months = models.PositiveSmallIntegerField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        return f"Decision: {self.get_decision_display()} (proposed: {self.get_proposal_display()})"

    @property
    def follows_proposal(self) -> bool:
        return self.decision == self.proposal

    @property
    def response_label(self) -> str:
        """The stored response class in words ("Partial response", "Too early to judge")."""
        return decision.response_label(self.response)
