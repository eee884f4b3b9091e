"""A second opinion on every detected part: which part a crop shows, or that it shows no damage.

The verifier is a small ImageNet-initialised classifier (EfficientNet-Lite0, ``training/effnet.py``) over
the crop the service already cuts around each detection. Its classes are the detector's parts plus
``no_damage``. ``prepare-verifier-crops`` writes ``prepared/verifier/<split>/<class>/`` from:

- **damaged parts** (positives): every labelled box of ``prepared/detect/<split>``, grown as the service
  grows a detection before cropping it, under its part's name;
- **away from damage** (negatives): one box per labelled photo that overlaps no labelled damage, sized like
  a detection, under ``no_damage``;
- **intact parts** (negatives): the part boxes of ``car-parts/trainingset`` (undamaged cars, their boxes
  name the parts) under ``no_damage``, split 85/15 into train and val by photo. ``car-parts/testset`` is
  never written: it stays the held-out set of undamaged cars the service is judged on.

The damage splits are those of ``prepare`` (grouped by source photo), so a val or test crop here comes from
a photo the detector and the verifier never trained on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

import numpy as np
from PIL import Image

from model.pipeline import PipelineConfig, expand_box
from training.config import default_data_root, default_work_dir

NO_DAMAGE = "no_damage"
FOLDER = "verifier"
# car-parts classes that are a part the damage detector names; mirrors, wheels and the background are not
CAR_PARTS_TO_DAMAGE = {
    "front_bumper": "Bumper", "back_bumper": "Bumper", "hood": "Bonnet", "trunk": "Dickey", "tailgate": "Dickey",
    "front_left_door": "Door", "front_right_door": "Door", "back_left_door": "Door", "back_right_door": "Door",
    "front_left_light": "Light", "front_right_light": "Light", "back_left_light": "Light",
    "back_right_light": "Light", "front_glass": "Windshield",
}


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def away_box(size: tuple[int, int], labelled: list[tuple[float, ...]], rng: random.Random,
             tries: int = 50) -> tuple[float, float, float, float] | None:
    """A box of a quarter to a half of each side that overlaps no labelled box (IoU below 0.05)."""
    w, h = size
    for _ in range(tries):
        bw, bh = rng.uniform(0.25, 0.5) * w, rng.uniform(0.25, 0.5) * h
        x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        box = (x, y, x + bw, y + bh)
        if all(_iou(box, other) < 0.05 for other in labelled):
            return box
    return None


def car_parts_split(file_name: str) -> str:
    """train or val for a car-parts trainingset photo, fixed by its name (85/15)."""
    return "val" if int(hashlib.sha256(file_name.encode()).hexdigest(), 16) % 100 < 15 else "train"


def build(prepared: Path, data_root: Path, margin: float, seed: int = 0) -> dict[str, dict[str, int]]:
    """Write ``prepared/verifier``; returns crops per split and class."""
    from training.evaluate import read_yolo_labels, split_images

    classes = json.loads((prepared / "report.json").read_text())["classes"]
    out = prepared / FOLDER
    counts: dict[str, dict[str, int]] = {}
    rng = random.Random(seed)

    def save(crop: Image.Image, split: str, label: str, name: str) -> None:
        folder = out / split / label
        folder.mkdir(parents=True, exist_ok=True)
        crop.save(folder / f"{name}.jpg", quality=92)
        counts.setdefault(split, {}).setdefault(label, 0)
        counts[split][label] += 1

    for split in ("train", "val", "test"):
        for path in split_images(prepared, split):
            with Image.open(path) as im:
                image = im.convert("RGB")
            boxes, cls = read_yolo_labels(path.parent.parent / "labels" / (path.stem + ".txt"), *image.size)
            labelled = [tuple(float(v) for v in b) for b in boxes]
            for i, (box, c) in enumerate(zip(labelled, cls, strict=True)):
                save(image.crop(expand_box(box, image.size, margin)), split, classes[int(c)], f"{path.stem}-{i}")
            if labelled:
                away = away_box(image.size, labelled, rng)
                if away is not None:
                    save(image.crop(tuple(round(v) for v in away)), split, NO_DAMAGE, f"{path.stem}-away")
    coco = json.loads((data_root / "car-parts" / "trainingset" / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    for ann in coco["annotations"]:
        if names.get(ann["category_id"]) not in CAR_PARTS_TO_DAMAGE:
            continue
        file_name = files[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        if w < 16 or h < 16:
            continue
        with Image.open(data_root / "car-parts" / "trainingset" / "JPEGImages" / file_name) as im:
            image = im.convert("RGB")
        crop = image.crop(expand_box((x, y, x + w, y + h), image.size, margin))
        save(crop, car_parts_split(file_name), NO_DAMAGE, f"carparts-{Path(file_name).stem}-{ann['id']}")
    meta = {"classes": [*classes, NO_DAMAGE], "margin": margin, "seed": seed, "counts": counts}
    (out / "verifier.json").write_text(json.dumps(meta, indent=2))
    return counts


def cmd_prepare(args: argparse.Namespace) -> None:
    from model.errors import ConfigError

    prepared = Path(args.prepared) if args.prepared else default_work_dir() / "prepared"
    data_root = Path(args.data_root) if args.data_root else default_data_root()
    if not (prepared / "report.json").is_file():
        raise ConfigError(f"{prepared}: not a prepared data folder; run `autoquote-train prepare` first")
    if not (data_root / "car-parts" / "trainingset" / "annotations.json").is_file():
        raise ConfigError(f"{data_root}/car-parts/trainingset/annotations.json not found (--data-root)")
    counts = build(prepared, data_root, args.margin)
    print(json.dumps(counts, indent=2))
    print(f"written to {prepared / FOLDER}; train with: autoquote-train train-effnet "
          "--config verifier-effnet.yaml")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("prepare-verifier-crops",
                       help="crops of damaged parts, of places away from damage and of intact car-parts parts")
    p.add_argument("--prepared", help="prepared data folder (default work/prepared)")
    p.add_argument("--data-root", help="folder holding car-parts/ (default ../shared/datasets)")
    p.add_argument("--margin", type=float, default=PipelineConfig().crop_margin,
                   help="grow each box by this fraction on each side, as the service does")
    p.set_defaults(func=cmd_prepare)


def class_balance(counts: dict[str, int]) -> dict[str, float]:
    """Inverse-frequency class weights, normalised to a mean of one."""
    inv = {k: 1.0 / max(v, 1) for k, v in counts.items()}
    mean = float(np.mean(list(inv.values())))
    return {k: v / mean for k, v in inv.items()}
