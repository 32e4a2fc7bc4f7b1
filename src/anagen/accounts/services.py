"""Writes for accounts: memberships and API tokens."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from axes.utils import reset as axes_reset
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from anagen.accounts.clinic_time import is_time_zone, zone_of
from anagen.accounts.models import ApiToken, Clinic, Membership, User, hash_token
from anagen.accounts.roles import Role
from anagen.accounts.token_lifetime import (
    DEFAULT_LIFETIME_DAYS,
    expiry_for,
    is_expired,
    lifetime_error,
)
from anagen.core.checks import hidden_text_problem, is_phone
from anagen.core.history import differs_from_stored, save_with_history
from anagen.core.text import dialable_phone, hidden_characters


class AccountError(ValueError):
    """A refused account change; the message is for the person who asked."""


class LastAdminError(AccountError):
    """The change would leave a clinic without an active administrator."""


class AccountFormError(AccountError):
    """Refused account fields: ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


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


def _save(obj: Membership | User, by: User | None, reason: str) -> None:
    """Save with a history row naming ``reason`` (and ``by``, else the request's user, which
    the history middleware supplies; none for the installer's command); a save that changes
    nothing gets no history row."""
    if by is not None:
        save_with_history(obj, by, reason)
    elif differs_from_stored(obj):
        obj._change_reason = reason  # type: ignore[union-attr]
        obj.save()


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
        if membership.user_id == admin.pk:
            # They would lose the page they stand on in mid-act; another administrator can.
            raise AccountError("You cannot deactivate yourself; another administrator can.")
        # A token made before would work again on reactivation, and the admin cannot see
        # or revoke another member's tokens: deactivation ends them for good.
        revoked = _revoke_tokens(
            ApiToken.objects.filter(user=membership.user, clinic=clinic),
            admin,
            f"API token revoked: {membership.user.username} deactivated in {clinic.name}",
        )
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


def _administers_every_clinic_of(admin: User, user: User, clinic: Clinic) -> bool:
    """Whether ``admin`` administers every clinic ``user`` belongs to besides ``clinic``:
    what adding a member or resetting their password requires (one clinic's administrator
    must not take over another clinic's staff member). A deactivated membership counts: its
    clinic can reactivate it, and would then share an account another clinic had taken over
    (its password reset, signed in to)."""
    return user.pk not in shared_beyond(admin, clinic, [user.pk])


def shared_beyond(admin: User, clinic: Clinic, user_ids: Iterable[int]) -> set[int]:
    """Those of ``user_ids`` who also belong (active or not) to a clinic besides ``clinic``
    that ``admin`` does not administer: their password is not this administrator's to reset
    (the members page shows no button for them)."""
    administered = Membership.objects.filter(
        user=admin, is_active=True, role=Role.ADMIN.value
    ).values_list("clinic_id", flat=True)
    return set(
        Membership.objects.filter(user_id__in=list(user_ids))
        .exclude(clinic=clinic)
        .exclude(clinic_id__in=list(administered))
        .values_list("user_id", flat=True)
    )


def account_created_reason(clinic: Clinic) -> str:
    """The history reason of an account created by ``clinic``'s administrator."""
    return f"account created in {clinic.name}"


def password_reset_reason(clinic: Clinic) -> str:
    """The history reason of a temporary password set by ``clinic``'s administrator."""
    return f"temporary password set by an administrator of {clinic.name}"


def temporary_password() -> str:
    """A password to hand over once: 16 random URL-safe characters (96 bits)."""
    return secrets.token_urlsafe(12)


def _new_account_fields(
    username: str, first_name: str, last_name: str, email: str
) -> tuple[str, dict[str, str], str, dict[str, list[str]]]:
    """A new account's username (as the sign-in form reads it), names and e-mail, with the
    field errors that refuse them."""
    errors: dict[str, list[str]] = {}
    # As the sign-in form reads what is typed (NFKC): "ｊｏｅ" stored as typed could never
    # sign in (the form looks up "joe"), and would pass for another person's "joe" here.
    username = User.normalize_username(username.strip())
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError as exc:
        errors["username"] = list(exc.messages)
    if not username or len(username) > 150:
        errors.setdefault("username", []).append("A username of 1 to 150 characters.")
    elif User.objects.filter(username__iexact=username).exists():
        errors.setdefault("username", []).append(TAKEN_USERNAME)
    names = {"first_name": first_name.strip(), "last_name": last_name.strip()}
    for field, value in names.items():
        if not value:
            errors[field] = ["This field is required."]
        elif len(value) > 150 or hidden_characters(value, invisible=True):
            errors[field] = ["At most 150 characters, without control characters."]
    email = email.strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = ["Enter a valid email address."]
    return username, names, email, errors


