"""Photos in any S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...), addressed by their sha256.

Keys are ``<prefix>ab/cd/<sha256>``, the layout of the local store. ``put`` sends the body with its
MD5 (the server refuses a body that arrived different) and then reads the object's size back, so a photo
is in the bucket, whole, before the database commit acknowledges it. Needs the ``scale`` extra (boto3).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from model.errors import ConfigError
from serve.errors import StorageUnavailable
from serve.photos.store import check_sha256

if TYPE_CHECKING:
    from serve.settings import Settings

_MISSING = {"404", "NoSuchKey", "NotFound"}


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3PhotoStore:
    """Content-addressed objects in one bucket under one prefix."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings: Settings) -> S3PhotoStore:
        """A store on the bucket, prefix, endpoint and credentials of the settings."""
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise ConfigError(
                "AUTOQUOTE_PHOTO_STORE=s3 needs boto3: install the scale extra (pip install 'autoquote[scale]')"
            ) from exc
        secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
                s3={"addressing_style": settings.s3_addressing_style},
                # MD5 is what every S3-compatible server checks; the newer CRC checksums are not universal.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        assert settings.s3_bucket is not None, "Settings refuses photo_store=s3 without a bucket"
        return cls(client, settings.s3_bucket, settings.s3_prefix)

    def key_for(self, sha256: str) -> str:
        """The object key of a photo (the name is checked first)."""
        check_sha256(sha256)
        return f"{self.prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def _head(self, sha256: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except Exception as exc:
            if _code(exc) in _MISSING:
                return None
            raise self._unavailable("read", exc) from exc
        return head

    def _size(self, sha256: str) -> int | None:
        head = self._head(sha256)
        return int(head["ContentLength"]) if head is not None else None

    def written_at(self, sha256: str) -> datetime | None:
        """When a photo was last stored (None: not stored)."""
        head = self._head(sha256)
        if head is None:
            return None
        modified: datetime = head["LastModified"]
        return modified if modified.tzinfo else modified.replace(tzinfo=UTC)

    def exists(self, sha256: str) -> bool:
        """True when the photo is stored."""
        return self._size(sha256) is not None

    def get(self, sha256: str) -> bytes:
        """The bytes of a stored photo, checked against their name."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key_for(sha256))["Body"].read()
        except Exception as exc:
            if _code(exc) in _MISSING:
                raise FileNotFoundError(f"photo {sha256} is not in s3://{self.bucket}/{self.prefix}") from exc
            raise self._unavailable("read", exc) from exc
        if hashlib.sha256(body).hexdigest() != sha256:
            raise StorageUnavailable(
                f"photo {sha256} in s3://{self.bucket} does not match its name; restore it from a backup"
            )
        data: bytes = body
        return data

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256 once the bucket holds it whole; the same bytes again is a no-op."""
        sha256 = hashlib.sha256(data).hexdigest()
        key = self.key_for(sha256)
        if self._size(sha256) == len(data):
            self._touch(key, sha256)
            return sha256
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentMD5=md5,
                ContentType="application/octet-stream",
                Metadata={"sha256": sha256},
            )
        except Exception as exc:
            raise self._unavailable("write", exc) from exc
        if self._size(sha256) != len(data):
            raise StorageUnavailable(
                f"s3://{self.bucket} did not keep photo {sha256} whole; nothing was recorded, send it again"
            )
        return sha256

    def _touch(self, key: str, sha256: str) -> None:
        """Renew an object's time (a copy onto itself), so the orphan collector spares a photo stored again."""
        try:
            self.client.copy_object(
                Bucket=self.bucket,
                Key=key,
                CopySource={"Bucket": self.bucket, "Key": key},
                Metadata={"sha256": sha256},
                MetadataDirective="REPLACE",
                ContentType="application/octet-stream",
            )
        except Exception as exc:
            raise self._unavailable("write", exc) from exc

    def stored(self) -> Iterator[tuple[str, datetime]]:
        """Every photo under the prefix with the time it was written."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    name = str(item["Key"]).rsplit("/", 1)[-1]
                    if self._key_or_none(name) == item["Key"]:
                        modified = item["LastModified"]
                        yield name, modified if modified.tzinfo else modified.replace(tzinfo=UTC)
        except Exception as exc:
            raise self._unavailable("list", exc) from exc

    def _key_or_none(self, name: str) -> str | None:
        """The key a name would have, or None when it is not a sha256 (foreign objects are left alone)."""
        try:
            return self.key_for(name)
        except ValueError:
            return None

    def delete(self, sha256: str) -> None:
        """Remove a photo (gone already is fine)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except Exception as exc:
            raise self._unavailable("delete", exc) from exc

    def _unavailable(self, what: str, exc: Exception) -> StorageUnavailable:
        return StorageUnavailable(
            f"the photo store s3://{self.bucket} refused to {what} ({_code(exc) or type(exc).__name__}); "
            "try again shortly, and check the bucket and credentials if it persists"
        )
