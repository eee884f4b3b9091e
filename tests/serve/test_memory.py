"""Peak memory of a live server under hostile photos stays under a stated bound.

The hostile case: six 7000x7000 RGBA PNGs per request (1 MB on the wire, 1.2 GB once decoded), three such
requests at once; then the worst the limits still accept: six full-decode PNGs just under the PNG limit per
request, three requests at once. Peak RSS is the server process's VmHWM.
"""

from __future__ import annotations

import struct
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.serve.live import LiveServer, make_keys

# Fake models: the bound is for decoding and the service itself; add the ONNX sessions' ~200 MB in production.
PEAK_RSS_BOUND_MB = 700
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmHWM from /proc (Linux)"),
]


def flat_png(width: int, height: int, rgba: tuple[int, int, int, int] = (120, 40, 40, 255)) -> bytes:
    """A valid RGBA PNG of one colour, compressed row by row (never the whole bitmap in this process)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\0" + bytes(rgba) * width
    z = zlib.compressobj(6)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _quote(base: str, key: str, photos: list[bytes]) -> httpx.Response:
    files = [("files", (f"{i}.png", data, "image/png")) for i, data in enumerate(photos)]
    return httpx.post(f"{base}/v1/quote", files=files, headers={"X-API-Key": key}, timeout=300)


def test_peak_rss_under_hostile_pngs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = f"sqlite:///{(data / 'autoquote.db').as_posix()}"
    data.mkdir()
    key = make_keys(db)["customer"]
    # The service's default limits, not the small ones the other live tests use.
    env = {
        "AUTOQUOTE_MAX_PHOTO_BYTES": str(25 * 1024 * 1024),
        "AUTOQUOTE_MAX_REQUEST_BYTES": str(80 * 1024 * 1024),
        "AUTOQUOTE_MAX_PIXELS": "50000000",
        "AUTOQUOTE_DECODE_WAIT_SECONDS": "900",  # a loaded CI machine may take long; the bound is memory
    }
    server = LiveServer(data, db, env=env).start()
    try:
        idle = server.peak_rss_mb()
        hostile = flat_png(7000, 7000)
        assert len(hostile) < 1_500_000
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda _: _quote(server.base, key, [hostile] * 6), range(3)))
        for r in answers:
            assert r.status_code == 413 and r.json()["error"]["code"] == "image_too_many_pixels", r.text
        after_hostile = server.peak_rss_mb()

        # The worst accepted: 4896 x 4896 = 23.97 MP, just under the 24 MP full-decode limit, six per request.
        largest = [flat_png(4896, 4896)] * 6
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda _: _quote(server.base, key, largest), range(3)))
        for r in answers:
            assert r.status_code == 200, r.text
        peak = server.peak_rss_mb()
        print(f"peak RSS: idle {idle:.0f} MB, after hostile {after_hostile:.0f} MB, after largest {peak:.0f} MB")
        assert after_hostile - idle < 50, "refused photos were decoded"
        assert peak < PEAK_RSS_BOUND_MB, f"peak RSS {peak:.0f} MB over {PEAK_RSS_BOUND_MB} MB"
    finally:
        server.stop()
