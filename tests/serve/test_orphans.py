"""The orphan collector on both photo stores: only unreferenced photos older than the grace period go."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from serve.cli.main import main
from serve.db import claims
from serve.jobs.orphans import collect_orphans
from serve.photos.factory import make_photo_store
from serve.photos.local import LocalPhotoStore
from serve.photos.store import CollectablePhotoStore
from serve.settings import Settings
from tests.fakes import photo_bytes
from tests.serve.factories import make_claim, make_key, principal_of

# The S3 stand-in cannot backdate an object and keeps times to the second: S3 cases wait out a short grace.
S3_GRACE = 5


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.scale)])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    if request.param == "s3":
        s3: Settings = request.getfixturevalue("s3_settings")
        return s3
    return settings


def _age(store: CollectablePhotoStore, sha: str, seconds: float) -> None:
    """Make a stored photo look older (the S3 stand-in cannot backdate, so the test waits instead)."""
    if isinstance(store, LocalPhotoStore):
        then = time.time() - seconds
        os.utime(store.path_for(sha), (then, then))


def _referenced(session: Session, sha: str) -> None:
    owner, _ = make_key(session)
    claim = make_claim(session, owner)
    photo = claims.StoredPhoto(
        sha256=sha, content_type="image/jpeg", byte_size=10, width=640, height=480, filename="kept.jpg"
    )
    claims.add_photos(session, principal_of(owner), claim, [photo], 4)
    session.commit()


def test_only_old_unreferenced_photos_are_collected(store_settings: Settings, db_session: Session) -> None:
    store = make_photo_store(store_settings)
    local = isinstance(store, LocalPhotoStore)
    kept = store.put(photo_bytes(seed=1))
    orphan = store.put(photo_bytes(seed=2))
    _referenced(db_session, kept)
    for sha in (kept, orphan):
        _age(store, sha, 7200)
    if not local:
        time.sleep(S3_GRACE + 1.5)
    grace = timedelta(hours=1) if local else timedelta(seconds=S3_GRACE)
    young = store.put(photo_bytes(seed=3))

    listed = collect_orphans(db_session, store, grace)
    assert listed.orphans == [orphan] and listed.deleted == 0 and listed.too_recent == 1
    assert listed.scanned == 3 and listed.referenced == 1
    assert store.exists(orphan)  # listing deletes nothing

    done = collect_orphans(db_session, store, grace, delete=True)
    assert done.deleted == 1
    assert not store.exists(orphan) and store.exists(kept) and store.exists(young)


def test_storing_an_orphan_again_spares_it(store_settings: Settings, db_session: Session) -> None:
    store = make_photo_store(store_settings)
    data = photo_bytes(seed=9)
    sha = store.put(data)
    _age(store, sha, 7200)
    if not isinstance(store, LocalPhotoStore):
        time.sleep(S3_GRACE + 1.5)
    grace = timedelta(hours=1) if isinstance(store, LocalPhotoStore) else timedelta(seconds=S3_GRACE)
    store.put(data)  # a new upload of the same bytes, its commit still in flight
    assert collect_orphans(db_session, store, grace, delete=True).deleted == 0
    assert store.exists(sha)


def test_the_command_lists_then_deletes(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AUTOQUOTE_DATA_DIR", str(settings.data_dir))
    store = LocalPhotoStore(settings.photos_dir)
    orphan = store.put(b"left behind by a failed commit")
    _age(store, orphan, 3 * 86400)
    assert main(["collect-orphans"]) == 0
    out = capsys.readouterr()
    assert out.out.split() == [orphan] and "1 orphan(s) listed" in out.err
    assert main(["collect-orphans", "--delete"]) == 0
    assert "deleted 1" in capsys.readouterr().err and not store.exists(orphan)
