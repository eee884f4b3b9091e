"""Malformed and awkward uploads, generated: what phones, scripts and attackers send."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from tests.fakes import photo_bytes


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pixel_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A tiny PNG whose header declares a huge canvas."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 256))
        + _png_chunk(b"IEND", b"")
    )


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), (i * 40, 0, 0)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def png16() -> bytes:
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 65535, size=(300, 400), dtype=np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def corpus(max_photo_bytes: int) -> dict[str, tuple[str, bytes, str, set[int]]]:
    """name -> (filename, bytes, declared content type, acceptable statuses)."""
    jpeg = photo_bytes(seed=42)
    cmyk = io.BytesIO()
    Image.open(io.BytesIO(photo_bytes(seed=43))).convert("CMYK").save(cmyk, format="JPEG")
    return {
        "empty": ("empty.jpg", b"", "image/jpeg", {422}),
        "truncated_jpeg": ("cut.jpg", jpeg[: len(jpeg) // 2], "image/jpeg", {422}),
        "text_named_jpg": ("photo.jpg", b"just some text, not a picture\n" * 20, "image/jpeg", {415}),
        "pixel_bomb": ("bomb.png", pixel_bomb(), "image/png", {413}),
        "huge_file": ("huge.jpg", b"\xff\xd8\xff\xe0" + b"\0" * (max_photo_bytes + 10), "image/jpeg", {413}),
        "cmyk_jpeg": ("cmyk.jpg", cmyk.getvalue(), "image/jpeg", {201}),
        "png_16_bit": ("deep.png", png16(), "image/png", {201}),
        "animated_gif": ("moving.gif", animated_gif(), "image/gif", {415}),
        "webp_named_png": ("really-webp.png", photo_bytes(seed=44, fmt="WEBP"), "image/png", {201}),
    }