def _new_user(
    username: str, names: dict[str, str], email: str, by: User | None, reason: str
) -> tuple[User, str]:
    """Save a new account with a temporary password (returned) to change at first sign-in."""
    password = temporary_password()
    user = User(username=username, email=email, password_must_change=True, **names)
    user.set_password(password)
    _save(user, by, reason)
    return user, password


def create_account(
    admin: User,
    clinic: Clinic,
    *,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    role: Role | str,
) -> tuple[Membership, str]:
    """A new person's account and their role in ``clinic``, with a temporary password
    (returned, shown once, never stored in clear) that must be changed at first sign-in."""
    username, names, email, errors = _new_account_fields(username, first_name, last_name, email)
    if role not in {r.value for r in Role}:
        errors["role"] = ["Choose a role."]
    if errors:
        raise AccountFormError(errors)
    try:
        with transaction.atomic():
            user, password = _new_user(
                username, names, email, admin, account_created_reason(clinic)
            )
            membership = set_membership(user, clinic, role, by=admin)
    except IntegrityError:  # the same username created at the same moment
        raise AccountFormError({"username": [TAKEN_USERNAME]}) from None
    return membership, password


CLINIC_CREATED_REASON = "clinic created with `anagen clinic create`"


def create_clinic(
    *,
    name: str,
    slug: str,
    time_zone: str = "",
    country: str = "",
    admin_username: str,
    admin_first_name: str = "",
    admin_last_name: str = "",
    admin_email: str = "",
) -> tuple[Clinic, Membership, str | None]:
    """A new clinic with its first administrator (the installer's act, from the command
    line: no one is signed in). The administrator is an existing active account, or a new
    one with a temporary password (returned, to hand over once; None for an existing
    account). All or nothing; every problem is a field error."""
    errors: dict[str, list[str]] = {}
    name = name.strip()
    if not name or len(name) > 200 or hidden_characters(name, invisible=True):
        errors["name"] = ["A name of 1 to 200 characters, without control characters."]
    elif Clinic.objects.filter(name__iexact=name).exists():
        errors["name"] = [f"A clinic named {name!r} exists already."]
    slug = slug.strip()
    try:
        validate_slug(slug)
    except ValidationError:
        errors["slug"] = ["Letters, digits, hyphens and underscores only (e.g. north-clinic)."]
    if "slug" not in errors and not 1 <= len(slug) <= 60:
        errors["slug"] = ["A slug of 1 to 60 characters."]
    elif "slug" not in errors and Clinic.objects.filter(slug=slug).exists():
        errors["slug"] = [f"The slug {slug!r} is taken by another clinic."]
    time_zone = time_zone.strip()
    if time_zone and not is_time_zone(time_zone):
        errors["time_zone"] = [f"{time_zone!r} is not a time zone (IANA names: Europe/Berlin)."]
    country = country.strip().upper()
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        errors["country"] = ["Two letters (ISO 3166-1 alpha-2), e.g. DE."]
    existing = _active_user_named(User.normalize_username(admin_username.strip()))
    if existing is None:
        admin_username, names, admin_email, account_errors = _new_account_fields(
            admin_username, admin_first_name, admin_last_name, admin_email
        )
        # A taken name here is an inactive account: say so (the installer may see it).
        if TAKEN_USERNAME in account_errors.get("username", []):
            account_errors["username"] = [
                f"{admin_username!r} is a deactivated account: reactivate it or choose another."
            ]
        errors.update({f"admin_{field}": msgs for field, msgs in account_errors.items()})
    if errors:
        raise AccountFormError(errors)
    password: str | None = None
    try:
        with transaction.atomic():
            clinic = Clinic(name=name, slug=slug, time_zone=time_zone, country=country)
            clinic._change_reason = CLINIC_CREATED_REASON  # type: ignore[attr-defined]
            clinic.save()
            if existing is None:
                admin, password = _new_user(
                    admin_username, names, admin_email, None, account_created_reason(clinic)
                )
            else:
                admin = existing
            membership = set_membership(admin, clinic, Role.ADMIN)
    except IntegrityError:  # created by someone else at the same moment
        raise AccountFormError(
            {"__all__": ["The clinic or the account was created meanwhile: run it again."]}
        ) from None
    return clinic, membership, password


