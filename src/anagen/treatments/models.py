from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from anagen.accounts.models import Clinic
from anagen.patients.models import Patient

USER = settings.AUTH_USER_MODEL


class Modality(models.TextChoices):
    EXOSOME = "exosome", "Exosome injection (investigational)"
    PRP = "prp", "Platelet-rich plasma"
    MINOXIDIL = "minoxidil", "Minoxidil start / adjustment"
    TRANSPLANT = "transplant", "Hair transplant"
    MICRONEEDLING = "microneedling", "Microneedling"
    LLLT = "lllt", "Low-level laser therapy"


# Modalities that inject into the scalp and therefore have an injection map.
INJECTED = {Modality.EXOSOME, Modality.PRP}


class TreatmentSession(models.Model):
    """One treatment given to a patient within an accepted plan."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="sessions")
    plan = models.ForeignKey(
        "assessment.TreatmentPlan", on_delete=models.PROTECT, related_name="sessions"
    )
    modality = models.CharField(max_length=20, choices=Modality.choices)
    performed_on = models.DateField()
    clinician = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    # What the pre-session checklist found, frozen at the time (screening, consent, lots).
    checklist = models.JSONField(default=dict)
    anaesthesia = models.CharField(max_length=200, blank=True)
    technique = models.CharField(max_length=200, blank=True)
    needle_gauge = models.PositiveSmallIntegerField(null=True, blank=True)
    depth_mm = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    fine_grid = models.BooleanField(default=False)
    total_points = models.PositiveIntegerField(default=0)
    total_volume_ml = models.DecimalField(max_digits=7, decimal_places=2, default=0)
    limit_warnings = models.JSONField(default=list)
    immediate_reactions = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Voided (entered in error): kept, with who, when and why; the same fields as
    # monitoring's Voidable. Every count of sessions leaves voided ones out.
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    void_reason = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-performed_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(needle_gauge__isnull=True)
                | Q(needle_gauge__gte=18, needle_gauge__lte=34),
                name="session_needle_gauge_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_modality_display()} on {self.performed_on} for {self.patient}"

    @property
    def is_investigational(self) -> bool:
        return self.modality == Modality.EXOSOME

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None


class InjectionMapEntry(models.Model):
    """Points and volume injected in one scalp zone (codes from treatments/scalp_zones.py)."""

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="map_entries"
    )
    zone = models.CharField(max_length=30)
    points = models.PositiveIntegerField()
    volume_ml = models.DecimalField(max_digits=6, decimal_places=2)
    spacing_mm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "zone"], name="one_entry_per_zone"),
        ]

    def __str__(self) -> str:
        return f"{self.zone}: {self.points} points, {self.volume_ml} mL"

    def as_map_entry(self) -> dict:
        return {
            "zone": self.zone,
            "points": self.points,
            "volume_ml": float(self.volume_ml),
            "spacing_mm": None if self.spacing_mm is None else float(self.spacing_mm),
        }


class PrpPreparation(models.Model):
    session = models.OneToOneField(TreatmentSession, on_delete=models.PROTECT, related_name="prp")
    blood_volume_ml = models.DecimalField(max_digits=5, decimal_places=1)
    spin_protocol = models.CharField(max_length=200)
    platelet_concentration_10e9_per_l = models.DecimalField(
        max_digits=7, decimal_places=1, null=True, blank=True
    )
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"PRP from {self.blood_volume_ml} mL blood"


class GraftRecord(models.Model):
    TECHNIQUES = [("FUE", "FUE (follicular unit excision)"), ("FUT", "FUT (strip)")]

    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="grafts")
    zone = models.CharField(max_length=30)
    grafts = models.PositiveIntegerField()
    technique = models.CharField(max_length=3, choices=TECHNIQUES)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.grafts} {self.technique} grafts in {self.zone}"


class PostCareTemplate(models.Model):
    """Clinic-editable post-care instructions per modality; each edit is a new version."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    modality = models.CharField(max_length=20, choices=Modality.choices)
    version = models.PositiveIntegerField()
    body = models.TextField()
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["modality", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "modality", "version"], name="postcare_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Post-care for {self.modality} v{self.version}"
