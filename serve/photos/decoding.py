"""Decoding uploaded and stored photos with bounded memory and time.

Four bounds, each from the settings: every photo's header is checked before any photo of the request is
decoded (pixels per photo, a lower limit for formats without reduced-size decoding, and pixels per request);
at most ``max_concurrent_decodes`` photos decode at once in this process, whatever the number of requests;
and a photo decoded once (at upload) is kept at working scale in a bounded cache, so assessing a claim
does not decode its stored photos again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from model.image_io import DecodedImage, ImageLimits, image_size
from model.pipeline import Pipeline
from serve.errors import DecoderBusy, RequestTooManyPixels


class DecodedCache:
    """Decoded photos at working scale by (sha256, working side), least recently used out first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int], DecodedImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _size(image: DecodedImage) -> int:
        return image.image.width * image.image.height * len(image.image.getbands())

    def get(self, key: tuple[str, int]) -> DecodedImage | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: tuple[str, int], image: DecodedImage) -> None:
        size = self._size(image)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = image
            self._bytes += size
            while self._bytes > self.max_bytes:
                _key, old = self._items.popitem(last=False)
                self._bytes -= self._size(old)


class Decoder:
    """The service's one way to decode photos: limits per request, a cap on concurrent decodes, a cache."""

    def __init__(
        self,
        limits: ImageLimits,
        max_request_pixels: int,
        max_concurrent: int,
        wait_seconds: float,
        cache_bytes: int,
    ) -> None:
        self.limits = limits
        self.max_request_pixels = max_request_pixels
        self.wait_seconds = wait_seconds
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self.cache = DecodedCache(cache_bytes)

    def check_request(self, photos: Sequence[bytes]) -> None:
        """Refuse the request from the photos' headers alone if any photo, or all of them, would decode too large."""
        total = 0
        for data in photos:
            _kind, width, height = image_size(data, self.limits)
            total += width * height
        if total > self.max_request_pixels:
            raise RequestTooManyPixels(
                f"the photos of this request add up to {total / 1e6:.0f} megapixels, over the limit of "
                f"{self.max_request_pixels / 1e6:.0f} per request; send fewer photos per request, "
                "or smaller ones"
            )

    def decode(self, pipeline: Pipeline, data: bytes, sha256: str | None = None) -> DecodedImage:
        """One photo at the pipeline's working scale: from the cache, or decoded in one of the slots."""
        key = (sha256, pipeline.decode_side) if sha256 else None
        if key is not None and (cached := self.cache.get(key)) is not None:
            return cached
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise DecoderBusy(
                f"the server is decoding other photos and none finished within {self.wait_seconds:.0f} s; "
                "retry in a few seconds"
            )
        try:
            image = pipeline.decode(data)
        finally:
            self._slots.release()
        self.cache.put((image.sha256, pipeline.decode_side), image)
        return image