# Neutral: the page must not tell which usernames exist in other clinics.
TAKEN_USERNAME = "This username cannot be used; choose another."


def reset_password(admin: User, clinic: Clinic, membership_id: int) -> tuple[User, str]:
    """A new temporary password for a member of ``clinic`` (who forgot theirs): it must be
    changed at the next sign-in, and their open sessions end. Refused for oneself (the
    password page is for that) and for a member of a clinic ``admin`` does not administer."""
    membership = Membership.objects.filter(pk=membership_id, clinic=clinic).first()
    if membership is None:
        raise MembershipNotFound("No such member of this clinic.")
    user = membership.user
    if user.pk == admin.pk:
        raise AccountError("Change your own password on the Password page.")
    if not membership.is_active or not user.is_active:
        raise AccountError("Reactivate the member first.")
    if not _administers_every_clinic_of(admin, user, clinic):
        raise AccountError(
            "This person also works in a clinic you do not administer: an administrator "
            "of every clinic they belong to resets their password."
        )
    password = temporary_password()
    with transaction.atomic():
        user.set_password(password)  # a new password hash ends the sessions signed in with it
        user.password_must_change = True
        # A reset may be for a stolen password: tokens made with it stop too (every clinic of
        # the person is one the admin administers, checked above).
        _revoke_tokens(
            ApiToken.objects.filter(user=user),
            admin,
            f"API token revoked: {password_reset_reason(clinic)}",
        )
        save_with_history(user, admin, password_reset_reason(clinic))
    # A person locked out by failed sign-ins (likely: they forgot it) can use it at once.
    axes_reset(username=user.username)
    return user, password


def add_member(admin: User, clinic: Clinic, username: str, role: Role | str) -> Membership:
    """Give ``username`` ``role`` in ``clinic`` (an administrator's act).

    A clinic may take a new account (no clinic yet) or change a role of its own member; it
    may not take another clinic's staff member unless ``admin`` administers that clinic too,
    else any administrator could pull any user into their clinic (and, as the first clinic
    by name, make it that user's default). Unknown and not-addable names get one message, so
    the page does not tell which usernames exist in other clinics. Taking the administrator
    role from the clinic's last active administrator is refused (LastAdminError).
    """
    user = _active_user_named(User.normalize_username(username.strip()))
    if user is None:
        raise AccountError(NOT_ADDABLE)
    # The clinic's own member (active or deactivated): their role here is this clinic's
    # business, wherever else they work.
    own = Membership.objects.filter(user=user, clinic=clinic).exists()
    if not own and not _administers_every_clinic_of(admin, user, clinic):
        raise AccountError(NOT_ADDABLE)
    return set_membership(user, clinic, role, by=admin)


def _active_user_named(username: str) -> User | None:
    """The active account of that username, whatever its case (the database refuses two
    usernames that differ only in case)."""
    return User.objects.filter(username__iexact=username, is_active=True).first()


class TokenExpired(AccountError):
    """A token that was valid but has outlived its lifetime; the message says when and what
    to do (the API answers it as a 401)."""

    def __init__(self, token: ApiToken) -> None:
        when = timezone.localtime(token.expires_at, zone_of(token.clinic))
        super().__init__(
            f"This API token expired on {when:%Y-%m-%d %H:%M %Z}; create a new one on the "
            "API tokens page."
        )
        self.token = token


def token_created_reason(token: ApiToken, lifetime_days: int) -> str:
    """The history reason of a new token: its lifetime and expiry, for the audit's readers."""
    when = timezone.localtime(token.expires_at, zone_of(token.clinic))
    return f"API token created, valid {lifetime_days} days until {when:%Y-%m-%d %H:%M %Z}"


