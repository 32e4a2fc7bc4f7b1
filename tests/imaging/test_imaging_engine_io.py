"""load_image / coerce_image: documented conversions and clear errors, never a crash."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from anagen.imaging.engine import ImageInputError, coerce_image, load_image
from anagen.imaging.engine.io import MAX_SIDE, MIN_SIDE


def _png(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG") if mode else Image.fromarray(arr).save(
        buf, format="PNG"
    )
    return buf.getvalue()


@pytest.fixture
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(160, 200, 3), dtype=np.uint8)


def test_rgb_png_round_trips_exactly(rgb, tmp_path):
    f = tmp_path / "a.png"
    f.write_bytes(_png(rgb))
    out = load_image(f)
    assert out.dtype == np.uint8 and out.shape == (160, 200, 3)
    np.testing.assert_array_equal(out, rgb)
    np.testing.assert_array_equal(load_image(f.read_bytes()), rgb)


def test_grayscale_is_replicated_to_three_equal_channels(rgb):
    g = rgb[..., 0]
    out = load_image(_png(g))
    assert out.shape == (160, 200, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], g)


def test_transparency_is_composited_onto_white_as_a_viewer_shows_it(rgb):
    """A fully transparent PNG showed blank while the analysis read its hidden colours."""
    opaque = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(load_image(_png(opaque)), rgb)
    hidden = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    assert (load_image(_png(hidden)) == 255).all()
    half = np.dstack([np.zeros_like(rgb), np.full(rgb.shape[:2], 128, np.uint8)])
    assert np.abs(load_image(_png(half)).astype(int) - 127).max() <= 1  # black at 50 % on white
    la = np.dstack([rgb[..., 0], np.zeros(rgb.shape[:2], np.uint8)])
    assert (load_image(_png(la, "LA")) == 255).all()


def test_arrays_with_transparency_are_composited_onto_white_like_files(rgb):
    """analyze() given an RGBA array reads what a viewer shows, as it does for an RGBA file."""
    hidden = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    assert (coerce_image(hidden) == 255).all()
    half = np.dstack([np.zeros_like(rgb), np.full(rgb.shape[:2], 128, np.uint8)])
    np.testing.assert_array_equal(coerce_image(half), load_image(_png(half)))
    opaque16 = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]).astype(np.uint16) * 257
    np.testing.assert_array_equal(coerce_image(opaque16), rgb)
    grey_alpha = np.dstack([rgb[..., 0], np.zeros(rgb.shape[:2], np.uint8)])
    assert (coerce_image(grey_alpha) == 255).all()


def test_16_bit_grayscale_is_scaled_by_255_over_65535():
    a = np.zeros((140, 150), np.uint16)
    a[:, :50] = 65535
    a[:, 50:100] = 32896  # 128.0 * 257
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    out = load_image(buf.getvalue())
    assert out.dtype == np.uint8
    assert out[0, 0, 0] == 255 and out[0, 60, 1] == 128 and out[0, 120, 2] == 0


def test_exif_orientation_is_applied(rgb):
    im = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    out = load_image(buf.getvalue())
    assert out.shape == (200, 160, 3)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"this is not an image at all", "not a recognised image"),
        (b"", "not a recognised image"),
    ],
)
def test_non_images_raise_clear_error(payload, message):
    with pytest.raises(ImageInputError, match=message):
        load_image(payload)


def test_truncated_files_raise_clear_error(rgb):
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt)
        data = buf.getvalue()
        with pytest.raises(ImageInputError, match="truncated or corrupt"):
            load_image(data[: len(data) // 2])


def test_truncated_files_are_refused_even_after_weasyprint_relaxed_pillow(rgb):
    import weasyprint  # noqa: F401  (the PDF reports; its import sets LOAD_TRUNCATED_IMAGES)
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = True  # as WeasyPrint leaves it, whatever ran before
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    with pytest.raises(ImageInputError, match="truncated or corrupt"):
        load_image(buf.getvalue()[: len(buf.getvalue()) // 2])


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(ImageInputError, match="no such file"):
        load_image(tmp_path / "nope.png")


def test_dimension_limits_are_checked_before_decoding():
    small = np.zeros((MIN_SIDE - 1, 300, 3), np.uint8)
    with pytest.raises(ImageInputError, match=f"at least {MIN_SIDE}"):
        load_image(_png(small))
    wide = np.zeros((MIN_SIDE, MAX_SIDE + 1), np.uint8)
    with pytest.raises(ImageInputError, match=f"{MAX_SIDE + 1} px on its longer side, over"):
        load_image(_png(wide))


def test_the_refusal_of_a_large_image_names_the_limit_it_broke():
    """12000 x 12000 was told 'the limit is 12000 px per side and 60 megapixels' (review):
    its sides were within the limit, its pixels were not."""
    from anagen.imaging.engine.io import check_dimensions

    with pytest.raises(ImageInputError, match=r"144\.0 megapixels, over the limit of 60"):
        check_dimensions(MAX_SIDE, MAX_SIDE)


@pytest.mark.parametrize(
    ("arr", "expect"),
    [
        (np.full((130, 140), 0.5, np.float32), 128),
        (np.full((130, 140, 4), 255, np.uint8), 255),
        (np.full((130, 140, 1), 9, np.uint8), 9),
        (np.full((130, 140, 3), 65535, np.uint16), 255),
    ],
)
def test_coerce_arrays_follow_the_documented_rules(arr, expect):
    out = coerce_image(arr)
    assert out.shape == (130, 140, 3) and out.dtype == np.uint8
    assert int(out[5, 5, 0]) == expect


@pytest.mark.parametrize(
    "arr",
    [
        np.zeros((130, 140), bool),
        np.full((130, 140), np.nan, np.float32),
        np.zeros((130, 140, 5), np.uint8),
        np.zeros((10, 10, 3), np.uint8),
        np.zeros((2, 130, 140, 3), np.uint8),
    ],
)
def test_coerce_rejects_unusable_arrays(arr):
    with pytest.raises(ImageInputError):
        coerce_image(arr)


def test_a_folder_is_an_input_error_pointing_to_batch(tmp_path):
    with pytest.raises(ImageInputError, match="a folder, not an image .*image batch"):
        load_image(tmp_path)


def test_a_large_file_that_is_no_image_is_refused_without_being_read_into_memory(tmp_path):
    """A video or disk image named by mistake was read whole (gigabytes) before its header
    was looked at; only what Pillow needs to recognise (or refuse) a file is read."""
    import tracemalloc

    f = tmp_path / "holiday.mp4"
    with f.open("wb") as fh:
        fh.write(b"\x00\x00\x00\x18ftypmp42")
        fh.truncate(300 * 1024 * 1024)  # sparse: no disk space used
    tracemalloc.start()
    try:
        with pytest.raises(ImageInputError, match="not a recognised image file"):
            load_image(f)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024
