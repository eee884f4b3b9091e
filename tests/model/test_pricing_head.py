"""The shipped cost head and the choice of the default pricer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model.errors import ChecksumMismatch, ManifestError
from model.findings import ClaimContext, Finding
from model.manifest import load_manifest
from model.pricing import Catalogue, load_catalogue, load_pricer
from model.pricing.cost_head import CostHead, head_settings
from model.pricing.pricer import SHIPPED_HEAD, shipped_head_is_default

CLAIM = [
    Finding("Bumper", {"minor": 0.2, "moderate": 0.7, "severe": 0.1}, 0.08),
    Finding("Light", {"severe": 1.0}, 0.02),
]


def _copy_head(tmp_path: Path, beats: bool) -> Path:
    folder = tmp_path / f"beats-{beats}"
    folder.mkdir(exist_ok=True)
    onnx_path = folder / "cost_head.onnx"
    shutil.copy2(SHIPPED_HEAD, onnx_path)
    manifest = json.loads(SHIPPED_HEAD.with_suffix(".json").read_text())
    manifest["metrics"]["beats_estimator"] = beats
    onnx_path.with_suffix(".json").write_text(json.dumps(manifest))
    return onnx_path


def test_shipped_head_manifest_describes_a_small_cost_model() -> None:
    manifest = load_manifest(SHIPPED_HEAD)
    settings = head_settings(manifest)
    assert manifest.task == "cost" and manifest.preprocess.kind == "features"
    assert manifest.classes == load_catalogue().parts
    assert settings.catalogue_version == load_catalogue().version and settings.level == 0.9
    assert manifest.dataset.split == "test" and manifest.metrics["split"] == "test"
    assert "train-cost" in manifest.trained_with.command
    assert SHIPPED_HEAD.stat().st_size < 50_000


def test_default_pricer_follows_the_shipped_verdict() -> None:
    beats = bool(load_manifest(SHIPPED_HEAD).metrics["beats_estimator"])
    assert load_pricer().name == ("cost-head" if beats else "estimator")


def test_default_is_the_head_only_when_it_won_and_matches_the_catalogue(tmp_path: Path) -> None:
    catalogue = load_catalogue()
    assert shipped_head_is_default(catalogue, _copy_head(tmp_path, True))
    assert not shipped_head_is_default(catalogue, _copy_head(tmp_path, False))
    other = Catalogue(catalogue.spec.model_copy(update={"version": "insurer-7"}))
    assert not shipped_head_is_default(other, _copy_head(tmp_path, True))
    assert not shipped_head_is_default(catalogue, tmp_path / "missing.onnx")


def test_shipped_head_prices_a_claim() -> None:
    head = load_pricer(head_path=SHIPPED_HEAD)
    estimate = load_pricer(catalogue=load_catalogue(), head_path=None)
    quote = head.price(CLAIM, ClaimContext("mid", "CN"))
    assert head.name == "cost-head" and quote.pricer == "cost-head" and quote.currency == "CNY"
    assert quote.low <= quote.total <= quote.high and quote.level == 0.9
    assert [i.operation for i in quote.line_items] == [
        i.operation for i in estimate.price(CLAIM, ClaimContext("mid", "CN")).line_items
    ]
    assert quote.total == pytest.approx(sum(i.total for i in quote.line_items), abs=0.02)
    assert quote.notes and "factor" in quote.notes[0]


def test_head_refuses_a_catalogue_with_other_parts(tmp_path: Path) -> None:
    spec = load_catalogue().spec
    parts = {k: v for k, v in spec.parts.items() if k != "Windshield"}
    with pytest.raises(ManifestError, match="retrain the head"):
        CostHead(SHIPPED_HEAD, Catalogue(spec.model_copy(update={"parts": parts})))


def test_tampered_head_is_refused(tmp_path: Path) -> None:
    onnx_path = _copy_head(tmp_path, True)
    onnx_path.write_bytes(onnx_path.read_bytes() + b"\0")
    with pytest.raises(ChecksumMismatch):
        load_pricer(head_path=onnx_path)
