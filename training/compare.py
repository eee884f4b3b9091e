"""Compare a candidate with the models in service on the same held-out data, and print one table.

Rows: detector AP50 per class and mAP50 (prepared test split, through the runtime), severity macro-F1
(prepared test split), cost error on the ledger's test split (MdAPE, share within 20%, interval coverage),
the share of ledger test claims the decision policy would settle alone and its error, and, from the
service's shadow quotes (``autoquote export-reviewed``), the live share auto-settled by each and its error
against the adjuster's final amount.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.decision import DecisionInput, decide, load_policy
from model.errors import AutoquoteError, ConfigError
from model.findings import Finding
from model.kinds import DETECTOR, SEVERITY, kind_of
from model.manifest import load_manifest
from model.pricing.catalogue import load_catalogue
from model.pricing.pricer import load_pricer
from model.store import read_pointer
from training.cost.ledger import SPLITS, read_ledger, split_of

COST_FRACTIONS = (0.6, 0.2, 0.2)  # the cost head's default split (training/configs/cost_head.yaml)


@dataclass
class Models:
    """The models of one side; None: not given (the cost side then uses the default pricer)."""

    label: str
    detector: Path | None = None
    severity: Path | None = None
    cost: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)


def models_from(label: str, paths: list[Path]) -> Models:
    """Sort ONNX files (or registry entry folders) into detector / severity / cost by their manifests' kinds."""
    models = Models(label)
    for given in paths:
        path = given / "model.onnx" if given.is_dir() else given
        kind = kind_of(load_manifest(path, verify=False), str(path)).name
        if kind not in ("detector", "severity", "cost"):
            raise ConfigError(f"{path}: compare measures detectors, severity models and cost heads, not {kind}")
        setattr(models, kind, path)
    return models


def in_service(service_data: Path | None) -> Models:
    """What the service runs: its promoted models (``<data>/active_models.json``), else the shipped ones."""
    models = Models("in-service", DETECTOR.shipped, SEVERITY.shipped)
    pointer = read_pointer(service_data) if service_data else None
    if pointer is not None:
        models.detector = pointer.detector or models.detector
        models.severity = pointer.severity or models.severity
    return models


def perception(models: Models, prepared: Path, out: Path) -> dict[str, Any]:
    from model.detector import Detector
    from model.severity import SeverityModel
    from training.evaluate import evaluate_detector, evaluate_severity

    result: dict[str, Any] = {}
    if models.detector and (prepared / "detect" / "test" / "images").is_dir():
        det = evaluate_detector(
            Detector.load(models.detector), prepared, "test", out / "detector", progress=False
        )
        result["detector"] = {
            "version": load_manifest(models.detector, verify=False).version,
            "map50": det["map50"],
            "per_class": {k: v["ap50"] for k, v in det["per_class"].items()},
            "images": det["images"],
        }
    if models.severity and (prepared / "severity" / "test").is_dir():
        sev = evaluate_severity(
            SeverityModel.load(models.severity), prepared, "test", out / "severity", progress=False
        )
        result["severity"] = {
            "version": load_manifest(models.severity, verify=False).version,
            "macro_f1": sev["macro_f1"],
            "images": sev["images"],
        }
    return result


def cost(models: Models, ledger_path: Path) -> dict[str, Any]:
    """Price the ledger's test split; simulate the policy of each claim's region to find what settles alone."""
    catalogue = load_catalogue()
    pricer = load_pricer(catalogue, models.cost)
    ledger = read_ledger(ledger_path, catalogue)
    test = [r for r in ledger.rows if split_of(r.claim_id, COST_FRACTIONS) == SPLITS[2]]
    if not test:
        raise ConfigError(f"the ledger {ledger_path} has no row in its test split")
    ape, covered, settled_ape = [], [], []
    for row in test:
        findings = [
            Finding(f.part, f.severity, f.area_fraction, score=1.0, photo_id=f.photo_id) for f in row.findings
        ]
        estimate = pricer.price(findings, row.context())
        ape.append(abs(estimate.total - row.paid) / row.paid)
        covered.append(estimate.low <= row.paid <= estimate.high)
        decision = decide(DecisionInput(tuple(findings), estimate), load_policy(row.region))
        if decision.outcome == "auto_settle":
            settled_ape.append(ape[-1])
    return {
        "pricer": f"{pricer.name}@{pricer.version}",
        "n": len(test),
        "mdape": float(np.median(ape)),
        "within_20": float(np.mean(np.array(ape) <= 0.2)),
        "coverage": float(np.mean(covered)),
        "auto_settled": len(settled_ape) / len(test),
        "auto_settled_mdape": float(np.median(settled_ape)) if settled_ape else None,
        "sources": ledger.sources,
    }


