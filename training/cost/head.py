"""The cost head in torch: a small quantile MLP on log(paid / catalogue total), trained, exported to ONNX."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import torch
from torch import nn

from model.errors import ModelError
from model.offline import configure_offline
from training.cost.config import HeadConfig

INPUT_NAME = "features"
OUTPUT_NAME = "quantiles"


class QuantileMLP(nn.Module):
    """Standardise the features, two hidden layers, three ordered quantiles (low <= mid <= high)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, n_features: int, hidden: int, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.reshape(1, -1).float())
        self.register_buffer("std", std.reshape(1, -1).float())
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net((x - self.mean) / self.std)
        mid = out[:, 1:2]
        # Softplus gaps make the quantiles ordered by construction, so they never cross.
        low = mid - nn.functional.softplus(out[:, 0:1])
        high = mid + nn.functional.softplus(out[:, 2:3])
        return torch.cat([low, mid, high], dim=1)


def pinball_loss(pred: torch.Tensor, y: torch.Tensor, quantiles: Sequence[float]) -> torch.Tensor:
    """Mean pinball (quantile) loss over the three outputs."""
    q = torch.tensor(list(quantiles), dtype=pred.dtype).reshape(1, -1)
    err = y.reshape(-1, 1) - pred
    return torch.maximum(q * err, (q - 1.0) * err).mean()


def head_loss(
    pred: torch.Tensor, y: torch.Tensor, quantiles: Sequence[float], point_scale: float
) -> torch.Tensor:
    """Pinball loss on all three outputs, plus a Welsch term pulling the middle one towards the mode.

    The ledger's log ratio is a mixture (most claims near the catalogue, some with large hidden-damage
    supplements), so its median sits between the modes; the quotes that land within 10-20% of the paid
    amount are won at the mode. ``point_scale`` = 0 trains a plain median.
    """
    loss = pinball_loss(pred, y, quantiles)
    if point_scale > 0:
        err = (y - pred[:, 1]) / point_scale
        loss = loss + (1.0 - torch.exp(-0.5 * err * err)).mean()
    return loss


def train_one_epoch(
    model: QuantileMLP,
    optimiser: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    quantiles: Sequence[float],
    config: HeadConfig,
    generator: torch.Generator,
) -> float:
    """One pass over the training rows in a seeded random order; returns the mean loss."""
    model.train()
    order = torch.randperm(x.shape[0], generator=generator)
    total = 0.0
    for start in range(0, x.shape[0], config.batch_size):
        idx = order[start : start + config.batch_size]
        loss = head_loss(model(x[idx]), y[idx], quantiles, config.point_scale)
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        total += float(loss.detach()) * idx.numel()
    return total / x.shape[0]


def train_head(
    features: npt.NDArray[np.float32],
    target: npt.NDArray[np.float64],
    quantiles: Sequence[float],
    config: HeadConfig,
    seed: int,
) -> tuple[QuantileMLP, list[float]]:
    """Fit the head on the training rows; returns it in eval mode with the loss per epoch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(features.astype(np.float32))
    y = torch.from_numpy(target.astype(np.float32))
    mean = x.mean(dim=0)
    std = x.std(dim=0).clamp_min(1e-3)  # constant columns (a region absent from the ledger) stay finite
    model = QuantileMLP(x.shape[1], config.hidden, mean, std)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    losses = []
    for _ in range(config.epochs):
        losses.append(train_one_epoch(model, optimiser, x, y, quantiles, config, generator))
        schedule.step()
    return model.eval(), losses


def predict_torch(model: QuantileMLP, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The head's quantiles in torch, for training-side checks."""
    with torch.no_grad():
        out: npt.NDArray[np.float32] = model(torch.from_numpy(features.astype(np.float32))).numpy()
    return out


def predict_onnx(path: Path, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The exported head's quantiles through onnxruntime, as the service runs it."""
    configure_offline()
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out: npt.NDArray[np.float32] = session.run([OUTPUT_NAME], {INPUT_NAME: features.astype(np.float32)})[0]
    return out


def export_onnx(model: QuantileMLP, path: Path, opset: int, metadata: dict[str, str]) -> Path:
    """Write the head as ONNX with a dynamic batch axis and ``metadata``; checked with ``onnx.checker``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, int(model.mean.shape[1]))
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated but needs no onnxscript; the graph is three Gemms.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "claims"}, OUTPUT_NAME: {0: "claims"}},
            opset_version=opset,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def check_parity(
    model: QuantileMLP, path: Path, features: npt.NDArray[np.float32], atol: float = 1e-4
) -> float:
    """Largest torch-versus-onnxruntime difference on ``features``; refuses an export beyond ``atol``."""
    diff = float(np.max(np.abs(predict_torch(model, features) - predict_onnx(path, features))))
    if diff > atol:
        raise ModelError(f"ONNX export of the cost head differs from torch by {diff:.2e} (> {atol:.0e})")
    return diff
