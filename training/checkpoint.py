"""Read a pickled PyTorch checkpoint from outside without running its code.

A pickle names the Python globals it needs and the loader imports and calls them: a hostile file can name
``os.system``. :func:`read_checkpoint` loads through an unpickler that resolves only a fixed list of
globals — torch's tensor and storage rebuild functions, ``collections.OrderedDict``, ``torch.nn`` module
classes, a few inert builtins — and maps the classes of known model code (yolov5's ``models.*`` /
``utils.*``, ultralytics' own) to empty ``nn.Module`` subclasses, so a checkpoint of yolov5 loads without
yolov5's source. Anything else is refused with :class:`UnsafeCheckpointError`, naming the global,
before anything it names is imported.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from model.errors import ConfigError
from model.manifest import sha256_file

# Module prefixes whose classes become inert stubs: their state (parameters, buffers, submodules) is kept,
# their code is never imported.
STUB_PREFIXES = ("models.", "utils.", "ultralytics.")

# Exact globals resolved to the real object.
ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch", "Size"),
    ("builtins", "set"),
    ("__builtin__", "set"),
    ("builtins", "frozenset"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "dtype"),
}

# Weights whose provenance is known: recorded in every manifest of a model they seed.
KNOWN_WEIGHTS: dict[str, dict[str, str]] = {
    "4f180cf23ba0717ada0badd6c685026d73d48f184d00fc159c2641284b2ac0a3": {
        "name": "YOLOv5n, COCO 2017 (80 classes)",
        "source": "ultralytics/yolov5 at commit 981548a1b78a10eb4fcf575997fa7392d5f74615, file yolov5n.pt",
        "licence": "GPL-3.0",
    },
}


class UnsafeCheckpointError(ConfigError):
    """A checkpoint names a global outside the allowlist; nothing it names was imported or run."""

    code = "unsafe_checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """The tensors of a checkpoint, flat by name, and where they came from."""

    file_name: str
    sha256: str
    state_dict: dict[str, Any]
    provenance: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, str]:
        """What a manifest records about these initial weights."""
        return {"file": self.file_name, "sha256": self.sha256,
                "licence": self.provenance.get("licence", "not recorded"),
                **{k: v for k, v in self.provenance.items() if k != "licence"}}


def _stub_class(module: str, name: str) -> type:
    import torch

    return type(name, (torch.nn.Module,), {"__module__": f"autoquote_stub.{module}",
                                           "forward": lambda self, *a, **k: None})


def _allowed(module: str, name: str) -> Any:
    """The object a pickle may name, or None."""
    import importlib

    if (module, name) in ALLOWED_GLOBALS:
        return getattr(importlib.import_module("builtins" if module == "__builtin__" else module), name)
    if module == "torch" and name.endswith("Storage"):
        return getattr(importlib.import_module("torch"), name)
    if module.startswith("torch.nn.modules."):
        import torch.nn as nn

        obj = getattr(nn, name, None)
        if isinstance(obj, type) and issubclass(obj, nn.Module):
            return obj
    return None


class _SafeUnpickler(pickle.Unpickler):
    stubs: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str) -> Any:
        obj = _allowed(module, name)
        if obj is not None:
            return obj
        if module.startswith(STUB_PREFIXES) and name[:1].isupper():
            key = (module, name)
            if key not in self.stubs:
                self.stubs[key] = _stub_class(module, name)
            return self.stubs[key]
        raise UnsafeCheckpointError(
            f"checkpoint refers to {module}.{name}, which is not on the allowlist of a safe checkpoint "
            "reader; it was not loaded. Use a checkpoint of model weights only (tensors, torch.nn modules)"
        )


def _pickle_module() -> ModuleType:
    """A stand-in for the ``pickle`` module that torch.load uses, with the allowlist unpickler."""
    mod = ModuleType("autoquote_safe_pickle")
    mod.Unpickler = _SafeUnpickler  # type: ignore[attr-defined]
    mod.load = lambda f, **kw: _SafeUnpickler(f, **kw).load()  # type: ignore[attr-defined]
    return mod


def _state_dict(obj: Any) -> dict[str, Any]:
    import torch

    if isinstance(obj, dict):
        for key in ("ema", "model", "state_dict"):
            if obj.get(key) is not None:
                return _state_dict(obj[key])
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return {str(k): v for k, v in obj.items()}
    if isinstance(obj, torch.nn.Module):
        return {k: v.detach().float() if v.is_floating_point() else v.detach() for k, v in obj.state_dict().items()}
    raise ConfigError("checkpoint holds no model: expected a module or a state dict under 'model', 'ema' or "
                      "'state_dict'")


def read_checkpoint(path: Path | str) -> Checkpoint:
    """Load a checkpoint's tensors through the allowlist unpickler; never runs code named by the file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} not found")
    sha = sha256_file(path)
    try:
        obj = torch.load(path, map_location="cpu", pickle_module=_pickle_module(), weights_only=False)
    except UnsafeCheckpointError:
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise ConfigError(f"checkpoint {path.name} cannot be read: {exc}") from exc
    return Checkpoint(path.name, sha, _state_dict(obj), dict(KNOWN_WEIGHTS.get(sha, {})))
