"""The model store: immutable entries, no half-written entry after a failed copy, the in-service pointer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model import store
from model.errors import ConfigError
from model.manifest import WEIGHTS_DIR, load_manifest, sha256_file, write_manifest


def _cost_head(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    onnx = folder / "cost_head.onnx"
    shutil.copyfile(WEIGHTS_DIR / "cost_head.onnx", onnx)
    shutil.copyfile(WEIGHTS_DIR / "cost_head.json", onnx.with_suffix(".json"))
    return onnx


def test_register_is_keyed_by_name_version_and_sha256(tmp_path: Path) -> None:
    onnx = _cost_head(tmp_path / "export")
    entry = store.register(tmp_path / "store", onnx)
    assert entry.kind == "cost"
    assert entry.path.parent.parent == tmp_path / "store" / "cost"
    assert store.register(tmp_path / "store", onnx) == entry  # the same file again: no new entry
    assert [e.path for e in store.entries(tmp_path / "store")] == [entry.path]

    other = _cost_head(tmp_path / "other")
    other.write_bytes(other.read_bytes() + b"\0")
    manifest = load_manifest(other, verify=False)
    write_manifest(other, manifest.model_copy(update={"sha256": sha256_file(other)}))
    with pytest.raises(ConfigError, match="immutable"):
        store.register(tmp_path / "store", other)


def test_a_failed_copy_leaves_no_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onnx = _cost_head(tmp_path / "export")
    copies: list[Path] = []

    def copy_then_fail(src: Path, dst: Path) -> None:
        copies.append(dst)
        if len(copies) == 2:
            raise OSError("disk full")
        Path(dst).write_bytes(Path(src).read_bytes())

    monkeypatch.setattr("model.store.shutil.copyfile", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        store.register(tmp_path / "store", onnx)
    assert store.entries(tmp_path / "store") == []
    assert list((tmp_path / "store" / "cost").iterdir()) == []


def test_pointer_round_trip_and_unreadable_pointer(tmp_path: Path) -> None:
    assert store.read_pointer(tmp_path) is None
    choice = store.ModelChoice(detector=tmp_path / "d.onnx", chosen_by="key-1")
    store.write_pointer(tmp_path, choice)
    assert store.read_pointer(tmp_path) == choice
    store.pointer_path(tmp_path).write_text("{not json", encoding="utf-8")
    assert store.read_pointer(tmp_path) is None
