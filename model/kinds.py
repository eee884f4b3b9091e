"""The model kinds autoquote knows, in one table: what each is called, where it ships and how it loads.

Everything that handles a kind reads this table instead of listing the kinds again: the model store (one
folder per kind), the runtime loaders (:func:`model.load`), the export (licence, data note, default
thresholds) and the training commands (``training/kinds.py`` adds the recipe, evaluation and parity of the
kinds that train, keyed by the same names). Like ultralytics' ``task_map`` or timm's ``register_model``.

A model file's kind is the one its manifest's ``name`` says (``autoquote-severity``), never its task: the
severity classifier and the part verifier are both ``classify`` models. Adding a kind is one
:func:`register_kind` call; a test registers a fake one and removes it with :func:`unregister_kind`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from model.errors import ConfigError, ManifestError

if TYPE_CHECKING:
    from model.manifest import Manifest

Task = Literal["detect", "classify", "cost"]
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
ULTRALYTICS_LICENCE = "AGPL-3.0-or-later (network built and trained with ultralytics, AGPL-3.0)"


@dataclass(frozen=True)
class DetectionThresholds:
    """Where a detector's boxes stop: a manifest may choose its own, these are the defaults."""

    conf: float = 0.25  # boxes scoring below this are not findings (in service, crops and confusion matrices)
    nms_iou: float = 0.7  # ultralytics' default, for detector manifests that do not choose one


@dataclass(frozen=True)
class ModelKind:
    """One kind of model: its names, its shipped file, its runtime class and its defaults."""

    name: str  # store folder, command-line choice, pointer key: "detector"
    task: Task
    manifest_name: str  # the manifest's ``name``, which says which kind a model file is
    file: str  # the shipped file in ``model/weights``
    runtime: str  # "module:Class" with a ``load(path, threads=...)`` classmethod; imported on first load
    data_source: str  # what it is trained on and under which licence (the manifest's ``dataset.source``)
    licence: str  # the licence its manifest records
    detection: DetectionThresholds | None = None  # detectors only
    quote_key: str | None = None  # the name under which a quote records this model's version, if it does

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]*", self.name):
            raise ConfigError(f"model kind name {self.name!r}: lower-case letters, digits and '-' only")
        if (self.task == "detect") != (self.detection is not None):
            raise ConfigError(f"model kind {self.name!r}: detection thresholds are for detect kinds, and only them")
        if ":" not in self.runtime:
            raise ConfigError(f"model kind {self.name!r}: runtime {self.runtime!r} is not 'module:Class'")

    @property
    def shipped(self) -> Path:
        """The shipped ONNX file (its manifest beside it)."""
        return WEIGHTS_DIR / self.file

    def runtime_class(self) -> Any:
        """The class that runs this kind, imported now (onnxruntime is loaded only when a model is)."""
        module, _, attribute = self.runtime.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def load(self, path: str | Path | None = None, *, threads: int | None = None) -> Any:
        """The runtime object for ``path`` (default: the shipped file), its manifest checked."""
        return self.runtime_class().load(path, threads=threads)


_KINDS: dict[str, ModelKind] = {}
KINDS: Mapping[str, ModelKind] = MappingProxyType(_KINDS)  # every registered kind by name, read-only


def register_kind(kind: ModelKind) -> ModelKind:
    """Add a kind to the table; its name, manifest name and file must be new."""
    for other in _KINDS.values():
        clash = [f for f in ("name", "manifest_name", "file") if getattr(other, f) == getattr(kind, f)]
        if clash:
            raise ConfigError(f"model kind {kind.name!r} has the same {clash[0]} as {other.name!r}")
    _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind (tests that registered a fake one)."""
    _KINDS.pop(name, None)


def get_kind(name: str) -> ModelKind:
    """The kind called ``name`` ("detector")."""
    try:
        return _KINDS[name]
    except KeyError:
        raise ConfigError(f"no model kind is called {name!r}; the kinds are {', '.join(_KINDS)}") from None


def kind_of(manifest: Manifest, where: str | None = None) -> ModelKind:
    """The kind a manifest's ``name`` says, checked against its task; ``where`` names the file in errors."""
    where = where or manifest.file
    for kind in _KINDS.values():
        if kind.manifest_name == manifest.name:
            if kind.task != manifest.task:
                raise ManifestError(
                    f"{where}: {manifest.name} models are {kind.task!r} models but this manifest says "
                    f"{manifest.task!r}; re-export it with autoquote-train"
                )
            return kind
    known = ", ".join(k.manifest_name for k in _KINDS.values())
    raise ManifestError(
        f"{where}: no model kind is named {manifest.name!r} (known: {known}); export it with autoquote-train, "
        "or register its kind in model/kinds.py"
    )


def quote_keys() -> tuple[str, ...]:
    """The names under which a quote records the versions of the models that made it, in table order."""
    return tuple(k.quote_key for k in _KINDS.values() if k.quote_key is not None)


DETECTOR = register_kind(ModelKind(
    name="detector",
    task="detect",
    manifest_name="autoquote-detector",
    file="detector.onnx",
    runtime="model.detector:Detector",
    data_source="damaged-parts: Roboflow car-damage-detection-t0g92 v2, CC BY 4.0",
    licence=ULTRALYTICS_LICENCE,
    detection=DetectionThresholds(),
    quote_key="detector",
))
SEVERITY = register_kind(ModelKind(
    name="severity",
    task="classify",
    manifest_name="autoquote-severity",
    file="severity.onnx",
    runtime="model.severity:SeverityModel",
    data_source="severity: VDS-2.5k (MIT)",
    licence=ULTRALYTICS_LICENCE,
    quote_key="severity",
))
VERIFIER = register_kind(ModelKind(
    name="verifier",
    task="classify",  # like severity: the kind is told apart by its manifest name
    manifest_name="autoquote-verifier",
    file="verifier.onnx",
    runtime="model.verifier:PartVerifier",
    data_source="damaged-parts (CC BY 4.0) crops; car-parts trainingset intact parts (licence not stated; "
                "research data)",
    licence="AGPL-3.0-or-later; initial weights Apache-2.0 (ImageNet EfficientNet-Lite0)",
))
COST = register_kind(ModelKind(
    name="cost",
    task="cost",
    manifest_name="cost-head",
    file="cost_head.onnx",
    runtime="model.pricing.cost_head:CostHead",
    data_source="claims ledger (synthetic-v1 and adjuster-reviewed claims)",
    licence="AGPL-3.0-or-later",
    quote_key="pricer",  # a quote records whichever pricer priced it: this head or the catalogue estimator
))
