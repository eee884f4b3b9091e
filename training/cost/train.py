"""The ``train-cost`` and ``evaluate-cost`` runs: ledger, features, head, calibration, export, report."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.errors import LedgerError
from model.kinds import COST
from model.ledger import write_ledger
from model.manifest import (
    DatasetRef,
    Manifest,
    Preprocess,
    TrainedWith,
    load_manifest,
    sha256_file,
    write_manifest,
)
from model.pricing.catalogue import Catalogue, load_catalogue
from model.pricing.cost_head import HeadSettings, head_settings
from model.pricing.features import feature_spec
from training.config import config_sha256, save_resolved
from training.cost.config import CostConfig
from training.cost.conformal import cqr_offset
from training.cost.dataset import CostArrays, featurise
from training.cost.evaluate import compare, plot_calibration
from training.cost.head import (
    INPUT_NAME,
    OUTPUT_NAME,
    check_parity,
    export_onnx,
    predict_onnx,
    predict_torch,
    train_head,
)
from training.cost.ledger import Ledger, Rejected, read_ledger
from training.cost.synthetic import synthetic_rows

ONNX_NAME = COST.file


def build_ledger(config: CostConfig, catalogue: Catalogue, run_dir: Path) -> Ledger:
    """The insurer's ledger named in the config, or a synthetic-v1 one generated into the run folder."""
    if config.ledger.path is not None:
        ledger = read_ledger(config.ledger.path, catalogue)
    else:
        path = write_ledger(
            synthetic_rows(catalogue, config.ledger.size, config.seed, config.ledger.noise),
            run_dir / "ledger.csv",
        )
        ledger = read_ledger(path, catalogue)
    if config.ledger.extra:
        ledger = merge_ledgers(ledger, [read_ledger(path, catalogue) for path in config.ledger.extra])
    if ledger.rejected:
        lines = [f"row {r.row} ({r.claim_id}): {r.reason}" for r in ledger.rejected]
        (run_dir / "ledger_rejected.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ledger


def merge_ledgers(main: Ledger, extra: list[Ledger]) -> Ledger:
    """One ledger of several files; a claim_id already seen is rejected; the hash covers every file."""
    import hashlib

    rows, rejected = list(main.rows), list(main.rejected)
    seen = {r.claim_id for r in rows}
    for ledger in extra:
        rejected.extend(ledger.rejected)
        for i, row in enumerate(ledger.rows):
            if row.claim_id in seen:
                rejected.append(Rejected(i + 2, row.claim_id, f"claim_id already in another ledger ({ledger.path})"))
                continue
            seen.add(row.claim_id)
            rows.append(row)
    digest = hashlib.sha256("".join(x.sha256 for x in (main, *extra)).encode()).hexdigest()
    return Ledger(main.path, tuple(rows), tuple(rejected), digest)


def _splits(arrays: CostArrays) -> tuple[CostArrays, CostArrays, CostArrays]:
    train, cal, test = (arrays.subset(name) for name in ("train", "calibration", "test"))
    for name, part in (("train", train), ("calibration", cal), ("test", test)):
        if len(part) < 20:
            raise LedgerError(f"the ledger's {name} split has {len(part)} rows; at least 20 are needed")
    return train, cal, test


def _ledger_summary(ledger: Ledger, arrays: CostArrays) -> dict[str, Any]:
    return {
        "path": str(ledger.path),
        "sha256": ledger.sha256,
        "sources": ledger.sources,
        "synthetic": ledger.synthetic,
        "rows": len(ledger.rows),
        "rejected": len(ledger.rejected),
        "splits": {name: int(np.sum(arrays.split == name)) for name in ("train", "calibration", "test")},
    }


def _synthetic_note(ledger: Ledger) -> list[str]:
    if not ledger.synthetic:
        return []
    return [
        f"SYNTHETIC: trained and evaluated on a generated ledger ({', '.join(ledger.sources)}), not on paid "
        "claims; the numbers show the method works, not how it prices real claims"
    ]


def _manifest(
    config: CostConfig,
    catalogue: Catalogue,
    ledger: Ledger,
    report: dict[str, Any],
    onnx_path: Path,
    command: str,
    settings: HeadSettings,
) -> Manifest:
    spec = feature_spec(catalogue)
    return Manifest.model_validate(
        {
            "name": COST.manifest_name,
            "version": config.version,
            "task": COST.task,
            "classes": catalogue.parts,
            "input_size": spec.size,
            "input_name": INPUT_NAME,
            "preprocess": Preprocess(kind="features"),
            "opset": config.head.opset,
            "sha256": sha256_file(onnx_path) if onnx_path.is_file() else "",
            "file": onnx_path.name,
            "dataset": DatasetRef.model_validate(
                {
                    "source": ", ".join(ledger.sources) + " claims ledger",
                    "split": "test",
                    "sha256": ledger.sha256,
                    "rows": len(ledger.rows),
                    "splits": report["ledger"]["splits"],
                }
            ),
            "metrics": {
                k: report[k] for k in ("split", "level", "cost-head", "estimator", "beats_estimator")
            },
            "trained_with": TrainedWith(
                command=command, config=config.model_dump(mode="json"), config_sha256=config_sha256(config)
            ),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "notes": [*_synthetic_note(ledger), report["verdict"]],
            "head": settings.model_dump(mode="json"),
        }
    )


def train_cost(
    config: CostConfig, run_dir: Path, command: str, ship_to: Path | None = None
) -> dict[str, Any]:
    """Train, calibrate, export and evaluate the head into ``run_dir``; copy it to ``ship_to`` if given."""
    torch.set_num_threads(1)  # a few thousand rows: one thread is as fast and leaves the machine alone
    run_dir.mkdir(parents=True, exist_ok=True)
    save_resolved(config, run_dir)
    catalogue = load_catalogue(config.catalogue)
    ledger = build_ledger(config, catalogue, run_dir)
    arrays = featurise(ledger, catalogue, config.split.fractions)
    train, cal, test = _splits(arrays)
    model, losses = train_head(train.features, train.target, config.quantiles, config.head, config.seed)
    q_cal = predict_torch(model, cal.features)
    offset = cqr_offset(
        q_cal[:, 0].astype(np.float64), q_cal[:, 2].astype(np.float64), cal.target, config.level
    )
    settings = HeadSettings(
        quantiles=config.quantiles,
        level=config.level,
        conformal_offset=offset,
        features=feature_spec(catalogue).as_dict(),
        catalogue_version=catalogue.version,
        catalogue_sha256=catalogue.sha256,
        output_name=OUTPUT_NAME,
    )
    onnx_path = run_dir / ONNX_NAME
    metadata = {  # the manifest's identity keys also inside the ONNX (its sha256 cannot be)
        "name": COST.manifest_name,
        "version": config.version,
        "task": COST.task,
        "classes": json.dumps(catalogue.parts),
        "input_name": INPUT_NAME,
        "head": json.dumps(settings.model_dump(mode="json")),
        "dataset_sha256": ledger.sha256,
        "trained_with": command,
    }
    export_onnx(model, onnx_path, config.head.opset, metadata)
    parity = check_parity(model, onnx_path, test.features)
    report = compare(cal, test, q_cal, predict_onnx(onnx_path, test.features), offset, config.level)
    report = {
        "ledger": _ledger_summary(ledger, arrays),
        "notes": _synthetic_note(ledger),
        **report,
        "parity_max_abs_diff": parity,
        "final_train_loss": round(losses[-1], 5),
        "command": command,
    }
    write_manifest(onnx_path, _manifest(config, catalogue, ledger, report, onnx_path, command, settings))
    _write_report(report, run_dir)
    if ship_to is not None:
        ship_to.mkdir(parents=True, exist_ok=True)
        for path in (onnx_path, onnx_path.with_suffix(".json")):
            shutil.copy2(path, ship_to / path.name)
        load_manifest(ship_to / ONNX_NAME)  # the copy must still match its manifest
    return report


def _write_report(report: dict[str, Any], out: Path) -> None:
    title = "cost head vs estimator, test split" + (
        " (SYNTHETIC ledger)" if report["ledger"]["synthetic"] else ""
    )
    plot_calibration(report["calibration"], out / "calibration.png", title)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def evaluate_cost(config: CostConfig, head_path: Path, out: Path, command: str) -> dict[str, Any]:
    """Evaluate a head ONNX (with the offset in its manifest) and the estimator on a ledger's test split."""
    out.mkdir(parents=True, exist_ok=True)
    catalogue = load_catalogue(config.catalogue)
    settings = head_settings(load_manifest(head_path))
    ledger = build_ledger(config, catalogue, out)
    arrays = featurise(ledger, catalogue, config.split.fractions)
    _, cal, test = _splits(arrays)
    report = compare(
        cal,
        test,
        predict_onnx(head_path, cal.features),
        predict_onnx(head_path, test.features),
        settings.conformal_offset,
        settings.level,
    )
    report = {
        "ledger": _ledger_summary(ledger, arrays),
        "notes": _synthetic_note(ledger),
        **report,
        "head": str(head_path),
        "command": command,
    }
    _write_report(report, out)
    return report