def shadow(path: Path) -> dict[str, dict[str, Any]]:
    """Live share auto-settled by the service and by the shadow candidate, and errors against final amounts."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out: dict[str, dict[str, Any]] = {}
    for side in ("service", "shadow"):
        settled = [r for r in records if r[side]["decision"] == "auto_settle"]
        errors = [
            abs(r[side]["total"] - r["final"]["amount"]) / r["final"]["amount"]
            for r in records
            if r.get("final") and r["final"].get("amount") and r[side].get("total") is not None
        ]
        out[side] = {
            "n": len(records),
            "auto_settled": len(settled) / len(records) if records else None,
            "mdape_vs_final": float(np.median(errors)) if errors else None,
            "reviewed": len(errors),
        }
    return out


def compare(
    baseline: Models,
    candidate: Models,
    prepared: Path | None,
    ledger: Path | None,
    shadow_file: Path | None,
    out: Path,
) -> dict[str, Any]:
    """Both sides on the same data; writes ``compare.json`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"baseline": {}, "candidate": {}}
    for side, models in (("baseline", baseline), ("candidate", candidate)):
        if prepared is not None:
            report[side].update(perception(models, prepared, out / side))
        if ledger is not None:
            try:
                report[side]["cost"] = cost(models, ledger)
            except AutoquoteError as exc:
                report[side]["cost"] = {"error": exc.message}
    if shadow_file is not None and shadow_file.is_file():
        live = shadow(shadow_file)
        report["baseline"]["live"], report["candidate"]["live"] = live["service"], live["shadow"]
    (out / "compare.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def table(report: dict[str, Any]) -> str:
    """The report as a plain-text table: metric, baseline, candidate, candidate minus baseline."""
    rows: list[tuple[str, Any, Any]] = []
    b, c = report["baseline"], report["candidate"]

    def add(name: str, path: tuple[str, ...]) -> None:
        def get(d: dict[str, Any]) -> Any:
            for key in path:
                d = d.get(key, {}) if isinstance(d, dict) else {}
            return d if d != {} else None

        if get(b) is not None or get(c) is not None:
            rows.append((name, get(b), get(c)))

    add("detector version", ("detector", "version"))
    add("detector mAP50 (test)", ("detector", "map50"))
    for cls in (b.get("detector") or c.get("detector") or {}).get("per_class", {}):
        add(f"  AP50 {cls}", ("detector", "per_class", cls))
    add("severity version", ("severity", "version"))
    add("severity macro-F1 (test)", ("severity", "macro_f1"))
    add("pricer", ("cost", "pricer"))
    add("cost MdAPE (ledger test)", ("cost", "mdape"))
    add("cost within 20%", ("cost", "within_20"))
    add("interval coverage", ("cost", "coverage"))
    add("share auto-settled (ledger)", ("cost", "auto_settled"))
    add("  its MdAPE", ("cost", "auto_settled_mdape"))
    add("live quotes (shadow)", ("live", "n"))
    add("live share auto-settled", ("live", "auto_settled"))
    add("live MdAPE vs final amount", ("live", "mdape_vs_final"))
    lines = [f"{'metric':<30} {'baseline':>14} {'candidate':>14} {'delta':>9}"]
    for name, x, y in rows:
        delta = f"{y - x:+.3f}" if isinstance(x, float) and isinstance(y, float) else ""
        lines.append(f"{name:<30} {_fmt(x):>14} {_fmt(y):>14} {delta:>9}")
    return "\n".join(lines)
