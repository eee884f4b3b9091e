"""The allowlist checkpoint reader and transfer by name and shape, on crafted files and the real COCO weights."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest
import torch

from model.manifest import sha256_file
from training.checkpoint import UnsafeCheckpointError, read_checkpoint
from training.config import REPO_ROOT
from training.transfer import build_network, seed_checkpoint, transfer_state

COCO_WEIGHTS = Path(os.environ.get("AUTOQUOTE_PRETRAINED", REPO_ROOT.parent / "shared" / "weights" / "yolov5n-coco.pt"))
needs_weights = pytest.mark.skipif(not COCO_WEIGHTS.is_file(),
                                   reason=f"pretrained weights not found ({COCO_WEIGHTS.name} beside the checkout)")


class _RunsCode:
    """Unpickling this runs a shell command: the classic pickle payload."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path: Path, legacy: bool) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"model": _RunsCode(marker)}, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UnsafeCheckpointError, match=r"(posix|os|nt)\.system") as err:
        read_checkpoint(path)
    assert err.value.code == "unsafe_checkpoint"
    assert not marker.exists()


def test_any_other_global_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "odd.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "when": Path("x")}, path)
    with pytest.raises(UnsafeCheckpointError, match="pathlib"):
        read_checkpoint(path)


def test_foreign_model_classes_load_as_inert_stubs_with_their_tensors(tmp_path: Path) -> None:
    # A checkpoint of another project's nn.Module subclasses, saved while their module existed ...
    common = types.ModuleType("models.common")

    class Conv(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.bn = torch.nn.BatchNorm2d(4)

    Conv.__module__, Conv.__qualname__ = "models.common", "Conv"
    common.Conv = Conv  # type: ignore[attr-defined]
    sys.modules["models"], sys.modules["models.common"] = types.ModuleType("models"), common
    try:
        second = Conv()
        net = torch.nn.Sequential(Conv(), second)
        holder = torch.nn.Module()
        holder.model = net
        torch.save({"model": holder.half(), "epoch": 3}, tmp_path / "foreign.pt")
    finally:
        del sys.modules["models"], sys.modules["models.common"]
    # ... reads back without that module: same tensors, as float32, classes never imported.
    ckpt = read_checkpoint(tmp_path / "foreign.pt")
    assert "models" not in sys.modules
    assert set(ckpt.state_dict) == {f"model.{i}.{k}" for i in (0, 1) for k in (
        "conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
        "bn.num_batches_tracked")}
    assert torch.equal(ckpt.state_dict["model.1.conv.weight"], second.conv.weight.detach().half().float())
    assert ckpt.sha256 == sha256_file(tmp_path / "foreign.pt")
    assert ckpt.describe()["licence"] == "not recorded"


def test_transfer_moves_matching_tensors_and_reports_the_rest(tmp_path: Path) -> None:
    src_first = torch.nn.Conv2d(3, 8, 3)
    src = torch.nn.Sequential(src_first, torch.nn.Conv2d(8, 5, 1))
    torch.save({"model": src.state_dict()}, tmp_path / "src.pt")
    first = torch.nn.Conv2d(3, 8, 3)
    target = torch.nn.Sequential(first, torch.nn.Conv2d(8, 2, 1), torch.nn.Conv2d(2, 2, 1))
    report = transfer_state(read_checkpoint(tmp_path / "src.pt"), target, "toy")
    assert report.transferred == ["0.bias", "0.weight"]
    assert report.shape_mismatch == ["1.weight", "1.bias"]
    assert report.missing_in_source == ["2.weight", "2.bias"]
    assert torch.equal(first.weight, src_first.weight)
    assert report.summary().startswith("transferred 2 of 6 tensors")


@needs_weights
def test_the_real_coco_weights_read_safely_and_seed_detector_and_classifier(tmp_path: Path) -> None:
    ckpt = read_checkpoint(COCO_WEIGHTS)
    assert ckpt.sha256 == "4f180cf23ba0717ada0badd6c685026d73d48f184d00fc159c2641284b2ac0a3"
    assert len(ckpt.state_dict) == 349 and ckpt.describe()["licence"] == "GPL-3.0"

    seed, det = seed_checkpoint(COCO_WEIGHTS, "yolov5n.yaml", "detect", 7, tmp_path / "det")
    assert (len(det.transferred), det.total) == (342, 427)
    assert all(name.startswith("model.24.") for name in det.missing_in_source + det.shape_mismatch)
    from ultralytics.nn.tasks import load_checkpoint

    seeded = load_checkpoint(seed)[0].state_dict()
    fresh = build_network("yolov5n.yaml", "detect", 7).state_dict()
    for key in ("model.0.conv.weight", "model.9.cv2.conv.weight", "model.23.m.0.cv1.conv.weight"):
        assert torch.equal(seeded[key], ckpt.state_dict[key].float()), key
        assert not torch.equal(fresh[key], seeded[key]), key

    _, cls = seed_checkpoint(COCO_WEIGHTS, "yolov5n-cls.yaml", "classify", 3, tmp_path / "cls")
    assert (len(cls.transferred), cls.total) == (186, 194)
    assert all(name.startswith("model.9.") for name in cls.missing_in_source)
    assert (tmp_path / "cls" / "transfer.json").is_file()
