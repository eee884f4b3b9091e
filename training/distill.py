"""Knowledge distillation for the detector: a larger teacher trained longer labels more photos, a nano student
learns from ground truth plus the teacher's confident boxes (pseudo-label distillation).

Ground truth always wins: a teacher box is added to a labelled photo only where it overlaps no
ground-truth box (any class). Unlabelled photos (severity photos of damaged cars, one per group, train
split only) get the teacher's confident boxes. Val and test stay the original, human-labelled splits.
Optionally ultralytics' own feature distillation (``distill_model``) runs on top.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from model.errors import ConfigError
from training.config import default_work_dir, save_resolved
from training.data.car_parts import prepared_path, read_listing, ssl_representatives
from training.data.sources import IMAGE_SUFFIXES
from training.detector import DetectorConfig, train_detector
from training.metrics import box_iou

Row = tuple[int, float, float, float, float]


def _teacher_default() -> DetectorConfig:
    return DetectorConfig.model_validate({"model": "yolo26s.yaml", "name": "distill-teacher"})


def _student_default() -> DetectorConfig:
    return DetectorConfig.model_validate({"model": "yolo26n.yaml", "name": "distill-student"})


class DistillConfig(BaseModel):
    """Teacher and student recipes, and how the teacher's boxes become labels."""

    model_config = ConfigDict(extra="forbid")

    prepared: Path = Field(default_factory=lambda: default_work_dir() / "prepared")
    out: Path = Field(default_factory=lambda: default_work_dir() / "distill")
    teacher_weights: Path | None = Field(None, description="a trained teacher best.pt; null trains `teacher`")
    teacher: DetectorConfig = Field(default_factory=_teacher_default)
    student: DetectorConfig = Field(default_factory=_student_default)
    conf: float = Field(0.5, description="teacher boxes below this score are dropped")
    gt_iou: float = Field(
        0.3, description="a teacher box overlapping any ground-truth box this much is dropped"
    )
    unlabelled: bool = Field(True, description="also pseudo-label the severity photos of train groups")
    feature: bool = Field(False, description="add ultralytics feature distillation (distill_model) on top")
    batch: int = 32


def to_xyxy(rows: list[Row]) -> np.ndarray:
    """Normalised ``cls cx cy w h`` rows as x1y1x2y2 (normalised)."""
    if not rows:
        return np.zeros((0, 4))
    a = np.array([r[1:] for r in rows], dtype=np.float64)
    return np.stack(
        [a[:, 0] - a[:, 2] / 2, a[:, 1] - a[:, 3] / 2, a[:, 0] + a[:, 2] / 2, a[:, 1] + a[:, 3] / 2], 1
    )


def merge_pseudo_labels(
    truth: list[Row], teacher: list[tuple[Row, float]], conf: float, gt_iou: float
) -> list[Row]:
    """Ground truth, plus confident teacher boxes that overlap no ground-truth box nor a kept teacher box."""
    kept = list(truth)
    for row, score in sorted(teacher, key=lambda t: -t[1]):
        if score < conf:
            continue
        iou = box_iou(to_xyxy([row]), to_xyxy(kept))
        if iou.size and float(iou.max()) >= gt_iou:
            continue
        kept.append(row)
    return kept


def read_rows(label: Path) -> list[Row]:
    """A YOLO box label file as rows."""
    if not label.is_file():
        return []
    rows: list[Row] = []
    for line in label.read_text().splitlines():
        p = line.split()
        if len(p) == 5:
            rows.append((int(p[0]), float(p[1]), float(p[2]), float(p[3]), float(p[4])))
    return rows


