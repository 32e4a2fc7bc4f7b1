"""`anagen verify_files [--clinic SLUG]`: are the files the records name all there, unchanged?

Run it after a restore, a storage move, or as a periodic check: each missing or changed file
is one line on stdout (clinic, record, file, problem), then a summary; the exit status is 1
when any file has a problem, so a timer or a backup script can alert on it. It only reads.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from anagen.accounts.commands import require_database
from anagen.accounts.models import Clinic
from anagen.core.stored_files import check_stored_files


class Command(BaseCommand):
    help = (
        "Check that every photo, certificate of analysis and supplier document the records "
        "name is in storage, and that photos are unchanged since upload (size, SHA-256)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", default="", help="only this clinic (slug)")

    def handle(self, *args: Any, **options: Any) -> None:
        require_database()
        clinic = None
        if options["clinic"]:
            clinic = Clinic.objects.filter(slug=options["clinic"]).first()
            if clinic is None:
                raise CommandError(f"--clinic: no clinic with slug {options['clinic']!r}")
        try:
            result = check_stored_files(clinic)
        except OSError as exc:  # the storage itself cannot be read (unmounted, no access)
            raise CommandError(f"the file storage cannot be read: {exc}") from exc
        for p in result.problems:
            self.stdout.write(f"{p.clinic}: {p.record}: {p.path}: {p.problem}")
        if result.problems:
            self.stdout.write(
                f"{len(result.problems)} of {result.checked} file(s) missing or changed."
            )
            sys.exit(1)
        self.stdout.write(f"All {result.checked} file(s) present and unchanged.")
