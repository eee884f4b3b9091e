"""Uploaded photos: read under the per-photo byte limit, all checked and decoded before any is stored.

Each upload stays in memory up to the per-photo limit (see :func:`keep_uploads_in_memory`); the filename it
was sent under is kept only in a form fit to show.
"""

from __future__ import annotations

import unicodedata

from fastapi import UploadFile
from starlette.formparsers import MultiPartParser

from model.errors import ImageTooLarge
from model.image_io import DecodedImage, mebibytes
from model.pipeline import Pipeline
from serve.photos.decoding import Decoder

# Names of the characters never shown: C0/C1 controls, bidi overrides and isolates, zero-width marks.
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
MAX_FILENAME = 255


def keep_uploads_in_memory(max_photo_bytes: int) -> None:
    """Hold each uploaded photo in memory up to the per-photo limit, not in Starlette's 1-MB spool file.

    Every photo is read into memory to be decoded anyway; spooling a 3-MB phone photo to disk and reading
    it back made its multipart parsing take 10.4 ms instead of 6.1 (docs/results.md, "Quote latency").
    """
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, max_photo_bytes)


def display_filename(name: str | None) -> str:
    """A sent filename made safe to show: no path, no control, bidi or invisible characters, NFC, bounded."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES)
    text = " ".join(text.split())
    if len(text) > MAX_FILENAME:
        stem, dot, ext = text.rpartition(".")
        keep = ext if dot and len(ext) <= 10 else ""
        text = text[: MAX_FILENAME - len(keep) - 2] + "…" + ("." + keep if keep else "")
    return text or "photo"


def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The bytes of one uploaded file, refusing it as soon as it passes ``max_bytes``."""
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"{display_filename(upload.filename)} is over the limit of {mebibytes(max_bytes)} per photo; "
            "send a smaller photo"
        )
    return data


def decode_uploads(
    files: list[UploadFile], pipeline: Pipeline, decoder: Decoder, max_bytes: int
) -> list[tuple[bytes, DecodedImage, str]]:
    """Read and validate every upload before anything is stored: one bad photo refuses the request."""
    datas = [read_upload(upload, max_bytes) for upload in files]
    decoder.check_request(datas)
    return [
        (data, decoder.decode(pipeline, data), display_filename(upload.filename))
        for data, upload in zip(datas, files, strict=True)
    ]
