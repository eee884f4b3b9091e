"""The load of the multi-replica run: customers quoting photos and opening claims, through nginx.

Each user sends its next request as soon as the last one is answered (a closed loop). Three quotes for
one claim (opened with an Idempotency-Key, a photo added to the S3 store, assessed). The API key comes
from ``AUTOQUOTE_LOAD_KEY``; photos are made here (640x480 JPEGs), so no data set is needed.
"""

from __future__ import annotations

import io
import os
import uuid

import numpy as np
from locust import HttpUser, constant, task
from PIL import Image


def _photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.normal(128, 40, size=(480, 640, 3)).clip(0, 255).astype(np.uint8)
    arr[120:360, 160:480] = rng.integers(0, 255, size=3)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


PHOTOS = [_photo(seed) for seed in range(8)]


class Customer(HttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['AUTOQUOTE_LOAD_KEY']}"
        self.n = 0

    def _next_photo(self) -> bytes:
        self.n += 1
        return PHOTOS[self.n % len(PHOTOS)]

    @task(3)
    def quote(self) -> None:
        self.client.post(
            "/v1/quote",
            files=[("files", ("car.jpg", self._next_photo(), "image/jpeg"))],
            data={"region": "CN", "segment": "mid"},
            name="/v1/quote",
        )

    @task(1)
    def claim(self) -> None:
        created = self.client.post(
            "/v1/claims", json={"region": "CN"}, headers={"Idempotency-Key": uuid.uuid4().hex}, name="/v1/claims"
        )
        if created.status_code != 201:
            return
        claim_id = created.json()["id"]
        self.client.post(
            f"/v1/claims/{claim_id}/photos",
            files=[("files", ("car.jpg", self._next_photo(), "image/jpeg"))],
            name="/v1/claims/{id}/photos",
        )
        self.client.post(f"/v1/claims/{claim_id}/assess", name="/v1/claims/{id}/assess")
