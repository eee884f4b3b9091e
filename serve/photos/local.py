"""The local photo store: content-addressed files in one folder, the embedded default."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from serve.photos.store import SHA256, check_sha256


class LocalPhotoStore:
    """Content-addressed files under ``root/ab/cd/<sha256>``: temp file, fsync, rename, fsync the folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        """The file of a photo (the name is checked, so a stored value cannot escape ``root``)."""
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        """True when the photo is stored."""
        return self.path_for(sha256).is_file()

    def get(self, sha256: str) -> bytes:
        """The bytes of a stored photo."""
        return self.path_for(sha256).read_bytes()

    def put(self, data: bytes) -> str:
        """Store ``data`` durably and return its sha256; storing the same bytes again is a no-op."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha256)
        if path.is_file() and path.stat().st_size == len(data):
            os.utime(path)  # fresh again: the orphan collector spares photos written within its grace period
            return sha256
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return sha256

    def stored(self) -> Iterator[tuple[str, datetime]]:
        """Every stored photo with the time it was written (temporary files are not photos)."""
        for path in self.root.glob("??/??/*"):
            if SHA256.match(path.name) and path.is_file():
                yield path.name, datetime.fromtimestamp(path.stat().st_mtime, UTC)

    def written_at(self, sha256: str) -> datetime | None:
        """When a photo was last stored (None: not stored)."""
        try:
            return datetime.fromtimestamp(self.path_for(sha256).stat().st_mtime, UTC)
        except FileNotFoundError:
            return None

    def delete(self, sha256: str) -> None:
        """Remove a photo (gone already is fine)."""
        self.path_for(sha256).unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
