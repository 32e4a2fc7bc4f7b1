"""Writes for accounts: memberships and API tokens."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from anagen.accounts.models import ApiToken, Clinic, Membership, User, hash_token
from anagen.accounts.roles import Role
from anagen.core.history import differs_from_stored, save_with_history


class AccountError(ValueError):
    """A refused account change; the message is for the person who asked."""


class LastAdminError(AccountError):
    """The change would leave a clinic without an active administrator."""


class MembershipNotFound(AccountError):
    """No membership with that id in the clinic (another clinic's reads the same: 404)."""


def display_name(user: User) -> str:
    """The person's full name where there is one, else their username."""
    return user.get_full_name() or user.username


def recorded_by_at(entries: Iterable[tuple[User, datetime]]) -> str:
    """Who recorded each entry and when, for a person to recognise them:
    "Ann Lee at 10:42 CET; Bob Ray at 11:05 CET" (local time with its zone)."""
    return "; ".join(
        f"{display_name(user)} at {timezone.localtime(when):%H:%M %Z}" for user, when in entries
    )


def _save(membership: Membership, by: User | None, reason: str) -> None:
    """Save with a history row naming ``reason`` (and ``by``, else the request's user, which
    the history middleware supplies); a save that changes nothing gets no history row."""
    if by is not None:
        save_with_history(membership, by, reason)
    elif differs_from_stored(membership):
        membership._change_reason = reason  # type: ignore[attr-defined]
        membership.save()


def _keep_an_admin(membership: Membership, refusal: str) -> None:
    """Raise LastAdminError unless another active administrator of the clinic remains.

    The clinic's active administrator rows are locked (in a fixed order), so two admins who
    demote each other at the same time cannot both succeed.
    """
    if not (membership.is_active and membership.role == Role.ADMIN.value):
        return
    admin_ids = list(
        Membership.objects.select_for_update()
        .filter(clinic_id=membership.clinic_id, role=Role.ADMIN.value, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not [pk for pk in admin_ids if pk != membership.pk]:
        raise LastAdminError(
            f"{display_name(membership.user)} is the only active administrator of "
            f"{membership.clinic} and cannot {refusal}. Make another member an administrator "
            "first, so that someone can still manage the clinic's members."
        )


def _locked_membership(**lookup: object) -> Membership | None:
    """The membership matching ``lookup``, locked for the rest of the transaction."""
    return (
        Membership.objects.select_for_update()
        .select_related("user", "clinic")
        .filter(**lookup)
        .first()
    )


@transaction.atomic
def set_membership(
    user: User, clinic: Clinic, role: Role | str, *, by: User | None = None
) -> Membership:
    """Give ``user`` ``role`` in ``clinic`` (creating or reactivating the membership).

    Refused with LastAdminError, changing nothing, when it would take the administrator role
    from the clinic's last active administrator.
    """
    role = Role(role)
    membership = _locked_membership(user=user, clinic=clinic)
    if membership is None:
        membership = Membership(user=user, clinic=clinic, role=role.value, is_active=True)
        _save(membership, by, f"added as {role.label}")
        return membership
    if role is not Role.ADMIN:
        _keep_an_admin(membership, f"become {role.label}")
    membership.role = role.value
    membership.is_active = True
    _save(membership, by, f"role set to {role.label}")
    return membership


@transaction.atomic
def set_member_active(admin: User, clinic: Clinic, membership_id: int, active: bool) -> Membership:
    """Deactivate or reactivate a membership of ``clinic`` (an administrator's act).
    Deactivating revokes the member's API tokens for the clinic (reactivating does not bring
    them back: the member makes new ones).

    Another clinic's membership is not found (MembershipNotFound); deactivating the clinic's
    last active administrator is refused (LastAdminError). Nothing changes when refused.
    """
    membership = _locked_membership(pk=membership_id, clinic=clinic)
    if membership is None:
        raise MembershipNotFound("No such member in this clinic.")
    reason = "reactivated"
    if not active:
        _keep_an_admin(membership, "be deactivated")
        # A token made before would work again on reactivation, and the admin cannot see
        # or revoke another member's tokens: deactivation ends them for good.
        revoked = ApiToken.objects.filter(
            user=membership.user, clinic=clinic, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        reason = "deactivated" + (
            f"; {revoked} API token{'s' if revoked != 1 else ''} revoked" if revoked else ""
        )
    membership.is_active = active
    _save(membership, admin, reason)
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
    the page does not tell which usernames exist in other clinics. Taking the administrator
    role from the clinic's last active administrator is refused (LastAdminError).
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
    return set_membership(user, clinic, role, by=admin)


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
