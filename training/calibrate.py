"""``autoquote-train calibrate``: decision thresholds chosen on held-out labelled photos, with a proven error bound.

Each photo of the prepared damaged-parts split is a one-photo claim run through the service's own pipeline
(``model.pipeline``: the given or shipped detector and severity ONNX models, the shipped pricer). A settled
photo is **wrong** when the parts it was priced for are not the parts that are damaged: the set of part
classes in its line items differs from the set of labelled part classes, or a priced part has no detected
box overlapping a labelled box of that part with IoU >= ``iou`` (0.5 by default). Several boxes of one part
are one line item (the pricer merges them), so they count once. A photo with no label that gets priced is
wrong.

The thresholds are searched on the **val** split only (``training.risk_control``: Learn-then-Test with
fixed-sequence testing along pre-set paths, Clopper–Pearson bounds); the test split is scored once with
the chosen thresholds, and with the hand-set policy for comparison. The detection score may move over its
whole range. The other thresholds guard risks these labels cannot see (a wrong severity, hidden damage,
an uncertain price), so the search only tightens them from the base policy, never loosens them.

Writes, per jurisdiction: ``<out>/<jurisdiction>.yaml`` (a new policy version with its ``calibration``
block; ``--ship`` copies it into ``model/policies/``), ``<plots>/calibration_<jurisdiction>.png``
(settle share against error, point estimate and bound), and ``<out>/calibration_report.json``.

``--declared`` measures instead how often each policy settles claims that declare their damaged parts,
honest, padded with an undamaged part, or on undamaged cars (``training.declared_claims``).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from model.decision import (
    POLICIES_DIR,
    Calibration,
    Decision,
    Policy,
    Reason,
    decide,
    load_policy,
)
from model.errors import ConfigError
from model.findings import ClaimContext, PriceEstimate
from model.pipeline import PhotoInput, Pipeline, PipelineConfig, Quote, build_pipeline
from model.quality import QualityThresholds
from training.config import default_data_root
from training.evaluate import read_yolo_labels, split_images
from training.metrics import box_iou
from training.risk_control import (
    STRICTER_WHEN_HIGHER,
    THRESHOLD_NAMES,
    Outcomes,
    SearchResult,
    Step,
    Tally,
    clopper_pearson_upper,
    fixed_sequence_search,
    interpolate_path,
)

WRONG_MEANS = (
    "the set of part classes priced differs from the labelled set, or a priced part has no detected box with "
    "IoU >= {iou} against a labelled box of that part"
)
METHOD = (
    "Learn-then-Test, fixed-sequence testing along {paths} pre-set path(s) from strict to loose "
    "(Bonferroni across paths), one-sided Clopper-Pearson bound at {level:.4f} per path"
)


class PathSpec(BaseModel):
    """One search path: thresholds at its strict and loose ends; a missing value means the base policy's."""

    model_config = ConfigDict(extra="forbid")

    strict: dict[str, float] = Field(default_factory=dict)
    loose: dict[str, float] = Field(default_factory=dict)


