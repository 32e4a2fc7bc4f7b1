"""Image decoding and conversion to the engine's working format (H, W, 3) uint8 sRGB.

Conversion rules (documented in docs/imaging.md):

* EXIF orientation is applied, so the array is upright as the clinician saw it.
* Grayscale (L, 1, I, I;16, F) is replicated to three channels.
* 16-bit data are scaled by 255/65535 (full range kept, no stretching), so a 16-bit and an
  8-bit export of the same capture give the same numbers within rounding.
* 32-bit float data are assumed in 0..1 (values outside are clipped).
* Transparency (RGBA, LA, PA files; (H, W, 4) and (H, W, 2) arrays) is composited on white, as
  a viewer shows the image on a white page: what is analysed is what is seen.
* Palette, CMYK and YCbCr images are converted to RGB by Pillow.
* Multi-frame files (TIFF stacks, GIF) use the first frame.
* Sides must be between MIN_SIDE and MAX_SIDE pixels and the image at most MAX_PIXELS; the size
  is checked from the header, before decoding, so a decompression bomb is refused cheaply.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import ImageInputError

MIN_SIDE = 128
MAX_SIDE = 12_000
MAX_PIXELS = 60_000_000


def check_dimensions(width: int, height: int) -> None:
    """Raise ImageInputError when the image is too small or too large to analyse."""
    if min(width, height) < MIN_SIDE:
        raise ImageInputError(
            f"image is {width}x{height} px; at least {MIN_SIDE} px per side is needed"
        )
    if max(width, height) > MAX_SIDE:
        raise ImageInputError(
            f"image is {width}x{height} px: {max(width, height)} px on its longer side, over "
            f"the limit of {MAX_SIDE} px per side (and {MAX_PIXELS // 1_000_000} megapixels)"
        )
    if width * height > MAX_PIXELS:
        raise ImageInputError(
            f"image is {width}x{height} px: {width * height / 1e6:.1f} megapixels, over the "
            f"limit of {MAX_PIXELS // 1_000_000} megapixels (and {MAX_SIDE} px per side)"
        )


def load_image(source: str | os.PathLike[str] | bytes | bytearray) -> np.ndarray:
    """Decode an image file (path or bytes) into an upright (H, W, 3) uint8 RGB array."""
    try:
        if isinstance(source, bytes | bytearray):
            fh = io.BytesIO(bytes(source))
            name = "<bytes>"
        else:
            path = Path(source)
            if path.is_dir():
                raise ImageInputError(
                    f"{path}: a folder, not an image (anagen image batch analyses a folder)"
                )
            if not path.is_file():
                raise ImageInputError(f"{path}: no such file")
            # Read by Pillow as it decodes, not whole first: a video or disk image named by
            # mistake was read into memory (gigabytes) before its header was looked at.
            with path.open("rb") as f:
                return _decode(f, str(path))
    except OSError as exc:
        raise ImageInputError(f"cannot read {source!r}: {exc.strerror or exc}") from exc
    return _decode(fh, name)


def _decode(fh: IO[bytes], name: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Pillow warns before its own bomb error; we check the size ourselves.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im: Image.Image = Image.open(fh)
            check_dimensions(*im.size)
            # WeasyPrint (the app's PDF reports) sets Pillow's process-wide
            # LOAD_TRUNCATED_IMAGES on import, which would half-decode a truncated file into
            # grey rows that the analysis then counts: stay strict.
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            im.load()
    except ImageInputError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageInputError(f"{name}: not a recognised image file") from exc
    except Image.DecompressionBombError as exc:
        raise ImageInputError(f"{name}: image too large ({exc})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageInputError(f"{name}: truncated or corrupt image ({exc})") from exc
    with contextlib.suppress(Exception):  # a broken EXIF block must not stop the analysis
        im = ImageOps.exif_transpose(im)
    return pil_to_rgb8(im)


def pil_to_rgb8(im: Image.Image) -> np.ndarray:
    """A decoded Pillow image as the engine reads it: (H, W, 3) uint8 by this module's rules
    (16-bit scaled, 32-bit float taken as 0..1, 32-bit integer refused, transparency on
    white). The web app stores uploads through it, so the stored photo is what is analysed."""
    return coerce_image(_pil_to_array(im))


def _pil_to_array(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("RGB", "L"):
        return np.asarray(im)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im).astype(np.uint16)
    if mode == "I":
        arr = np.asarray(im)
        # Pillow opens 16-bit PNGs as "I"; treat them as 16-bit when they fit.
        if arr.min() >= 0 and arr.max() <= 65535:
            return arr.astype(np.uint16)
        raise ImageInputError("32-bit integer images are not supported; export 8 or 16 bit")
    if mode == "F":
        return np.asarray(im).astype(np.float32)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        return composite_on_white(im)
    return np.asarray(im.convert("RGB"))


def composite_on_white(im: Image.Image) -> np.ndarray:
    """An image with transparency as a viewer shows it on a white page: each pixel blended
    with white by its alpha (transparent pixels white, whatever colour they store). The web
    app stores uploads so, and the analysis reads them so: what is analysed is what is seen
    (a fully transparent PNG is a white, featureless field, not its hidden colours)."""
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))


def coerce_image(image: np.ndarray) -> np.ndarray:
    """Convert an array to (H, W, 3) uint8 by the module's documented rules."""
    arr = np.asarray(image)
    if arr.dtype == bool or arr.size == 0:
        raise ImageInputError("image array is empty or boolean")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise ImageInputError(f"expected a 2-D grayscale or RGB image, got shape {arr.shape}")
    check_dimensions(arr.shape[1], arr.shape[0])
    out = _to_uint8(arr)  # colour and alpha by one rule
    if out.ndim == 3 and out.shape[2] in (2, 4):
        # As composite_on_white does for files: each pixel blended with white by its alpha.
        alpha = out[..., -1:].astype(np.float32) / 255.0
        colour = out[..., :-1].astype(np.float32)
        out = np.round(colour * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
        if out.shape[2] == 1:
            out = out[..., 0]
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return np.ascontiguousarray(out)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16 or (np.issubdtype(arr.dtype, np.integer) and arr.max() > 255):
        if arr.min() < 0 or arr.max() > 65535:
            raise ImageInputError("integer image values outside 0..65535")
        return np.round(arr.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.min() < 0:
            raise ImageInputError("negative pixel values")
        return arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ImageInputError("image contains NaN or infinite values")
        return np.round(np.clip(arr, 0.0, 1.0) * 255).astype(np.uint8)
    raise ImageInputError(f"unsupported pixel type {arr.dtype}")
