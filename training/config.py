"""Typed run configuration: YAML files in ``training/configs``, overridden by ``--set key=value``."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from model.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = Path(__file__).resolve().parent / "configs"

C = TypeVar("C", bound=BaseModel)


def default_data_root() -> Path:
    """Where the shared datasets live: ``AUTOQUOTE_DATA_ROOT`` or ``../shared/datasets`` beside the checkout."""
    env = os.environ.get("AUTOQUOTE_DATA_ROOT")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "datasets")


def default_work_dir() -> Path:
    """Working folder outside git for prepared data and runs: ``AUTOQUOTE_WORK_DIR`` or ``work/``."""
    env = os.environ.get("AUTOQUOTE_WORK_DIR")
    return Path(env) if env else (REPO_ROOT / "work")


def _parse_value(text: str) -> Any:
    return yaml.safe_load(text)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` overrides (values parsed as YAML) to a nested dict, in order."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = _parse_value(raw)
    return data


def load_config(model: type[C], path: Path | str, overrides: list[str] | None = None) -> C:
    """Read a YAML config file into ``model``, applying overrides; errors name the file and field."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = CONFIG_DIR / path
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc
    data = apply_overrides(data, overrides or [])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"config {path.name}: {where}: {first['msg']}") from exc


def config_sha256(config: BaseModel) -> str:
    """Stable hash of a resolved config (paths excluded, so the same recipe hashes the same anywhere)."""
    data = config.model_dump(mode="json")
    for key in ("data_root", "out", "work_dir", "prepared", "project"):
        data.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def save_resolved(config: BaseModel, run_dir: Path) -> Path:
    """Write the resolved config beside a run's outputs."""
    run_dir.mkdir(parents=True, exist_ok=True)
    out = run_dir / "config.yaml"
    out.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    return out


def portable_config(config: BaseModel) -> dict[str, Any]:
    """The resolved config with paths made relative to the repository (no machine paths in artifacts)."""
    data = config.model_dump(mode="json")
    for key, value in data.items():
        if isinstance(getattr(config, key, None), Path):
            path = Path(value)
            try:
                data[key] = str(path.resolve().relative_to(REPO_ROOT))
            except ValueError:
                data[key] = path.name
    return data


def add_config_options(parser: argparse.ArgumentParser, default: str, example: str = "epochs=5") -> None:
    """``--config`` (a YAML recipe) and repeatable ``--set KEY=VALUE`` overrides on a command."""
    parser.add_argument(
        "--config", default=default, help=f"YAML recipe, a path or a name in training/configs (default: {default})"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override one config field, e.g. --set {example} (repeatable)",
    )


def overrides_with(args: argparse.Namespace, **paths: object) -> list[str]:
    """The command's ``--set`` overrides after those its path options stand for (given ones only)."""
    return [*(f"{k}={v}" for k, v in paths.items() if v), *args.overrides]


def portable_argument(text: str) -> str:
    """An argument with any absolute path in it made relative to the repository (or cut to its name outside it):
    a manifest names no folder of the machine it was made on."""

    def one(value: str) -> str:
        if not value.startswith("/"):
            return value
        path = Path(value)
        try:
            return str(path.resolve().relative_to(REPO_ROOT))
        except ValueError:
            return path.name

    key, sep, value = text.partition("=")
    return f"{key}={one(value)}" if sep and not text.startswith("/") else one(text)


def command_line(args: argparse.Namespace) -> str:
    """The ``autoquote-train`` command of this run, for its run folder and manifest (paths made portable)."""
    return "autoquote-train " + " ".join(shlex.quote(portable_argument(a)) for a in getattr(args, "argv", []))
