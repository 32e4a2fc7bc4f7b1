"""Photos held while a refused visit form is put right.

A browser cannot refill a file input: when a visit form is refused (a date in the future, a
pull test that does not add up), the photos the nurse chose would have to be found and
attached again. Instead each photo that passed its own checks is kept here, cleaned (location
data already removed) under a random name, and the form carries a signed ticket for it. The
next try takes the held photo unless a new file replaces it or it is left out. Saving the visit
deletes what it took; a form left unsaved leaves its photos behind, and they are deleted after
HOLD_HOURS by the next hold in the clinic or by `anagen purge_held_photos`.

A ticket names the clinic, the person and the patient it was made for and the form field; a
ticket from another person, patient or clinic, a changed one or an expired one is not honoured
(its photo is simply not there: the form asks for the file again).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass

from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from anagen.accounts.models import Clinic, User
from anagen.core.text import ascii_digits
from anagen.monitoring.uploads import CleanImage
from anagen.patients.models import Patient

logger = logging.getLogger(__name__)

HOLD_HOURS = 24
ROOT = "held-photos"
_SALT = "anagen.monitoring.held-photo"


@dataclass(frozen=True)
class HeldPhoto:
    """One photo held for a form field; `ticket` goes into the form."""

    field: str
    name: str  # the file name the person chose, to show them
    path: str  # in the default storage
    size: int
    ticket: str
    # What the checks found (type, pixels, fingerprint): the held image is not decoded again.
    content_type: str
    extension: str
    width_px: int
    height_px: int
    sha256: str

    def clean_image(self) -> CleanImage | None:
        """The held image as checked, or None where the stored bytes are not the ones held."""
        with default_storage.open(self.path, "rb") as f:
            content = f.read()
        if hashlib.sha256(content).hexdigest() != self.sha256:
            return None
        return CleanImage(
            content, self.extension, self.content_type, self.width_px, self.height_px, self.sha256
        )


def _hour(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // 3600)


def hold(
    clinic: Clinic, user: User, patient: Patient, field: str, name: str, image: CleanImage
) -> HeldPhoto:
    """Keep `image` (checked and cleaned) for `field` of this person's form."""
    purge_expired(clinic.pk)
    # Grouped by the hour it was held, so that expired photos go folder by folder.
    path = default_storage.save(
        f"{ROOT}/{clinic.pk}/{_hour()}/{uuid.uuid4().hex}", ContentFile(image.content)
    )
    claim = {
        "c": clinic.pk, "u": user.pk, "p": patient.pk, "f": field, "n": name, "s": path,
        "t": image.content_type, "e": image.extension, "w": image.width_px,
        "h": image.height_px, "d": image.sha256,
    }  # fmt: skip
    ticket = signing.dumps(claim, salt=_SALT, compress=True)
    return _held(claim, ticket, len(image.content))


def _held(claim: dict, ticket: str, size: int) -> HeldPhoto:
    return HeldPhoto(
        field=str(claim["f"]), name=str(claim["n"]), path=str(claim["s"]), size=size,
        ticket=ticket, content_type=str(claim["t"]), extension=str(claim["e"]),
        width_px=int(claim["w"]), height_px=int(claim["h"]), sha256=str(claim["d"]),
    )  # fmt: skip


def redeem(ticket: str, clinic: Clinic, user: User, patient: Patient) -> HeldPhoto | None:
    """The photo a ticket holds, or None where the ticket is not this form's, was altered,
    has expired, or its photo is gone."""
    try:
        claim = signing.loads(ticket, salt=_SALT, max_age=HOLD_HOURS * 3600)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(claim, dict) or (claim.get("c"), claim.get("u"), claim.get("p")) != (
        clinic.pk,
        user.pk,
        patient.pk,
    ):
        return None
    path = str(claim.get("s", ""))
    if not path.startswith(f"{ROOT}/{clinic.pk}/") or not default_storage.exists(path):
        return None
    try:
        return _held(claim, ticket, default_storage.size(path))
    except (KeyError, TypeError, ValueError):  # signed by us, but not as this version writes
        return None


def release(held: HeldPhoto) -> None:
    """Delete a held photo (taken into a saved visit, replaced or left out)."""
    try:
        default_storage.delete(held.path)
    except OSError:  # already gone, or the store is down: purge_expired gets it later
        logger.warning("held photo %s could not be deleted", held.path)


def purge_expired(clinic_id: int | None = None, *, now: float | None = None) -> int:
    """Delete held photos older than HOLD_HOURS (of one clinic, or all); how many."""
    oldest_kept = _hour(now) - HOLD_HOURS
    clinics = [str(clinic_id)] if clinic_id is not None else _folders(ROOT)
    removed = 0
    for clinic in clinics:
        base = f"{ROOT}/{clinic}"
        for hour in _folders(base):
            if not ascii_digits(hour) or int(hour) >= oldest_kept:
                continue
            for name in default_storage.listdir(f"{base}/{hour}")[1]:
                default_storage.delete(f"{base}/{hour}/{name}")
                removed += 1
            _remove_empty_folder(f"{base}/{hour}")
    return removed


def _folders(name: str) -> list[str]:
    # Not `exists()`: an object store has no folder objects, only names with this prefix.
    try:
        return list(default_storage.listdir(name)[0])
    except FileNotFoundError:  # a local disk before the first hold
        return []


def _remove_empty_folder(name: str) -> None:
    # Object stores have no folders; a local disk keeps the empty one otherwise.
    with contextlib.suppress(OSError):
        default_storage.delete(name)