def create_api_token(
    user: User, clinic: Clinic, name: str, lifetime_days: int = DEFAULT_LIFETIME_DAYS
) -> tuple[ApiToken, str]:
    """Create a token that works for ``lifetime_days`` (30, 90 or 365); returns the row and
    the raw token (shown once, never stored). Its creation, expiry included, is audited."""
    if not Membership.objects.filter(user=user, clinic=clinic, is_active=True).exists():
        raise AccountError("You are not a member of this clinic.")
    name = name.strip()
    if not name:
        raise AccountError("A token needs a name.")
    # Here too, not only in the form: a script or a later API caller reaches this directly.
    if problem := hidden_text_problem(name):
        raise AccountError(f"Token name: {problem}")
    error = lifetime_error(lifetime_days)
    if error:
        raise AccountError(error)
    raw = ApiToken.new_raw_token()
    token = ApiToken(
        user=user,
        clinic=clinic,
        name=name[:100],
        key_hash=hash_token(raw),
        prefix=raw[4:12],
        expires_at=expiry_for(timezone.now(), lifetime_days),
    )
    save_with_history(token, user, token_created_reason(token, lifetime_days))
    return token, raw


def revoke_api_token(user: User, token_id: int) -> None:
    with transaction.atomic():
        token = (
            ApiToken.objects.select_for_update()
            .filter(id=token_id, user=user, revoked_at__isnull=True)
            .first()
        )
        if token is None:
            raise AccountError("No such active token.")
        token.revoked_at = timezone.now()
        save_with_history(token, user, "API token revoked", update_fields=["revoked_at"])


def _revoke_tokens(tokens: QuerySet[ApiToken], by: User, reason: str) -> int:
    """Revoke the live ones of ``tokens``, each with a history row naming ``by`` and
    ``reason`` (a bulk update left a token's history reading "created" only, as if it still
    worked); returns how many were revoked. Call inside a transaction."""
    now = timezone.now()
    live = list(tokens.select_for_update().filter(revoked_at__isnull=True).order_by("pk"))
    for token in live:
        token.revoked_at = now
        save_with_history(token, by, reason, update_fields=["revoked_at"])
    return len(live)


def authenticate_token(raw: str) -> ApiToken | None:
    """The live token for `raw`, if its user and membership are still active. A token past
    its expiry raises TokenExpired (so the caller can say why) and is not marked used."""
    token = (
        ApiToken.objects.select_related("user", "clinic")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    if not Membership.objects.filter(user=token.user, clinic=token.clinic, is_active=True).exists():
        return None
    now = timezone.now()
    if is_expired(token.expires_at, now):
        raise TokenExpired(token)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


@transaction.atomic
def set_contact_phone(admin: User, clinic: Clinic, phone: str) -> Clinic:
    """Set the number patients call about a reaction (printed on the post-care sheets);
    empty removes it. Anything but a phone number is refused (AccountFormError)."""
    phone = dialable_phone((phone or "").strip())
    # A line break passes is_phone's spaces and would split the number on the sheet.
    if phone and (
        len(phone) > 40 or not is_phone(phone) or hidden_characters(phone, invisible=True)
    ):
        raise AccountFormError(
            {"contact_phone": ["Not a phone number: use digits with spaces, +, -, ( ) or . "
                               "(e.g. +44 20 7946 0018; an extension as “ext 12”), at most "
                               "20 digits and 40 characters."]}
        )  # fmt: skip
    locked = Clinic.objects.select_for_update().get(pk=clinic.pk)
    locked.contact_phone = phone
    save_with_history(
        locked,
        admin,
        f"contact phone set to {phone}" if phone else "contact phone removed",
        update_fields=["contact_phone"],
    )
    clinic.contact_phone = phone
    return locked


@transaction.atomic
def set_time_zone(admin: User, clinic: Clinic, name: str) -> Clinic:
    """Set where ``clinic`` is (an IANA zone name; empty: the deployment's default). Dates
    already stored keep their day; "today" and the times pages show follow the new zone.
    An unknown name is refused (AccountFormError) and nothing is changed."""
    name = (name or "").strip()
    if name and not is_time_zone(name):
        raise AccountFormError(
            {"time_zone": [f"“{name[:64]}” is not a time zone: choose one from the list "
                           "(IANA names such as Europe/Berlin)."]}
        )  # fmt: skip
    locked = Clinic.objects.select_for_update().get(pk=clinic.pk)
    locked.time_zone = name
    save_with_history(
        locked, admin, f"time zone set to {name or 'the default'}", update_fields=["time_zone"]
    )
    clinic.time_zone = name
    return locked
