"""Photos chosen on a visit form that is refused are held for the next try.

A browser cannot refill a file input: the nurse who chose five photos and got the date wrong
had to find and attach all five again. Each photo that passes its own checks is now held
(cleaned: no location data), shown by name with a "leave it out" box, and saved with the
visit on the next try; a photo that fails its checks is named to attach again. A held photo
is this person's, for this patient, in this clinic, for one day; whatever the visit takes,
or the person leaves out or replaces, is deleted, and the rest expires.
"""

from __future__ import annotations

import io
import time
from datetime import date, timedelta

import pytest
from django.core import signing
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from PIL import Image

from anagen.accounts.roles import Role
from anagen.monitoring import held_photos, uploads
from anagen.monitoring.models import Photo, Visit

from .test_monitoring_django_timeline import png
from .test_monitoring_django_uploads import GPS_IFD, jpeg_with_exif

TOMORROW = date.today() + timedelta(days=1)


@pytest.fixture
def nurse(clinic_a, make_user):
    return make_user(Role.NURSE, clinic_a, username="nina")


@pytest.fixture
def patient(clinic_a, nurse, make_patient):
    return make_patient(clinic_a, nurse)


def url(patient) -> str:
    return f"/monitoring/{patient.pk}/visits/new/"


def refused_with(client, patient, **files):
    """A try refused for its date (tomorrow), with `files` chosen."""
    response = client.post(
        url(patient), {"visit_date": TOMORROW.isoformat(), "pull_test": "not_done", **files}
    )
    assert response.status_code == 400
    assert not Visit.objects.exists()
    return response


def dermatoscope_jpeg() -> SimpleUploadedFile:
    """A JPEG straight from a camera: EXIF orientation and a GPS position."""
    return SimpleUploadedFile("dermatoscope.jpg", jpeg_with_exif(300, 200), "image/jpeg")


def tickets(response) -> dict[str, str]:
    return {f"held_{held.field}": held.ticket for held, _ in response.context["held_photos"]}


def held_files() -> list[str]:
    if not default_storage.exists(held_photos.ROOT):
        return []
    out = []
    for clinic in default_storage.listdir(held_photos.ROOT)[0]:
        for hour in default_storage.listdir(f"{held_photos.ROOT}/{clinic}")[0]:
            base = f"{held_photos.ROOT}/{clinic}/{hour}"
            out += [f"{base}/{name}" for name in default_storage.listdir(base)[1]]
    return out


@pytest.fixture(autouse=True)
def no_held_photos_left_over():
    for path in held_files():
        default_storage.delete(path)


