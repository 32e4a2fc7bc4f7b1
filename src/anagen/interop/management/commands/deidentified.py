"""`anagen deidentified --clinic SLUG --user NAME [--format csv|parquet] [-o FILE]`: the
de-identified analysis table (docs/data-dictionary.md) for researchers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from anagen.accounts.commands import clinic_and_user
from anagen.interop import analysis, services
from anagen.interop.cli_support import check_output, write_output
from anagen.interop.models import DataExport


class Command(BaseCommand):
    help = "Export the de-identified analysis table (one row per patient-visit)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", required=True, help="clinic slug")
        parser.add_argument("--user", required=True, help="username (needs export.deidentified)")
        parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
        parser.add_argument("-o", "--output", help="file to write (CSV default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        check_output(options.get("output"), binary=options["format"] == "parquet")
        clinic, user = clinic_and_user(options["clinic"], options["user"], "export.deidentified")
        rows = analysis.analysis_rows(clinic)
        table = DataExport.Table.DEIDENTIFIED_CSV
        if options["format"] == "parquet":
            table = DataExport.Table.DEIDENTIFIED_PARQUET
        services.record_export(clinic, user, table, rows, channel="cli")
        if options["format"] == "parquet":
            where = write_output(analysis.to_parquet(rows), options.get("output"), binary=True)
        else:
            where = write_output(analysis.to_csv(rows), options.get("output"), binary=False)
        if where != "stdout":
            self.stderr.write(f"Wrote {len(rows)} rows to {where}")
