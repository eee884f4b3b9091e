"""Decoding uploads: type by magic numbers, limits before decoding, EXIF orientation, draft decoding."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from model.errors import EmptyImage, ImageTooLarge, ImageTooManyPixels, UnreadableImage, UnsupportedImageType
from model.image_io import ImageLimits, decode_image, sniff_type

LIMITS = ImageLimits(max_bytes=5_000_000, max_pixels=20_000_000, target_side=640)


def encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def textured(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8), "RGB")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge canvas but carries almost no data (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt,kind", [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp")])
def test_accepted_types_decode_to_rgb(fmt: str, kind: str) -> None:
    data = encode(textured(320, 240), fmt)
    decoded = decode_image(data, LIMITS)
    assert sniff_type(data) == kind
    assert decoded.kind == kind and decoded.image.mode == "RGB"
    assert decoded.original_size == (320, 240) and decoded.byte_size == len(data)


def test_type_comes_from_bytes_not_name() -> None:
    with pytest.raises(UnsupportedImageType, match="GIF"):
        decode_image(encode(textured(64, 64), "GIF"), LIMITS)
    with pytest.raises(UnsupportedImageType):
        decode_image(b"%PDF-1.7 this is a document called photo.jpg", LIMITS)


def test_empty_and_oversized_are_refused_before_decoding() -> None:
    with pytest.raises(EmptyImage):
        decode_image(b"", LIMITS)
    with pytest.raises(ImageTooLarge):
        decode_image(b"\xff\xd8\xff" + b"\x00" * LIMITS.max_bytes, LIMITS)


def test_pixel_bomb_refused_from_its_header() -> None:
    with pytest.raises(ImageTooManyPixels, match="megapixels"):
        decode_image(png_header_only(30_000, 30_000), LIMITS)
    # Over our limit but under twice Pillow's default guard: still refused before decoding.
    with pytest.raises(ImageTooManyPixels):
        decode_image(png_header_only(5_000, 5_000), LIMITS)


def test_truncated_jpeg_is_unreadable() -> None:
    data = encode(textured(400, 300), "JPEG")
    with pytest.raises(UnreadableImage):
        decode_image(data[: len(data) // 3], LIMITS)


def test_cmyk_jpeg_and_16_bit_png_become_rgb() -> None:
    cmyk = decode_image(encode(textured(200, 100).convert("CMYK"), "JPEG"), LIMITS)
    assert cmyk.image.mode == "RGB" and cmyk.image.size == (200, 100)
    grey16 = Image.fromarray((np.linspace(0, 65535, 200 * 100).reshape(100, 200)).astype(np.uint16))
    deep = decode_image(encode(grey16, "PNG"), LIMITS)
    assert deep.image.mode == "RGB"
    # 16-bit values are scaled, not clipped: the brightest pixel stays bright.
    assert np.asarray(deep.image)[-1, -1, 0] > 240 and np.asarray(deep.image)[0, 0, 0] < 10


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    decoded = decode_image(encode(textured(300, 200), "JPEG", exif=exif), LIMITS)
    assert decoded.image.size == (200, 300)
    assert decoded.original_size == (200, 300)


def test_large_jpeg_is_draft_decoded_near_the_target() -> None:
    data = encode(textured(2400, 1800), "JPEG", quality=80)
    decoded = decode_image(data, LIMITS, target_side=320)
    # Draft decodes at 1/4 scale (600x450), never below the target, never the full 2400 px.
    assert 320 <= max(decoded.image.size) <= 640
    assert decoded.original_size == (2400, 1800)
    assert decoded.scale == pytest.approx(2400 / decoded.image.width)


def test_alpha_is_flattened_on_white() -> None:
    rgba = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    decoded = decode_image(encode(rgba, "PNG"), LIMITS)
    assert decoded.image.getpixel((10, 10)) == (255, 255, 255)