def predict_teacher(
    weights: Path, images: list[Path], imgsz: int, conf: float, batch: int
) -> list[list[tuple[Row, float]]]:
    """Teacher boxes per image as normalised rows with scores (ultralytics predict, no augmentation)."""
    from training.ultralytics_env import prepare_ultralytics

    prepare_ultralytics()
    from ultralytics import YOLO

    teacher = YOLO(str(weights))
    out: list[list[tuple[Row, float]]] = []
    for start in range(0, len(images), batch):
        chunk = [str(p) for p in images[start : start + batch]]
        for res in teacher.predict(chunk, imgsz=imgsz, conf=conf, verbose=False, batch=len(chunk)):
            h, w = res.orig_shape
            boxes = res.boxes.xyxy.cpu().numpy().reshape(-1, 4)
            found: list[tuple[Row, float]] = []
            for (x1, y1, x2, y2), s, c in zip(
                boxes, res.boxes.conf.cpu().numpy(), res.boxes.cls.cpu().numpy(), strict=True
            ):
                x1, x2 = max(0.0, x1 / w), min(1.0, x2 / w)
                y1, y2 = max(0.0, y1 / h), min(1.0, y2 / h)
                if x2 - x1 > 1e-4 and y2 - y1 > 1e-4:
                    found.append(((int(c), (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), float(s)))
            out.append(found)
    return out


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    dst.symlink_to(src.resolve())


def unlabelled_photos(prepared: Path) -> list[Path]:
    """Severity photos of train groups that have no damaged-parts labels (one per group)."""
    rows = read_listing(prepared)
    labelled = {str(r["group"]) for r in rows if r["dataset"] == "damaged-parts" and r["used"]}
    reps = ssl_representatives([r for r in rows if r["dataset"] == "severity"], ("train",))
    return [prepared / prepared_path(r) for r in reps if str(r["group"]) not in labelled]


def write_distilled(cfg: DistillConfig, teacher: Path, progress: bool = True) -> tuple[Path, dict[str, int]]:
    """A prepared-like folder (``detect/{train,val,test}``, report.json); train labels carry pseudo-labels."""
    src = cfg.prepared / "detect"
    root = cfg.out / "prepared"
    if root.exists():
        shutil.rmtree(root)
    train = sorted(p for p in (src / "train" / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    extra = unlabelled_photos(cfg.prepared) if cfg.unlabelled else []
    images = train + extra
    predictions = predict_teacher(teacher, images, cfg.teacher.imgsz, min(cfg.conf, 0.99), cfg.batch)
    counts = {"train_images": len(train), "unlabelled_images": 0, "truth_boxes": 0, "teacher_boxes_added": 0}
    listing: list[str] = []
    for k, (path, found) in enumerate(zip(images, predictions, strict=True)):
        truth = read_rows(src / "train" / "labels" / (path.stem + ".txt")) if k < len(train) else []
        rows = merge_pseudo_labels(truth, found, cfg.conf, cfg.gt_iou)
        if k >= len(train):
            if not rows:
                continue  # a photo the teacher is unsure about teaches nothing but "no damage": leave it out
            counts["unlabelled_images"] += 1
        counts["truth_boxes"] += len(truth)
        counts["teacher_boxes_added"] += len(rows) - len(truth)
        name = path.name if k < len(train) else f"u_{path.name}"
        _link(path, root / "detect" / "train" / "images" / name)
        text = "".join(f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in rows)
        label = root / "detect" / "train" / "labels" / (Path(name).stem + ".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(text)
        listing.append(f"{name}\t{text}")
    for split in ("val", "test"):
        for sub in ("images", "labels"):
            for f in sorted((src / split / sub).iterdir()):
                if f.suffix != ".cache":
                    _link(f, root / "detect" / split / sub / f.name)
    spec = json.loads((src / "data.yaml").read_text())
    spec["path"] = str((root / "detect").resolve())
    (root / "detect" / "data.yaml").write_text(json.dumps(spec, indent=2))
    report = json.loads((cfg.prepared / "report.json").read_text())
    hashes = report["sha256"]["detect"]
    hashes["train"] = hashlib.sha256("\n".join(listing).encode()).hexdigest()
    hashes["all"] = hashlib.sha256("".join(hashes[s] for s in ("train", "val", "test")).encode()).hexdigest()
    report["distill"] = counts
    (root / "report.json").write_text(json.dumps(report, indent=2))
    if (cfg.prepared / "photos.json").is_file():
        _link(cfg.prepared / "photos.json", root / "photos.json")
    return root, counts


def distill(cfg: DistillConfig, progress: bool = True) -> Path:
    """Train (or reuse) the teacher, write pseudo-labels, train the student; returns the student run."""
    if cfg.teacher_weights is not None and not cfg.teacher_weights.is_file():
        raise ConfigError(f"teacher_weights {cfg.teacher_weights} not found")
    save_resolved(cfg, cfg.out)
    if cfg.teacher_weights is not None:
        teacher = cfg.teacher_weights
    else:
        run = train_detector(cfg.teacher.model_copy(update={"prepared": cfg.prepared}))
        teacher = run / "weights" / "best.pt"
    prepared, counts = write_distilled(cfg, teacher, progress)
    extra = dict(cfg.student.extra)
    if cfg.feature:
        extra["distill_model"] = str(teacher.resolve())
    student = cfg.student.model_copy(update={"prepared": prepared, "extra": extra})
    run = train_detector(student)
    (run / "distill.json").write_text(json.dumps({"teacher": str(teacher), **counts}, indent=2))
    return run
