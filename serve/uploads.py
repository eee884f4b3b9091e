"""Uploaded photos: each one read under the byte limit and decoded, then stored before anything is committed."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import UploadFile

from model.phash import dhash
from model.pipeline import Pipeline
from serve.db import claims as repo
from serve.photos.decoding import Decoder
from serve.photos.store import PhotoStore
from serve.photos.uploads import decode_uploads


@dataclass(frozen=True)
class PhotoIntake:
    """What taking photos into a claim needs: the pipeline and decoder that check them, the store, the limits."""

    pipeline: Pipeline
    decoder: Decoder
    store: PhotoStore
    max_bytes: int  # per photo
    max_photos: int  # per claim

    def store_uploads(self, files: list[UploadFile]) -> list[repo.StoredPhoto]:
        """Validate every upload, then write each durably (fsync + rename) before any commit acknowledges it."""
        stored = []
        for data, image, filename in decode_uploads(files, self.pipeline, self.decoder, self.max_bytes):
            sha256 = self.store.put(data)
            stored.append(
                repo.StoredPhoto(
                    sha256=sha256,
                    content_type=image.content_type,
                    byte_size=image.byte_size,
                    width=image.original_size[0],
                    height=image.original_size[1],
                    filename=filename,
                    phash=dhash(image.image),
                )
            )
        return stored
