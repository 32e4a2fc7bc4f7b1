"""The request type of every signed-in page and API call, for the type checker.

``ActiveClinicMiddleware`` (or the API's token authentication) sets ``clinic``, ``role`` and
``memberships``; django-htmx sets ``htmx``. Views behind ``require_permission`` (pages) or
``guard`` (API) only ever see a signed-in member of a clinic, so they annotate their request
with ``ClinicRequest`` and use these attributes without checks. Nothing is a subclass at run
time: Django's own ``HttpRequest`` arrives.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from anagen.accounts.models import Clinic, Membership, User


class ClinicRequest(HttpRequest):
    user: User  # signed in: never AnonymousUser here
    clinic: Clinic
    role: str | None  # None only where no permission check has passed
    memberships: list[Membership]
    htmx: HtmxDetails


def query_without_page(request: HttpRequest) -> str:
    """The request's query string less its ``page``: what a pager's links keep (the filters
    and search of the listing)."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def client_ip(request: HttpRequest) -> str | None:
    """The address the request came from, as the access log records it.

    Behind the proxy (``ANAGEN_BEHIND_PROXY``) ``REMOTE_ADDR`` is the proxy's own address,
    the same for every read; the client's is the last ``X-Forwarded-For`` entry, the one
    the proxy appended (earlier entries are whatever the client sent). Without a proxy the
    header is not trusted: anyone can send it."""
    if getattr(settings, "ANAGEN_BEHIND_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass  # no or unreadable header: the connection's address
    return request.META.get("REMOTE_ADDR") or None
