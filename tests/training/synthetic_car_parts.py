"""A small synthetic car-parts folder (COCO json with polygons and boxes, ``_background_`` category)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

PART_CLASSES = ["back_bumper", "front_bumper", "hood", "wheel"]


def _photo(seed: int, size: int = 64) -> tuple[Image.Image, list[tuple[int, list[float]]]]:
    rng = np.random.default_rng(50_000 + seed)
    coarse = rng.integers(0, 255, size=(4, 4, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)).copy()
    parts = []
    for _ in range(int(rng.integers(1, 4))):
        cls = int(rng.integers(0, len(PART_CLASSES)))
        w, h = int(rng.integers(8, 30)), int(rng.integers(8, 30))
        x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
        img[y : y + h, x : x + w] = (40 + cls * 50) % 255
        parts.append((cls, [float(x), float(y), float(w), float(h)]))
    return Image.fromarray(img), parts


def make_car_parts(
    root: Path, n_train: int = 8, n_test: int = 3, copies_of: list[Path] | None = None
) -> dict[str, int]:
    """``root/car-parts/{trainingset,testset}`` like the shared folder; ``copies_of`` photos are added to the
    training set mirrored (near-duplicates the pretraining data must leave out)."""
    cats = [{"id": 1, "name": "_background_"}] + [
        {"id": i + 2, "name": n} for i, n in enumerate(PART_CLASSES)
    ]
    counts = {"trainingset": 0, "testset": 0, "boxes": 0, "copies": 0}
    seed = 0
    for folder, n in (("trainingset", n_train), ("testset", n_test)):
        base = root / "car-parts" / folder
        (base / "JPEGImages").mkdir(parents=True, exist_ok=True)
        images: list[dict[str, object]] = []
        anns: list[dict[str, object]] = []
        extra = list(copies_of or []) if folder == "trainingset" else []
        for k in range(n + len(extra)):
            seed += 1
            if k < n:
                image, parts = _photo(seed)
            else:
                with Image.open(extra[k - n]) as im:
                    image, parts = ImageOps.mirror(im.convert("RGB")), [(0, [1.0, 1.0, 10.0, 10.0])]
                counts["copies"] += 1
            name = f"{'train' if folder == 'trainingset' else 'car'}{seed}.jpg"
            image.save(base / "JPEGImages" / name, quality=95)
            images.append(
                {
                    "id": seed,
                    "file_name": name,
                    "path": f"JPEGImages/{name}",
                    "width": image.width,
                    "height": image.height,
                }
            )
            for cls, (x, y, w, h) in parts:
                poly = [x, y, x + w, y, x + w, y + h, x, y + h]
                anns.append(
                    {
                        "id": len(anns) + 1000 * seed,
                        "image_id": seed,
                        "category_id": cls + 2,
                        "segmentation": [poly],
                        "bbox": [x, y, w, h],
                        "area": w * h,
                        "iscrowd": False,
                    }
                )
                counts["boxes"] += 1
            anns.append(
                {
                    "id": 999_000 + seed,
                    "image_id": seed,
                    "category_id": 1,
                    "segmentation": [],
                    "bbox": [0.0, 0.0, 5.0, 5.0],
                    "area": 25,
                    "iscrowd": False,
                }
            )  # dropped: _background_
            counts[folder] += 1
        (base / "annotations.json").write_text(
            json.dumps({"images": images, "categories": cats, "annotations": anns})
        )
    return counts
