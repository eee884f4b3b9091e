"""Plots people would rather look at than read: PR curves, confusion matrices, boxes on images, curves."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from model.offline import configure_offline


def _pyplot():  # type: ignore[no-untyped-def]
    configure_offline()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pr_curves(curves: np.ndarray, ap50: np.ndarray, classes: Sequence[str], path: Path) -> Path:
    """Precision-recall curve per class at IoU 0.5, AP in the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    for c, name in enumerate(classes):
        ax.plot(curves[c, 0], curves[c, 1], label=f"{name} {ap50[c]:.3f}")
    ax.plot(curves[0, 0], curves[:, 1].mean(axis=0), "k", lw=2.5, label=f"all {ap50.mean():.3f}")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01), title="Precision-recall at IoU 0.5")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def confusion(matrix: np.ndarray, labels: Sequence[str], path: Path, title: str) -> Path:
    """Confusion matrix, rows = truth, columns = prediction, counts and row-normalised shading."""
    plt = _pyplot()
    m = np.asarray(matrix, dtype=float)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(labels), 0.8 + 0.7 * len(labels)), dpi=110)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def draw_boxes(image: Image.Image, truth: Sequence[tuple[Sequence[float], str]],
               predicted: Sequence[tuple[Sequence[float], str, float]]) -> Image.Image:
    """A copy of ``image`` with true boxes in green and predicted boxes in red with their scores."""
    canvas = image.convert("RGB").copy()
    draw = ImageDraw.Draw(canvas)
    for box, label in truth:
        draw.rectangle(list(box), outline=(40, 200, 60), width=2)
        draw.text((box[0] + 2, box[3] - 11), label, fill=(40, 200, 60))
    for box, label, score in predicted:
        draw.rectangle(list(box), outline=(230, 40, 40), width=2)
        draw.text((box[0] + 2, box[1] + 1), f"{label} {score:.2f}", fill=(230, 40, 40))
    return canvas


def image_grid(images: Sequence[Image.Image], path: Path, columns: int = 4, cell: int = 256) -> Path:
    """Tile images into one PNG, each fitted into a ``cell`` square."""
    rows = max(1, (len(images) + columns - 1) // columns)
    grid = Image.new("RGB", (columns * cell, rows * cell), (255, 255, 255))
    for i, im in enumerate(images):
        thumb = im.copy()
        thumb.thumbnail((cell, cell))
        grid.paste(thumb, ((i % columns) * cell, (i // columns) * cell))
    grid.save(path)
    return path


def training_curves(results_csv: Path, path: Path, keys: Sequence[str]) -> Path | None:
    """Loss and metric curves from an ultralytics ``results.csv``."""
    if not results_csv.is_file():
        return None
    with results_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return None
    plt = _pyplot()
    present = [k for k in keys if k in rows[0]]
    fig, axes = plt.subplots(1, len(present), figsize=(3.2 * len(present), 3), dpi=110, squeeze=False)
    epochs = [float(r["epoch"]) for r in rows]
    for ax, key in zip(axes[0], present, strict=True):
        ax.plot(epochs, [float(r[key]) for r in rows])
        ax.set_title(key.replace("metrics/", "val ").replace("(B)", ""), fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
