"""The shared image intake: limits, bombs, EXIF orientation and damaged files."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageFile

from inference.errors import CorruptMedia, MediaTooLarge, UnsupportedMedia
from inference.images import ImageLimits, decode_image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def bilevel_bomb(width: int, height: int) -> bytes:
    """A real, valid 1-bit PNG of ``width`` x ``height`` white pixels: a few hundred KB
    that would inflate to width*height pixels (times 3 bytes once converted to RGB)."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return (
        signature
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("width", "height"),
    [(9_000, 9_000), (30_000, 30_000)],  # under, then over, Pillow's own bomb threshold
    ids=["over-our-limit", "over-pillow-limit"],
)
def test_decompression_bomb_is_refused_without_decoding(
    width: int, height: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = bilevel_bomb(width, height)
    assert len(bomb) < 2_000_000
    decoded: list[str] = []

    def refuse_to_decode(self: Image.Image) -> None:
        decoded.append(type(self).__name__)
        raise AssertionError("pixels were decoded")

    # Pillow allocates pixel memory in C, out of tracemalloc's sight: prove instead that
    # no decoder ever ran (81 MB for the smaller bomb, 900 MB for the larger).
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_to_decode)
    monkeypatch.setattr(Image.Image, "load", refuse_to_decode)
    with pytest.raises(MediaTooLarge):
        decode_image(bomb, ImageLimits(max_pixels=50_000_000))
    assert decoded == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("keep", [12, 30, 60, 100, 300])
def test_file_cut_inside_its_header_is_corrupt_or_unsupported(fmt: str, keep: int) -> None:
    data = encoded(Image.effect_noise((64, 64), 80).convert("RGB"), fmt)
    with pytest.raises((CorruptMedia, UnsupportedMedia)):
        decode_image(data[:keep])


def test_image_just_under_the_pixel_limit_is_decoded() -> None:
    data = encoded(Image.new("RGB", (100, 50), "white"), "PNG")
    image = decode_image(data, ImageLimits(max_pixels=5_000))
    assert image.size == (100, 50)
    with pytest.raises(MediaTooLarge):
        decode_image(data, ImageLimits(max_pixels=4_999))


def test_exif_rotated_jpeg_comes_out_upright() -> None:
    upright = Image.new("RGB", (200, 100), "white")
    upright.paste((255, 0, 0), (0, 0, 40, 40))  # a red mark in the top-left corner
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # how a phone stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = encoded(stored, "JPEG", quality=95, exif=exif)
    assert Image.open(io.BytesIO(data)).size == (100, 200)

    image = decode_image(data)

    assert image.mode == "RGB"
    assert image.size == (200, 100)
    red, green, _ = image.getpixel((10, 10))  # type: ignore[misc]
    assert red > 200
    assert green < 60
    assert image.getpixel((190, 90))[1] > 200  # type: ignore[index]


def test_truncated_file_is_corrupt() -> None:
    noisy = Image.effect_noise((300, 300), 80).convert("RGB")
    data = encoded(noisy, "PNG")
    with pytest.raises(CorruptMedia):
        decode_image(data[: len(data) // 2])


@pytest.mark.parametrize(
    "data",
    [b"hello, this is plain text", b"%PDF-1.7\n%binary", b"\x00" * 64],
    ids=["text", "pdf", "zeros"],
)
def test_not_an_image_is_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedMedia):
        decode_image(data)


def test_image_format_outside_the_accepted_set_is_unsupported() -> None:
    with pytest.raises(UnsupportedMedia):
        decode_image(encoded(Image.new("RGB", (20, 20)), "GIF"))


def test_empty_file_is_corrupt() -> None:
    with pytest.raises(CorruptMedia):
        decode_image(b"")


def test_too_many_bytes_is_refused_before_parsing() -> None:
    data = encoded(Image.new("RGB", (64, 64), "white"), "PNG")
    with pytest.raises(MediaTooLarge):
        decode_image(data, ImageLimits(max_bytes=len(data) - 1))
    assert decode_image(data, ImageLimits(max_bytes=len(data))).size == (64, 64)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_accepted_formats_decode_to_rgb(fmt: str) -> None:
    image = decode_image(encoded(Image.new("L", (30, 20), 128), fmt))
    assert (image.mode, image.size) == ("RGB", (30, 20))
