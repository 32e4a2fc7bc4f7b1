"""Upload checks: real images only, size and dimension limits, EXIF orientation, no GPS."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from anagen.monitoring import uploads

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg_with_exif(width=300, height=200, orientation=6, gps=True) -> bytes:
    """A JPEG whose left half is red and right half blue, with orientation and GPS EXIF."""
    img = Image.new("RGB", (width, height), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "CameraMaker"  # Make
    if gps:
        exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)})
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif, quality=95)
    return out.getvalue()


def png(width=200, height=150) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 160, 140)).save(out, format="PNG")
    return out.getvalue()


def test_the_fixture_really_carries_gps_and_orientation():
    img = Image.open(io.BytesIO(jpeg_with_exif()))
    exif = img.getexif()
    assert exif[ORIENTATION] == 6 and exif.get_ifd(GPS_IFD)


def test_gps_and_all_exif_are_gone_and_orientation_is_applied():
    clean = uploads.clean_image(io.BytesIO(jpeg_with_exif(300, 200, orientation=6)))
    img = Image.open(io.BytesIO(clean.content))
    assert img.format == "JPEG" and clean.extension == "jpg"
    exif = img.getexif()
    assert not exif.get_ifd(GPS_IFD)
    assert ORIENTATION not in exif and len(exif) == 0
    assert b"Exif" not in clean.content[:200]
    # Orientation 6 = rotate 90° clockwise to view: 300×200 becomes 200×300 and the red
    # (left) half ends up on top.
    assert (clean.width_px, clean.height_px) == img.size == (200, 300)
    top, bottom = img.getpixel((100, 20)), img.getpixel((100, 280))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_png_is_stored_as_png_with_its_dimensions_and_hash():
    clean = uploads.clean_image(io.BytesIO(png(200, 150)))
    assert clean.content_type == "image/png" and (clean.width_px, clean.height_px) == (200, 150)
    import hashlib

    assert clean.sha256 == hashlib.sha256(clean.content).hexdigest()


def test_a_trichoscopy_image_needs_the_128_px_the_analysis_needs():
    with pytest.raises(uploads.UploadError, match="smallest accepted side is 128"):
        uploads.clean_image(io.BytesIO(png(120, 400)), min_side_px=uploads.TRICHOSCOPY_MIN_SIDE_PX)
    assert uploads.clean_image(io.BytesIO(png(120, 400))).width_px == 120  # a global photo


def test_a_16_bit_grey_png_is_scaled_to_8_bits_not_clipped_to_white():
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (160, 1))
    raw = io.BytesIO()
    Image.fromarray(ramp).save(raw, format="PNG")  # Pillow reads it back as mode I;16 / I
    clean = uploads.clean_image(io.BytesIO(raw.getvalue()))
    stored = np.asarray(Image.open(io.BytesIO(clean.content)).convert("L"), dtype=float)
    assert stored[:, 0].max() == 0 and stored[:, -1].min() == 255
    assert abs(stored[0, 128] - 128) <= 1  # mid-grey stays mid-grey (was 255)


def test_32_bit_images_are_stored_as_the_analysis_reads_the_file():
    """A float TIFF (0..1) was stored black and a 32-bit integer one near-white, while the
    CLI read the same files as grey or refused them (review)."""
    from anagen.imaging.engine.io import load_image

    ramp = np.tile(np.linspace(0.0, 1.0, 256, dtype=np.float32), (160, 1))
    raw = io.BytesIO()
    Image.fromarray(ramp, "F").save(raw, format="TIFF")
    clean = uploads.clean_image(io.BytesIO(raw.getvalue()))
    stored = np.asarray(Image.open(io.BytesIO(clean.content)).convert("RGB"))
    np.testing.assert_array_equal(stored, load_image(raw.getvalue()))
    assert stored[0, 0, 0] == 0 and stored[0, -1, 0] == 255
    wide = io.BytesIO()
    Image.fromarray(np.full((160, 256), 1 << 20, dtype=np.int32), "I").save(wide, format="TIFF")
    with pytest.raises(uploads.UploadError, match="32-bit integer images are not supported"):
        uploads.clean_image(io.BytesIO(wide.getvalue()))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"%PDF-1.4 this is not an image", "not an image"),
        (b"", "empty"),
        (png(50, 400), "smallest accepted side"),
    ],
)
def test_non_images_empty_and_tiny_images_are_refused(data, message):
    with pytest.raises(uploads.UploadError, match=message):
        uploads.clean_image(io.BytesIO(data))


def test_truncated_jpeg_is_refused_when_decoded():
    data = jpeg_with_exif(800, 600)
    with pytest.raises(uploads.UploadError, match="damaged or incomplete"):
        uploads.clean_image(io.BytesIO(data[: len(data) // 2]))


def test_a_damaged_image_is_refused_in_words_without_an_exception_name(
    client, clinic_a, make_user, make_patient
):
    """It read "The image is damaged or incomplete (OSError)."."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from anagen.accounts.roles import Role
    from anagen.monitoring import services

    data = jpeg_with_exif(800, 600)
    with pytest.raises(uploads.UploadError) as refused:
        uploads.clean_image(io.BytesIO(data[: len(data) // 2]))
    assert str(refused.value) == (
        "The image is damaged or incomplete (cut short while it was copied or sent?): copy or "
        "export it again from the camera and upload that file."
    )
    nurse = make_user(Role.NURSE, clinic_a)
    patient = make_patient(clinic_a, nurse)
    visit = services.record_visit(patient, nurse, {"visit_date": "2025-01-02"})
    client.force_login(nurse)
    cut = SimpleUploadedFile("cut.jpg", data[: len(data) // 2], content_type="image/jpeg")
    r = client.post(
        f"/monitoring/{patient.pk}/visits/{visit.pk}/photos/",
        {"kind": "trichoscopy", "view": "", "target_area": "crown", "image": cut},
    )
    page = r.content.decode()
    assert r.status_code == 400 and "The image is damaged or incomplete" in page
    assert "OSError" not in page and "Error)" not in page


def test_truncated_jpeg_is_refused_even_after_weasyprint_relaxed_pillow():
    import weasyprint  # noqa: F401  (its import sets ImageFile.LOAD_TRUNCATED_IMAGES = True)

    data = jpeg_with_exif(800, 600)
    with pytest.raises(uploads.UploadError, match="damaged or incomplete"):
        uploads.clean_image(io.BytesIO(data[: len(data) // 2]))


def test_oversized_dimensions_are_refused_before_decoding():
    # A PNG declaring 9000×120 px: refused from the header, the pixels are never decoded.
    out = io.BytesIO()
    Image.new("L", (9000, 120)).save(out, format="PNG")
    with pytest.raises(uploads.UploadError, match="largest accepted side is 8000"):
        uploads.clean_image(io.BytesIO(out.getvalue()))


def png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width``×``height`` px (its CRC rewritten)."""
    import struct
    import zlib

    data = bytearray(png(120, 120))
    ihdr = 8  # after the signature: length (4), b"IHDR" (4), width, height, ...
    struct.pack_into(">II", data, ihdr + 8, width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 8 + 13]))
    struct.pack_into(">I", data, ihdr + 8 + 13, crc)
    return bytes(data)


def test_a_header_declaring_a_decompression_bomb_is_refused_in_words():
    with pytest.raises(uploads.UploadError) as exc:
        uploads.clean_image(io.BytesIO(png_declaring(100_000, 100_000)))
    assert str(exc.value) == (
        "The image declares too many pixels to be read safely; the largest accepted side "
        "is 8000 px."
    )


def test_a_trichoscopy_image_too_large_to_analyse_is_refused_at_upload():
    data = png_declaring(6000, 5000)  # 30 MP, within 8000 px a side
    with pytest.raises(uploads.UploadError) as exc:
        uploads.clean_image(io.BytesIO(data), max_megapixels=uploads.TRICHOSCOPY_MAX_MEGAPIXELS)
    assert "6000×5000 px (30 MP); a trichoscopy image can be analysed up to 25 MP" in str(exc.value)
    # Any other photo of that size is only held to the side limit (then decoded in full:
    # this one's pixels are missing, so it is refused as incomplete, not for its size).
    with pytest.raises(uploads.UploadError, match="damaged or incomplete"):
        uploads.clean_image(io.BytesIO(data))


def test_files_over_the_byte_limit_are_refused_even_if_the_size_is_understated():
    data = png()
    with pytest.raises(uploads.UploadError, match="larger than"):
        uploads.clean_image(io.BytesIO(data), size=10, max_bytes=len(data) - 1)
    with pytest.raises(uploads.UploadError, match="larger than"):
        uploads.clean_image(io.BytesIO(data), size=len(data) * 100, max_bytes=len(data) + 1)


def test_gif_is_not_an_accepted_clinical_format():
    out = io.BytesIO()
    Image.new("P", (200, 200)).save(out, format="GIF")
    with pytest.raises(uploads.UploadError, match="GIF files are not accepted"):
        uploads.clean_image(io.BytesIO(out.getvalue()))


def test_an_upright_jpeg_is_stored_without_metadata_but_with_its_pixels_unchanged():
    original = jpeg_with_exif(640, 480, orientation=1, gps=True)
    clean = uploads.clean_image(io.BytesIO(original))
    stored = Image.open(io.BytesIO(clean.content))
    assert clean.extension == "jpg" and stored.size == (640, 480)
    assert len(stored.getexif()) == 0 and b"Exif" not in clean.content
    assert b"CameraMaker" not in clean.content
    # Not re-encoded: every decoded pixel is the camera's (a re-encode changes them).
    before = np.asarray(Image.open(io.BytesIO(original)).convert("RGB"))
    assert np.array_equal(np.asarray(stored.convert("RGB")), before)
    assert len(clean.content) < len(original)


def test_a_jpeg_comment_and_xmp_are_removed_too():
    img = Image.new("RGB", (200, 150), (90, 60, 40))
    out = io.BytesIO()
    img.save(out, format="JPEG", comment=b"patient: Jane Roe", quality=90)
    data = out.getvalue()
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>Jane Roe</x:xmpmeta>"
    data = data[:2] + b"\xff\xe1" + (len(xmp) + 2).to_bytes(2, "big") + xmp + data[2:]
    clean = uploads.clean_image(io.BytesIO(data))
    assert b"Jane Roe" not in clean.content
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(clean.content))), np.asarray(Image.open(io.BytesIO(data)))
    )


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_a_progressive_jpeg_loses_the_comments_between_its_scans_and_what_follows_its_end():
    rng = np.random.default_rng(4)
    img = Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    out = io.BytesIO()
    img.save(out, format="JPEG", progressive=True, quality=85)
    data = out.getvalue()
    second_scan = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)
    comment = b"patient Jane Roe"
    data = (
        data[:second_scan]
        + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        + data[second_scan:]
        + b"ftypmp42 video with its own GPS"  # a phone's motion photo after the image's end
    )  # fmt: skip
    clean = uploads.clean_image(io.BytesIO(data))
    assert b"Jane Roe" not in clean.content and b"video" not in clean.content
    assert clean.content.endswith(b"\xff\xd9")
    assert np.array_equal(_pixels(clean.content), _pixels(data))


def test_a_jfxx_thumbnail_is_dropped_and_the_adobe_colour_segment_kept():
    data = jpeg_with_exif(200, 150, orientation=1, gps=False)
    thumb = b"JFXX\x00\x10" + b"\x00" * 20
    data = data[:2] + b"\xff\xe0" + (len(thumb) + 2).to_bytes(2, "big") + thumb + data[2:]
    stripped = uploads._jpeg_without_metadata(data)
    assert stripped is not None and b"JFXX" not in stripped
    plain = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(plain, format="JPEG")
    adobe = b"Adobe\x00\x64\x00\x00\x00\x00\x01"
    raw = plain.getvalue()
    raw = raw[:2] + b"\xff\xee" + (len(adobe) + 2).to_bytes(2, "big") + adobe + raw[2:]
    assert adobe in uploads._jpeg_without_metadata(raw)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xd9",  # no image data
        b"\xff\xd8\x00\x00",  # no marker
        b"\xff\xd8\xff\xe1\x00\x01",  # a length shorter than itself
        b"\xff\xd8\xff\xe1\xff\xff",  # a length past the end
        b"\xff\xd8\xff\xda\x00\x02\x00\xff\xd9",  # a scan before any frame
        b"\xff\xd8\xff\xc9\x00\x02\xff\xd9",  # arithmetic coding: re-encoded instead
    ],
)
def test_a_jpeg_laid_out_unexpectedly_is_not_stripped_by_hand(data):
    assert uploads._jpeg_without_metadata(data) is None


def test_transparency_is_stored_composited_onto_white_as_the_analysis_reads_it():
    """What is shown is what is analysed: a fully transparent PNG was shown blank while the
    analysis read the colour channels under the alpha."""
    from anagen.imaging.engine import load_image

    rng = np.random.default_rng(3)
    colours = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    alpha = np.zeros((300, 400), np.uint8)
    alpha[:, 200:] = 255  # the right half opaque, the left half hidden
    alpha[:100, :100] = 90
    buf = io.BytesIO()
    Image.fromarray(np.dstack([colours, alpha]), "RGBA").save(buf, format="PNG")
    clean = uploads.clean_image(io.BytesIO(buf.getvalue()))
    with Image.open(io.BytesIO(clean.content)) as stored:
        assert stored.mode == "RGB"
        shown = np.asarray(stored)
    assert (shown[150:, :200] == 255).all()  # hidden pixels white, not their colours
    np.testing.assert_array_equal(shown[:, 200:], colours[:, 200:])
    np.testing.assert_array_equal(shown, load_image(buf.getvalue()))  # the engine agrees


def test_a_phone_jpeg_with_a_second_picture_is_stored_as_the_jpeg_photo_it_is():
    """Multi-Picture Format (Pillow's "MPO"): a camera or phone JPEG that carries a second
    picture (a depth map, a preview) after the photo. It is a JPEG: stored as one, the first
    picture only, without the metadata; it was refused as "MPO files are not accepted"."""
    photo = Image.new("RGB", (320, 240), (150, 90, 60))
    photo.paste((20, 10, 5), (100, 60, 140, 200))
    out = io.BytesIO()
    photo.save(
        out, format="MPO", save_all=True, append_images=[Image.new("RGB", (160, 120), (0, 0, 0))]
    )
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).format == "MPO"
    clean = uploads.clean_image(io.BytesIO(data))
    stored = Image.open(io.BytesIO(clean.content))
    assert clean.extension == "jpg" and stored.format == "JPEG"
    assert (clean.width_px, clean.height_px) == stored.size == (320, 240)
    assert getattr(stored, "n_frames", 1) == 1
    assert np.array_equal(_pixels(clean.content), _pixels(data))
