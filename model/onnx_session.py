"""Opening a shipped ONNX model: verify its manifest, then build one onnxruntime session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from model.errors import InferenceError, ManifestError, ModelError
from model.kinds import get_kind, kind_of
from model.manifest import Manifest, load_manifest
from model.offline import configure_offline


def open_session(path: str | Path | None, kind: str, threads: int | None = None) -> tuple[Any, Manifest]:
    """Check that ``path`` (default: the kind's shipped file) is a model of ``kind`` with a manifest that holds
    (sha256 included), and open an onnxruntime session on the CPU."""
    path = Path(path) if path is not None else get_kind(kind).shipped
    manifest = load_manifest(path)
    found = kind_of(manifest, path.name)
    if found.name != kind:
        raise ManifestError(f"{path.name} is a {found.name!r} model ({manifest.name}), not a {kind!r} one")
    configure_offline()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: onnxruntime picks; the service passes Settings.ort_threads
    options.inter_op_num_threads = 1
    # Spinning worker threads win a few ms on an idle machine and lose 2x when the cores are shared
    # (other workers, other processes): measured by benchmarks/bench_http.py.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for corrupt files
        raise ModelError(f"onnxruntime cannot load {path.name}: {exc}") from exc
    return session, manifest


class OnnxModel:
    """One shipped network: its onnxruntime session and the manifest that describes it."""

    #: what the model is called in an :class:`InferenceError` ("detector", "severity model")
    what = "model"

    def __init__(self, session: Any, manifest: Manifest) -> None:
        self.session = session
        self.manifest = manifest
        self.input_name = session.get_inputs()[0].name

    @property
    def classes(self) -> list[str]:
        return self.manifest.classes

    @property
    def input_size(self) -> int:
        return self.manifest.input_size

    @property
    def version(self) -> str:
        return self.manifest.version

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """The raw network output for a preprocessed input tensor."""
        try:
            return np.asarray(self.session.run(None, {self.input_name: tensor})[0])
        except Exception as exc:  # onnxruntime errors are untyped
            raise InferenceError(f"{self.what} failed: {exc}") from exc
