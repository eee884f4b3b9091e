"""The S3 photo store over HTTP against moto's S3 server: content-addressed, verified, refusals as 503."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from serve.app import create_app
from serve.errors import StorageUnavailable
from serve.photos.factory import make_photo_store
from serve.settings import Settings
from tests.fakes import photo_bytes

pytestmark = pytest.mark.scale


def test_put_is_content_addressed_verified_and_idempotent(s3_settings: Settings) -> None:
    from serve.photos.s3 import S3PhotoStore

    store = make_photo_store(s3_settings)
    assert isinstance(store, S3PhotoStore)
    data = photo_bytes(seed=3)
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    key = f"photos/{sha[:2]}/{sha[2:4]}/{sha}"
    obj = store.client.get_object(Bucket=s3_settings.s3_bucket, Key=key)
    assert obj["Body"].read() == data and obj["Metadata"] == {"sha256": sha}
    first = store.written_at(sha)
    assert store.put(data) == sha and store.get(sha) == data and store.exists(sha)
    assert store.written_at(sha) >= first  # type: ignore[operator]
    assert not store.exists("0" * 64)
    with pytest.raises(FileNotFoundError):
        store.get("0" * 64)
    with pytest.raises(ValueError):
        store.key_for("../etc/passwd")


def test_a_tampered_object_is_refused_not_served(s3_settings: Settings) -> None:
    from serve.photos.s3 import S3PhotoStore

    store = S3PhotoStore.from_settings(s3_settings)
    sha = store.put(b"original bytes")
    store.client.put_object(Bucket=s3_settings.s3_bucket, Key=store.key_for(sha), Body=b"something else")
    with pytest.raises(StorageUnavailable, match="does not match"):
        store.get(sha)


def test_a_missing_bucket_is_storage_unavailable(s3_settings: Settings) -> None:
    store = make_photo_store(s3_settings.model_copy(update={"s3_bucket": "no-such-bucket"}))
    with pytest.raises(StorageUnavailable) as info:
        store.put(b"bytes")
    assert info.value.code == "storage_unavailable" and "no-such-bucket" in info.value.message


def test_s3_needs_a_bucket(settings: Settings) -> None:
    with pytest.raises(ValidationError, match="AUTOQUOTE_S3_BUCKET"):
        Settings(environment="test", data_dir=settings.data_dir, photo_store="s3")


def _client_on(settings: Settings, pipeline_factory: Callable[..., object]) -> TestClient:
    return TestClient(create_app(settings, pipeline_factory=pipeline_factory), raise_server_exceptions=False)  # type: ignore[arg-type]


def test_the_service_stores_and_assesses_photos_in_the_bucket(s3_settings: Settings, pipeline) -> None:  # type: ignore[no-untyped-def]
    from serve.db import keys

    with _client_on(s3_settings, lambda _s: pipeline) as client:
        with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            _row, key = keys.create_key(session, "c", "customer")
            session.commit()
        headers = {"Authorization": f"Bearer {key}"}
        claim = client.post("/v1/claims", json={"region": "CN"}, headers=headers).json()
        data = photo_bytes(seed=21)
        r = client.post(
            f"/v1/claims/{claim['id']}/photos", files=[("files", ("a.jpg", data, "image/jpeg"))], headers=headers
        )
        assert r.status_code == 201, r.text
        sha = r.json()["photos"][0]["sha256"]
        assert client.app.state.store.get(sha) == data  # type: ignore[attr-defined]
        assert not (s3_settings.photos_dir / sha[:2]).exists()  # nothing on the replica's own disk
        r = client.post(f"/v1/claims/{claim['id']}/assess", headers=headers)
        assert r.status_code == 200 and r.json()["quote"] is not None, r.text


def test_an_upload_the_store_refuses_is_503_and_not_recorded(s3_settings: Settings, pipeline) -> None:  # type: ignore[no-untyped-def]
    from serve.db import keys

    broken = s3_settings.model_copy(update={"s3_bucket": "bucket-that-was-deleted"})
    with _client_on(broken, lambda _s: pipeline) as client:
        with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            _row, key = keys.create_key(session, "c", "customer")
            session.commit()
        headers = {"Authorization": f"Bearer {key}"}
        claim = client.post("/v1/claims", json={"region": "CN"}, headers=headers).json()
        r = client.post(
            f"/v1/claims/{claim['id']}/photos",
            files=[("files", ("a.jpg", photo_bytes(seed=5), "image/jpeg"))],
            headers=headers,
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "storage_unavailable"
        assert client.get(f"/v1/claims/{claim['id']}", headers=headers).json()["photos"] == []
