"""A choice of models: checked against the model store, described for answers and audit events, put in settings.

Only ONNX files under the model store folder (``AUTOQUOTE_REGISTRY_DIR``, else ``registry`` in the data
folder) or the shipped ``model/weights`` may be promoted, shadowed or used to re-score; each needs a valid
manifest of the kind it is chosen as.
"""

from __future__ import annotations

import json
from pathlib import Path

from model.errors import ModelError
from model.kinds import kind_of
from model.manifest import WEIGHTS_DIR, load_manifest
from model.store import ModelChoice
from serve.errors import InvalidModelChoice
from serve.settings import Settings


def with_models(settings: Settings, choice: ModelChoice) -> Settings:
    """The settings with the chosen models' paths."""
    return settings.model_copy(update={"detector_path": choice.detector, "severity_path": choice.severity})


def checked_model(path: Path | str, kind: str, settings: Settings) -> Path:
    """An ONNX file inside the model store (or the shipped weights) whose manifest is valid and of this kind."""
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = settings.models_dir / candidate
    candidate = candidate.resolve()
    roots = [settings.models_dir.resolve(), WEIGHTS_DIR.resolve()]
    if not any(candidate.is_relative_to(root) for root in roots):
        raise InvalidModelChoice(
            f"{path} is outside the model registry {settings.models_dir}; "
            "add it with 'autoquote-train registry add' and promote the registry copy"
        )
    try:
        manifest = load_manifest(candidate)
    except ModelError as exc:
        raise InvalidModelChoice(f"{kind} {path}: {exc.message}") from exc
    found = kind_of(manifest, str(candidate)).name  # by the manifest's name: a verifier is no severity model
    if found != kind:
        raise InvalidModelChoice(f"{path} is a {found} model, not a {kind}")
    return candidate


def describe(choice: ModelChoice | None) -> dict[str, str | None]:
    """A model choice for JSON answers and audit events."""
    if choice is None:
        return {}
    data = json.loads(choice.model_dump_json())
    return {k: (str(v) if v is not None else None) for k, v in data.items()}
