"""Logging filters (referenced by name from settings.LOGGING)."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404


class RefusalWithoutTraceback(logging.Filter):
    """Keep the one-line warning of a refused request (403, 404) but drop its traceback: a
    refusal is expected, and each one wrote the whole stack to the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PermissionDenied | Http404):
            record.exc_info = None
            record.exc_text = None
        return True
