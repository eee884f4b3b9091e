"""The one place that keeps onnxruntime, ultralytics and matplotlib offline and quiet.

Every entry point (service, CLIs, notebooks, tests) calls :func:`configure_offline` before it
imports onnxruntime or ultralytics. It only sets environment variables, so it is safe on the
serving path; :func:`training.ultralytics_env.prepare_ultralytics` adds what ultralytics needs
beyond that (its settings file and a local font).
"""

from __future__ import annotations

import os
from pathlib import Path

_DEFAULTS = {
    # onnxruntime writes a device id and sends telemetry unless told not to.
    "ORT_DISABLE_TELEMETRY": "1",
    # ultralytics: no downloads, no pip installs, no analytics.
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "0",
    "YOLO_VERBOSE": "False",
    "HF_HUB_OFFLINE": "1",
}


def cache_dir() -> Path:
    """Writable folder for tool configuration (``AUTOQUOTE_CACHE_DIR``, default ``~/.cache/autoquote``)."""
    root = os.environ.get("AUTOQUOTE_CACHE_DIR") or str(Path.home() / ".cache" / "autoquote")
    return Path(root)


def configure_offline() -> None:
    """Set the environment that keeps every third-party tool offline; idempotent."""
    for key, value in _DEFAULTS.items():
        os.environ.setdefault(key, value)
    root = cache_dir()
    for key, sub in (("YOLO_CONFIG_DIR", "ultralytics"), ("MPLCONFIGDIR", "matplotlib")):
        if key not in os.environ:
            path = root / sub
            path.mkdir(parents=True, exist_ok=True)
            os.environ[key] = str(path)
