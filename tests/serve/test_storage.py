"""The photo store: content-addressed, durable before acknowledgement, nothing half-written on failure."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from serve.photos.local import LocalPhotoStore


def test_put_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = LocalPhotoStore(tmp_path / "photos")
    data = b"\xff\xd8\xff some photo bytes"
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.path_for(sha) == tmp_path / "photos" / sha[:2] / sha[2:4] / sha
    assert store.put(data) == sha and store.get(sha) == data and store.exists(sha)


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalPhotoStore(tmp_path / "photos")

    def broken_fsync(_fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.put(b"never stored")
    assert [p for p in (tmp_path / "photos").rglob("*") if p.is_file()] == []
    assert not store.exists(hashlib.sha256(b"never stored").hexdigest())


def test_names_cannot_escape_the_store(tmp_path: Path) -> None:
    store = LocalPhotoStore(tmp_path / "photos")
    with pytest.raises(ValueError):
        store.path_for("../../etc/passwd")


def test_the_upload_is_on_disk_when_acknowledged(client, new_key) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes import photo_bytes

    key = new_key("customer")
    headers = {"Authorization": f"Bearer {key}"}
    claim = client.post("/v1/claims", json={"region": "CN"}, headers=headers).json()
    data = photo_bytes(seed=11)
    r = client.post(
        f"/v1/claims/{claim['id']}/photos", files=[("files", ("a.jpg", data, "image/jpeg"))], headers=headers
    )
    sha = r.json()["photos"][0]["sha256"]
    assert sha == hashlib.sha256(data).hexdigest()
    assert client.app.state.store.get(sha) == data
