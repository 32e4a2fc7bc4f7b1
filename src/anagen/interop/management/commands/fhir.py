"""`anagen fhir export --clinic SLUG --user NAME --mrn MRN [-o FILE]` and
`anagen fhir import FILE --clinic SLUG --user NAME`: FHIR R5 bundles from the command line,
with the same permissions, validation and audit as the pages and the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from anagen.accounts.commands import clinic_and_user
from anagen.interop import fhir_export, fhir_import
from anagen.interop.cli_support import check_output, patient_by_mrn, write_output
from anagen.patients.selectors import log_access


class Command(BaseCommand):
    help = "FHIR R5: export a patient's bundle, or import a Patient bundle."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        exp = sub.add_parser("export", help="A patient's record as a FHIR R5 Bundle (JSON)")
        exp.add_argument("--clinic", required=True, help="clinic slug")
        exp.add_argument("--user", required=True, help="username (needs fhir.export)")
        exp.add_argument("--mrn", required=True, help="the patient's medical record number")
        exp.add_argument("-o", "--output", help="file to write (default: stdout)")
        exp.add_argument("--base-url", default="", help="server URL for photo links")
        imp = sub.add_parser("import", help="Register a patient from a FHIR Patient bundle")
        imp.add_argument("file", type=Path)
        imp.add_argument("--clinic", required=True, help="clinic slug")
        imp.add_argument("--user", required=True, help="username (needs fhir.import)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            check_output(options.get("output"), binary=False)
            clinic, user = clinic_and_user(options["clinic"], options["user"], "fhir.export")
            patient = patient_by_mrn(clinic, options["mrn"])
            log_access(
                user, patient, channel="api", path="cli: anagen fhir export", ip_address=None
            )
            body = fhir_export.patient_bundle_json(patient, base_url=options["base_url"])
            where = write_output(body, options.get("output"), binary=False)
            if where != "stdout":
                self.stderr.write(
                    f"Wrote the FHIR bundle of {patient.medical_record_number} to {where}"
                )
            return
        clinic, user = clinic_and_user(options["clinic"], options["user"], "fhir.import")
        path: Path = options["file"]
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from exc
        try:
            result = fhir_import.import_patient_bundle(clinic, user, raw)
        except fhir_import.ImportRefused as exc:
            raise CommandError(f"{path.name}: nothing imported — {exc}") from exc
        p = result.patient
        skipped = ", ".join(f"{n} {k}" for k, n in sorted(result.skipped.items()))
        self.stdout.write(
            f"Imported {p.full_name} ({p.medical_record_number}) into {clinic.slug}"
            + (f"; not imported: {skipped}" if skipped else "")
        )
