"""The one pseudonym of a patient outside the clinical record: the researcher's cohort
listing shows it and the analysis export carries it, so a row of one can be found in the
other. Keyed (HMAC-SHA256): without the key it cannot be reversed or recomputed."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

PSEUDONYM_LENGTH = 16  # hex characters of the HMAC-SHA256 (64 bits)


def pseudonym(clinic_id: int, patient_id: int) -> str:
    """A stable pseudonym; the key is ANAGEN_PSEUDONYM_KEY, else SECRET_KEY (rotating it
    breaks the link to earlier exports)."""
    key = getattr(settings, "ANAGEN_PSEUDONYM_KEY", None) or settings.SECRET_KEY
    msg = f"anagen-patient:{clinic_id}:{patient_id}".encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()[:PSEUDONYM_LENGTH]
