"""The model store: trained models as immutable entries in one folder, and the pointer to the ones in service.

Both the service and the training commands read this contract; neither writes the layout by hand::

    <store>/<kind>/<version>-<sha256[:12]>/model.onnx     one entry, its manifest model.json beside it
    <data>/active_models.json                             the detector and severity model in service

``kind`` is a name in :data:`model.kinds.KINDS` (detector, severity, cost), the one the manifest's ``name``
says, so two kinds of the same task (two classifiers) keep apart. An entry is keyed by name, version and
sha256: registering the same file again is a no-op, another file under the same name and version is
refused. An entry is written in a hidden folder and renamed into place, so a failed copy never leaves a
half-written entry. The store folder is ``AUTOQUOTE_REGISTRY_DIR``, else ``registry`` in the data folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from model.errors import ConfigError
from model.kinds import KINDS, Task, kind_of
from model.manifest import Manifest, load_manifest

log = logging.getLogger(__name__)

# The shipped kinds' tasks, for callers that check a task; new code reads model.kinds (kind_of, get_kind).
TASK_OF_KIND: dict[str, Task] = {name: kind.task for name, kind in KINDS.items()}
ENTRY_FILE = "model.onnx"
POINTER_FILE = "active_models.json"
STORE_ENV = "AUTOQUOTE_REGISTRY_DIR"


def store_in(data_dir: Path) -> Path:
    """The store folder inside a service data folder."""
    return data_dir / "registry"


def default_store() -> Path:
    """``AUTOQUOTE_REGISTRY_DIR``, else the store of the default data folder (``data/registry``)."""
    return Path(os.environ.get(STORE_ENV) or store_in(Path("data")))


@dataclass(frozen=True)
class Entry:
    """One stored model: its ONNX file and manifest."""

    path: Path
    manifest: Manifest

    @property
    def kind(self) -> str:
        """Its kind's name (:mod:`model.kinds`), which is also the store folder it is in."""
        return kind_of(self.manifest, str(self.path)).name


def entries(store: Path) -> list[Entry]:
    """Every entry, by kind then creation time (hidden folders are entries still being written)."""
    found = []
    for path in sorted(store.glob(f"*/*/{ENTRY_FILE}")):
        if not path.parent.name.startswith("."):
            found.append(Entry(path, load_manifest(path, verify=False)))
    return sorted(found, key=lambda e: (e.kind, e.manifest.created, e.manifest.version))


def register(store: Path, onnx: Path) -> Entry:
    """Copy a model with its manifest into the store (checked against its sha256); returns the entry."""
    manifest = load_manifest(onnx)
    for other in entries(store):
        same = other.manifest.name == manifest.name and other.manifest.version == manifest.version
        if same and other.manifest.sha256 != manifest.sha256:
            raise ConfigError(
                f"{manifest.name}@{manifest.version} is already registered with another sha256 "
                f"({other.path}); entries are immutable: export it under a new --version"
            )
        if same:
            return other
    kind_dir = store / kind_of(manifest, str(onnx)).name
    kind_dir.mkdir(parents=True, exist_ok=True)
    folder = kind_dir / f"{manifest.version}-{manifest.sha256[:12]}"
    staging = Path(tempfile.mkdtemp(dir=kind_dir, prefix=".incoming-"))
    try:
        target = staging / ENTRY_FILE
        shutil.copyfile(onnx, target)
        shutil.copyfile(onnx.with_suffix(".json"), target.with_suffix(".json"))
        for path in (target, target.with_suffix(".json")):
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        load_manifest(target)  # the copy is the file its manifest describes
        staging.chmod(0o755)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Entry(folder / ENTRY_FILE, load_manifest(folder / ENTRY_FILE))


class ModelChoice(BaseModel):
    """A detector and a severity model by path (None: the shipped one), and who chose them when."""

    model_config = ConfigDict(frozen=True)

    detector: Path | None = None
    severity: Path | None = None
    chosen_at: datetime | None = None
    chosen_by: str | None = None


def pointer_path(data_dir: Path) -> Path:
    return data_dir / POINTER_FILE


def read_pointer(data_dir: Path) -> ModelChoice | None:
    """The promoted models, if a promotion was ever recorded for this data folder."""
    path = pointer_path(data_dir)
    if not path.is_file():
        return None
    try:
        return ModelChoice.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, OSError):
        log.exception("ignoring unreadable %s", path)
        return None


def write_pointer(data_dir: Path, choice: ModelChoice) -> Path:
    """Replace the pointer atomically (temp file, fsync, rename)."""
    path = pointer_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".active-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(choice.model_dump_json(indent=2))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
