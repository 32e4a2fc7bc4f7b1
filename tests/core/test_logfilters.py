"""A refused request is logged as one line, without its traceback; a crash keeps it."""

from __future__ import annotations

import logging
import sys

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from anagen.core.logfilters import RefusalWithoutTraceback


def _record(exc: Exception) -> logging.LogRecord:
    try:
        raise exc
    except Exception:
        info = sys.exc_info()
    return logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Forbidden", (), info)


@pytest.mark.parametrize("exc", [PermissionDenied("no"), Http404("gone")])
def test_a_refusal_keeps_its_line_and_loses_its_traceback(exc):
    record = _record(exc)
    assert RefusalWithoutTraceback().filter(record) is True
    assert record.exc_info is None
    assert "Traceback" not in logging.Formatter().format(record)


def test_a_crash_keeps_its_traceback():
    record = _record(ZeroDivisionError("boom"))
    assert RefusalWithoutTraceback().filter(record) is True
    assert "Traceback" in logging.Formatter().format(record)


def test_the_filter_is_installed_on_the_request_logger(settings):
    assert "refusal" in settings.LOGGING["loggers"]["django.request"]["filters"]
