"""Writes for accounts: memberships and API tokens."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from anagen.accounts.models import ApiToken, Clinic, Membership, User, hash_token
from anagen.accounts.roles import Role


class AccountError(ValueError):
    pass


@transaction.atomic
def set_membership(user: User, clinic: Clinic, role: Role | str) -> Membership:
    role = Role(role)
    membership, _ = Membership.objects.update_or_create(
        user=user, clinic=clinic, defaults={"role": role.value, "is_active": True}
    )
    return membership


NOT_ADDABLE = (
    "No active user with this username who can be added here. An account that already "
    "belongs to another clinic can be added only by someone who is an administrator there too."
)


def add_member(admin: User, clinic: Clinic, username: str, role: Role | str) -> Membership:
    """Give ``username`` ``role`` in ``clinic`` (an administrator's act).

    A clinic may take a new account (no clinic yet) or change a role of its own member; it
    may not take another clinic's staff member unless ``admin`` administers that clinic too,
    else any administrator could pull any user into their clinic (and, as the first clinic
    by name, make it that user's default). Unknown and not-addable names get one message, so
    the page does not tell which usernames exist in other clinics.
    """
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise AccountError(NOT_ADDABLE)
    other_clinics = set(
        Membership.objects.filter(user=user, is_active=True)
        .exclude(clinic=clinic)
        .values_list("clinic_id", flat=True)
    )
    administered = set(
        Membership.objects.filter(user=admin, is_active=True, role=Role.ADMIN.value).values_list(
            "clinic_id", flat=True
        )
    )
    if not other_clinics <= administered:
        raise AccountError(NOT_ADDABLE)
    return set_membership(user, clinic, role)


def create_api_token(user: User, clinic: Clinic, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the raw token (shown once, never stored)."""
    if not Membership.objects.filter(user=user, clinic=clinic, is_active=True).exists():
        raise AccountError("You are not a member of this clinic.")
    name = name.strip()
    if not name:
        raise AccountError("A token needs a name.")
    raw = ApiToken.new_raw_token()
    token = ApiToken.objects.create(
        user=user, clinic=clinic, name=name[:100], key_hash=hash_token(raw), prefix=raw[4:12]
    )
    return token, raw


def revoke_api_token(user: User, token_id: int) -> None:
    updated = ApiToken.objects.filter(id=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not updated:
        raise AccountError("No such active token.")


def authenticate_token(raw: str) -> ApiToken | None:
    """The live token for `raw`, if its user and membership are still active."""
    token = (
        ApiToken.objects.select_related("user", "clinic")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    if not Membership.objects.filter(user=token.user, clinic=token.clinic, is_active=True).exists():
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token