def test_a_refused_visit_keeps_its_photos_and_the_next_try_saves_them(client, nurse, patient):
    client.force_login(nurse)
    first = refused_with(
        client, patient, photo_frontal=png("front.png"), trichoscopy=dermatoscope_jpeg()
    )
    page = first.content.decode()
    assert "Kept from your last try" in page and "front.png" in page
    assert 'name="leave_out_photo_frontal"' in page
    assert len(held_files()) == 2
    saved = client.post(
        url(patient),
        {"visit_date": date.today().isoformat(), "pull_test": "not_done", **tickets(first)},
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    visit = Visit.objects.get()
    assert sorted((p.kind, p.view) for p in visit.photos.all()) == [
        (Photo.Kind.GLOBAL, "frontal"),
        (Photo.Kind.TRICHOSCOPY, ""),
    ]
    assert held_files() == []  # taken into the visit, then deleted


def test_a_held_photo_is_kept_without_its_location_data(client, nurse, patient):
    client.force_login(nurse)
    refused_with(client, patient, trichoscopy=dermatoscope_jpeg())
    (path,) = held_files()
    with default_storage.open(path, "rb") as f:
        assert not Image.open(io.BytesIO(f.read())).getexif().get_ifd(GPS_IFD)


def test_only_the_held_photo_is_enough_to_record_the_visit(client, nurse, patient):
    """The form's "nothing recorded" rule counts a held photo as a photo."""
    client.force_login(nurse)
    first = refused_with(client, patient, photo_vertex=png())
    saved = client.post(
        url(patient), {"visit_date": date.today().isoformat(), "pull_test": "not_done",
                       **tickets(first)},
    )  # fmt: skip
    assert saved.status_code == 302
    assert Visit.objects.get().photos.get().view == "vertex"


def test_a_photo_that_fails_its_checks_is_named_and_not_held(client, nurse, patient):
    client.force_login(nurse)
    bad = SimpleUploadedFile("scan.pdf", b"%PDF-1.4 not an image", content_type="application/pdf")
    response = refused_with(client, patient, photo_frontal=bad, photo_vertex=png("top.png"))
    page = response.content.decode()
    assert "these photos were not kept: scan.pdf" in page
    assert [held.name for held, _ in response.context["held_photos"]] == ["top.png"]
    assert len(held_files()) == 1


def test_a_photo_left_out_or_replaced_is_not_saved_and_is_deleted(client, nurse, patient):
    client.force_login(nurse)
    first = refused_with(client, patient, photo_frontal=png("old-front.png"), photo_vertex=png())
    assert len(held_files()) == 2
    new_front = png("new-front.png")
    new_sha = uploads.clean_image(io.BytesIO(new_front.read())).sha256
    new_front.seek(0)
    second = client.post(
        url(patient),
        {
            "visit_date": date.today().isoformat(),
            "pull_test": "not_done",
            **tickets(first),
            "leave_out_photo_vertex": "on",
            "photo_frontal": new_front,
        },
    )
    assert second.status_code == 302
    (stored,) = Visit.objects.get().photos.all()
    assert (stored.view, stored.sha256) == ("frontal", new_sha)
    assert held_files() == []


def test_a_ticket_is_honoured_only_for_the_same_person_patient_and_unaltered(
    client, clinic_a, nurse, patient, make_user, make_patient
):
    client.force_login(nurse)
    first = refused_with(client, patient, photo_frontal=png())
    ticket = first.context["held_photos"][0][0].ticket
    other_patient = make_patient(clinic_a, nurse)
    colleague = make_user(Role.NURSE, clinic_a, username="colleague")
    assert held_photos.redeem(ticket, clinic_a, nurse, patient) is not None
    assert held_photos.redeem(ticket, clinic_a, nurse, other_patient) is None
    assert held_photos.redeem(ticket, clinic_a, colleague, patient) is None
    assert held_photos.redeem(ticket[:-2] + "xx", clinic_a, nurse, patient) is None
    # Posted on the other patient's form, the ticket brings no photo, and the form says so
    # rather than saving the visit without it.
    response = client.post(
        url(other_patient),
        {"visit_date": date.today().isoformat(), "hair_count": "120", "pull_test": "not_done",
         "held_photo_frontal": ticket},
    )  # fmt: skip
    assert response.status_code == 400 and not Visit.objects.exists()
    assert "no longer kept" in response.context["form"].errors["photo_frontal"][0]


def test_a_ticket_of_another_format_is_not_honoured_and_does_not_crash(
    client, clinic_a, nurse, patient
):
    """A ticket signed by an earlier version (without the checks' findings) is like a lost one."""
    client.force_login(nurse)
    first = refused_with(client, patient, photo_frontal=png())
    held = first.context["held_photos"][0][0]
    older = signing.dumps(
        {"c": clinic_a.pk, "u": nurse.pk, "p": patient.pk, "f": held.field, "s": held.path},
        salt=held_photos._SALT,
        compress=True,
    )
    assert held_photos.redeem(older, clinic_a, nurse, patient) is None
    response = client.post(
        url(patient),
        {"visit_date": date.today().isoformat(), "hair_count": "120", "pull_test": "not_done",
         "held_photo_frontal": older},
    )  # fmt: skip
    assert response.status_code == 400 and not Visit.objects.exists()
    assert "no longer kept" in response.context["form"].errors["photo_frontal"][0]


def test_a_held_photo_that_is_gone_is_asked_for_again_not_dropped(client, nurse, patient):
    client.force_login(nurse)
    first = refused_with(client, patient, photo_frontal=png("front.png"))
    for path in held_files():  # expired and purged, say
        default_storage.delete(path)
    today = {"visit_date": date.today().isoformat(), "hair_count": "120", "pull_test": "not_done"}
    response = client.post(url(patient), {**today, **tickets(first)})
    assert response.status_code == 400 and not Visit.objects.exists()
    assert "attach it again" in response.context["form"].errors["photo_frontal"][0]
    # The refused page no longer carries the ticket: saving again records the visit without it.
    assert not response.context["held_photos"]
    saved = client.post(url(patient), today)
    assert saved.status_code == 302 and not Visit.objects.get().photos.exists()


def test_a_held_photo_is_not_decoded_again(client, nurse, patient, monkeypatch):
    """Checked once when chosen: the next try takes the held image as it was checked (a
    5 MB WEBP held as a 70 MB PNG was refused as over 20 MB, and each try decoded twice)."""
    decoded = []
    real = uploads.clean_image
    monkeypatch.setattr(uploads, "clean_image", lambda f, **kw: decoded.append(1) or real(f, **kw))
    client.force_login(nurse)
    first = refused_with(client, patient, trichoscopy=dermatoscope_jpeg())
    assert len(decoded) == 1
    saved = client.post(
        url(patient),
        {"visit_date": date.today().isoformat(), "pull_test": "not_done", **tickets(first)},
    )
    assert saved.status_code == 302 and len(decoded) == 1
    assert Visit.objects.get().photos.get().kind == Photo.Kind.TRICHOSCOPY


def test_a_held_photo_the_visit_refuses_is_let_go_and_named(client, nurse, patient):
    """The same image chosen for two views: the second is refused at its field, so it is not
    promised as kept (every later try would fail on it)."""
    client.force_login(nurse)
    same = png("twice.png").read()
    response = client.post(
        url(patient),
        {"visit_date": date.today().isoformat(), "pull_test": "not_done",
         "photo_frontal": SimpleUploadedFile("a.png", same, "image/png"),
         "photo_vertex": SimpleUploadedFile("b.png", same, "image/png")},
    )  # fmt: skip
    assert response.status_code == 400
    errors = response.context["form"].errors
    refused = [f for f in ("photo_frontal", "photo_vertex") if f in errors]
    assert len(refused) == 1
    kept = [held.field for held, _ in response.context["held_photos"]]
    assert refused[0] not in kept and len(kept) == 1
    assert len(held_files()) == 1


def test_a_ticket_expires_after_a_day(client, nurse, patient, monkeypatch):
    client.force_login(nurse)
    first = refused_with(client, patient, photo_frontal=png())
    ticket = first.context["held_photos"][0][0].ticket
    later = time.time() + held_photos.HOLD_HOURS * 3600 + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert held_photos.redeem(ticket, patient.clinic, nurse, patient) is None


def test_expired_held_photos_are_purged_and_recent_ones_kept(client, nurse, patient):
    client.force_login(nurse)
    refused_with(client, patient, photo_frontal=png())
    assert held_photos.purge_expired() == 0 and len(held_files()) == 1
    a_day_on = time.time() + (held_photos.HOLD_HOURS + 1) * 3600
    assert held_photos.purge_expired(now=a_day_on) == 1
    assert held_files() == []


def test_the_purge_command_reports_what_it_deleted(client, nurse, patient, monkeypatch):
    client.force_login(nurse)
    refused_with(client, patient, photo_frontal=png())
    out = io.StringIO()
    call_command("purge_held_photos", stdout=out)
    assert out.getvalue().startswith("Deleted 0 held photo(s)")
    later = time.time() + (held_photos.HOLD_HOURS + 1) * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    out = io.StringIO()
    call_command("purge_held_photos", stdout=out)
    assert out.getvalue().startswith("Deleted 1 held photo(s)")
    assert held_files() == []


def test_a_photo_stays_held_through_a_second_refusal(client, nurse, patient):
    client.force_login(nurse)
    first = refused_with(client, patient, photo_frontal=png("front.png"))
    second = refused_with(client, patient, **tickets(first))
    assert [held.name for held, _ in second.context["held_photos"]] == ["front.png"]
    assert len(held_files()) == 1
