"""Decoding with bounded memory and time: header checks before any decode, a pixel budget per request, a
lower limit for formats decoded in full, a cap on concurrent decodes, the decoded photo reused by assess,
and HEIC (the iPhone's default) under the same limits."""

from __future__ import annotations

import functools
import io
import struct
import threading
import zlib
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from model.errors import ImageTooManyPixels
from model.image_io import DecodedImage, ImageLimits, image_size, sniff_type
from model.pipeline import Pipeline
from serve.errors import DecoderBusy
from serve.photos.decoding import Decoder
from tests.fakes import photo_bytes

Keys = Callable[[str], str]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` RGBA pixels but carries almost no data (as an attacker sends)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@functools.cache
def heic_bytes(width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    """A HEIC photo made here with pillow-heif's encoder (textured, so it is sharp)."""
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    image = Image.open(io.BytesIO(photo_bytes(width, height, noise=8, seed=seed)))
    buf = io.BytesIO()
    image.save(buf, format="HEIF", quality=60)
    return buf.getvalue()


def count_decodes(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time the pipeline decodes a photo."""
    decoded: list[int] = []
    original = pipeline.decode

    def counting_decode(data: bytes) -> DecodedImage:
        decoded.append(1)
        return original(data)

    monkeypatch.setattr(pipeline, "decode", counting_decode)
    return decoded


def test_full_decode_formats_have_a_lower_limit_checked_on_the_header() -> None:
    limits = ImageLimits(max_pixels=50_000_000, max_full_decode_pixels=24_000_000)
    with pytest.raises(ImageTooManyPixels, match="limit of 24 megapixels for PNG"):
        image_size(png_header_only(7000, 7000), limits)
    # The same pixel count as a JPEG decodes at reduced size, so only the general limit applies.
    assert image_size(png_header_only(4000, 3000), limits) == ("png", 4000, 3000)


def test_request_pixel_budget_refuses_before_decoding(
    client: TestClient, new_key: Keys, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.app.state.decoder.max_request_pixels = 1_000_000  # type: ignore[attr-defined]
    decoded = count_decodes(pipeline, monkeypatch)
    files = [("files", (f"{i}.jpg", photo_bytes(800, 600, seed=i), "image/jpeg")) for i in range(3)]
    r = client.post("/v1/quote", files=files, headers=auth(new_key("customer")))
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_many_pixels", r.text
    assert decoded == []  # refused from the headers alone


def test_decode_slots_cap_concurrency_and_say_retry() -> None:
    decoder = Decoder(ImageLimits(), 10**9, max_concurrent=1, wait_seconds=0.2, cache_bytes=0)
    release = threading.Event()
    started = threading.Event()

    class Slow:
        decode_side = 320

        def decode(self, data: bytes) -> object:
            started.set()
            release.wait(5)
            raise RuntimeError("not reached in this test")

    def occupy_the_slot() -> None:
        with pytest.raises(RuntimeError):
            decoder.decode(Slow(), b"x")  # type: ignore[arg-type]

    worker = threading.Thread(target=occupy_the_slot)
    worker.start()
    started.wait(5)
    with pytest.raises(DecoderBusy, match="retry"):
        decoder.decode(Slow(), b"y")  # type: ignore[arg-type]
    release.set()
    worker.join(5)


def test_busy_decoder_is_a_429_with_retry_after(client: TestClient, new_key: Keys) -> None:
    decoder = client.app.state.decoder  # type: ignore[attr-defined]
    decoder.wait_seconds = 0.05
    held = [decoder._slots.acquire() for _ in range(2)]  # settings default: two slots
    try:
        r = client.post(
            "/v1/quote", files=[("files", ("a.jpg", photo_bytes(), "image/jpeg"))], headers=auth(new_key("customer"))
        )
    finally:
        for _ in held:
            decoder._slots.release()
    assert r.status_code == 429 and r.json()["error"]["code"] == "decoder_busy" and r.headers["retry-after"]


def test_assess_reuses_the_photos_decoded_at_upload(
    client: TestClient, new_key: Keys, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = auth(new_key("customer"))
    claim = client.post("/v1/claims", json={}, headers=key).json()["id"]
    files = [("files", (f"{i}.jpg", photo_bytes(seed=i), "image/jpeg")) for i in range(2)]
    assert client.post(f"/v1/claims/{claim}/photos", files=files, headers=key).status_code == 201
    decoded = count_decodes(pipeline, monkeypatch)
    r = client.post(f"/v1/claims/{claim}/assess", headers=key)
    assert r.status_code == 200 and r.json()["quote"]["photos"], r.text
    assert decoded == []


def test_heic_photos_are_accepted(client: TestClient, new_key: Keys) -> None:
    data = heic_bytes()
    assert sniff_type(data) == "heif"
    key = auth(new_key("customer"))
    claim = client.post("/v1/claims", json={}, headers=key).json()["id"]
    r = client.post(f"/v1/claims/{claim}/photos", files=[("files", ("IMG_0001.HEIC", data, "image/heic"))], headers=key)
    assert r.status_code == 201, r.text
    photo = r.json()["photos"][0]
    assert (photo["content_type"], photo["width"], photo["height"]) == ("image/heif", 320, 240)
    r = client.post(f"/v1/claims/{claim}/assess", headers=key)
    assert r.status_code == 200 and r.json()["quote"]["decision"], r.text


def test_heic_is_held_to_the_full_decode_limit(client: TestClient, new_key: Keys) -> None:
    client.app.state.decoder.limits = ImageLimits(max_full_decode_pixels=50_000)  # type: ignore[attr-defined]
    r = client.post(
        "/v1/quote",
        files=[("files", ("big.heic", heic_bytes(), "image/heic"))],
        headers=auth(new_key("customer")),
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "image_too_many_pixels"
    assert "HEIF" in r.json()["error"]["message"]
