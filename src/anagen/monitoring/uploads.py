"""Image upload checks: decode fully, limit size, apply EXIF orientation, drop EXIF.

A photo is only stored after Pillow has decoded every pixel (so a renamed PDF, a
truncated JPEG or a decompression bomb is refused), and it is stored re-encoded: EXIF
orientation is applied to the pixels and no metadata is written back, which removes GPS
positions, camera serial numbers and capture software from clinical photos.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import IO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

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


def clean_image(
    file: IO[bytes],
    *,
    size: int | None = None,
    max_bytes: int = MAX_BYTES,
    min_side_px: int = MIN_SIDE_PX,
    max_side_px: int = MAX_SIDE_PX,
    max_megapixels: float | None = None,
) -> CleanImage:
    """Validate an uploaded image and return it re-encoded without metadata.

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
            fmt = img.format
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
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UploadError(
            f"The image is damaged or incomplete ({exc.__class__.__name__})."
        ) from None
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
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit grey: scaled to 8 bits (255/65535, as the analysis engine reads it).
            # Pillow's convert() clips every value over 255 to white instead.
            grey = np.asarray(img, dtype=np.float64) * (255.0 / 65535.0)
            img = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8), "L")
        if img.mode not in ("RGB", "RGBA", "L", "LA"):
            img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
        img.save(out, format="PNG", optimize=False)
        ext, ctype = "png", "image/png"
    content = out.getvalue()
    return CleanImage(content, ext, ctype, width, height, hashlib.sha256(content).hexdigest())


EXIF_ORIENTATION = 0x0112
# JPEG markers: APP0 (JFIF) and APP14 (Adobe, says how the colours were transformed) are
# needed to decode the pixels as the camera wrote them; APP1-APP13, APP15 (EXIF with GPS and
# the camera's serial, XMP, ICC, maker notes) and COM are metadata.
_APP0, _APP14, _APP15, _COM, _SOS, _EOI = 0xE0, 0xEE, 0xEF, 0xFE, 0xDA, 0xD9


def _jpeg_without_metadata(data: bytes) -> bytes | None:
    """The JPEG with its metadata segments removed and everything else byte for byte (the
    scan data is not touched); None where the file is not laid out as expected."""
    if data[:2] != b"\xff\xd8":
        return None
    out, i, n = bytearray(b"\xff\xd8"), 2, len(data)
    while i < n:
        if data[i] != 0xFF:
            return None
        while i < n and data[i] == 0xFF:  # fill bytes before a marker
            i += 1
        if i + 2 >= n:
            return None
        marker = data[i]
        i += 1
        if marker == _EOI:
            return None  # no image data
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            out += bytes((0xFF, marker))
            continue
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2 or i + length > n:
            return None
        if marker == _SOS:  # the image data and all after it, as written
            return bytes(out + bytes((0xFF, marker)) + data[i:])
        metadata = (_APP0 < marker <= _APP15 and marker != _APP14) or marker == _COM
        if not metadata:
            out += bytes((0xFF, marker)) + data[i : i + length]
        i += length
    return None


def _check_dimensions(width: int, height: int, min_side: int, max_side: int) -> None:
    if width > max_side or height > max_side:
        raise UploadError(
            f"The image is {width}×{height} px; the largest accepted side is {max_side} px."
        )
    if width < min_side or height < min_side:
        raise UploadError(
            f"The image is {width}×{height} px; the smallest accepted side is {min_side} px."
        )
