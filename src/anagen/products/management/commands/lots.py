"""`anagen lots import FILE --clinic SLUG --user USERNAME`: lots and CoAs from JSON or CSV.

All rows are stored or none; a bad file gives a one-line error naming row and field on
stderr and a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from anagen.accounts.models import Clinic, Membership, User
from anagen.accounts.roles import allowed
from anagen.products import services


class Command(BaseCommand):
    help = "Product lots: import lots with their certificates of analysis."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="Import a JSON or CSV file (docs/products.md)")
        imp.add_argument("file", type=Path)
        imp.add_argument("--clinic", required=True, help="clinic slug")
        imp.add_argument("--user", required=True, help="username recorded as receiver")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "import":
            self._import(options["file"], options["clinic"], options["user"])

    def _import(self, path: Path, slug: str, username: str) -> None:
        try:
            clinic = Clinic.objects.filter(slug=slug).first()
        except DatabaseError as exc:
            raise CommandError(
                f"the database is not ready ({exc}); run `anagen migrate` first"
            ) from exc
        if clinic is None:
            raise CommandError(f"--clinic: no clinic with slug {slug!r}")
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"--user: no active user {username!r}")
        membership = Membership.objects.filter(user=user, clinic=clinic, is_active=True).first()
        if membership is None or not allowed(membership.role, "lot.receive"):
            raise CommandError(f"--user: {username} may not receive lots in {clinic.slug}")
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from exc
        try:
            lots = services.import_lots(clinic, user, path.name, content)
        except services.ProductError as exc:
            raise CommandError(f"{path.name}: nothing imported — {exc}") from exc
        self.stdout.write(
            f"Imported {len(lots)} lot(s) into {clinic.slug} (quarantined): "
            + ", ".join(lot.lot_number for lot in lots)
        )
