"""Pretraining data without downloads: car-parts as a YOLO folder, one photo per group for self-supervision.

Both are written inside the prepared folder (``pretrain/``) and both leave out every photo that is a
near-duplicate (difference hash, mirror included) of a photo in the detector/severity **test** split, so
no pretraining step ever sees the held-out photos.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from model.errors import ConfigError
from training.config import default_data_root, default_work_dir
from training.data.grouping import dhash_file, near_duplicate_pairs
from training.data.prepare import write_yolo

CAR_PARTS_SPLITS = {"trainingset": "train", "testset": "val"}
BACKGROUND = "_background_"
SSL_LISTING = "ssl_images.txt"


class PretrainDataConfig(BaseModel):
    """Where car-parts lives, which prepared folder to read the test split from, how to place files."""

    model_config = ConfigDict(extra="forbid")

    data_root: Path = Field(default_factory=default_data_root)
    prepared: Path = Field(default_factory=lambda: default_work_dir() / "prepared")
    dhash_distance: int = 6
    link: Literal["symlink", "copy"] = "symlink"
    ssl_splits: tuple[str, ...] = Field(("train", "val"), description="prepared splits whose photos feed SSL")


@dataclass
class CarPartsImage:
    """One car-parts photo with its boxes (class, cx, cy, w, h normalised)."""

    path: Path
    split: str
    boxes: list[tuple[int, float, float, float, float]] = field(default_factory=list)


def read_car_parts(root: Path) -> tuple[list[str], list[CarPartsImage]]:
    """Classes (``_background_`` dropped) and images of ``car-parts/*/annotations.json`` (COCO)."""
    base = root / "car-parts"
    classes: list[str] = []
    images: list[CarPartsImage] = []
    for folder, split in CAR_PARTS_SPLITS.items():
        spec_path = base / folder / "annotations.json"
        try:
            spec = json.loads(spec_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"cannot read {spec_path}: {exc.strerror}; is car-parts/ under {root}?"
            ) from exc
        cats = sorted((c for c in spec["categories"] if c["name"] != BACKGROUND), key=lambda c: c["id"])
        names = [c["name"] for c in cats]
        if classes and names != classes:
            raise ConfigError(f"{spec_path}: categories differ from the training set's")
        classes = names
        index = {c["id"]: i for i, c in enumerate(cats)}
        by_image: dict[int, list[tuple[int, float, float, float, float]]] = {}
        sizes = {im["id"]: (im["width"], im["height"]) for im in spec["images"]}
        for ann in spec["annotations"]:
            if ann["category_id"] not in index:
                continue
            w_img, h_img = sizes[ann["image_id"]]
            x, y, w, h = ann["bbox"]
            x1, y1 = max(0.0, x / w_img), max(0.0, y / h_img)
            x2, y2 = min(1.0, (x + w) / w_img), min(1.0, (y + h) / h_img)
            if x2 - x1 > 1e-4 and y2 - y1 > 1e-4:
                by_image.setdefault(ann["image_id"], []).append(
                    (index[ann["category_id"]], (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
                )
        for im in sorted(spec["images"], key=lambda im: im["file_name"]):
            images.append(CarPartsImage(base / folder / im["path"], split, by_image.get(im["id"], [])))
    return classes, images


def read_listing(prepared: Path) -> list[dict[str, object]]:
    """The prepared folder's ``photos.json`` (every shared photo with its group and split)."""
    path = prepared / "photos.json"
    if not path.is_file():
        raise ConfigError(f"{path} not found: run `autoquote-train prepare` first")
    rows: list[dict[str, object]] = json.loads(path.read_text())
    return rows


def near_any(hashes: list[tuple[int, int]], reference: list[tuple[int, int]], max_distance: int) -> set[int]:
    """Indices of ``hashes`` within ``max_distance`` bits (mirror included) of any ``reference`` hash."""
    pairs = near_duplicate_pairs(list(hashes) + list(reference), max_distance)
    n = len(hashes)
    return {i for i, j in pairs if i < n <= j}


def prepared_path(row: dict[str, object]) -> Path:
    """Where a photos.json row's file sits inside the prepared folder (relative)."""
    rel = Path(str(row["file"]))
    if row["dataset"] == "severity":
        return Path("severity") / str(row["split"]) / rel.parent.name / rel.name
    return Path("detect") / str(row["split"]) / "images" / rel.name


def ssl_representatives(rows: list[dict[str, object]], splits: tuple[str, ...]) -> list[dict[str, object]]:
    """One photo per group of the given splits, present in the prepared folder (damaged-parts first)."""
    chosen: dict[str, dict[str, object]] = {}
    for row in sorted(rows, key=lambda r: (str(r["group"]), r["dataset"] != "damaged-parts", str(r["file"]))):
        if row["split"] in splits and row["used"] and str(row["group"]) not in chosen:
            chosen[str(row["group"])] = row
    return list(chosen.values())


def prepare_pretrain(cfg: PretrainDataConfig, progress: bool = True) -> dict[str, object]:
    """Write ``pretrain/car_parts`` (YOLO) and ``pretrain/ssl_images.txt``; returns (and saves) a report."""
    root, prepared = cfg.data_root, cfg.prepared
    rows = read_listing(prepared)
    classes, images = read_car_parts(root)

    def hashes(paths: list[Path], what: str) -> list[tuple[int, int]]:
        return [dhash_file(p) for p in tqdm(paths, desc=f"hashing {what}", disable=not progress, unit="img")]

    test_hashes = hashes([root / str(r["file"]) for r in rows if r["split"] == "test"], "test split")
    reps = ssl_representatives(rows, cfg.ssl_splits)
    rep_hashes = hashes([root / str(r["file"]) for r in reps], "ssl photos")
    cp_hashes = hashes([im.path for im in images], "car-parts")
    near_test = near_any(cp_hashes, test_hashes, cfg.dhash_distance)
    kept = [im for i, im in enumerate(images) if i not in near_test]
    out = prepared / "pretrain"
    out.mkdir(parents=True, exist_ok=True)
    data_yaml = write_yolo(kept, classes, out / "car_parts", ("train", "val"), cfg.link)

    # SSL: the prepared representatives, then car-parts photos that duplicate neither them nor each other
    dup_of_rep = near_any(cp_hashes, rep_hashes, cfg.dhash_distance)
    seen: set[int] = set(near_test) | dup_of_rep
    ssl_cp: list[Path] = []
    for i, j in near_duplicate_pairs(cp_hashes, cfg.dhash_distance):
        if i not in seen:
            seen.add(j)
    for i, im in enumerate(images):
        if i not in seen:
            ssl_cp.append(Path("pretrain") / "car_parts" / im.split / "images" / im.path.name)
    listing = [prepared_path(r) for r in reps] + ssl_cp
    (out / SSL_LISTING).write_text("".join(f"{p.as_posix()}\n" for p in listing))
    report: dict[str, object] = {
        "car_parts": {
            "classes": classes,
            "images": len(images),
            "dropped_near_test": len(near_test),
            "train": sum(1 for im in kept if im.split == "train"),
            "val": sum(1 for im in kept if im.split == "val"),
            "instances": sum(len(im.boxes) for im in kept),
            "data_yaml": data_yaml.name,
        },
        "ssl": {
            "photos": len(listing),
            "from_prepared": len(reps),
            "from_car_parts": len(ssl_cp),
            "splits": list(cfg.ssl_splits),
        },
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def ssl_images(prepared: Path) -> list[Path]:
    """The absolute paths listed in ``pretrain/ssl_images.txt``."""
    path = prepared / "pretrain" / SSL_LISTING
    if not path.is_file():
        raise ConfigError(f"{path} not found: run `autoquote-train prepare-pretrain` first")
    return [prepared / line for line in path.read_text().splitlines() if line.strip()]
