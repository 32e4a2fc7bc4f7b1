"""The clinic's own time zone.

"Today" (a visit's default date, a lot's expiry, the follow-ups due) and the times a page shows
follow where the clinic is, not where the server is: a clinic in Auckland works a day ahead of
UTC every morning. Requests activate it (ActiveClinicMiddleware, the API's token check), and
so do background tasks and commands that act for one clinic. Times are stored in UTC.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.utils import timezone

if TYPE_CHECKING:  # models validates with is_time_zone below
    from anagen.accounts.models import Clinic


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA zone names a clinic may choose (from the tzdata package), sorted; the
    deprecated aliases ("US/Eastern", "Etc/GMT+5" and the like) are left out of the choice
    but still accepted where stored."""
    names = available_timezones()
    return tuple(
        sorted(
            n
            for n in names
            if "/" in n
            and not n.startswith(
                ("Etc/", "SystemV/", "US/", "Brazil/", "Canada/", "Chile/", "Mexico/")
            )
        )  # fmt: skip
        + ["UTC"]
    )


def is_time_zone(name: str) -> bool:
    """A zone a clinic may be in: an IANA "Area/Location" name (an older alias such as
    "US/Eastern" too) or UTC. Not "localtime" (whatever the host is set to, which may differ
    between the web server and the worker), "Factory", or bare abbreviations such as "EST"."""
    return name == "UTC" or ("/" in name and name in available_timezones())


def zone_of(clinic: Clinic | None) -> ZoneInfo:
    """The clinic's zone; the deployment's default where it has none (or none is known)."""
    name = getattr(clinic, "time_zone", "") or settings.TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):  # a name the installed tzdata no longer has
        return ZoneInfo(settings.TIME_ZONE)


def activate_for(clinic: Clinic | None) -> None:
    """Make the clinic's zone the current one for this thread (dates and rendered times)."""
    timezone.activate(zone_of(clinic))


def in_clinic_time(clinic: Clinic | None) -> timezone.override:
    """``with in_clinic_time(clinic):`` for work done for one clinic outside a request."""
    return timezone.override(zone_of(clinic))
