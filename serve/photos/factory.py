"""The photo store the settings name: the local folder, or an S3 bucket."""

from __future__ import annotations

from serve.photos.local import LocalPhotoStore
from serve.photos.store import CollectablePhotoStore
from serve.settings import Settings


def make_photo_store(settings: Settings) -> CollectablePhotoStore:
    """The photo store the settings name: the local folder, or an S3 bucket (boto3 is imported only then)."""
    if settings.photo_store == "s3":
        from serve.photos.s3 import S3PhotoStore

        return S3PhotoStore.from_settings(settings)
    return LocalPhotoStore(settings.photos_dir)
