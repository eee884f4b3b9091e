"""The photo store contract: photos addressed by their sha256, durable before the database acknowledges them.

Two implementations: ``serve.photos.local.LocalPhotoStore`` (a folder, the embedded default) and
``serve.photos.s3.S3PhotoStore`` (any S3-compatible object store, for several replicas; the ``scale`` extra).
``serve.photos.factory.make_photo_store`` picks one from the settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PhotoFile(BaseModel):
    """A photo file in a store: its address, what it is, its size in pixels, and the name it was sent under."""

    sha256: str
    content_type: str
    byte_size: int
    width: int
    height: int
    filename: str


class PhotoStore(Protocol):
    """Where photo bytes live; ``put`` returns only once the bytes would survive a crash."""

    def put(self, data: bytes) -> str: ...
    def get(self, sha256: str) -> bytes: ...
    def exists(self, sha256: str) -> bool: ...


class CollectablePhotoStore(PhotoStore, Protocol):
    """A store whose photos can be listed and deleted (for the orphan collector)."""

    def stored(self) -> Iterator[tuple[str, datetime]]: ...
    def written_at(self, sha256: str) -> datetime | None: ...
    def delete(self, sha256: str) -> None: ...


def check_sha256(sha256: str) -> str:
    """The name, checked (so a stored value cannot address anything but a photo)."""
    if not SHA256.match(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256
