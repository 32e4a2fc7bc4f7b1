"""Shared checks for the interop and reports commands: clinic, user and permission."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import CommandError
from django.db import DatabaseError

from anagen.accounts.models import Clinic, Membership, User
from anagen.accounts.roles import allowed
from anagen.patients.models import Patient


def clinic_and_user(slug: str, username: str, permission: str) -> tuple[Clinic, User]:
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
    if membership is None or not allowed(membership.role, permission):
        raise CommandError(f"--user: {username} may not do this in {clinic.slug} ({permission})")
    return clinic, user


def patient_by_mrn(clinic: Clinic, mrn: str) -> Patient:
    patient = Patient.objects.filter(clinic=clinic, medical_record_number=mrn).first()
    if patient is None:
        raise CommandError(f"--mrn: no patient {mrn!r} in {clinic.slug}")
    return patient


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
