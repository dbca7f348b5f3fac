"""Image intake: bytes from an upload to an upright RGB Pillow image, within limits.

The pixel limit is checked from the header, before any pixel is decoded, so a
decompression bomb (a tiny file that declares a huge canvas) costs nothing.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from inference.errors import CorruptMedia, MediaTooLarge, UnsupportedMedia

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 50_000_000


def decode_image(data: bytes, limits: ImageLimits | None = None) -> Image.Image:
    """Decode ``data``, apply its EXIF orientation and return it as RGB."""
    limits = limits or ImageLimits()
    if not data:
        raise CorruptMedia("the image file is empty")
    if len(data) > limits.max_bytes:
        raise MediaTooLarge(f"the image file is larger than {limits.max_bytes} bytes")
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; we decide ourselves.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise MediaTooLarge("the image has too many pixels") from exc
        except UnidentifiedImageError as exc:
            raise UnsupportedMedia("the file is not a supported image format") from exc
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
            # Recognised by its signature but cut or damaged in the header (a truncated
            # JPEG or WebP fails here, before ``load``).
            raise CorruptMedia("the image file is damaged and cannot be decoded") from exc
        if image.format not in ACCEPTED_FORMATS:
            raise UnsupportedMedia("the file is not a supported image format")
        width, height = image.size
        if width * height > limits.max_pixels:
            raise MediaTooLarge(
                f"the image has {width}x{height} pixels, more than {limits.max_pixels}"
            )
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
            return upright.convert("RGB")
        except (
            OSError,
            SyntaxError,
            ValueError,
            EOFError,
            struct.error,
            Image.DecompressionBombWarning,
        ) as exc:
            raise CorruptMedia("the image file is damaged and cannot be decoded") from exc
