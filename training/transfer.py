"""Seed a network with the tensors of another checkpoint that match it by name and shape.

``init_from`` of the training commands goes through here: the checkpoint is read with the allowlist reader
(:mod:`training.checkpoint`), the target network is built from its architecture YAML, every tensor whose
name and shape agree is copied, and the result is saved as an ultralytics checkpoint that the trainer's
``pretrained=`` loads. What moved and what did not is printed and saved as ``transfer.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.checkpoint import Checkpoint, read_checkpoint

TRANSFER_FILE = "transfer.json"
SEED_FILE = "init.pt"


@dataclass(frozen=True)
class TransferReport:
    source: dict[str, str]
    target: str
    transferred: list[str]
    shape_mismatch: list[str]
    missing_in_source: list[str]
    unused_in_source: list[str]

    @property
    def total(self) -> int:
        return len(self.transferred) + len(self.shape_mismatch) + len(self.missing_in_source)

    def summary(self) -> str:
        return (f"transferred {len(self.transferred)} of {self.total} tensors of {self.target} from "
                f"{self.source['file']} ({len(self.shape_mismatch)} differ in shape, "
                f"{len(self.missing_in_source)} absent from the checkpoint)")

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "transferred": len(self.transferred),
                "total": self.total, "transferred_names": self.transferred,
                "shape_mismatch": self.shape_mismatch, "missing_in_source": self.missing_in_source,
                "unused_in_source": self.unused_in_source}


def transfer_state(checkpoint: Checkpoint, target: Any, target_name: str) -> TransferReport:
    """Copy every tensor of ``checkpoint`` whose name and shape match into ``target`` (an ``nn.Module``)."""
    import torch

    own = target.state_dict()
    moved: dict[str, torch.Tensor] = {}
    mismatch: list[str] = []
    missing: list[str] = []
    for name, tensor in own.items():
        src = checkpoint.state_dict.get(name)
        if src is None:
            missing.append(name)
        elif tuple(src.shape) != tuple(tensor.shape):
            mismatch.append(name)
        else:
            moved[name] = src.to(dtype=tensor.dtype)
    target.load_state_dict(moved, strict=False)
    unused = sorted(set(checkpoint.state_dict) - set(own))
    return TransferReport(checkpoint.describe(), target_name, sorted(moved), mismatch, missing, unused)


def build_network(model_yaml: str, task: str, nc: int) -> Any:
    """The ultralytics network of ``model_yaml`` (a name ultralytics knows, or a path) with ``nc`` classes."""
    from ultralytics.nn.tasks import ClassificationModel, DetectionModel

    cls = DetectionModel if task == "detect" else ClassificationModel
    return cls(resolve_model_yaml(model_yaml), nc=nc, verbose=False)


def resolve_model_yaml(model_yaml: str) -> str:
    """A project architecture in ``training/configs/models`` by name, else the name as ultralytics knows it."""
    from training.config import CONFIG_DIR

    local = CONFIG_DIR / "models" / model_yaml
    return str(local) if local.is_file() else model_yaml


def seed_checkpoint(init_from: Path, model_yaml: str, task: str, nc: int, run_dir: Path) -> tuple[Path, TransferReport]:
    """Write ``run_dir/init.pt`` (the target network seeded from ``init_from``) and ``transfer.json``."""
    import torch

    checkpoint = read_checkpoint(init_from)
    network = build_network(model_yaml, task, nc)
    report = transfer_state(checkpoint, network, Path(model_yaml).name)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = run_dir / SEED_FILE
    torch.save({"model": network, "train_args": {}, "date": datetime.now(UTC).isoformat(),
                "initial_weights": checkpoint.describe()}, seed)
    (run_dir / TRANSFER_FILE).write_text(json.dumps(report.to_json(), indent=2))
    print(report.summary())
    return seed, report


def initial_weights(run_dir: Path) -> dict[str, Any] | None:
    """What a run was seeded from (file, sha256, licence, tensors moved), for its manifest; None if from scratch."""
    path = run_dir / TRANSFER_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return {**data["source"], "tensors_transferred": f"{data['transferred']} of {data['total']}"}
