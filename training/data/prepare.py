"""Prepare the shared datasets for training: group by source photo, split by group, write YOLO folders.

The split is decided once for both datasets together, so a photo and its near-duplicates (in either
dataset) always land in the same split: nothing in one model's test split was seen by the other in training.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tqdm import tqdm

from model.errors import ConfigError
from training.config import default_data_root, default_work_dir
from training.data.grouping import dhash_file, group_ids, near_duplicate_pairs
from training.data.sources import IMAGE_SUFFIXES, SEVERITY_CLASSES, Photo, read_damaged_parts, read_severity

SPLITS = ("train", "val", "test")


class PrepareConfig(BaseModel):
    """How to group and split the shared datasets."""

    model_config = ConfigDict(extra="forbid")

    data_root: Path = Field(default_factory=default_data_root)
    out: Path = Field(default_factory=lambda: default_work_dir() / "prepared")
    seed: int = 20261126
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    dhash_distance: int = 6
    train_copies: Literal["all", "one"] = "one"
    link: Literal["symlink", "copy"] = "symlink"
    limit: int | None = Field(default=None, description="keep only this many groups (smoke runs)")
    extra_detect: list[Path] = Field(
        default_factory=list,
        description="extra detector folders (images/ + labels/, e.g. `autoquote export-reviewed`'s detect/); "
        "train split only, so held-out numbers stay comparable",
    )

    @model_validator(mode="after")
    def _check(self) -> PrepareConfig:
        if abs(sum(self.fractions) - 1.0) > 1e-6 or min(self.fractions) <= 0:
            raise ValueError("fractions must be three positive numbers summing to 1")
        return self


def assign_groups(photos: list[Photo], max_distance: int, progress: bool = True) -> int:
    """Set ``photo.group``: same source name, or near-identical pixels (mirror included). Returns duplicate links."""
    hashes = [dhash_file(p.path) for p in tqdm(photos, desc="hashing", disable=not progress, unit="img")]
    by_source: dict[str, int] = {}
    links: list[tuple[int, int]] = []
    for i, photo in enumerate(photos):
        first = by_source.setdefault(photo.source, i)
        if first != i:
            links.append((first, i))
    near = near_duplicate_pairs(hashes, max_distance)
    roots = group_ids(len(photos), links + near)
    for photo, root in zip(photos, roots, strict=True):
        photo.group = photos[root].source
    return len(near)


def assign_splits(photos: list[Photo], fractions: tuple[float, float, float], seed: int) -> None:
    """Set ``photo.split`` by group: a seeded shuffle of the sorted group names, cut by fractions."""
    groups = sorted({p.group for p in photos})
    random.Random(seed).shuffle(groups)
    n_train = round(len(groups) * fractions[0])
    n_val = round(len(groups) * fractions[1])
    split_of = {g: "train" for g in groups[:n_train]}
    split_of.update({g: "val" for g in groups[n_train : n_train + n_val]})
    split_of.update({g: "test" for g in groups[n_train + n_val :]})
    for photo in photos:
        photo.split = split_of[photo.group]


def select_copies(photos: list[Photo], train_copies: str) -> list[Photo]:
    """Keep one Roboflow copy per source photo (first by name) except in train when ``all`` copies are asked for."""
    kept: list[Photo] = []
    seen: set[str] = set()
    for photo in sorted(photos, key=lambda p: p.rel):
        if photo.split == "train" and train_copies == "all":
            kept.append(photo)
        elif photo.source not in seen:
            kept.append(photo)
        seen.add(photo.source)
    return kept


def _place(src: Path, dst: Path, link: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    if link == "symlink":
        os.symlink(src.resolve(), dst)
    else:
        shutil.copyfile(src, dst)


class YoloItem(Protocol):
    """An image to write in the YOLO layout: its file, its split and its boxes (class, cx, cy, w, h)."""

    path: Path
    split: str
    boxes: list[tuple[int, float, float, float, float]]


def write_yolo(items: Sequence[YoloItem], classes: list[str], root: Path, splits: Sequence[str], link: str) -> Path:
    """Write ``root/<split>/{images,labels}`` and a data.yaml with absolute paths, replacing what was there."""
    if root.exists():
        shutil.rmtree(root)
    for item in items:
        _place(item.path, root / item.split / "images" / item.path.name, link)
        label = root / item.split / "labels" / (item.path.stem + ".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in item.boxes))
    spec = {"path": str(root.resolve()), **{split: f"{split}/images" for split in splits},
            "names": dict(enumerate(classes))}
    (root / "data.yaml").write_text(json.dumps(spec, indent=2))
    return root / "data.yaml"


def write_severity(photos: list[Photo], out: Path, link: str) -> Path:
    """Write ``severity/<split>/<class>/<file>`` (the classification folder layout)."""
    root = out / "severity"
    if root.exists():
        shutil.rmtree(root)
    for p in photos:
        assert p.severity is not None
        _place(p.path, root / p.split / p.severity / p.path.name, link)
    for split in SPLITS:
        for cls in SEVERITY_CLASSES:
            (root / split / cls).mkdir(parents=True, exist_ok=True)
    return root


def listing_sha256(photos: list[Photo]) -> dict[str, str]:
    """Hash of each split's (dataset, file, group, label) listing, and of all of it."""
    rows: dict[str, list[str]] = defaultdict(list)
    for p in sorted(photos, key=lambda p: p.rel):
        label = p.severity or ";".join(f"{c}:{x:.4f},{y:.4f},{w:.4f},{h:.4f}" for c, x, y, w, h in p.boxes)
        rows[p.split].append(f"{p.rel}\t{p.group}\t{label}")
    out = {s: hashlib.sha256("\n".join(rows[s]).encode()).hexdigest() for s in SPLITS}
    out["all"] = hashlib.sha256("".join(out[s] for s in SPLITS).encode()).hexdigest()
    return out


