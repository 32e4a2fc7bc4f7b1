"""`anagen report patient --clinic SLUG --user NAME --mrn MRN -o FILE.pdf` and
`anagen report cohort --clinic SLUG --user NAME -o FILE.pdf [--filter key=value ...]`:
the PDF reports from the command line (same permissions and content as the pages)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import QueryDict
from django.utils import timezone

from anagen.accounts.commands import clinic_and_user
from anagen.interop.cli_support import check_output, patient_by_mrn, write_output
from anagen.patients.selectors import log_access
from anagen.reports import cohort, pdf, selectors


class Command(BaseCommand):
    help = "PDF reports: a patient's progress report or the cohort report."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="kind", required=True)
        pat = sub.add_parser("patient", help="A patient's progress report")
        pat.add_argument("--mrn", required=True, help="the patient's medical record number")
        coh = sub.add_parser("cohort", help="The de-identified cohort report")
        coh.add_argument(
            "--filter",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a cohort filter as on /outcomes/cohort/ (repeatable), e.g. sex=male",
        )
        for p in (pat, coh):
            p.add_argument("--clinic", required=True, help="clinic slug")
            p.add_argument("--user", required=True, help="username")
            p.add_argument("-o", "--output", required=True, help="PDF file to write")

    def handle(self, *args: Any, **options: Any) -> None:
        check_output(options["output"], binary=True)
        now = timezone.now()
        if options["kind"] == "patient":
            clinic, user = clinic_and_user(options["clinic"], options["user"], "report.patient")
            patient = patient_by_mrn(clinic, options["mrn"])
            log_access(
                user, patient, channel="api", path="cli: anagen report patient", ip_address=None
            )
            report = selectors.patient_report(
                patient, generated_at=now, generated_by=user.get_full_name() or user.username
            )
            content = pdf.render_pdf(
                "reports/patient_progress.html", selectors.report_context(report)
            )
        else:
            clinic, _ = clinic_and_user(options["clinic"], options["user"], "cohort.view")
            data = QueryDict(mutable=True)
            for item in options["filter"]:
                key, sep, value = item.partition("=")
                if not sep or not key:
                    raise CommandError(f"--filter: expected KEY=VALUE, got {item!r}")
                data.appendlist(key.strip(), value.strip())
            form = cohort.filter_form(clinic, data)
            if form.is_bound and not form.is_valid():
                problems = "; ".join(
                    f"{f}: {' '.join(map(str, m))}" for f, m in form.errors.items()
                )
                raise CommandError(f"--filter: {problems}")
            unknown = set(data) - set(form.fields)
            if unknown:
                raise CommandError(f"--filter: unknown filter(s) {', '.join(sorted(unknown))}")
            content = pdf.render_pdf(
                "reports/cohort.html", cohort.report_context(clinic, form, generated_at=now)
            )
        where = write_output(content, options["output"], binary=True)
        self.stderr.write(f"Wrote {len(content)} bytes to {where}")
