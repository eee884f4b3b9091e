"""The model registry: a folder of immutable entries, one per trained model, each an ONNX file and its manifest.

Layout: ``<registry>/<kind>/<version>-<sha256[:12]>/model.onnx`` with ``model.json`` beside it (kind is
detector, severity or cost). An entry is keyed by name, version and sha256; adding the same file again is a
no-op, adding another file under the same name and version is refused. The service promotes and shadows
only models inside this folder (``AUTOQUOTE_REGISTRY_DIR``, default ``data/registry``).
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from model.errors import ConfigError
from model.manifest import Manifest, load_manifest

KINDS = {"detect": "detector", "classify": "severity", "cost": "cost"}
ENTRY_FILE = "model.onnx"


def default_registry() -> Path:
    """``AUTOQUOTE_REGISTRY_DIR``, else ``data/registry`` (the service's default beside its data)."""
    return Path(os.environ.get("AUTOQUOTE_REGISTRY_DIR") or Path("data") / "registry")


@dataclass(frozen=True)
class Entry:
    path: Path
    manifest: Manifest

    @property
    def kind(self) -> str:
        return KINDS[self.manifest.task]


def add(registry: Path, onnx: Path) -> Entry:
    """Copy a model with its manifest into the registry (checked against its sha256); returns the entry."""
    manifest = load_manifest(onnx)
    for other in entries(registry):
        same = other.manifest.name == manifest.name and other.manifest.version == manifest.version
        if same and other.manifest.sha256 != manifest.sha256:
            raise ConfigError(
                f"{manifest.name}@{manifest.version} is already registered with another sha256 "
                f"({other.path}); entries are immutable: export it under a new --version"
            )
        if same:
            return other
    folder = registry / KINDS[manifest.task] / f"{manifest.version}-{manifest.sha256[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / ENTRY_FILE
    shutil.copyfile(onnx, target)
    shutil.copyfile(onnx.with_suffix(".json"), target.with_suffix(".json"))
    for path in (target, target.with_suffix(".json")):
        path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return Entry(target, load_manifest(target))


def entries(registry: Path) -> list[Entry]:
    """Every entry, by kind then creation time."""
    found = []
    for path in sorted(registry.glob(f"*/*/{ENTRY_FILE}")):
        found.append(Entry(path, load_manifest(path, verify=False)))
    return sorted(found, key=lambda e: (e.kind, e.manifest.created, e.manifest.version))


def headline(manifest: Manifest) -> str:
    """The held-out metric a model is known by."""
    m = manifest.metrics
    for key in ("map50", "macro_f1"):
        if isinstance(m.get(key), int | float):
            return f"{key}={m[key]:.3f} ({m.get('split', '?')})"
    head = m.get("cost-head")
    if isinstance(head, dict) and "mdape" in head:
        return f"mdape={head['mdape']:.3f} ({m.get('split', '?')})"
    return "-"


def format_entries(found: list[Entry]) -> str:
    lines = [f"{'kind':<9} {'name':<22} {'version':<24} {'sha256':<12}  {'held-out':<26} path"]
    for e in found:
        m = e.manifest
        lines.append(
            f"{e.kind:<9} {m.name:<22} {m.version:<24} {m.sha256[:12]:<12}  {headline(m):<26} {e.path}"
        )
    return "\n".join(lines)