def build_report(det: list[Photo], sev: list[Photo], classes: list[str], near_links: int) -> dict[str, object]:
    """Counts per split and class: images, instances, groups, backgrounds."""
    report: dict[str, object] = {"near_duplicate_links": near_links}
    detect: dict[str, object] = {}
    for split in SPLITS:
        part = [p for p in det if p.split == split]
        inst = Counter(classes[c] for p in part for c, *_ in p.boxes)
        detect[split] = {
            "images": len(part),
            "source_photos": len({p.source for p in part}),
            "background_images": sum(1 for p in part if not p.boxes),
            "instances": {c: inst.get(c, 0) for c in classes},
        }
    report["detect"] = detect
    report["severity"] = {
        split: dict(Counter(p.severity for p in sev if p.split == split)) for split in SPLITS
    }
    return report


def format_report(report: dict[str, object], classes: list[str]) -> str:
    """The report as a plain-text table."""
    det = report["detect"]
    assert isinstance(det, dict)
    lines = ["damaged-parts (detector)", f"{'split':<6} {'images':>7} {'sources':>8} {'backgr':>7} " +
             " ".join(f"{c[:9]:>9}" for c in classes)]
    for split in SPLITS:
        d = det[split]
        lines.append(f"{split:<6} {d['images']:>7} {d['source_photos']:>8} {d['background_images']:>7} " +
                     " ".join(f"{d['instances'][c]:>9}" for c in classes))
    sev = report["severity"]
    assert isinstance(sev, dict)
    lines += ["", "severity (classifier)", f"{'split':<6} " + " ".join(f"{c:>9}" for c in SEVERITY_CLASSES)]
    for split in SPLITS:
        lines.append(f"{split:<6} " + " ".join(f"{sev[split].get(c, 0):>9}" for c in SEVERITY_CLASSES))
    lines.append(f"\nnear-duplicate pairs linked across and within datasets: {report['near_duplicate_links']}")
    return "\n".join(lines)


def read_extra_detect(
    folders: list[Path], classes: list[str], shared: list[Photo], max_distance: int = 6
) -> list[Photo]:
    """Photos of extra detector folders, all in train; one near a val/test photo is dropped (never leak)."""
    from training.data.sources import read_label_file

    held_out = [dhash_file(p.path)[0] for p in shared if p.split in ("val", "test")]
    extra: list[Photo] = []
    for folder in folders:
        names = folder / "classes.txt"
        if names.is_file() and names.read_text(encoding="utf-8").split() != classes:
            raise ConfigError(f"{names} lists other classes than the shared dataset ({', '.join(classes)})")
        for img in sorted((folder / "images").iterdir()) if (folder / "images").is_dir() else []:
            if img.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            plain, mirrored = dhash_file(img)
            if any(min(bin(plain ^ o).count("1"), bin(mirrored ^ o).count("1")) <= max_distance for o in held_out):
                continue
            extra.append(Photo(dataset="extra", path=img, rel=f"extra/{folder.name}/{img.name}",
                               source=f"extra/{img.stem}", group=f"extra/{img.stem}", split="train",
                               boxes=read_label_file(folder / "labels" / (img.stem + ".txt"), len(classes))))
    return extra


def prepare(config: PrepareConfig, progress: bool = True) -> dict[str, object]:
    """Read, group, split and write both datasets; returns the report (also written to ``out``)."""
    root = config.data_root
    if not (root / "damaged-parts").is_dir() or not (root / "severity").is_dir():
        raise ConfigError(
            f"no shared datasets under {root}: pass --data-root or set AUTOQUOTE_DATA_ROOT "
            "to the folder holding damaged-parts/ and severity/"
        )
    classes, det = read_damaged_parts(root)
    sev = read_severity(root)
    photos = det + sev
    near = assign_groups(photos, config.dhash_distance, progress)
    if config.limit is not None:
        keep = set(sorted({p.group for p in photos})[: config.limit])
        photos = [p for p in photos if p.group in keep]
        det = [p for p in det if p.group in keep]
        sev = [p for p in sev if p.group in keep]
    assign_splits(photos, config.fractions, config.seed)
    det_kept = select_copies(det, config.train_copies) + read_extra_detect(
        config.extra_detect, classes, photos, config.dhash_distance
    )
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    write_yolo(det_kept, classes, out / "detect", SPLITS, config.link)
    write_severity(sev, out, config.link)
    kept_ids = {id(p) for p in det_kept}
    listing = [
        {"dataset": p.dataset, "file": p.rel, "source": p.source, "group": p.group, "split": p.split,
         "used": id(p) in kept_ids or p.dataset == "severity"}
        for p in photos
    ]
    (out / "photos.json").write_text(json.dumps(listing))
    report = build_report(det_kept, sev, classes, near)
    report["classes"] = classes
    report["sha256"] = {"detect": listing_sha256(det_kept), "severity": listing_sha256(sev)}
    report["groups"] = len({p.group for p in photos})
    report["config"] = config.model_dump(mode="json", exclude={"data_root", "out"})
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report
