"""The severity classifier: minor / moderate / severe, an ONNX network run by onnxruntime."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from model.errors import ManifestError
from model.findings import SEVERITY_LEVELS, SeverityGrade
from model.onnx_session import OnnxModel, open_session
from model.preprocess import resize_center_crop


def _as_probabilities(logits: np.ndarray) -> np.ndarray:
    """Pass probabilities through; turn logits into probabilities when the export left them raw."""
    if np.all(logits >= 0) and abs(float(logits.sum()) - 1.0) < 1e-3:
        return logits
    z = logits - logits.max()
    e = np.exp(z)
    return np.asarray(e / e.sum())


class SeverityModel(OnnxModel):
    """Grades how bad the damage in a photo (or a crop of it) is."""

    what = "severity model"

    @classmethod
    def load(cls, path: str | Path | None = None, threads: int | None = None) -> SeverityModel:
        """Open the shipped severity model (or ``path``) after checking its manifest."""
        session, manifest = open_session(path, "severity", threads)
        if sorted(manifest.classes) != sorted(SEVERITY_LEVELS):
            raise ManifestError(f"severity model classes {manifest.classes} are not {list(SEVERITY_LEVELS)}")
        return cls(session, manifest)

    @cached_property
    def batched(self) -> bool:
        """Whether the network takes several crops in one run (its batch axis is named, not fixed at 1)."""
        return not isinstance(self.session.get_inputs()[0].shape[0], int)

    def probabilities(self, tensor: np.ndarray) -> np.ndarray:
        """Class probabilities (manifest order), one row per image of a preprocessed input batch."""
        out = self.run(tensor).astype(np.float64).reshape(len(tensor), -1)
        return np.stack([_as_probabilities(row) for row in out])

    def grade(self, image: Image.Image) -> SeverityGrade:
        """Probabilities of minor, moderate and severe damage in ``image``."""
        return self.grade_many([image])[0]

    def grade_many(self, images: Sequence[Image.Image], photo: Image.Image | None = None) -> list[SeverityGrade]:
        """One grade per image: a single network run for all of them when the model takes a batch.

        ``photo`` is the whole photo the images were cropped from. When the manifest asks for
        ``photo_average`` and a photo is given, it is graded in the same run and each image's probabilities
        are averaged with the photo's: the crop says how bad this damage looks, the photo adds what is
        around it. When the manifest asks for ``flip_average``, every picture is graded with its mirror
        image and the two probability rows are averaged first.
        """
        preprocess = self.manifest.preprocess
        tensors = [resize_center_crop(image, self.input_size, preprocess) for image in images]
        if not tensors:
            return []
        crops = len(tensors)
        if preprocess.photo_average and photo is not None:
            tensors.append(resize_center_crop(photo, self.input_size, preprocess))
        with_photo = len(tensors) > crops
        batch = np.concatenate(tensors)
        if preprocess.flip_average:
            batch = np.concatenate([batch, np.ascontiguousarray(batch[..., ::-1])])  # NCHW: mirror the width
        if self.batched:
            rows = self.probabilities(batch)
        else:
            rows = np.concatenate([self.probabilities(batch[i : i + 1]) for i in range(len(batch))])
        if preprocess.flip_average:
            rows = (rows[: len(tensors)] + rows[len(tensors) :]) / 2
        if with_photo:
            rows = (rows[:crops] + rows[crops]) / 2
        return [self._grade(row) for row in rows]

    def _grade(self, probs: np.ndarray) -> SeverityGrade:
        by_name = {name: float(p) for name, p in zip(self.manifest.classes, probs, strict=True)}
        return SeverityGrade(probabilities={k: by_name[k] for k in SEVERITY_LEVELS})
