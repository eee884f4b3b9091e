"""Training, calibrating and exporting the cost head; the exported head as the service runs it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch

from model.errors import ModelError
from model.findings import ClaimContext, Finding
from model.manifest import load_manifest
from model.pricing import load_catalogue, load_pricer
from training.cost.config import CostConfig
from training.cost.conformal import band, cqr_offset
from training.cost.head import check_parity, pinball_loss, train_head
from training.cost.train import train_cost

REPO = Path(__file__).resolve().parents[2]
COMMAND = "python -m training.cost.commands train-cost --set ledger.size=900"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A head trained in a few seconds on a small synthetic ledger."""
    config = CostConfig.model_validate({"ledger": {"size": 900}, "head": {"epochs": 8}, "seed": 1})
    run = tmp_path_factory.mktemp("cost-run")
    return run, train_cost(config, run, COMMAND)


def test_pinball_loss_weighs_under_and_over_prediction() -> None:
    y = torch.tensor([1.0])
    low = pinball_loss(torch.zeros(1, 3), y, (0.1, 0.5, 0.9))  # every quantile predicts too low by 1
    assert float(low) == pytest.approx((0.1 + 0.5 + 0.9) / 3)
    high = pinball_loss(torch.full((1, 3), 2.0), y, (0.1, 0.5, 0.9))
    assert float(high) == pytest.approx((0.9 + 0.5 + 0.1) / 3)


def test_conformal_offsets_reach_nominal_coverage_on_fresh_data() -> None:
    rng = np.random.default_rng(0)
    y_cal, y_new = rng.standard_t(3, 4000), rng.standard_t(3, 20000)
    offset = cqr_offset(np.full(4000, -0.5), np.full(4000, 0.5), y_cal, 0.9)
    assert np.mean((y_new >= -0.5 - offset) & (y_new <= 0.5 + offset)) == pytest.approx(0.9, abs=0.015)
    lo, hi = band(y_cal, 0.8)
    assert np.mean((y_new >= lo) & (y_new <= hi)) == pytest.approx(0.8, abs=0.02)
    assert math.isinf(
        cqr_offset(np.zeros(5), np.zeros(5), np.ones(5), 0.99)
    )  # too few rows: no finite interval


def test_run_folder_holds_a_checked_onnx_manifest_report_and_plot(
    tiny_run: tuple[Path, dict[str, Any]],
) -> None:
    run, report = tiny_run
    for name in (
        "cost_head.onnx",
        "cost_head.json",
        "report.json",
        "calibration.png",
        "config.yaml",
        "ledger.csv",
    ):
        assert (run / name).is_file(), name
    onnx.checker.check_model(onnx.load(str(run / "cost_head.onnx")))
    assert (run / "cost_head.onnx").stat().st_size < 50_000
    manifest = load_manifest(run / "cost_head.onnx")
    assert manifest.task == "cost" and manifest.preprocess.kind == "features"
    assert manifest.classes == load_catalogue().parts
    assert manifest.trained_with.command == COMMAND
    assert manifest.dataset.sha256 == report["ledger"]["sha256"] and manifest.dataset.split == "test"
    assert manifest.head is not None
    offset = manifest.head["conformal_offset"]
    assert offset == pytest.approx(report["cost-head"]["conformal_offset"], abs=1e-6)
    assert any("SYNTHETIC" in note for note in manifest.notes)
    saved = json.loads((run / "report.json").read_text())
    assert saved["ledger"]["synthetic"] and "SYNTHETIC" in saved["notes"][0]
    for pricer in ("cost-head", "estimator"):
        assert set(saved[pricer]) >= {
            "mae",
            "mdape",
            "within_10",
            "within_20",
            "coverage",
            "mean_relative_width",
        }
        assert 0.7 < saved[pricer]["coverage"] <= 1.0
    assert saved["parity_max_abs_diff"] < 1e-4


def test_exported_head_prices_claims_through_onnxruntime(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    run, _ = tiny_run
    pricer = load_pricer(head_path=run / "cost_head.onnx")
    assert pricer.name == "cost-head" and pricer.version == "0.1.0"
    quote = pricer.price(
        [Finding("Door", {"moderate": 0.7, "severe": 0.3}, 0.12)], ClaimContext("premium", "US")
    )
    assert quote.currency == "USD" and quote.pricer == "cost-head"
    assert quote.low <= quote.total <= quote.high
    assert quote.total == pytest.approx(sum(item.total for item in quote.line_items), abs=0.02)
    assert pricer.price([], ClaimContext()).total == 0


def test_parity_check_refuses_a_head_that_differs_from_its_export(
    tiny_run: tuple[Path, dict[str, Any]],
) -> None:
    run, _ = tiny_run
    x = np.random.default_rng(0).random((16, 58), dtype=np.float32)
    model, _ = train_head(
        x, np.zeros(16), (0.05, 0.5, 0.95), CostConfig().head.model_copy(update={"epochs": 1}), 0
    )
    with pytest.raises(ModelError, match="differs from torch"):
        check_parity(model, run / "cost_head.onnx", x)


def test_serving_the_head_never_imports_torch(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    run, _ = tiny_run
    code = (
        "import sys; from model.pricing import load_pricer; "
        "from model.findings import Finding, ClaimContext; "
        f"p = load_pricer(head_path={str(run / 'cost_head.onnx')!r}); "
        "p.price([Finding('Bumper', {'minor': 1.0}, 0.05)], ClaimContext()); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
