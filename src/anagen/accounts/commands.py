"""Shared checks for management commands that act for a user in a clinic."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError
from django.db import DatabaseError

from anagen.accounts.clinic_time import activate_for
from anagen.accounts.models import Clinic, Membership, User
from anagen.accounts.roles import allowed


def database_not_ready(exc: DatabaseError) -> CommandError:
    """One line for a database that cannot be used: not reachable, or not migrated."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
    return CommandError(
        f"the database is not ready ({first}); run `anagen migrate` first (if it is not "
        "reachable, check DATABASE_URL and that the database server runs)"
    )


def require_database() -> None:
    """Raise a one-line CommandError unless the accounts tables can be read."""
    try:
        Clinic.objects.exists()
    except DatabaseError as exc:
        raise database_not_ready(exc) from exc


def clinic_and_user(
    slug: str, username: str, permission: str, action: str = "do this"
) -> tuple[Clinic, User]:
    """The clinic (--clinic slug) and acting user (--user) of a command, checked against the
    permission table like a web request; every failure is a one-line CommandError. The
    command then works in the clinic's time zone (its "today", the times it prints)."""
    try:
        clinic = Clinic.objects.filter(slug=slug).first()
    except DatabaseError as exc:
        raise database_not_ready(exc) from exc
    if clinic is None:
        raise CommandError(f"--clinic: no clinic with slug {slug!r}")
    # Read as the sign-in form reads a username (NFKC, any case): "ｊｏｅ" or "Joe" is joe.
    user = User.objects.filter(
        username__iexact=User.normalize_username(username.strip()), is_active=True
    ).first()
    if user is None:
        raise CommandError(f"--user: no active user {username!r}")
    membership = Membership.objects.filter(user=user, clinic=clinic, is_active=True).first()
    if membership is None or not allowed(membership.role, permission):
        raise CommandError(f"--user: {username} may not {action} in {clinic.slug} ({permission})")
    activate_for(clinic)
    return clinic, user


def read_input_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a command's input file, refused with a one-line CommandError when it
    cannot be read or holds more than ``max_bytes``. At most ``max_bytes + 1`` bytes are read,
    so ``/dev/zero`` or a huge file cannot fill the memory (a plain read was killed at 22 GB).
    """
    try:
        with path.open("rb") as f:
            content = f.read(max_bytes + 1)
    except IsADirectoryError as exc:
        raise CommandError(f"{path}: is a folder, not a file") from exc
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from exc
    if len(content) > max_bytes:
        raise CommandError(f"{path}: larger than {max_bytes // 1024:,} KiB; nothing imported")
    return content
