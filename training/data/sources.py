"""Readers for the shared datasets: damaged-parts (YOLO polygons/boxes) and severity (class folders)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from PIL import Image

from model.errors import ConfigError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
SEVERITY_CLASSES = ("minor", "moderate", "severe")


def open_rgb(path: Path, side: int, measure: Callable[[tuple[int, int]], int] = max) -> Image.Image:
    """The image at ``path`` in RGB, shrunk (never enlarged) so that ``measure`` of its size is at most ``side``."""
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    scale = side / measure(rgb.size)
    if scale < 1:
        rgb = rgb.resize(
            (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.BILINEAR
        )
    return rgb


@dataclass
class Photo:
    """One image file of a shared dataset, with its labels and (once grouped) its group and split."""

    dataset: str
    path: Path
    rel: str
    source: str
    boxes: list[tuple[int, float, float, float, float]] = field(default_factory=list)
    severity: str | None = None
    group: str = ""
    split: str = ""


def polygon_to_box(values: list[float]) -> tuple[float, float, float, float] | None:
    """A YOLO label row's coordinates (box ``cx cy w h`` or polygon ``x1 y1 x2 y2 ...``) as a clipped box."""
    if len(values) == 4:
        cx, cy, w, h = values
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    elif len(values) >= 6 and len(values) % 2 == 0:
        xs, ys = values[0::2], values[1::2]
        x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
    else:
        return None
    x1, y1 = max(0.0, x1), max(0.0, y1)
    x2, y2 = min(1.0, x2), min(1.0, y2)
    if x2 - x1 <= 1e-4 or y2 - y1 <= 1e-4:
        return None
    return ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)


def read_label_file(path: Path, num_classes: int) -> list[tuple[int, float, float, float, float]]:
    """Boxes of one label file; an empty or missing file is a background image."""
    boxes: list[tuple[int, float, float, float, float]] = []
    if not path.is_file():
        return boxes
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts:
            continue
        cls = int(float(parts[0]))
        if not 0 <= cls < num_classes:
            continue
        box = polygon_to_box([float(v) for v in parts[1:]])
        if box is not None:
            boxes.append((cls, *box))
    return boxes


def damaged_parts_classes(root: Path) -> list[str]:
    """Class names from the dataset's ``data.yaml``."""
    spec = root / "damaged-parts" / "data.yaml"
    try:
        names = yaml.safe_load(spec.read_text(encoding="utf-8"))["names"]
    except (OSError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read class names from {spec}: {exc}") from exc
    return list(names.values()) if isinstance(names, dict) else list(names)


def read_damaged_parts(root: Path) -> tuple[list[str], list[Photo]]:
    """Every image of damaged-parts (all shipped folders), with its boxes and source-photo name."""
    from training.data.grouping import source_stem

    base = root / "damaged-parts"
    classes = damaged_parts_classes(root)
    photos: list[Photo] = []
    for folder in sorted(p for p in base.iterdir() if (p / "images").is_dir()):
        for img in sorted((folder / "images").iterdir()):
            if img.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            label = folder / "labels" / (img.stem + ".txt")
            photos.append(
                Photo(
                    dataset="damaged-parts",
                    path=img,
                    rel=str(img.relative_to(root)),
                    source="damaged-parts/" + source_stem(img.name),
                    boxes=read_label_file(label, len(classes)),
                )
            )
    return classes, photos


def read_severity(root: Path) -> list[Photo]:
    """Every image of the severity folder (train and val merged; we re-split by group)."""
    base = root / "severity"
    photos: list[Photo] = []
    for split_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for cls in SEVERITY_CLASSES:
            folder = split_dir / cls
            if not folder.is_dir():
                continue
            for img in sorted(folder.iterdir()):
                if img.suffix.lower() in IMAGE_SUFFIXES:
                    photos.append(
                        Photo(
                            dataset="severity",
                            path=img,
                            rel=str(img.relative_to(root)),
                            source="severity/" + img.stem,
                            severity=cls,
                        )
                    )
    return photos