class CalibrateConfig(BaseModel):
    """What to calibrate, on which data, to what target."""

    model_config = ConfigDict(extra="forbid")

    prepared: Path | None = None  # default: <work>/prepared
    out: Path | None = None  # default: <work>/calibration
    plots: Path = Path("docs/plots")
    jurisdictions: list[str] = Field(default_factory=list)  # empty: every policy in model/policies
    detector: Path | None = None  # default: the shipped model
    severity: Path | None = None
    verifier: Path | None = None  # default: the shipped part verifier, when there is one
    target: float = Field(default=0.05, gt=0, lt=1)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    iou: float = Field(default=0.5, gt=0, le=1)
    segment: str = "mid"
    # The dataset's photos are the publisher's 256-px thumbnails, not customer uploads: size is not checked.
    min_side: int = Field(default=0, ge=0)
    steps: int = Field(default=36, ge=2)
    min_settled: int = Field(default=0, ge=0)  # start testing only where at least this many photos settle
    may_loosen: list[str] = Field(default_factory=lambda: ["min_detection_score"])
    paths: list[PathSpec] = Field(default_factory=list)
    threads: int | None = 1
    version: str | None = None  # default: <UTC date and time>-cal
    # --declared only (training/declared_claims.py): where car-parts/testset (undamaged cars) lives, the share of
    # padded claims the stream figure assumes, the seed of each photo's draws, hand-set policies to compare.
    data_root: Path = Field(default_factory=default_data_root)
    padded_share: float = Field(default=0.2, gt=0, lt=1)
    seed: int = 0
    hand_set: list[Path] = Field(default_factory=lambda: [Path("tests/policies/CN.yaml")])
    score_sweep: list[float] = Field(default_factory=lambda: [0.6, 0.7, 0.8, 0.9])  # other detection scores shown
    # the part verifier's agreement each policy is also measured with (when a verifier is in the pipeline)
    verifier_sweep: list[float] = Field(default_factory=lambda: [0.2, 0.3, 0.4, 0.5, 0.6])


@dataclass(frozen=True)
class PhotoRecord:
    """One labelled photo after the pipeline: its quote, per region, and its labelled parts."""

    name: str
    quotes: dict[str, Quote]  # region -> quote (perception shared, priced in that region)
    labels: list[tuple[str, tuple[float, float, float, float]]]


def _reprice(pipeline: Pipeline, quote: Quote, context: ClaimContext) -> Quote:
    """The same perception priced in another region (the detector and severity model run once per photo)."""
    findings = quote.findings()
    estimate: PriceEstimate | None = None
    failures = list(quote.failures())
    if findings and pipeline.pricer is not None:
        try:
            estimate = pipeline.pricer.price(findings, context)
        except Exception as exc:  # the service turns this into a reason too; such a photo never settles
            failures.append(Reason("pipeline_error", f"pricer failed ({type(exc).__name__})"))
    elif findings:
        failures.append(Reason("model_unavailable", "the pricer did not load"))
    decision = Decision("human_review", tuple(failures), quote.decision.policy)  # only its failures are read
    return Quote(quote.photos, estimate, decision, quote.versions, context, quote.jurisdiction,
                 estimate.currency if estimate else quote.currency, quote.failed_stages, {})


def run_split(
    pipeline: Pipeline, prepared: Path, split: str, classes: list[str], regions: dict[str, str], segment: str
) -> list[PhotoRecord]:
    """Every photo of ``prepared/detect/<split>`` through the pipeline once, priced in each region."""
    records: list[PhotoRecord] = []
    first_region, first_jurisdiction = next(iter(regions.items()))
    for path in tqdm(split_images(prepared, split), desc=f"pipeline on {split}", unit="photo"):
        decoded = pipeline.decode(path.read_bytes())
        w, h = decoded.original_size
        boxes, cls = read_yolo_labels(path.parent.parent / "labels" / (path.stem + ".txt"), w, h)
        labels = [(classes[int(c)], (float(b[0]), float(b[1]), float(b[2]), float(b[3])))
                  for b, c in zip(boxes, cls, strict=True)]
        quote = pipeline.quote([PhotoInput(path.stem, decoded)], ClaimContext(segment, first_region),
                               first_jurisdiction)
        quotes = {first_region: quote}
        for region in regions:
            if region != first_region:
                quotes[region] = _reprice(pipeline, quote, ClaimContext(segment, region))
        records.append(PhotoRecord(path.stem, quotes, labels))
    return records


