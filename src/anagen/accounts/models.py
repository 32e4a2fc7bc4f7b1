from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from anagen.accounts.clinic_time import is_time_zone
from anagen.accounts.roles import Role


class User(AbstractUser):
    """A person who signs in. Clinical authority comes from memberships, not from the user."""

    # Set with a temporary password an administrator handed over: every page leads to the
    # password change until the person has chosen their own.
    password_must_change = models.BooleanField(default=False)
    history = HistoricalRecords()

    class Meta(AbstractUser.Meta):
        # "Anna" and "anna" would be two people who sign in with one name: refused by the
        # database too, so two accounts created at the same instant cannot both pass.
        constraints = [
            models.UniqueConstraint(Lower("username"), name="username_unique_ignoring_case"),
        ]

    def membership_for(self, clinic: Clinic | None) -> Membership | None:
        if clinic is None:
            return None
        return self.memberships.filter(clinic=clinic, is_active=True).first()


def validate_time_zone(name: str) -> None:
    """A zone a clinic may be in (clinic_time.is_time_zone); the admin site's check too."""
    if name and not is_time_zone(name):
        raise ValidationError(f"“{name[:64]}” is not a time zone (IANA names: Europe/Berlin).")


class Clinic(models.Model):
    """The tenant: every clinical row belongs to exactly one clinic."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    # Where the clinic is: "today" (a visit's default date, expiry, due follow-ups) and the
    # times pages show follow it. Empty: the deployment's (ANAGEN_TIME_ZONE). See clinic_time.
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        help_text="IANA name, e.g. Europe/Berlin",
        validators=[validate_time_zone],
    )
    # The number patients call about a reaction: printed on the post-care sheets.
    contact_phone = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one clinic."""

    ROLE_CHOICES = [(r.value, r.label) for r in Role]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=ROLE_CHOICES)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="one_role_per_clinic"),
        ]
        ordering = ["clinic__name"]

    def __str__(self) -> str:
        return f"{self.user} — {self.clinic} ({self.role})"


class AccessLog(models.Model):
    """One row each time someone opens a patient record, in a page or through the API."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="access_log"
    )
    accessed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    channel = models.CharField(max_length=10, choices=[("web", "web"), ("api", "api")])
    path = models.CharField(max_length=500)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-accessed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user} opened patient {self.patient_id} via {self.channel}"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for the JSON API, bound to one user in one clinic.

    Only the SHA-256 of the token is stored; the raw token is shown once at creation. Every
    token expires (token_lifetime.py); its creation and revocation are kept in the history.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()  # refused from this instant on
    # The hash never leaves this table: the audit says which token, not how to rebuild it.
    history = HistoricalRecords(excluded_fields=["key_hash"])

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def new_raw_token() -> str:
        return "ang_" + secrets.token_urlsafe(32)
