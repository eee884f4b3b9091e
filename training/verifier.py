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
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from model.pipeline import PipelineConfig, expand_box
from training.config import add_config_options, default_data_root, default_work_dir
from training.declared_claims import CAR_PARTS_TO_DAMAGE

NO_DAMAGE = "no_damage"
FOLDER = "verifier"


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

    p = sub.add_parser("train-verifier-probe",
                       help="fit the part verifier: a softmax layer on frozen ImageNet EfficientNet-Lite0 features")
    add_config_options(p, "verifier-probe.yaml", "imgsz=192")
    p.set_defaults(func=cmd_train_probe)

    p = sub.add_parser("export-verifier", help="export a verifier run to ONNX, measure it, write its manifest")
    p.add_argument("--run", required=True, help="run folder written by train-verifier-probe")
    p.add_argument("--version", help="model version (default: UTC date and time)")
    p.add_argument("--split", default="test", help="held-out split to report (default test)")
    p.add_argument("--prepared", help="prepared data folder (default: the one the run used)")
    p.add_argument("--data-root", help="folder holding car-parts/ (default ../shared/datasets)")
    p.add_argument("--flip-average", action="store_true",
                   help="the runtime checks each crop with its mirror image and averages the two")
    p.add_argument("--int8", action="store_true", help="ship the int8 copy (static QDQ), measured the same way")
    p.add_argument("--ship", action="store_true", help="copy the ONNX and manifest into model/weights/verifier.*")
    p.set_defaults(func=cmd_export)


def class_balance(counts: dict[str, int]) -> dict[str, float]:
    """Inverse-frequency class weights, normalised to a mean of one."""
    inv = {k: 1.0 / max(v, 1) for k, v in counts.items()}
    mean = float(np.mean(list(inv.values())))
    return {k: v / mean for k, v in inv.items()}


class ProbeConfig(BaseModel):
    """A linear probe: the ImageNet EfficientNet-Lite0 body frozen, one softmax layer fitted on its features.

    On two CPU cores a fine-tune of the whole network takes hours; the probe takes minutes and keeps the
    pretrained features whole. Its penalty is chosen on val macro-F1; each training crop is also seen mirrored.
    """

    model_config = ConfigDict(extra="forbid")

    prepared: Path = Field(default_factory=lambda: default_work_dir() / "prepared")
    project: Path = Field(default_factory=lambda: default_work_dir() / "runs")
    name: str = "verifier-probe"
    imgsz: int = 160
    penalties: list[float] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
    balanced: bool = Field(True, description="weight each class by the inverse of its share of the crops")
    mirror: bool = True
    iterations: int = 300
    threads: int = 2


def _features(net: Any, pictures: list[Image.Image], imgsz: int, mirror: bool = False) -> np.ndarray:
    """The pooled 1280 features of each picture, preprocessed exactly as the runtime does."""
    import torch

    from model.manifest import Preprocess
    from model.preprocess import resize_center_crop
    from training.effnet import MEAN, STD

    spec = Preprocess(kind="resize_center_crop", mean=MEAN, std=STD)
    rows = []
    with torch.no_grad():
        for start in range(0, len(pictures), 64):
            x = torch.from_numpy(np.concatenate([resize_center_crop(p, imgsz, spec)
                                                 for p in pictures[start : start + 64]]))
            if mirror:
                x = torch.flip(x, dims=[3])
            rows.append(net._avg_pooling(net.extract_features(x)).flatten(1).numpy())
    return np.concatenate(rows)


