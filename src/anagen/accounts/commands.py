"""Shared checks for management commands that act for a user in a clinic."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.db import DatabaseError

from anagen.accounts.models import Clinic, Membership, User
from anagen.accounts.roles import allowed


def clinic_and_user(
    slug: str, username: str, permission: str, action: str = "do this"
) -> tuple[Clinic, User]:
    """The clinic (--clinic slug) and acting user (--user) of a command, checked against the
    permission table like a web request; every failure is a one-line CommandError."""
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
        raise CommandError(f"--user: {username} may not {action} in {clinic.slug} ({permission})")
    return clinic, user
