"""How long an API token lives (pure: no Django imports, so the migration, the service and
the tokens page share one rule).

A bearer token that works until someone remembers to revoke it is a standing risk: a clinic's
security policy expects every credential to lapse. The person creating a token picks one of
``LIFETIME_DAYS``; nothing longer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

LIFETIME_DAYS: tuple[int, ...] = (30, 90, 365)
DEFAULT_LIFETIME_DAYS = 90
# The tokens page marks a token that lapses within this time, so its owner replaces it first.
EXPIRING_SOON = timedelta(days=7)

# Tokens made before tokens expired get the longest lifetime counted from their creation, but
# never less than this much notice from the day expiry is introduced.
EXISTING_LIFETIME = timedelta(days=365)
EXISTING_NOTICE = timedelta(days=30)

LIFETIME_REFUSED = (
    "Choose how long the token lives: "
    + ", ".join(str(d) for d in LIFETIME_DAYS[:-1])
    + f" or {LIFETIME_DAYS[-1]} days (no longer)."
)


def lifetime_error(lifetime_days: object) -> str | None:
    """Why ``lifetime_days`` is not a lifetime a token may have (None: it is)."""
    if isinstance(lifetime_days, bool) or lifetime_days not in LIFETIME_DAYS:
        return LIFETIME_REFUSED
    return None


def expiry_for(created_at: datetime, lifetime_days: int) -> datetime:
    """When a token created at ``created_at`` with that lifetime stops working."""
    error = lifetime_error(lifetime_days)
    if error:
        raise ValueError(error)
    return created_at + timedelta(days=lifetime_days)


def expiry_for_existing(created_at: datetime, now: datetime) -> datetime:
    """The expiry given to a token created before tokens expired (migration 0008): a year
    after its creation, but at least ``EXISTING_NOTICE`` after ``now`` (the migration's
    time), so no client is cut off the day the change is deployed, nor a few days later
    without time to replace its token."""
    return max(created_at + EXISTING_LIFETIME, now + EXISTING_NOTICE)


def is_expired(expires_at: datetime, now: datetime) -> bool:
    """Whether a token that expires at ``expires_at`` is refused at ``now`` (the expiry
    instant itself is past its lifetime)."""
    return now >= expires_at


def expiry_state(expires_at: datetime, now: datetime) -> str:
    """The token's mark on the tokens page: expired, expiring (within ``EXPIRING_SOON``) or
    valid."""
    if is_expired(expires_at, now):
        return "expired"
    if expires_at - now <= EXPIRING_SOON:
        return "expiring"
    return "valid"
