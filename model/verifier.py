"""The part verifier: a second opinion on each detection, from the crop the severity model already grades.

An ImageNet-initialised classifier whose classes are the detector's parts plus ``no_damage``. For a
detection of part P it answers how probable it is that the crop shows damage to P; a policy may require
that agreement before a finding counts (``Policy.min_verifier_probability``). Trained by
``autoquote-train train-verifier-probe`` (``training/verifier.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from model.errors import ManifestError
from model.onnx_session import OnnxModel, open_session
from model.preprocess import resize_center_crop

NO_DAMAGE = "no_damage"


class PartVerifier(OnnxModel):
    """Which part a crop shows damage to, or that it shows none."""

    what = "part verifier"

    @classmethod
    def load(cls, path: str | Path | None = None, threads: int | None = None) -> PartVerifier:
        """Open the shipped verifier (or ``path``) after checking its manifest."""
        session, manifest = open_session(path, "verifier", threads)
        if NO_DAMAGE not in manifest.classes or len(manifest.classes) < 2:
            raise ManifestError(f"verifier classes {manifest.classes} must be parts and {NO_DAMAGE!r}")
        return cls(session, manifest)

    @cached_property
    def batched(self) -> bool:
        return not isinstance(self.session.get_inputs()[0].shape[0], int)

    def probabilities(self, crops: Sequence[Image.Image]) -> np.ndarray:
        """One row of class probabilities (manifest order) per crop."""
        if not crops:
            return np.zeros((0, len(self.classes)))
        spec = self.manifest.preprocess
        batch = np.concatenate([resize_center_crop(crop, self.input_size, spec) for crop in crops])
        if spec.flip_average:
            batch = np.concatenate([batch, np.ascontiguousarray(batch[..., ::-1])])
        if self.batched:
            rows = self.run(batch).astype(np.float64).reshape(len(batch), -1)
        else:
            rows = np.concatenate([self.run(batch[i : i + 1]).reshape(1, -1) for i in range(len(batch))])
        if spec.flip_average:
            rows = (rows[: len(crops)] + rows[len(crops) :]) / 2
        return rows

    def agreement(self, crops: Sequence[Image.Image], parts: Sequence[str]) -> list[float]:
        """For each crop, the probability that it shows damage to the part the detector named."""
        rows = self.probabilities(crops)
        index = {name.casefold(): i for i, name in enumerate(self.classes)}
        return [float(row[index[part.casefold()]]) if part.casefold() in index else 0.0
                for row, part in zip(rows, parts, strict=True)]
