"""A small synthetic copy of the shared datasets' layout, for tests that must not need the real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

CLASSES = ["Bonnet", "Bumper", "Dickey", "Door", "Fender", "Light", "Windshield"]


Label = tuple[int, float, float, float, float]


def _scene(seed: int, size: tuple[int, int] = (96, 72)) -> tuple[Image.Image, list[Label]]:
    rng = np.random.default_rng(seed)
    w, h = size
    # Smooth random field: distinct photos get very different difference hashes.
    coarse = rng.integers(0, 255, size=(4, 4, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)).copy()
    labels = []
    for _ in range(int(rng.integers(1, 3))):
        cls = int(rng.integers(0, len(CLASSES)))
        bw, bh = int(rng.integers(w // 5, w // 2)), int(rng.integers(h // 5, h // 2))
        x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        img[y1 : y1 + bh, x1 : x1 + bw] = (cls * 35) % 255
        labels.append((cls, (x1 + bw / 2) / w, (y1 + bh / 2) / h, bw / w, bh / h))
    return Image.fromarray(img), labels


def make_shared_datasets(root: Path, n_sources: int = 24, n_severity: int = 18) -> dict[str, object]:
    """damaged-parts/ (3 Roboflow-style copies per source, polygons and boxes, one empty label file)
    and severity/ (class folders, including a mirrored copy of a damaged-parts photo)."""
    dp = root / "damaged-parts"
    (dp).mkdir(parents=True)
    (dp / "data.yaml").write_text(f"nc: {len(CLASSES)}\nnames: {CLASSES}\n")
    for i in range(n_sources):
        image, labels = _scene(i)
        folder = "valid" if i % 7 == 0 else "train"
        for copy in range(3):
            name = f"src{i:03d}_jpg.rf.{copy:032x}"
            out_img = dp / folder / "images" / f"{name}.jpg"
            out_lbl = dp / folder / "labels" / f"{name}.txt"
            out_img.parent.mkdir(parents=True, exist_ok=True)
            out_lbl.parent.mkdir(parents=True, exist_ok=True)
            (ImageOps.mirror(image) if copy == 1 else image).save(out_img, quality=95)
            rows = []
            if i != 3:  # source 3 has no labelled damage: a background image
                for cls, cx, cy, bw, bh in labels:
                    if copy % 2 == 0:
                        xs = [cx - bw / 2, cx + bw / 2, cx + bw / 2, cx - bw / 2]
                        ys = [cy - bh / 2, cy - bh / 2, cy + bh / 2, cy + bh / 2]
                        rows.append(f"{cls} " + " ".join(f"{x:.5f} {y:.5f}" for x, y in zip(xs, ys, strict=True)))
                    else:
                        rows.append(f"{cls} {1 - cx if copy == 1 else cx:.5f} {cy:.5f} {bw:.5f} {bh:.5f}")
            out_lbl.write_text("\n".join(rows))
    severity_dup = {}
    for j in range(n_severity):
        grade = ("minor", "moderate", "severe")[j % 3]
        split = "val" if j % 5 == 0 else "train"
        grade_dir = root / "severity" / split / grade
        grade_dir.mkdir(parents=True, exist_ok=True)
        if j == 0:
            # the same photo as damaged-parts source 5, mirrored: a cross-dataset near-duplicate
            image = ImageOps.mirror(_scene(5)[0])
            severity_dup = {"severity": f"{split}_{grade}_{j:03d}.jpg", "damaged_parts_source": "src005_jpg"}
        else:
            image = _scene(1000 + j)[0]
        image.save(grade_dir / f"{split}_{grade}_{j:03d}.jpg", quality=95)
    return {"classes": CLASSES, "duplicate": severity_dup}


def train_tiny_detector(prepared: Path, runs: Path, name: str = "det", version: str = "smoke") -> Path:
    """One epoch at 64 px through the training CLI, then exported: the ONNX path (manifest beside it)."""
    from training.cli import main

    args = ["--config", "detector-cpu.yaml", "--prepared", str(prepared), "--set", f"project={runs}",
            "--set", f"name={name}", "--set", "time=null", "--set", "epochs=1", "--set", "imgsz=64",
            "--set", "batch=8", "--set", "cache=false"]
    assert main(["train-detector", *args]) == 0
    assert main(["export", "detector", "--run", str(runs / name), "--version", version]) == 0
    return runs / name / "weights" / "best.onnx"
