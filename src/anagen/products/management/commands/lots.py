"""`anagen lots import FILE --clinic SLUG --user USERNAME`: lots and CoAs from JSON or CSV.

All rows are stored or none; a bad file gives a one-line error naming row and field on
stderr and a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from anagen.accounts.commands import clinic_and_user, read_input_file
from anagen.products import importers, services


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
        clinic, user = clinic_and_user(slug, username, "lot.receive", action="receive lots")
        content = read_input_file(path, importers.MAX_IMPORT_BYTES)
        try:
            lots = services.import_lots(clinic, user, path.name, content)
        except services.ProductError as exc:
            raise CommandError(f"{path.name}: nothing imported — {exc}") from exc
        self.stdout.write(
            f"Imported {len(lots)} lot(s) into {clinic.slug} (quarantined): "
            + ", ".join(lot.lot_number for lot in lots)
        )
