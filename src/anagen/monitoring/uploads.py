"""Image upload checks: decode fully, limit size, apply EXIF orientation, drop EXIF.

A photo is only stored after Pillow has decoded every pixel (so a renamed PDF, a
truncated JPEG or a decompression bomb is refused), and it is stored without metadata, which
removes GPS positions, camera serial numbers and capture software from clinical photos: an
upright Huffman-coded JPEG keeps its compressed image data byte for byte with only the segments
needed to decode it (the stored photo decodes, and is analysed, exactly as the camera's file);
any other image is re-encoded, with its EXIF orientation applied to the pixels.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import IO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from anagen.imaging.engine.errors import ImageInputError
from anagen.imaging.engine.io import pil_to_rgb8

MAX_BYTES = 20 * 1024 * 1024
MIN_SIDE_PX = 100
# The image analysis needs 128 px a side (imaging.engine.io.MIN_SIDE): a smaller trichoscopy
# image was accepted and then failed to analyse.
TRICHOSCOPY_MIN_SIDE_PX = 128
MAX_SIDE_PX = 8000
# A trichoscopy image larger than this cannot be analysed (about 220 MB of worker memory per
# megapixel, benchmarks/results_imaging.md): refused at upload, not after the visit is saved.
TRICHOSCOPY_MAX_MEGAPIXELS = 25.0
# Formats clinical cameras and dermatoscopes produce. Output: JPEG stays JPEG (re-encoding
# as PNG would multiply the size); everything else becomes lossless PNG.
ACCEPTED_FORMATS = {"JPEG", "PNG", "TIFF", "WEBP", "BMP"}
JPEG_QUALITY = 95


class UploadError(ValueError):
    """The upload is not an acceptable image; the message is shown as a field error."""


@dataclass(frozen=True)
class CleanImage:
    content: bytes
    extension: str  # "jpg" or "png"
    content_type: str
    width_px: int
    height_px: int
    sha256: str


DAMAGED_IMAGE = (
    "The image is damaged or incomplete (cut short while it was copied or sent?): copy or "
    "export it again from the camera and upload that file."
)


def _on_white(img: Image.Image) -> Image.Image:
    """Transparency composited onto white: the rule of the analysis engine's
    ``engine.io.composite_on_white`` (a test keeps the two equal; Pillow only here, so that
    uploads do not import the imaging stack)."""
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def clean_image(
    file: IO[bytes],
    *,
    size: int | None = None,
    max_bytes: int = MAX_BYTES,
    min_side_px: int = MIN_SIDE_PX,
    max_side_px: int = MAX_SIDE_PX,
    max_megapixels: float | None = None,
) -> CleanImage:
    """Validate an uploaded image and return it without metadata (see the module's note).

    ``size`` is the upload's size in bytes when known (Django's UploadedFile.size); the
    bytes read are counted anyway, so a wrong size cannot slip past the limit.
    """
    if size is not None and size > max_bytes:
        raise UploadError(f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
    data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadError(f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
    if not data:
        raise UploadError("The file is empty.")
    try:
        with warnings.catch_warnings():
            # Pillow warns (not raises) for images a bit over its pixel limit: refuse them too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            # A phone's JPEG with a second picture after the first (Multi-Picture Format:
            # depth map, preview) is opened as "MPO": it is a JPEG, of which the first
            # picture is the photo (what follows the first image's end is not stored).
            fmt = "JPEG" if img.format == "MPO" else img.format
            if fmt not in ACCEPTED_FORMATS:
                raise UploadError(
                    f"{fmt or 'This'} files are not accepted; upload a JPEG or PNG photo."
                )
            # Check the declared size before decoding: a tiny file may declare 100,000² px.
            width, height = img.size
            _check_dimensions(width, height, min_side_px, max_side_px)
            if max_megapixels is not None and width * height > max_megapixels * 1e6:
                raise UploadError(
                    f"The image is {width}×{height} px ({width * height / 1e6:.0f} MP); a "
                    f"trichoscopy image can be analysed up to {max_megapixels:g} MP: crop it "
                    "to the target area or export it smaller."
                )
            # WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES on import (PDF
            # reports); uploads must stay strict, so re-assert it before decoding.
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            img.load()  # decodes every pixel: truncated or corrupt files fail here
            orientation = img.getexif().get(EXIF_ORIENTATION, 1)
            img = ImageOps.exif_transpose(img)
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow refuses it while opening, before its size can be read back here.
        raise UploadError(
            f"The image declares too many pixels to be read safely; the largest accepted "
            f"side is {max_side_px} px."
        ) from None
    except UnidentifiedImageError:
        raise UploadError("The file is not an image that can be read (JPEG or PNG).") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        # Pillow's exception (its class name, "image file is truncated") says nothing a user
        # can act on: the message says what to do.
        raise UploadError(DAMAGED_IMAGE) from None
    width, height = img.size  # after rotation
    out = io.BytesIO()
    lossless = fmt == "JPEG" and orientation == 1 and img.mode in ("RGB", "L")
    stripped = _jpeg_without_metadata(data) if lossless else None
    if stripped is not None:
        # The same compressed pixels, metadata segments left out: what is stored (and
        # analysed) decodes exactly as the camera's file did; a re-encode would not.
        return CleanImage(
            stripped, "jpg", "image/jpeg", width, height, hashlib.sha256(stripped).hexdigest()
        )
    if fmt == "JPEG":
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        # No exif=, no icc_profile=: nothing of the original metadata is written.
        img.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        ext, ctype = "jpg", "image/jpeg"
    else:
        if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
            # 16- and 32-bit grey: converted as the analysis engine reads such a file
            # (16-bit scaled by 255/65535, float taken as 0..1, 32-bit integer refused);
            # Pillow's convert() clips every value over 255 to white, and floats to black.
            try:
                rgb = pil_to_rgb8(img)
            except ImageInputError as exc:
                raise UploadError(f"{exc}.") from None
            img = Image.fromarray(np.ascontiguousarray(rgb[..., 0]), "L")
        if "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info):
            # Transparency composited onto white, as the analysis reads it: the stored photo
            # shows what is analysed (a fully transparent PNG showed blank while the analysis
            # read its hidden colour channels).
            img = _on_white(img)
        elif img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        img.save(out, format="PNG", optimize=False)
        ext, ctype = "png", "image/png"
    content = out.getvalue()
    return CleanImage(content, ext, ctype, width, height, hashlib.sha256(content).hexdigest())


EXIF_ORIENTATION = 0x0112
# JPEG segments kept: the frame of a Huffman-coded JPEG (baseline, extended, progressive: what
# every browser decodes), its tables (DHT, DQT, DRI), the scans, and APP0 "JFIF" and APP14
# "Adobe" (they say how the colours were transformed). Everything else (EXIF with GPS and the
# camera's serial, XMP, ICC, maker notes, comments, thumbnails, and whatever follows the end of
# the image: a phone's embedded video) is left out. Any other layout is re-encoded instead.
_SOF_KEPT = frozenset({0xC0, 0xC1, 0xC2})
_TABLES = frozenset({0xC4, 0xDB, 0xDD})
_SOS, _EOI, _APP0, _APP14, _COM = 0xDA, 0xD9, 0xE0, 0xEE, 0xFE


def _decoding_hint(marker: int, body: bytes) -> bool:
    """APP0 "JFIF" or APP14 "Adobe": application segments a decoder reads for the colours."""
    return (marker == _APP0 and body.startswith(b"JFIF\x00")) or (
        marker == _APP14 and body.startswith(b"Adobe")
    )


def _jpeg_without_metadata(data: bytes) -> bytes | None:
    """The JPEG with only the segments needed to decode it, the compressed image data byte for
    byte (so it decodes to the same pixels); None where the file is laid out otherwise."""
    if data[:2] != b"\xff\xd8":
        return None
    out, i, n = bytearray(b"\xff\xd8"), 2, len(data)
    frame = scanned = False
    while True:
        if i >= n or data[i] != 0xFF:
            return None
        while i < n and data[i] == 0xFF:  # fill bytes before a marker
            i += 1
        if i >= n:
            return None
        marker = data[i]
        i += 1
        if marker == _EOI:  # the end: anything after it is dropped
            return bytes(out + b"\xff\xd9") if scanned else None
        if i + 2 > n:
            return None
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2 or i + length > n:
            return None
        body = data[i + 2 : i + length]
        segment = bytes((0xFF, marker)) + data[i : i + length]
        i += length
        if marker in _SOF_KEPT:
            frame = True
            out += segment
        elif marker in _TABLES or _decoding_hint(marker, body):
            out += segment
        elif _APP0 <= marker <= 0xEF or marker == _COM:
            continue  # metadata
        elif marker == _SOS and frame:
            # The scan's compressed data runs to the next marker that is neither a stuffed
            # zero (FF 00) nor a restart (FF D0-D7).
            j = i
            while True:
                j = data.find(b"\xff", j)
                if j < 0 or j + 1 >= n:
                    return None
                following = data[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    j += 2
                elif following == 0xFF:
                    j += 1  # a fill byte before the marker
                else:
                    break
            out += segment + data[i:j]
            i, scanned = j, True
        else:
            return None  # arithmetic or hierarchical coding, a scan before its frame, ...


def _check_dimensions(width: int, height: int, min_side: int, max_side: int) -> None:
    if width > max_side or height > max_side:
        raise UploadError(
            f"The image is {width}×{height} px; the largest accepted side is {max_side} px."
        )
    if width < min_side or height < min_side:
        raise UploadError(
            f"The image is {width}×{height} px; the smallest accepted side is {min_side} px."
        )
