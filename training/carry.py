"""A compact, self-contained copy of the prepared data (one copy per source photo) to take to a GPU machine.

``carry`` runs ``prepare`` and ``prepare-pretrain`` with ``link: copy`` into one folder, then re-encodes the
images (longest side at most ``max_side``, JPEG ``quality``) so data and wheels fit in one transfer.
``rebase`` rewrites the data.yaml paths on the machine that receives it (ultralytics needs absolute paths).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from training.data.car_parts import PretrainDataConfig, prepare_pretrain
from training.data.prepare import PrepareConfig, prepare
from training.data.sources import IMAGE_SUFFIXES, open_rgb

DATA_YAMLS = ("detect/data.yaml", "pretrain/car_parts/data.yaml")


def compact_images(folder: Path, max_side: int, quality: int) -> int:
    """Shrink and re-encode every image under ``folder`` in place; returns how many were rewritten."""
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.is_symlink() or not path.is_file():
            continue
        rgb = open_rgb(path, max_side)
        buffer = io.BytesIO()
        rgb.save(
            buffer,
            format="JPEG"
            if path.suffix.lower() in (".jpg", ".jpeg")
            else Image.registered_extensions().get(path.suffix.lower(), "PNG"),
            quality=quality,
        )
        if buffer.tell() < path.stat().st_size:  # keep the original when re-encoding would not shrink it
            path.write_bytes(buffer.getvalue())
            count += 1
    return count


def rebase(prepared: Path) -> list[Path]:
    """Point the data.yaml files of a moved prepared folder at where it now is."""
    done = []
    for rel in DATA_YAMLS:
        path = prepared / rel
        if path.is_file():
            spec = json.loads(path.read_text())
            spec["path"] = str(path.parent.resolve())
            path.write_text(json.dumps(spec, indent=2))
            done.append(path)
    return done


def folder_bytes(folder: Path) -> int:
    """Total size of the regular files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def carry(
    data_root: Path, out: Path, max_side: int = 320, quality: int = 70, progress: bool = True
) -> dict[str, object]:
    """Prepare everything with copies into ``out/prepared``, compact the images, report the size."""
    prepared = out / "prepared"
    report = prepare(PrepareConfig(data_root=data_root, out=prepared, link="copy"), progress)
    pre = prepare_pretrain(PretrainDataConfig(data_root=data_root, prepared=prepared, link="copy"), progress)
    rewritten = compact_images(prepared, max_side, quality)
    for cache in prepared.rglob("*.cache"):
        cache.unlink()
    summary = {
        "prepared": str(prepared),
        "images_rewritten": rewritten,
        "max_side": max_side,
        "quality": quality,
        "bytes": folder_bytes(prepared),
        "groups": report["groups"],
        "pretrain": pre,
    }
    (out / "carry.json").write_text(json.dumps(summary, indent=2))
    return summary
