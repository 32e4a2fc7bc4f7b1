from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from anagen.accounts.models import Clinic
from anagen.core.text import search_key


class SexAtBirth(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    INTERSEX = "intersex", "Intersex"
    UNKNOWN = "unknown", "Unknown / not stated"


class PatientQuerySet(models.QuerySet):
    def active(self) -> PatientQuerySet:
        return self.filter(voided_at__isnull=True)


def patient_search_text(patient: Any) -> str:
    """What a patient search looks in (see Patient.search_text)."""
    digits = "".join(ch for ch in patient.phone or "" if ch.isdigit())
    parts = (patient.given_name, patient.family_name, patient.medical_record_number,
             patient.email, patient.phone, digits)  # fmt: skip
    return " | ".join(search_key(p or "") for p in parts)


class Patient(models.Model):
    """A person treated at one clinic. Records are voided, never deleted."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    medical_record_number = models.CharField("medical record number", max_length=40)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex_at_birth = models.CharField(max_length=10, choices=SexAtBirth.choices)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    address = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    void_reason = models.TextField(blank=True)
    # Names, record number, e-mail and phone (also as digits alone) as a search compares them
    # (core.text.search_key); kept by save(), not shown or audited.
    search_text = models.TextField(blank=True, editable=False, default="")

    history = HistoricalRecords(excluded_fields=["updated_at", "search_text"])
    objects = PatientQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "medical_record_number"], name="mrn_unique_per_clinic"
            ),
        ]
        indexes = [models.Index(fields=["clinic", "family_name", "given_name"])]
        ordering = ["family_name", "given_name", "id"]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.medical_record_number})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_text = patient_search_text(self)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "search_text"}
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None
