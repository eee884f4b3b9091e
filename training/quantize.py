"""int8 quantisation of an exported detector with onnxruntime, judged on the held-out split.

Static QDQ (activations uint8, weights int8 per channel) calibrated on letterboxed train images, through
the same ``model.preprocess.letterbox`` the runtime uses. The head's box-decoding arithmetic stays in float:
pixel coordinates in 8 bits would move boxes by whole pixels. The verdict keeps int8 only when mAP50
drops by less than ``max_drop`` (one point by default).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from model.detector import Detector
from model.errors import ConfigError
from model.kinds import DETECTOR
from model.manifest import WEIGHTS_DIR, Manifest, load_manifest
from model.preprocess import letterbox
from training.config import default_work_dir, save_resolved
from training.evaluate import evaluate_detector, split_images
from training.export import finalise, ship


class QuantizeConfig(BaseModel):
    """Which detector to quantise, on what to calibrate and judge it, and the bar int8 must clear."""

    model_config = ConfigDict(extra="forbid")

    model: Path = Field(default_factory=lambda: DETECTOR.shipped)
    prepared: Path = Field(default_factory=lambda: default_work_dir() / "prepared")
    out: Path = Field(default_factory=lambda: default_work_dir() / "quantize")
    split: str = "test"
    calibration_split: str = "train"
    calibration_images: int = 200
    method: Literal["minmax", "entropy", "percentile"] = "minmax"
    mode: Literal["static", "dynamic"] = "static"
    per_channel: bool = True
    float_head_decode: bool = True
    max_drop: float = Field(0.01, description="largest mAP50 loss (absolute) that still keeps int8")
    latency_rounds: int = 200
    seed: int = 0


class LetterboxReader:
    """An onnxruntime ``CalibrationDataReader`` over letterboxed images."""

    def __init__(self, images: list[Path], size: int, manifest: Manifest, input_name: str) -> None:
        self.images, self.size, self.manifest, self.input_name = images, size, manifest, input_name
        self._it: Iterator[dict[str, np.ndarray]] | None = None

    def _gen(self) -> Iterator[dict[str, np.ndarray]]:
        for path in self.images:
            with Image.open(path) as im:
                tensor, _ = letterbox(im, self.size, self.manifest.preprocess)
            yield {self.input_name: tensor}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._it is None:
            self._it = self._gen()
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = None


def head_decode_nodes(model_path: Path) -> list[str]:
    """Nodes of the last module (the Detect head) that are not its convolution branches: the box decoding."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    index = [int(m.group(1)) for n in graph.node if (m := re.match(r"/model\.(\d+)/", n.name))]
    if not index:
        return []
    prefix = f"/model.{max(index)}/"
    return [
        n.name
        for n in graph.node
        if n.name.startswith(prefix)
        and not n.name[len(prefix) :].startswith("cv")
        and not n.name[len(prefix) :].startswith("one2one_cv")
    ]


