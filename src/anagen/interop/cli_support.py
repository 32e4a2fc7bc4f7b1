"""Shared helpers of the interop and reports commands: patient lookup and output files."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import CommandError

from anagen.accounts.models import Clinic
from anagen.core.text import printed_code
from anagen.patients.models import Patient


def patient_by_mrn(clinic: Clinic, mrn: str) -> Patient:
    # Record numbers are stored as they print (NFKC) and unique ignoring case
    # (patients.services): "ＭＲＮ-００４６" typed in full width is MRN-0046.
    number = printed_code(mrn.strip())
    patient = Patient.objects.filter(clinic=clinic, medical_record_number__iexact=number).first()
    if patient is None:
        raise CommandError(f"--mrn: no patient {mrn!r} in {clinic.slug}")
    return patient


def check_output(output: str | None, *, binary: bool) -> None:
    """Refuse an --output that cannot be written before any work is done (a cohort PDF
    takes seconds to render only to find its folder missing)."""
    if output in (None, "-"):
        if binary:
            raise CommandError("--output: give a file name for binary output (PDF, Parquet)")
        return
    path = Path(output)
    if path.is_dir():
        raise CommandError(f"--output: {output} is a folder; give a file name")
    if not path.parent.is_dir():
        raise CommandError(f"--output: {output}: the folder {path.parent} does not exist")


def write_output(content: bytes | str, output: str | None, *, binary: bool) -> str:
    """Write to the file named by --output, or to stdout ('-' or none) for text."""
    data = content.encode() if isinstance(content, str) else content
    if output in (None, "-"):
        if binary:
            raise CommandError("--output: give a file name for binary output (PDF, Parquet)")
        sys.stdout.write(data.decode())
        sys.stdout.flush()
        return "stdout"
    try:
        Path(output).write_bytes(data)
    except OSError as exc:
        raise CommandError(f"--output: {output}: {exc.strerror}") from exc
    return output
