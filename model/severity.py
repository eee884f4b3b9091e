"""The severity classifier: minor / moderate / severe, an ONNX network run by onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from model.errors import ManifestError
from model.findings import SEVERITY_LEVELS, SeverityGrade
from model.onnx_session import OnnxModel, open_session, resolve_model_path
from model.preprocess import resize_center_crop

DEFAULT_FILE = "severity.onnx"


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
        session, manifest = open_session(resolve_model_path(path, DEFAULT_FILE), "classify", threads)
        if sorted(manifest.classes) != sorted(SEVERITY_LEVELS):
            raise ManifestError(f"severity model classes {manifest.classes} are not {list(SEVERITY_LEVELS)}")
        return cls(session, manifest)

    def probabilities(self, tensor: np.ndarray) -> np.ndarray:
        """Class probabilities (manifest order) for a preprocessed input tensor."""
        out = self.run(tensor).astype(np.float64)
        return _as_probabilities(out.reshape(-1))

    def grade(self, image: Image.Image) -> SeverityGrade:
        """Probabilities of minor, moderate and severe damage in ``image``."""
        tensor = resize_center_crop(image, self.input_size, self.manifest.preprocess)
        probs = self.probabilities(tensor)
        by_name = {name: float(p) for name, p in zip(self.manifest.classes, probs, strict=True)}
        return SeverityGrade(probabilities={k: by_name[k] for k in SEVERITY_LEVELS})
