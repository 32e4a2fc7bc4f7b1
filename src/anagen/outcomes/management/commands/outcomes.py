"""`anagen outcomes rebuild-snapshot [--clinic SLUG]`: rebuild the analysis snapshot(s).

The snapshot (outcomes.models.AnalysisSnapshot) is derived data: the clinic's analysis tables
read from the clinical tables. A worker keeps it current; this command rebuilds it now, for
one clinic or every clinic (after a bulk import, a restore, or to warm a new deployment).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from anagen.accounts.clinic_time import in_clinic_time
from anagen.accounts.commands import database_not_ready
from anagen.accounts.models import Clinic


class Command(BaseCommand):
    help = "Outcomes analytics: rebuild the cohort analysis snapshot."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        rebuild = sub.add_parser(
            "rebuild-snapshot", help="Re-read the clinical tables into the analysis snapshot"
        )
        rebuild.add_argument("--clinic", help="clinic slug (default: every clinic)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "rebuild-snapshot":
            self._rebuild(options.get("clinic"))

    def _rebuild(self, slug: str | None) -> None:
        from anagen.outcomes.services import rebuild_analysis_snapshot

        try:
            clinics = list(Clinic.objects.order_by("slug"))
        except DatabaseError as exc:
            raise database_not_ready(exc) from exc
        if slug is not None:
            clinics = [c for c in clinics if c.slug == slug]
            if not clinics:
                raise CommandError(f"--clinic: no clinic with slug {slug!r}")
        for clinic in clinics:
            with in_clinic_time(clinic):
                snap = rebuild_analysis_snapshot(clinic)
            assert snap is not None  # force=True (the default) always rebuilds
            self.stdout.write(
                f"{clinic.slug}: analysis snapshot rebuilt in {snap.build_seconds:.1f} s "
                f"({snap.n_patients} patients, {snap.n_visits} visits, "
                f"{snap.size_bytes / 1e6:.1f} MB, fingerprint {snap.fingerprint})"
            )
        if not clinics:
            self.stdout.write("no clinic: nothing to rebuild")
