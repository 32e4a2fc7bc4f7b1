"""`anagen fhir export --clinic SLUG --user NAME --mrn MRN [-o FILE] [--base-url URL]` and
`anagen fhir import FILE --clinic SLUG --user NAME`: FHIR R5 bundles from the command line,
with the same permissions, validation and audit as the pages and the API.

The pages and the API link photos with the server's own address; the command line does not
know it, so photo links need ``--base-url`` (an absolute http(s) URL). Without it the photos'
DocumentReferences go without ``url`` and the command says so on stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from anagen.accounts.commands import clinic_and_user, read_input_file
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
        exp.add_argument(
            "--base-url",
            default="",
            help="the server's address, e.g. https://anagen.example.org, for photo links "
            "(without it photos are listed without a link)",
        )
        imp = sub.add_parser("import", help="Register a patient from a FHIR Patient bundle")
        imp.add_argument("file", type=Path)
        imp.add_argument("--clinic", required=True, help="clinic slug")
        imp.add_argument("--user", required=True, help="username (needs fhir.import)")
        imp.add_argument(
            "--confirm-not-duplicate",
            action="store_true",
            help="register even if a patient with the same name and date of birth exists",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            base_url = check_base_url(options["base_url"])
            check_output(options.get("output"), binary=False)
            clinic, user = clinic_and_user(options["clinic"], options["user"], "fhir.export")
            patient = patient_by_mrn(clinic, options["mrn"])
            log_access(
                user, patient, channel="api", path="cli: anagen fhir export", ip_address=None
            )
            body = fhir_export.patient_bundle_json(patient, base_url=base_url)
            where = write_output(body, options.get("output"), binary=False)
            if where != "stdout":
                self.stderr.write(
                    f"Wrote the FHIR bundle of {patient.medical_record_number} to {where}"
                )
            if not base_url and (n := fhir_export.linked_photos(patient)):
                self.stderr.write(
                    f"Photo links were left out ({n} photo{'s' if n != 1 else ''}): pass "
                    "--base-url https://your-server to include them."
                )
            return
        clinic, user = clinic_and_user(options["clinic"], options["user"], "fhir.import")
        path: Path = options["file"]
        raw = read_input_file(path, fhir_import.MAX_BUNDLE_BYTES)
        try:
            result = fhir_import.import_patient_bundle(
                clinic, user, raw, confirm_not_duplicate=options["confirm_not_duplicate"]
            )
        except fhir_import.ImportRefused as exc:
            raise CommandError(f"{path.name}: nothing imported — {exc}") from exc
        p = result.patient
        skipped = ", ".join(f"{n} {k}" for k, n in sorted(result.skipped.items()))
        self.stdout.write(
            f"Imported {p.full_name} ({p.medical_record_number}) into {clinic.slug}"
            + (f"; not imported: {skipped}" if skipped else "")
        )


def check_base_url(value: str) -> str:
    """The --base-url as given ("" when none), or CommandError unless it is an absolute
    http(s) URL that photo paths can be appended to."""
    value = value.strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0  # ValueError on a port not a number
    except ValueError:
        parts, port_ok = None, False
    if (
        parts is None
        or not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or any(c.isspace() for c in value)
    ):
        raise CommandError(
            f"--base-url: give the server's absolute http(s) address, "
            f"e.g. https://anagen.example.org (got {value!r})"
        )
    return value
