"""Severity on what the service grades: crops around detected damage, not whole photos.

At inference the pipeline grades each detected box grown by ``crop_margin`` (``model/pipeline.py``). The
severity photos are labelled as whole images, so a crop dataset keeps each photo's label and replaces the
photo by the crop around its highest-scoring detection (the whole photo when nothing is detected, as the
label still holds). ``prepare-severity-crops`` writes ``prepared/severity-crops/<split>/<class>/`` from
``prepared/severity``; ``train-severity --set data=severity-crops`` trains on it and
``evaluate severity --input crops`` measures any severity model on crops made by a given detector.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from model.detector import Detector
from model.findings import SEVERITY_LEVELS
from model.pipeline import PipelineConfig, expand_box
from training.config import default_work_dir
from training.data.sources import IMAGE_SUFFIXES

CROPS_FOLDER = "severity-crops"
VIEWS_FOLDER = "severity-views"


def damage_crop(image: Image.Image, detector: Detector, margin: float) -> tuple[Image.Image, bool]:
    """The crop around the highest-scoring detection at the detector's own confidence (its manifest's, as in
    service), grown by ``margin``; the whole photo if none."""
    found = detector.detect(image)
    if not found:
        return image, False
    return image.crop(expand_box(found[0].box, image.size, margin)), True


def build_crops(detector: Detector, prepared: Path, splits: list[str], margin: float,
                progress: bool = True, with_photos: bool = False) -> dict[str, dict[str, int]]:
    """Write ``prepared/severity-crops``; returns photos and photos with a detection per split.

    With ``with_photos`` it writes ``prepared/severity-views`` instead: each photo twice under its label,
    as ``crop-<name>.jpg`` and ``photo-<name>.jpg``, for a model that grades both views (the crop and the
    whole photo it came from, ``export severity --photo-average``).
    """
    folder = VIEWS_FOLDER if with_photos else CROPS_FOLDER
    report: dict[str, dict[str, int]] = {}
    for split in splits:
        photos = cropped = 0
        for level in SEVERITY_LEVELS:
            src = prepared / "severity" / split / level
            dst = prepared / folder / split / level
            dst.mkdir(parents=True, exist_ok=True)
            files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if src.is_dir() else []
            for path in tqdm(files, desc=f"crops {split}/{level}", disable=not progress, unit="img"):
                with Image.open(path) as im:
                    photo = im.convert("RGB")
                crop, hit = damage_crop(photo, detector, margin)
                if with_photos:
                    crop.save(dst / f"crop-{path.stem}.jpg", quality=95)
                    photo.save(dst / f"photo-{path.stem}.jpg", quality=95)
                else:
                    crop.save(dst / (path.stem + ".jpg"), quality=95)
                photos += 1
                cropped += hit
        report[split] = {"photos": photos, "with_detection": cropped}
    meta = {"detector": f"{detector.manifest.name}@{detector.version}", "margin": margin,
            "conf": detector.conf, "with_photos": with_photos, "splits": report}
    (prepared / folder / "crops.json").write_text(json.dumps(meta, indent=2))
    return report


def cmd_prepare_crops(args: argparse.Namespace) -> None:
    prepared = Path(args.prepared) if args.prepared else default_work_dir() / "prepared"
    if not (prepared / "severity").is_dir():
        from model.errors import ConfigError

        raise ConfigError(f"{prepared}/severity not found: run `autoquote-train prepare` first")
    detector = Detector.load(args.detector)
    report = build_crops(detector, prepared, args.splits, args.margin, with_photos=args.with_photos)
    folder = VIEWS_FOLDER if args.with_photos else CROPS_FOLDER
    print(json.dumps(report, indent=2))
    print(f"written to {prepared / folder}; train with: autoquote-train train-severity --set data={folder}")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("prepare-severity-crops",
                       help="crop the severity photos around their detected damage, as the service grades them")
    p.add_argument("--detector", help="detector ONNX with its manifest (default: the shipped one)")
    p.add_argument("--prepared", help="prepared data folder (default work/prepared)")
    p.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    p.add_argument("--margin", type=float, default=PipelineConfig().crop_margin,
                   help="grow each box by this fraction on each side, as the service does")
    p.add_argument("--with-photos", action="store_true",
                   help=f"write {VIEWS_FOLDER}: each photo's crop and the whole photo, both under its label")
    p.set_defaults(func=cmd_prepare_crops)