def quantize_file(cfg: QuantizeConfig, source: Path, target: Path, manifest: Manifest) -> None:
    """Write the int8 model of ``source`` to ``target`` (static QDQ or dynamic)."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepped = target.with_name(target.stem + "-prep.onnx")
    quant_pre_process(str(source), str(prepped), skip_symbolic_shape=True)
    exclude = head_decode_nodes(prepped) if cfg.float_head_decode else []
    if cfg.mode == "dynamic":
        quantize_dynamic(
            str(prepped),
            str(target),
            per_channel=cfg.per_channel,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude,
        )
    else:
        images = split_images(cfg.prepared, cfg.calibration_split)
        rng = np.random.default_rng(cfg.seed)
        picked = [images[i] for i in sorted(rng.permutation(len(images))[: cfg.calibration_images])]
        method = {
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }[cfg.method]
        reader = LetterboxReader(picked, manifest.input_size, manifest, manifest.input_name)
        quantize_static(
            str(prepped),
            str(target),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=cfg.per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=method,
            nodes_to_exclude=exclude,
        )
    prepped.unlink(missing_ok=True)


def interleaved_latency(
    paths: dict[str, Path], images: list[Path], rounds: int
) -> dict[str, dict[str, float]]:
    """Median and p95 of letterbox + run + decode, the models taking turns on the same images (busy CPU)."""
    detectors = {k: Detector.load(p) for k, p in paths.items()}
    times: dict[str, list[float]] = {k: [] for k in paths}
    frames = []
    for path in images[: max(1, min(len(images), 32))]:
        with Image.open(path) as im:
            frames.append(im.convert("RGB"))
    for k in detectors:  # warm-up
        detectors[k].detect(frames[0])
    for r in range(rounds):
        frame = frames[r % len(frames)]
        for k, det in detectors.items():
            start = time.perf_counter()
            det.detect(frame)
            times[k].append((time.perf_counter() - start) * 1000)
    return {k: {"median": float(np.median(v)), "p95": float(np.percentile(v, 95))} for k, v in times.items()}


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "map50": report["map50"],
        "map50_95": report["map50_95"],
        "per_class_ap50": {k: v["ap50"] for k, v in report["per_class"].items()},
    }


def quantize(cfg: QuantizeConfig, command: str, progress: bool = True) -> dict[str, Any]:
    """Quantise, evaluate fp32 and int8 on the same split, write the int8 manifest and a JSON report."""
    if not cfg.model.is_file():
        raise ConfigError(f"{cfg.model} not found: export a detector first")
    fp32_manifest = load_manifest(cfg.model)
    if fp32_manifest.task != "detect":
        raise ConfigError(f"{cfg.model.name} is a {fp32_manifest.task!r} model; quantize takes the detector")
    cfg.out.mkdir(parents=True, exist_ok=True)
    save_resolved(cfg, cfg.out)
    target = cfg.out / f"{cfg.model.stem}-int8.onnx"
    quantize_file(cfg, cfg.model, target, fp32_manifest)
    settings = {
        "mode": cfg.mode,
        "format": "QDQ" if cfg.mode == "static" else "dynamic",
        "activations": "uint8",
        "weights": "int8",
        "per_channel": cfg.per_channel,
        "calibration": {
            "method": cfg.method,
            "split": cfg.calibration_split,
            "images": cfg.calibration_images,
        }
        if cfg.mode == "static"
        else None,
        "float_head_decode": cfg.float_head_decode,
        "from": f"{fp32_manifest.name} {fp32_manifest.version}",
        "from_sha256": fp32_manifest.sha256,
    }
    draft = fp32_manifest.updated(
        version=f"{fp32_manifest.version}-int8",
        file=target.name,
        sha256="",
        trained_with=fp32_manifest.trained_with.model_copy(
            update={"command": f"{fp32_manifest.trained_with.command} && {command}"}
        ),
        notes=[*fp32_manifest.notes, f"int8 ({settings['format']}, onnxruntime) of {settings['from']}"],
        quantization=settings,
    )
    finalise(target, draft)
    fp32 = evaluate_detector(
        Detector.load(cfg.model), cfg.prepared, cfg.split, cfg.out / "eval-fp32", progress
    )
    int8 = evaluate_detector(Detector.load(target), cfg.prepared, cfg.split, cfg.out / "eval-int8", progress)
    latency = interleaved_latency(
        {"fp32": cfg.model, "int8": target}, split_images(cfg.prepared, cfg.split), cfg.latency_rounds
    )
    drop = fp32["map50"] - int8["map50"]
    keep = drop < cfg.max_drop
    metrics = {k: v for k, v in int8.items() if k != "per_image"}
    metrics.update(
        split=cfg.split,
        latency_ms={
            **latency["int8"],
            "what": "letterbox + onnxruntime + decode, interleaved with the fp32 model, this machine",
        },
    )
    final = finalise(target, draft.updated(metrics=metrics))
    report = {
        "model": {
            "fp32": f"{fp32_manifest.name} {fp32_manifest.version}",
            "int8": f"{final.name} {final.version}",
        },
        "split": cfg.split,
        "images": fp32["images"],
        "input_size": fp32_manifest.input_size,
        "fp32": _summary(fp32),
        "int8": _summary(int8),
        "map50_drop": drop,
        "max_drop": cfg.max_drop,
        "latency_ms": latency,
        "latency_saving": 1 - latency["int8"]["median"] / latency["fp32"]["median"],
        "size_bytes": {"fp32": cfg.model.stat().st_size, "int8": target.stat().st_size},
        "settings": settings,
        "verdict": "keep int8" if keep else "keep fp32",
        "files": {"int8": target.name},
    }
    (cfg.out / "quantize_report.json").write_text(json.dumps(report, indent=2))
    return report


def ship_if_kept(report: dict[str, Any], out: Path) -> Path | None:
    """Copy the int8 model into ``model/weights`` as detector.onnx only if the verdict keeps it."""
    if report["verdict"] != "keep int8":
        return None
    return ship(out / report["files"]["int8"], WEIGHTS_DIR, DETECTOR.name)