def priced_parts_wrong(quote: Quote, labels: list[tuple[str, tuple[float, float, float, float]]],
                       iou: float) -> bool:
    """True when the quote prices other parts than the labelled ones (see the module docstring)."""
    priced = {item.part.casefold() for item in quote.estimate.line_items} if quote.estimate else set()
    labelled = {part.casefold() for part, _ in labels}
    if priced != labelled:
        return True
    for part in priced:
        found = np.array([f.box for p in quote.photos for f in p.findings if f.part.casefold() == part])
        truth = np.array([box for name, box in labels if name.casefold() == part])
        if not len(found) or not (box_iou(truth.reshape(-1, 4), found.reshape(-1, 4)) >= iou).any():
            return True
    return False


def loosest(policy: Policy) -> Policy:
    """``policy`` with every searched threshold off: what remains decides whether a photo can settle at all."""
    return policy.model_copy(update={"min_detection_score": 0.0, "min_severity_confidence": 0.0,
                                     "severe_probability": 1.0, "max_relative_width": math.inf,
                                     "calibration": None})


def blockers(records: list[PhotoRecord], policy: Policy) -> dict[str, int]:
    """Why photos cannot settle at any searched threshold: reason codes under the loosest policy, counted."""
    open_policy = loosest(policy)
    counts: dict[str, int] = {}
    for rec in records:
        decision = decide(rec.quotes[policy.region].decision_input(), open_policy)
        if decision.outcome != "auto_settle":
            for code in sorted({r.code for r in decision.reasons}):
                counts[code] = counts.get(code, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def outcomes_for(records: list[PhotoRecord], policy: Policy, iou: float) -> Outcomes:
    """The arrays the search needs, for one jurisdiction's policy."""
    open_policy = loosest(policy)
    rows = []
    for rec in records:
        quote = rec.quotes[policy.region]
        findings = quote.findings()
        eligible = decide(quote.decision_input(), open_policy).outcome == "auto_settle"
        width = quote.estimate.relative_width if quote.estimate else math.inf
        rows.append((
            eligible,
            min((f.score for f in findings), default=1.0),
            min((max(f.severity.values()) for f in findings), default=1.0),
            max((f.severity.get("severe", 0.0) for f in findings), default=0.0),
            width,
            priced_parts_wrong(quote, rec.labels, iou),
        ))
    cols = list(zip(*rows, strict=True)) if rows else [()] * 6
    return Outcomes(
        eligible=np.array(cols[0], dtype=bool),
        min_score=np.array(cols[1], dtype=float),
        min_confidence=np.array(cols[2], dtype=float),
        max_severe=np.array(cols[3], dtype=float),
        relative_width=np.array(cols[4], dtype=float),
        wrong=np.array(cols[5], dtype=bool),
    )


def default_paths() -> list[PathSpec]:
    """One path: the detection score over its whole range, the guards from tighter than the base to the base."""
    return [PathSpec(
        strict={"min_detection_score": 0.95, "min_severity_confidence": 0.8, "severe_probability": 0.2,
                "max_relative_width": 1.0},
        loose={"min_detection_score": 0.25},
    )]


def build_paths(cfg: CalibrateConfig, base: Policy) -> list[list[dict[str, float]]]:
    """The configured paths with the base policy filled in; thresholds not in ``may_loosen`` never pass it."""
    paths = []
    for spec in cfg.paths or default_paths():
        unknown = (set(spec.strict) | set(spec.loose)) - set(THRESHOLD_NAMES)
        if unknown:
            raise ConfigError(f"calibration path sets unknown thresholds {sorted(unknown)}; use {THRESHOLD_NAMES}")
        ends = []
        for end in (spec.strict, spec.loose):
            values = {name: float(end.get(name, getattr(base, name))) for name in THRESHOLD_NAMES}
            for name in THRESHOLD_NAMES:
                if name in cfg.may_loosen:
                    continue
                base_value = float(getattr(base, name))
                stricter = max if STRICTER_WHEN_HIGHER[name] else min
                values[name] = stricter(values[name], base_value)
            ends.append(values)
        path = interpolate_path(ends[0], ends[1], cfg.steps)
        paths.append([{k: round(v, 4) for k, v in t.items()} for t in path])
    return paths


def figures(outcomes: Outcomes, thresholds: dict[str, float], confidence: float) -> dict[str, Any]:
    """Settle share, wrong share among settled and its Clopper–Pearson upper bound, for fixed thresholds."""
    return _figures(outcomes.tally(thresholds), confidence)


def _figures(tally: Tally, confidence: float) -> dict[str, Any]:
    bound = clopper_pearson_upper(tally.n_wrong, tally.n_settled, confidence) if tally.n_settled else None
    return {**asdict(tally), "settle_share": tally.settle_share, "error_rate": tally.error_rate,
            "error_bound": bound, "confidence": confidence}


def _thresholds(policy: Policy) -> dict[str, float]:
    return {name: float(getattr(policy, name)) for name in THRESHOLD_NAMES}


def calibrated_policy(base: Policy, result: SearchResult, models: dict[str, str], val: Outcomes,
                      version: str, iou: float, command: str, dataset_sha256: str | None) -> Policy:
    """The new policy version: the chosen thresholds (or the strictest, settling nothing) and its evidence."""
    chosen = result.chosen
    thresholds = chosen.thresholds if chosen else _thresholds(base)
    tally = val.tally(thresholds) if chosen else Tally(len(val), 0, 0)
    calibration = Calibration(
        models=models,
        proven=chosen is not None,
        target=result.target,
        confidence=result.confidence,
        error_bound=chosen.bound if chosen else None,
        error_rate=tally.error_rate,
        settle_share=tally.settle_share,
        **asdict(tally),
        split="val",
        method=METHOD.format(paths=result.paths, level=result.level_per_path),
        wrong_means=WRONG_MEANS.format(iou=iou),
        calibrated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        command=command,
        dataset_sha256=dataset_sha256,
    )
    return base.model_copy(update={**thresholds, "version": version, "calibration": calibration})


def write_policy(policy: Policy, path: Path, base: Policy) -> Path:
    """The policy as YAML in the ``model/policies`` format, with a header that says where it came from."""
    cal = policy.calibration
    assert cal is not None
    header = (
        f"# Written by `autoquote-train calibrate` from the {base.label} policy: thresholds chosen on the val\n"
        f"# split for the models in `calibration.models`; with any other model in service every claim goes to\n"
        f"# an adjuster (policy_not_calibrated). Recalibrate after each promotion.\n"
    )
    if not cal.proven:
        header += "# No threshold met the error target on these photos: this policy settles nothing alone.\n"
    data = policy.model_dump(mode="json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    reread = load_policy(policy.jurisdiction, path.parent)  # the service must be able to read what we wrote
    if reread != policy:
        raise ConfigError(f"{path} does not read back as the policy that was written")
    return path


def check_against_decide(records: list[PhotoRecord], policy: Policy, outcomes: Outcomes) -> None:
    """The search's settle rule must be the service's: re-decide every photo with the written policy."""
    thresholds = _thresholds(policy)
    expected = outcomes.settled(thresholds)
    for rec, want in zip(records, expected, strict=True):
        got = decide(rec.quotes[policy.region].decision_input(), policy).outcome == "auto_settle"
        if policy.calibration is not None and not policy.calibration.proven:
            want = False
        if got != bool(want):
            raise RuntimeError(f"calibration and decide() disagree on photo {rec.name}; this is a bug")


def plot(result: SearchResult, hand_set: dict[str, Any], test: dict[str, Any] | None, title: str,
         path: Path) -> Path:
    """Settle share against error: point estimate and bound along each path, the target, the choices."""
    from training.plots import _pyplot

    plt = _pyplot()  # type: ignore[no-untyped-call]
    fig, ax = plt.subplots(figsize=(7, 5.2), dpi=110)
    for j in range(result.paths):
        steps = [s for s in result.steps if s.path == j and s.n_settled]
        share = [s.settle_share for s in steps]
        label = f" (path {j + 1})" if result.paths > 1 else ""
        ax.plot(share, [s.error_rate for s in steps], "--", marker=".", label=f"val error, point estimate{label}")
        ax.plot(share, [s.bound for s in steps], "-", marker=".",
                label=f"val error, {result.level_per_path:.1%} upper bound{label}")
    ax.axhline(result.target, color="k", lw=1, ls=":", label=f"target {result.target:.0%}")
    if result.chosen is not None:
        ax.plot([result.chosen.settle_share], [result.chosen.bound], "r*", ms=14, label="chosen (val bound)")
    if hand_set["error_rate"] is not None:
        ax.plot([hand_set["settle_share"]], [hand_set["error_rate"]], "ks", label="hand-set policy (val)")
    if test is not None and test["error_rate"] is not None:
        ax.plot([test["settle_share"]], [test["error_rate"]], "g^", ms=9, label="chosen, on test")
    ax.set(xlabel="share of photos settled alone", ylabel="share of settled photos with wrong parts",
           ylim=(0, 1.02), xlim=(0, max(0.05, *(s.settle_share for s in result.steps)) * 1.05))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _step_row(s: Step) -> dict[str, Any]:
    return {"path": s.path, "index": s.index, **s.thresholds, "n_settled": s.n_settled, "n_wrong": s.n_wrong,
            "bound": s.bound, "tested": s.tested, "certified": s.certified}


def calibrate(cfg: CalibrateConfig, work_dir: Path, command: str, ship: bool = False) -> dict[str, Any]:
    """Run the pipeline on val and test, search on val, write policies, plots and the report."""
    prepared = cfg.prepared or work_dir / "prepared"
    out = cfg.out or work_dir / "calibration"
    report_file = prepared / "report.json"
    if not report_file.is_file():
        raise ConfigError(f"no prepared data at {prepared}; run `autoquote-train prepare` first (or --prepared)")
    prepared_report = json.loads(report_file.read_text())
    classes: list[str] = prepared_report["classes"]
    policies = [load_policy(j) for j in (cfg.jurisdictions or _all_jurisdictions())]
    regions: dict[str, str] = {}
    for p in policies:
        regions.setdefault(p.region, p.jurisdiction)
    pipeline = build_pipeline(PipelineConfig(quality=QualityThresholds(min_side=cfg.min_side)),
                              cfg.detector, cfg.severity, threads=cfg.threads, verifier_path=cfg.verifier)
    if not pipeline.ready:
        raise ConfigError(f"the pipeline is not in service: {'; '.join(pipeline.problems)}")
    versions = pipeline.versions()
    models = {k: versions[k] for k in ("detector", "severity", "pricer")}
    unknown = sorted(set(classes) - set(pipeline.detector.manifest.classes))  # type: ignore[union-attr]
    if unknown:
        raise ConfigError(f"labelled parts {unknown} are not detector classes; prepare data for this detector")
    val_records = run_split(pipeline, prepared, "val", classes, regions, cfg.segment)
    test_records = run_split(pipeline, prepared, "test", classes, regions, cfg.segment)
    version = cfg.version or datetime.now(UTC).strftime("%Y.%m.%d-%H%M") + "-cal"
    sha = prepared_report.get("sha256", {}).get("detect", {}).get("val")
    report: dict[str, Any] = {
        "command": command,
        "models": models,
        "target": cfg.target,
        "confidence": cfg.confidence,
        "wrong_means": WRONG_MEANS.format(iou=cfg.iou),
        "val_split_sha256": sha,
        "jurisdictions": {},
    }
    for base in policies:
        val = outcomes_for(val_records, base, cfg.iou)
        result = fixed_sequence_search(val, build_paths(cfg, base), cfg.target, cfg.confidence, cfg.min_settled)
        policy = calibrated_policy(base, result, models, val, version, cfg.iou, command, sha)
        policy_file = write_policy(policy, out / f"{base.jurisdiction}.yaml", base)
        check_against_decide(val_records, policy, val)
        test = outcomes_for(test_records, base, cfg.iou)
        chosen = _thresholds(policy)
        entry: dict[str, Any] = {
            "policy": policy.label,
            "policy_file": str(policy_file),
            "proven": result.chosen is not None,
            "method": METHOD.format(paths=result.paths, level=result.level_per_path),
            "thresholds": chosen,
            "hand_set_thresholds": _thresholds(base),
            "val": {
                "calibrated": _calibrated_figures(val, chosen, result, cfg.confidence),
                "hand_set": figures(val, _thresholds(base), cfg.confidence),
            },
            "test": {
                "calibrated": _calibrated_figures(test, chosen, result, cfg.confidence),
                "hand_set": figures(test, _thresholds(base), cfg.confidence),
            },
            "val_cannot_settle_at_any_threshold": blockers(val_records, base),
            "search": [_step_row(s) for s in result.steps],
        }
        title = f"{base.jurisdiction}: {models['detector']}, {models['severity']}"
        entry["plot"] = str(plot(result, entry["val"]["hand_set"], entry["test"]["calibrated"], title,
                                 cfg.plots / f"calibration_{base.jurisdiction}.png"))
        if ship:
            shipped = POLICIES_DIR / f"{base.jurisdiction}.yaml"
            shutil.copyfile(policy_file, shipped)
            entry["shipped_as"] = str(shipped)
        report["jurisdictions"][base.jurisdiction] = entry
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration_report.json").write_text(json.dumps(report, indent=2) + "\n")
    report["report_file"] = str(out / "calibration_report.json")
    return report


def _calibrated_figures(outcomes: Outcomes, thresholds: dict[str, float], result: SearchResult,
                        confidence: float) -> dict[str, Any]:
    """Figures of the chosen thresholds; a policy that proved nothing settles nothing."""
    if result.chosen is None:
        return _figures(Tally(len(outcomes), 0, 0), confidence)
    return figures(outcomes, thresholds, confidence)


def _all_jurisdictions() -> list[str]:
    from model.decision import available_policies

    return available_policies()


def summary(report: dict[str, Any]) -> str:
    """A table a person reads: per jurisdiction and split, settle share, error, bound, n."""

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    lines = [
        f"models: {', '.join(f'{k} {v}' for k, v in report['models'].items())}",
        f"target: at most {report['target']:.0%} of settled photos with wrong priced parts, "
        f"shown by a one-sided {report['confidence']:.0%} upper bound on val",
        f"wrong: {report['wrong_means']}",
        "",
        f"{'policy':<42}{'split':<6}{'thresholds':<11}{'settled':>14}{'wrong':>12}{'bound':>9}",
    ]
    for name, entry in report["jurisdictions"].items():
        for split in ("val", "test"):
            for kind in ("hand_set", "calibrated"):
                f = entry[split][kind]
                settled = f"{f['n_settled']}/{f['n_photos']} {pct(f['settle_share'])}"
                wrong = f"{f['n_wrong']} {pct(f['error_rate'])}"
                policy = entry["policy"] if kind == "calibrated" else f"{name} (hand-set)"
                lines.append(f"{policy:<42}{split:<6}{kind:<11}{settled:>14}{wrong:>12}{pct(f['error_bound']):>9}")
        t = entry["thresholds"]
        verdict = "proven" if entry["proven"] else "NOT proven: the policy settles nothing alone"
        lines.append(f"  {name}: {verdict}; thresholds " + ", ".join(f"{k}={v:g}" for k, v in t.items()))
        blocked = ", ".join(f"{code} {n}" for code, n in entry["val_cannot_settle_at_any_threshold"].items())
        lines.append(f"  val photos that no threshold lets settle, by reason: {blocked or 'none'}")
        lines.append(f"  policy: {entry['policy_file']}  plot: {entry['plot']}")
    lines.append(f"\nreport: {report['report_file']}")
    return "\n".join(lines)
