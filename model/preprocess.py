"""Preprocessing, written once: used by the runtime, the export parity checks and the evaluation.

Both transforms take a ``PIL.Image`` of any mode and size and return a float32 NCHW tensor in RGB 0–1
(then normalised by the manifest's mean and std).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from model.manifest import Preprocess


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the square network input: scale, then padding on the left and top."""

    gain: float
    pad_x: int
    pad_y: int
    width: int
    height: int

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """Map x1,y1,x2,y2 boxes from network-input pixels back to the original image, clipped."""
        out = boxes.astype(np.float32).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.gain
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.gain
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.height)
        return out


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB whatever the source mode: CMYK JPEGs, 16-bit and palette PNGs; transparency goes on white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits rather than clip.
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode != "I" or array.max() > 255 else 255.0
        grey = (array / peak * 255.0).clip(0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _normalise(array: np.ndarray, spec: Preprocess) -> np.ndarray:
    tensor = array.astype(np.float32) * np.float32(spec.scale)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    if np.any(mean != 0) or np.any(std != 1):
        tensor = (tensor - mean) / std
    return np.ascontiguousarray(tensor.transpose(2, 0, 1)[None])


def letterbox(image: Image.Image, size: int, spec: Preprocess) -> tuple[np.ndarray, Letterbox]:
    """Scale to fit ``size`` x ``size`` keeping the aspect ratio, pad the rest with ``spec.pad_value``."""
    rgb = to_rgb(image)
    w, h = rgb.size
    gain = min(size / h, size / w)
    new_w, new_h = max(1, round(w * gain)), max(1, round(h * gain))
    resized = rgb if (new_w, new_h) == (w, h) else rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    left, top = round(dw - 0.1), round(dh - 0.1)
    canvas = np.full((size, size, 3), spec.pad_value, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = np.asarray(resized)
    return _normalise(canvas, spec), Letterbox(gain=gain, pad_x=left, pad_y=top, width=w, height=h)


def resize_center_crop(image: Image.Image, size: int, spec: Preprocess) -> np.ndarray:
    """Resize the shorter side to ``size`` and crop the centre square (torchvision's Resize + CenterCrop)."""
    rgb = to_rgb(image)
    w, h = rgb.size
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    resized = rgb if (new_w, new_h) == (w, h) else rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    cropped = np.asarray(resized)[top : top + size, left : left + size]
    return _normalise(cropped, spec)
