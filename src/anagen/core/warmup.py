"""Work a server process does once at start rather than on its first request."""

from __future__ import annotations

from django.urls import get_resolver


def load_urlconf() -> None:
    """Import the URLconf, and with it every view, the API's routers and their schemas.

    Django imports it lazily on the first request, which then waited about 0.7 s longer than
    the next ones (profiled on the demo clinic; the cohort page at 100,000 patients took 2.70 s
    on a new process against 1.76 s after it, benchmarks/results_analytics.md).
    """
    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018  (the property imports the modules)
    # The reverse lookup tables too (every {% url %} of the first page compiled them: ~50 ms).
    resolver.reverse_dict  # noqa: B018
