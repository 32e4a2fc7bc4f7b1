"""Outcomes: the persisted analysis snapshot of each clinic (derived data, no history).

The cohort page, API and reports analyse clinic-wide tables (``selectors.AnalysisTables``).
Reading them from the clinical tables takes seconds at 100,000 patients x 8 visits, so a
background task (``outcomes.tasks.rebuild_snapshot``) keeps a copy of them here, one row per
clinic, labelled with the data fingerprint it was read at. It holds nothing that is not in
the clinical tables and is rebuilt from them at any time (``anagen outcomes
rebuild-snapshot``); so it has no simple_history and may be deleted freely.
"""

from __future__ import annotations

from django.db import models

from anagen.accounts.models import Clinic


class AnalysisSnapshot(models.Model):
    """A clinic's analysis tables as Parquet (``outcomes.snapshot``), one file per table."""

    TABLE_FIELDS = (
        "visits_parquet",
        "measurements_parquet",
        "attributes_parquet",
        "memberships_parquet",
        "sessions_parquet",
        "events_parquet",
    )

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="+")
    fingerprint = models.CharField(
        max_length=64, help_text="selectors.data_fingerprint(clinic) the tables were read at"
    )
    format_version = models.PositiveSmallIntegerField(
        help_text="snapshot.FORMAT_VERSION of the tables' layout; other versions are ignored"
    )
    built_at = models.DateTimeField(help_text="when the clinical tables were read")
    build_seconds = models.FloatField(help_text="time to read the tables and store them")
    n_patients = models.PositiveIntegerField(default=0)
    n_visits = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveBigIntegerField(default=0)
    visits_parquet = models.BinaryField()
    measurements_parquet = models.BinaryField()
    attributes_parquet = models.BinaryField()
    memberships_parquet = models.BinaryField()
    sessions_parquet = models.BinaryField()
    events_parquet = models.BinaryField()

    class Meta:
        verbose_name = "analysis snapshot"

    def __str__(self) -> str:
        return f"analysis snapshot of clinic {self.clinic_id} ({self.built_at:%Y-%m-%d %H:%M})"