def _fit(x: np.ndarray, y: np.ndarray, classes: int, penalty: float, weights: np.ndarray,
         iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression (L2 ``penalty`` on the weights) by L-BFGS; returns W (C x F), b (C)."""
    import torch

    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).long()
    w = torch.zeros(classes, x.shape[1], requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(weights).float())
    opt = torch.optim.LBFGS([w, b], max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        loss = loss_fn(xt @ w.T + b, yt) + penalty * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def _load(folder: Path, classes: list[str]) -> tuple[list[Image.Image], np.ndarray]:
    pictures, labels = [], []
    for index, name in enumerate(classes):
        for path in sorted((folder / name).glob("*.jpg")):
            with Image.open(path) as im:
                pictures.append(im.convert("RGB"))
            labels.append(index)
    return pictures, np.array(labels)


def train_probe(cfg: ProbeConfig) -> Path:
    """Fit the probe on ``prepared/verifier/train``, choose the penalty on val; returns the run folder."""
    import torch

    from model.errors import ConfigError
    from training.effnet import EffnetConfig, build_network, macro_f1

    torch.set_num_threads(cfg.threads)
    meta_path = cfg.prepared / FOLDER / "verifier.json"
    if not meta_path.is_file():
        raise ConfigError(f"{meta_path} not found: run `autoquote-train prepare-verifier-crops` first")
    classes = json.loads(meta_path.read_text())["classes"]
    run = cfg.project / cfg.name
    (run / "weights").mkdir(parents=True, exist_ok=True)
    net = build_network(len(classes), dropout=0.0).eval()
    # the features depend only on the crops, the size and the mirroring: kept beside the run for new penalties
    cache = run / f"features-{cfg.imgsz}{'-mirror' if cfg.mirror else ''}.npz"
    if cache.is_file():
        saved = np.load(cache)
        x_train, y_train, x_val, y_val = saved["x_train"], saved["y_train"], saved["x_val"], saved["y_val"]
    else:
        train_pictures, y_train = _load(cfg.prepared / FOLDER / "train", classes)
        val_pictures, y_val = _load(cfg.prepared / FOLDER / "val", classes)
        x_train = _features(net, train_pictures, cfg.imgsz)
        if cfg.mirror:
            x_train = np.concatenate([x_train, _features(net, train_pictures, cfg.imgsz, mirror=True)])
            y_train = np.concatenate([y_train, y_train])
        x_val = _features(net, val_pictures, cfg.imgsz)
        np.savez(cache, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)
    counts = np.bincount(y_train, minlength=len(classes)).astype(float)
    weights = (counts.sum() / np.maximum(counts, 1) / len(classes)) if cfg.balanced else np.ones(len(classes))
    trials = []
    best: tuple[float, np.ndarray, np.ndarray, float] | None = None
    for penalty in cfg.penalties:
        w, b = _fit(x_train, y_train, len(classes), penalty, weights, cfg.iterations)
        guess = (x_val @ w.T + b).argmax(axis=1)
        cm = np.zeros((len(classes), len(classes)), dtype=int)
        np.add.at(cm, (y_val, guess), 1)
        score = macro_f1(cm)
        trials.append({"penalty": penalty, "val_macro_f1": score, "val_accuracy": float(np.trace(cm) / cm.sum())})
        print(f"penalty {penalty:g}: val macro-F1 {score:.3f}", flush=True)
        if best is None or score > best[0]:
            best = (score, w, b, penalty)
    assert best is not None
    with torch.no_grad():
        net._fc.weight.copy_(torch.from_numpy(best[1]))
        net._fc.bias.copy_(torch.from_numpy(best[2]))
    torch.save({"model": net.state_dict(), "penalty": best[3]}, run / "weights" / "best.pt")
    recipe = EffnetConfig(prepared=cfg.prepared, project=cfg.project, name=cfg.name, data=FOLDER, classes=classes,
                          watch=NO_DAMAGE, train_views=None, val_views=None, imgsz=cfg.imgsz, epochs=0, dropout=0.0,
                          freeze_blocks=99, class_weights={})
    (run / "config.json").write_text(recipe.model_dump_json(indent=2))
    (run / "probe.json").write_text(json.dumps({"config": cfg.model_dump(mode="json"), "trials": trials,
                                                "chosen_penalty": best[3], "class_weights": weights.tolist()},
                                               indent=2, default=str))
    return run


def cmd_train_probe(args: argparse.Namespace) -> None:
    from training.config import load_config

    cfg = load_config(ProbeConfig, args.config, list(args.overrides))
    run = train_probe(cfg)
    print(f"run folder: {run}\nnext: autoquote-train export-verifier --run {run}")


def car_parts_test_crops(data_root: Path, margin: float) -> list[Image.Image]:
    """Crops of the intact parts of ``car-parts/testset`` (never trained on): all should read no damage."""
    coco = json.loads((data_root / "car-parts" / "testset" / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    crops = []
    for ann in coco["annotations"]:
        x, y, w, h = ann["bbox"]
        if names.get(ann["category_id"]) not in CAR_PARTS_TO_DAMAGE or w < 16 or h < 16:
            continue
        with Image.open(data_root / "car-parts" / "testset" / "JPEGImages" / files[ann["image_id"]]) as im:
            image = im.convert("RGB")
        crops.append(image.crop(expand_box((x, y, x + w, y + h), image.size, margin)))
    return crops


def measure(model: Any, prepared: Path, split: str, out_dir: Path) -> dict[str, Any]:
    """The verifier through the runtime on ``prepared/verifier/<split>``: per class, macro-F1, confusion."""
    from training import plots
    from training.effnet import macro_f1
    from training.metrics import classification_report

    classes = list(model.classes)
    pictures, labels = _load(prepared / FOLDER / split, classes)
    guesses = np.concatenate([model.probabilities(pictures[i : i + 64]).argmax(axis=1)
                              for i in range(0, len(pictures), 64)]) if pictures else np.zeros(0, dtype=int)
    report = classification_report(labels, guesses, classes)
    cm = np.array(report["confusion_matrix"])
    report["macro_f1"] = macro_f1(cm)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots.confusion(cm, classes, out_dir / f"verifier_confusion_{split}.png", f"Part verifier on {split} crops")
    return report


def cmd_export(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from model.errors import ConfigError
    from model.manifest import DatasetRef, Manifest, Preprocess, TrainedWith
    from model.verifier import PartVerifier
    from training.config import command_line, config_sha256, portable_config
    from training.effnet import MEAN, STD, EffnetConfig, export_onnx, initial_weights_record, parity
    from training.export import finalise, ship

    run = Path(args.run)
    if not (run / "weights" / "best.pt").is_file():
        raise ConfigError(f"{run}: no weights/best.pt; fit one with `autoquote-train train-verifier-probe` first")
    cfg = EffnetConfig.model_validate_json((run / "config.json").read_text())
    prepared = Path(args.prepared) if args.prepared else cfg.prepared
    data_root = Path(args.data_root) if args.data_root else default_data_root()
    version = args.version or datetime.now(UTC).strftime("%Y.%m.%d-%H%M")
    onnx_path = export_onnx(run)
    hashes = json.loads((prepared / "report.json").read_text())["sha256"]["detect"]
    command = (f"autoquote-train prepare && autoquote-train prepare-verifier-crops && "
               f"autoquote-train train-verifier-probe --set name={cfg.name} && {command_line(args)}")
    probe = run / "probe.json"
    if probe.is_file():  # the probe's own settings and trials, paths made relative to the repository
        recipe = json.loads(probe.read_text())
        recipe["config"] = portable_config(ProbeConfig.model_validate(recipe["config"]))
    else:
        recipe = portable_config(cfg)

    def manifest(metrics: dict[str, Any]) -> Manifest:
        return Manifest(
            name="autoquote-verifier", version=version, task="classify", classes=cfg.classes, input_size=cfg.imgsz,
            preprocess=Preprocess(kind="resize_center_crop", mean=MEAN, std=STD, flip_average=args.flip_average),
            opset=17, sha256="", file=onnx_path.name,
            dataset=DatasetRef(source="damaged-parts (CC BY 4.0) crops; car-parts trainingset intact parts "
                               "(licence not stated; research data)", split="train (grouped by source photo), "
                               "penalty chosen on val, metrics on test", sha256=hashes["all"], splits=hashes),
            metrics=metrics,
            trained_with=TrainedWith(command=command, config=recipe, config_sha256=config_sha256(cfg)),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            licence="AGPL-3.0-or-later; initial weights Apache-2.0 (ImageNet EfficientNet-Lite0)",
            notes=["metrics computed through model/ (onnxruntime) on crops around labelled damage and intact parts"],
            initial_weights=initial_weights_record(),
        )

    finalise(onnx_path, manifest({}))
    intact = car_parts_test_crops(data_root, PipelineConfig().crop_margin)

    def figures(path: Path) -> dict[str, Any]:
        model = PartVerifier.load(path)
        out = run / "eval" / path.stem
        metrics: dict[str, Any] = {"split": args.split}
        for split in ("val", args.split):
            report = measure(model, prepared, split, out)
            metrics[split] = {k: report[k] for k in ("macro_f1", "accuracy", "per_class", "confusion_matrix")}
        called = None
        if intact:
            rows = np.concatenate([model.probabilities(intact[i : i + 64]) for i in range(0, len(intact), 64)])
            called = float((rows.argmax(axis=1) == model.classes.index(NO_DAMAGE)).mean())
        metrics["car_parts_testset_intact"] = {"crops": len(intact), "called_no_damage": called}
        return metrics

    metrics = figures(onnx_path)
    pictures, _ = _load(prepared / FOLDER / args.split, cfg.classes)
    sample_dir = run / "eval" / "parity"
    sample_dir.mkdir(parents=True, exist_ok=True)
    samples = []
    for i, picture in enumerate(pictures[:: max(1, len(pictures) // 8)][:8]):
        picture.save(sample_dir / f"{i}.jpg")
        samples.append(sample_dir / f"{i}.jpg")
    metrics["parity_torch_vs_onnxruntime"] = parity(run, onnx_path, samples, runtime=PartVerifier)
    final = finalise(onnx_path, manifest(metrics))
    shipped = onnx_path
    if args.int8:
        from training.effnet import quantize_int8

        train_pictures, _ = _load(prepared / FOLDER / "train", cfg.classes)
        int8_path = quantize_int8(onnx_path, train_pictures[::20], final.preprocess, cfg.imgsz)
        quantization = {"method": "onnxruntime static QDQ, weights int8 per channel, activations uint8",
                        "calibration": f"{len(train_pictures[::20])} train crops", "from": f"{final.name}@{version}",
                        "fp32_bytes": onnx_path.stat().st_size}
        finalise(int8_path, manifest({}).updated(file=int8_path.name, quantization=quantization))
        metrics8 = figures(int8_path)
        metrics8["fp32"] = {k: metrics[k] if k == "car_parts_testset_intact" else metrics[k]["macro_f1"]
                            for k in ("val", args.split, "car_parts_testset_intact")}
        finalise(int8_path, manifest(metrics8).updated(file=int8_path.name, quantization=quantization))
        metrics, shipped = metrics8, int8_path
    print(json.dumps({k: metrics[k] for k in ("car_parts_testset_intact", "parity_torch_vs_onnxruntime", "fp32")
                      if k in metrics}, indent=2))
    for split in ("val", args.split):
        print(f"{split}: macro-F1 {metrics[split]['macro_f1']:.3f}, accuracy {metrics[split]['accuracy']:.3f}")
    print(f"exported {shipped} with manifest; plots in {run / 'eval'}")
    if args.ship:
        print(f"shipped as {ship(shipped, model_weights_dir(), 'verifier')}")


def model_weights_dir() -> Path:
    from model.kinds import WEIGHTS_DIR

    return WEIGHTS_DIR
