"""A record of every download of the clinic's de-identified analysis table.

The table holds every patient-visit of the clinic: pseudonymised, but the whole clinic at
once. A privacy officer asks who took it, when, how and from where; the access log answers
that only for single patient records, so each download is kept here. Rows are written, never
changed."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from anagen.accounts.models import Clinic


class DataExport(models.Model):
    class Table(models.TextChoices):
        DEIDENTIFIED_CSV = "deidentified_csv", "De-identified analysis table (CSV)"
        DEIDENTIFIED_PARQUET = "deidentified_parquet", "De-identified analysis table (Parquet)"

    class Channel(models.TextChoices):
        WEB = "web", "web page"
        API = "api", "API"
        CLI = "cli", "command line"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    exported_at = models.DateTimeField(auto_now_add=True, db_index=True)
    table = models.CharField(max_length=30, choices=Table.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    rows = models.PositiveIntegerField()
    patients = models.PositiveIntegerField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-exported_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user} exported {self.table} ({self.rows} rows) via {self.channel}"
