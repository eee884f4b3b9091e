"""Training on a CUDA GPU, as ``training/gpu_run.sh`` does: the run is on the GPU and its export, checked on
the CPU runtime, still matches torch. Skipped where torch sees no CUDA device (``gpu`` marker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from training.cli import main

from .synthetic_data import make_shared_datasets

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def train_and_export_detector(root: Path, device: str) -> tuple[dict[str, object], dict[str, object]]:
    """One epoch at 64 px on ``device``, exported: the run's ultralytics arguments and the manifest."""
    make_shared_datasets(root / "shared", n_sources=30, n_severity=30)
    assert main(["prepare", "--data-root", str(root / "shared"), "--out", str(root / "prepared")]) == 0
    assert main(["train-detector", "--config", "detector-cpu.yaml", "--prepared", str(root / "prepared"),
                 "--set", f"project={root / 'runs'}", "--set", "name=det", "--set", "time=null",
                 "--set", "epochs=1", "--set", "imgsz=64", "--set", "batch=8", "--set", "cache=false",
                 "--set", f"device='{device}'"]) == 0
    run = root / "runs" / "det"
    assert main(["export", "detector", "--run", str(run), "--version", f"on-{device}"]) == 0
    manifest = json.loads((run / "weights" / "best.json").read_text())
    return yaml.safe_load((run / "args.yaml").read_text()), manifest


def test_the_detector_trains_on_the_gpu_and_its_export_matches_torch(tmp_path: Path) -> None:
    args, manifest = train_and_export_detector(tmp_path, "0")
    assert str(args["device"]) == "0"
    metrics = manifest["metrics"]
    assert isinstance(metrics, dict)
    parity = metrics["parity_torch_vs_onnxruntime"]
    assert parity["max_raw_output"] < 1e-2 and parity["max_score"] < 1e-3
