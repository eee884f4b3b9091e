"""``autoquote-train calibrate --declared``: how often each policy settles declared claims, honest or not.

Three kinds of claim, one photo each treated as a wide shot. Each photo goes once through the service's
models (``Pipeline.perceive``); each claim is then assessed under each policy by the service's own
verification, pricing and decision (``Pipeline.assess``):

* **honest**: each labelled photo of the prepared val and test splits declaring exactly its labelled parts;
* **padded**: the same photos declaring their labelled parts plus one undamaged part next to a labelled one
  (``NEIGHBOURS``: a fender beside a door, ...), drawn per photo with a fixed seed. Every photo that has such
  a neighbour is padded once, so the leak (the share of padded claims that settle) is measured on as many
  claims as there are. ``padded_share`` states the mix of the headline beside it: in a stream where that
  share of claims is padded, the share of settlements that pay for an undamaged part;
* **undamaged**: photos of undamaged cars (``car-parts/testset``, in no training run) declaring one part in
  view (its car-parts class mapped to the damage vocabulary, ``CAR_PARTS_TO_DAMAGE``). A car counts as
  settled when declaring any one of its parts in view settles (what a claimant who picks the part could
  get); the share for one part drawn at random is reported beside it.

A settlement is wrong when it pays for a part that is not damaged. A padded claim settles only with all its
declared parts confirmed, so it pays for the padded part; an undamaged car pays for an intact part. Labels
miss a damaged neighbour now and then (a broken headlight labelled, the scraped bumper under it not): the
padded claims that settle are listed in the report, to be looked at. For honest claims the report also counts
settlements whose priced boxes miss the labelled damage (IoU below ``iou``).

Policies: each of ``model/policies`` with its calibration gate opened (its thresholds as written, its
``calibration`` block dropped: in service a calibration that proved nothing settles nothing), and the
hand-set policies of ``hand_set``. Every share carries its exact one-sided Clopper–Pearson upper bound.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from model.decision import Policy, available_policies, load_policy
from model.declared import DeclaredPart
from model.errors import ConfigError
from model.findings import ClaimContext
from model.pipeline import Perception, PhotoInput, Pipeline, PipelineConfig, Quote, build_pipeline
from model.quality import QualityThresholds
from training.calibrate import CalibrateConfig, priced_parts_wrong
from training.config import REPO_ROOT
from training.evaluate import read_yolo_labels, split_images
from training.risk_control import clopper_pearson_upper

# Damage-vocabulary parts that touch on a car body: the undamaged part a padded claim adds sits next to a
# labelled one. Windshield meets the bonnet only; a door meets its fender (and the other door, same class).
NEIGHBOUR_PAIRS = (
    ("Bonnet", "Bumper"), ("Bonnet", "Fender"), ("Bonnet", "Light"), ("Bonnet", "Windshield"),
    ("Bumper", "Fender"), ("Bumper", "Light"), ("Bumper", "Dickey"),
    ("Dickey", "Light"), ("Door", "Fender"), ("Fender", "Light"),
)
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    part: tuple(sorted({b for a, b in NEIGHBOUR_PAIRS if a == part} | {a for a, b in NEIGHBOUR_PAIRS if b == part}))
    for part in sorted({p for pair in NEIGHBOUR_PAIRS for p in pair})
}
# car-parts classes that are a part the damage detector names; back glass, mirrors and wheels are not.
CAR_PARTS_TO_DAMAGE = {
    "front_bumper": "Bumper", "back_bumper": "Bumper", "hood": "Bonnet", "trunk": "Dickey", "tailgate": "Dickey",
    "front_left_door": "Door", "front_right_door": "Door", "back_left_door": "Door", "back_right_door": "Door",
    "front_left_light": "Light", "front_right_light": "Light", "back_left_light": "Light",
    "back_right_light": "Light", "front_glass": "Windshield",
}
UNDAMAGED_SET = "car-parts/testset"
GATE_NOTE = (
    "policies from model/policies are evaluated with their calibration gate opened (thresholds as written, "
    "calibration block dropped); in service a calibration that proved nothing settles nothing"
)


@dataclass(frozen=True)
class SeenPhoto:
    """One photo after the models: what they saw, and the damage-vocabulary parts it shows or is labelled with."""

    name: str
    seen: Perception
    parts: tuple[str, ...]  # labelled damaged parts (val/test), or parts in view (undamaged cars)
    labels: tuple[tuple[str, tuple[float, float, float, float]], ...] = ()


def padded_part(labelled: set[str], rng: random.Random) -> str | None:
    """An undamaged neighbour of a labelled part, drawn with ``rng``; None when every neighbour is labelled."""
    candidates = sorted({n for part in labelled for n in NEIGHBOURS.get(part, ())} - labelled)
    return rng.choice(candidates) if candidates else None


def _rng(seed: int, name: str) -> random.Random:
    return random.Random(f"{seed}:{name}")  # one draw per photo, the same whatever else is in the split


def perceive_split(pipeline: Pipeline, prepared: Path, split: str, classes: list[str]) -> list[SeenPhoto]:
    """Every photo of ``prepared/detect/<split>`` through the models once, with its labels."""
    photos = []
    for path in tqdm(split_images(prepared, split), desc=f"models on {split}", unit="photo"):
        decoded = pipeline.decode(path.read_bytes())
        w, h = decoded.original_size
        boxes, cls = read_yolo_labels(path.parent.parent / "labels" / (path.stem + ".txt"), w, h)
        labels = tuple((classes[int(c)], (float(b[0]), float(b[1]), float(b[2]), float(b[3])))
                       for b, c in zip(boxes, cls, strict=True))
        seen = pipeline.perceive([PhotoInput(path.stem, decoded)])
        photos.append(SeenPhoto(path.stem, seen, tuple(sorted({p for p, _ in labels})), labels))
    return photos


def perceive_undamaged(pipeline: Pipeline, data_root: Path) -> list[SeenPhoto]:
    """Every photo of ``car-parts/testset`` through the models once, with the damage-vocabulary parts in view."""
    folder = data_root / UNDAMAGED_SET
    spec_path = folder / "annotations.json"
    if not spec_path.is_file():
        raise ConfigError(f"no {UNDAMAGED_SET}/annotations.json under the data root; give --data-root")
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    names = {c["id"]: c["name"] for c in spec["categories"]}
    vocabulary = set(pipeline.parts)
    in_view: dict[int, set[str]] = {}
    for ann in spec["annotations"]:
        part = CAR_PARTS_TO_DAMAGE.get(names.get(ann["category_id"], ""))
        if part in vocabulary:
            in_view.setdefault(ann["image_id"], set()).add(part)
    photos = []
    for im in tqdm(sorted(spec["images"], key=lambda im: im["file_name"]), desc="models on undamaged cars",
                   unit="photo"):
        decoded = pipeline.decode((folder / im["path"]).read_bytes())
        seen = pipeline.perceive([PhotoInput(Path(im["file_name"]).stem, decoded)])
        photos.append(SeenPhoto(Path(im["file_name"]).stem, seen, tuple(sorted(in_view.get(im["id"], ())))))
    return photos


def rate(k: int, n: int, confidence: float) -> dict[str, Any]:
    """``k`` of ``n``, the share and its exact one-sided Clopper–Pearson upper bound (None when n is 0)."""
    return {"k": k, "n": n, "share": k / n if n else None,
            "upper": clopper_pearson_upper(k, n, confidence) if n else None}


def _assess(pipeline: Pipeline, photo: SeenPhoto, policy: Policy, declared: tuple[DeclaredPart, ...],
            segment: str) -> Quote:
    return pipeline.assess(photo.seen, ClaimContext(segment, policy.region), policy, declared)


def _confirming_score(quote: Quote, part: str) -> float | None:
    checks = quote.verification.parts if quote.verification else ()
    return next((c.finding.score for c in checks if c.declared.part == part and c.finding is not None), None)


def evaluate_split(pipeline: Pipeline, photos: list[SeenPhoto], policy: Policy, cfg: CalibrateConfig
                   ) -> dict[str, Any]:
    """Honest and padded claims of one split under one policy: settle shares, bounds and the padded cases."""
    honest_settled = honest_wrong = padded_n = open_settled = open_wrong = 0
    cases: list[dict[str, Any]] = []
    labelled = [p for p in photos if p.parts]
    for photo in photos:  # open world: no declaration, the models must find everything
        quote = _assess(pipeline, photo, policy, (), cfg.segment)
        if quote.decision.outcome == "auto_settle":
            open_settled += 1
            open_wrong += priced_parts_wrong(quote, list(photo.labels), cfg.iou)
    for photo in labelled:
        declared = tuple(DeclaredPart(part) for part in photo.parts)
        quote = _assess(pipeline, photo, policy, declared, cfg.segment)
        if quote.decision.outcome == "auto_settle":
            honest_settled += 1
            honest_wrong += priced_parts_wrong(quote, list(photo.labels), cfg.iou)
        extra = padded_part(set(photo.parts), _rng(cfg.seed, photo.name))
        if extra is None:
            continue
        padded_n += 1
        padded = _assess(pipeline, photo, policy, (*declared, DeclaredPart(extra)), cfg.segment)
        if padded.decision.outcome == "auto_settle":
            cases.append({"photo": photo.name, "labelled": list(photo.parts), "padded": extra,
                          "score": _confirming_score(padded, extra),
                          "total": padded.estimate.total if padded.estimate else None})
    honest = rate(honest_settled, len(labelled), cfg.confidence)
    padded_rate = rate(len(cases), padded_n, cfg.confidence)
    return {
        "photos": len(photos),
        "no_labelled_damage": len(photos) - len(labelled),
        "honest": {**honest, "wrong_boxes": rate(honest_wrong, honest_settled, cfg.confidence)},
        "padded": {**padded_rate, "cases": cases},
        "stream": stream_figure(honest["share"], padded_rate["share"], cfg.padded_share),
        "open_world": {"settled": rate(open_settled, len(photos), cfg.confidence),
                       "wrong_parts": rate(open_wrong, open_settled, cfg.confidence)},
    }


def stream_figure(honest: float | None, leak: float | None, share: float) -> dict[str, Any]:
    """In a stream where ``share`` of claims are padded: the share of settlements paying for an undamaged part."""
    if honest is None or leak is None or share * leak + (1 - share) * honest == 0:
        return {"padded_share": share, "wrong_among_settled": None}
    return {"padded_share": share, "wrong_among_settled": share * leak / (share * leak + (1 - share) * honest)}


def evaluate_undamaged(pipeline: Pipeline, photos: list[SeenPhoto], policy: Policy, cfg: CalibrateConfig
                       ) -> dict[str, Any]:
    """Undamaged cars under one policy: settled with any part in view declared, and with one drawn at random."""
    in_view = [p for p in photos if p.parts]
    any_part = one_part = found = open_settled = 0
    cases: list[dict[str, Any]] = []
    wanted = policy.min_verifier_probability
    for photo in in_view:
        found += any(f.score >= policy.min_detection_score
                     and (wanted is None or (f.agreement is not None and f.agreement >= wanted))
                     for f in photo.seen.findings())
        open_settled += _assess(pipeline, photo, policy, (), cfg.segment).decision.outcome == "auto_settle"
        drawn = _rng(cfg.seed, photo.name).choice(photo.parts)
        settling = []
        for part in photo.parts:
            quote = _assess(pipeline, photo, policy, (DeclaredPart(part),), cfg.segment)
            if quote.decision.outcome == "auto_settle":
                settling.append({"part": part, "score": _confirming_score(quote, part),
                                 "total": quote.estimate.total if quote.estimate else None})
        any_part += bool(settling)
        one_part += any(s["part"] == drawn for s in settling)
        if settling:
            cases.append({"photo": photo.name, "settles_with": settling})
    return {
        "photos": len(photos),
        "no_part_in_view": len(photos) - len(in_view),
        "damage_found": rate(found, len(in_view), cfg.confidence),
        "any_part": rate(any_part, len(in_view), cfg.confidence),
        "one_part": rate(one_part, len(in_view), cfg.confidence),
        "open_world_settled": rate(open_settled, len(in_view), cfg.confidence),
        "cases": cases,
    }


def sweep_row(pipeline: Pipeline, splits: dict[str, list[SeenPhoto]], undamaged: list[SeenPhoto], policy: Policy,
              score: float, cfg: CalibrateConfig, agreement: float | None = None) -> dict[str, Any]:
    """The policy with another detection score (and part-verifier agreement): what it would settle. A look at the
    trade-off, not a calibration: the undamaged cars are the only such set there is, so a value chosen on them
    has no held-out check (choose on val, read test and the undamaged cars)."""
    moved = policy.model_copy(update={"min_detection_score": score, "min_verifier_probability": agreement})
    row: dict[str, Any] = {"min_detection_score": score, "min_verifier_probability": agreement}
    for split, photos in splits.items():
        figs = evaluate_split(pipeline, photos, moved, cfg)
        row[split] = {"honest": {k: figs["honest"][k] for k in ("k", "n", "share", "upper")},
                      "padded": {k: figs["padded"][k] for k in ("k", "n", "share", "upper")},
                      "open_world": figs["open_world"]}
    cars = evaluate_undamaged(pipeline, undamaged, moved, cfg)
    row["undamaged_any_part"] = cars["any_part"]
    row["undamaged_damage_found"] = cars["damage_found"]
    row["undamaged_open_world_settled"] = cars["open_world_settled"]
    return row


def policies_to_compare(cfg: CalibrateConfig) -> list[tuple[str, Policy]]:
    """(source, policy): each shipped policy with its calibration gate opened, then the hand-set ones."""
    chosen = []
    for name in cfg.jurisdictions or available_policies():
        policy = load_policy(name)
        chosen.append(("gate opened", policy.model_copy(update={"calibration": None})))
    for path in cfg.hand_set:
        file = path if path.is_absolute() else REPO_ROOT / path
        if not file.is_file():
            raise ConfigError(f"hand-set policy {path} not found")
        chosen.append(("hand-set", load_policy(file.stem, file.parent)))
    return chosen


def calibrate_declared(cfg: CalibrateConfig, work_dir: Path, command: str) -> dict[str, Any]:
    """Run the models once on val, test and the undamaged cars; assess every simulated claim under each policy."""
    prepared = cfg.prepared or work_dir / "prepared"
    out = cfg.out or work_dir / "calibration"
    report_file = prepared / "report.json"
    if not report_file.is_file():
        raise ConfigError(f"no prepared data at {prepared}; run `autoquote-train prepare` first (or --prepared)")
    classes: list[str] = json.loads(report_file.read_text())["classes"]
    policies = policies_to_compare(cfg)
    pipeline = build_pipeline(PipelineConfig(quality=QualityThresholds(min_side=cfg.min_side)),
                              cfg.detector, cfg.severity, threads=cfg.threads, verifier_path=cfg.verifier)
    if not pipeline.ready:
        raise ConfigError(f"the pipeline is not in service: {'; '.join(pipeline.problems)}")
    unknown = sorted(set(classes) - set(pipeline.parts))
    if unknown:
        raise ConfigError(f"labelled parts {unknown} are not detector classes; prepare data for this detector")
    splits = {split: perceive_split(pipeline, prepared, split, classes) for split in ("val", "test")}
    undamaged = perceive_undamaged(pipeline, cfg.data_root)
    versions = pipeline.versions()
    report: dict[str, Any] = {
        "command": command,
        "models": {k: versions[k] for k in ("detector", "severity", "pricer", "verifier") if k in versions},
        "confidence": cfg.confidence,
        "target": cfg.target,
        "padded_share": cfg.padded_share,
        "seed": cfg.seed,
        "undamaged_set": UNDAMAGED_SET,
        "note": GATE_NOTE,
        "neighbours": {part: list(n) for part, n in NEIGHBOURS.items()},
        "policies": [],
    }
    for source, policy in policies:
        entry: dict[str, Any] = {"policy": policy.label, "source": source,
                                 "min_detection_score": policy.min_detection_score,
                                 "min_verifier_probability": policy.min_verifier_probability}
        for split, photos in splits.items():
            entry[split] = evaluate_split(pipeline, photos, policy, cfg)
        entry["undamaged"] = evaluate_undamaged(pipeline, undamaged, policy, cfg)
        entry["meets_target_on_test"] = meets_target(entry, cfg.target)
        entry["score_sweep"] = [sweep_row(pipeline, splits, undamaged, policy, score, cfg)
                                for score in cfg.score_sweep]
        if pipeline.verifier is not None:
            entry["verifier_sweep"] = [
                sweep_row(pipeline, splits, undamaged, policy, policy.min_detection_score, cfg, agreement)
                for agreement in [None, *cfg.verifier_sweep]]
        report["policies"].append(entry)
    report["plot"] = _shown(plot_declared(report, cfg.plots / "declared_calibration.png", cfg.target))
    report["report_file"] = _shown(out / "declared_calibration.json")
    out.mkdir(parents=True, exist_ok=True)
    (out / "declared_calibration.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def meets_target(entry: dict[str, Any], target: float) -> bool:
    """The issue's bar on test: padded claims settle at most ``target``; undamaged cars' upper bound at most it."""
    padded, undamaged = entry["test"]["padded"], entry["undamaged"]["any_part"]
    return (padded["share"] is not None and padded["share"] <= target
            and undamaged["upper"] is not None and undamaged["upper"] <= target)


def _shown(path: Path) -> str:
    """A path as the report shows it: relative to the checkout when inside it, else its name alone."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return path.name


def plot_declared(report: dict[str, Any], path: Path, target: float) -> Path:
    """Left, per policy: honest settle share, padded leak, undamaged settle share, with 95% upper bounds.
    Right: the same on test and the undamaged cars for the first hand-set policy at other detection scores."""
    from training.plots import _pyplot

    plt = _pyplot()  # type: ignore[no-untyped-call]
    bars = [("honest settle, val", "val", "honest", "tab:green", "//"),
            ("honest settle, test", "test", "honest", "tab:green", ""),
            ("padded settle (leak), val", "val", "padded", "tab:red", "//"),
            ("padded settle (leak), test", "test", "padded", "tab:red", ""),
            ("undamaged car settles (any part in view)", "undamaged", "any_part", "tab:purple", "")]
    entries = report["policies"]
    left = max(7.0, 2.2 * len(entries))
    fig, (ax, sweep_ax) = plt.subplots(1, 2, figsize=(left + 4.5, 6.0), dpi=110,
                                       gridspec_kw={"width_ratios": [left, 4.5]})
    width = 0.8 / len(bars)
    for j, (label, where, kind, colour, hatch) in enumerate(bars):
        figs = [e[where][kind] for e in entries]
        xs = [i + (j - (len(bars) - 1) / 2) * width for i in range(len(entries))]
        shares = [f["share"] or 0.0 for f in figs]
        over = [max(0.0, (f["upper"] or 0.0) - (f["share"] or 0.0)) for f in figs]
        ax.bar(xs, shares, width, color=colour, hatch=hatch, alpha=0.8, edgecolor="white", label=label)
        ax.errorbar(xs, shares, yerr=[[0.0] * len(xs), over], fmt="none", ecolor="k", capsize=3, lw=1)
    ax.axhline(target, color="k", ls=":", lw=1, label=f"target {target:.0%} (padded on test; undamaged bound)")
    ax.set_xticks(range(len(entries)))
    ax.set_xticklabels([e["policy"].replace("@", "\n@") + f"\n{e['source']}, score {e['min_detection_score']:g}"
                        for e in entries], fontsize=7)
    ax.set_ylabel("share of claims settled alone\n(whisker: one-sided 95% upper bound)", fontsize=8)
    top = max([target] + [f["upper"] or 0.0 for e in entries for f in
                          (e["val"]["honest"], e["test"]["honest"], e["undamaged"]["any_part"])])
    ax.set_ylim(0, min(1.0, top * 1.25))
    models = report["models"]
    checked = f" (part verifier agreement >= {entries[0]['min_verifier_probability']:g} where a policy asks)" \
        if "verifier" in models and entries and entries[0].get("min_verifier_probability") is not None else ""
    names = ", ".join(models[k] for k in ("detector", "severity", "verifier") if k in models)
    ax.set_title(f"Declared claims, one photo each\n{names}\n"
                 f"model/policies with the calibration gate opened{checked}; hand-set policies as written", fontsize=8)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    shown = next((e for e in entries if e["source"] == "hand-set"), entries[0])
    rows = [{"min_detection_score": shown["min_detection_score"], "test": shown["test"],
             "undamaged_any_part": shown["undamaged"]["any_part"]}, *shown["score_sweep"]]
    rows.sort(key=lambda r: r["min_detection_score"])
    scores = [r["min_detection_score"] for r in rows]
    for label, kind, colour in (("honest settle, test", "honest", "tab:green"),
                                ("padded settle, test", "padded", "tab:red"),
                                ("undamaged car settles", "undamaged", "tab:purple")):
        figs = [r["undamaged_any_part"] if kind == "undamaged" else r["test"][kind] for r in rows]
        sweep_ax.plot(scores, [f["share"] or 0.0 for f in figs], "-o", color=colour, ms=3, label=label)
        sweep_ax.plot(scores, [f["upper"] or 0.0 for f in figs], "--", color=colour, lw=1,
                      label=f"{label}, 95% upper bound")
    sweep_ax.axhline(target, color="k", ls=":", lw=1)
    sweep_ax.set(xlabel="min_detection_score (the threshold that confirms a part)", ylim=ax.get_ylim())
    sweep_ax.set_title(f"{shown['policy']} ({shown['source']}) at other detection scores\n"
                       "(a look at the trade-off, not a calibration)", fontsize=8)
    sweep_ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def declared_summary(report: dict[str, Any]) -> str:
    """The table a person reads: per policy and split, each share with its upper bound and counts."""

    def cell(f: dict[str, Any]) -> str:
        if f["share"] is None:
            return "-"
        return f"{f['k']}/{f['n']} {f['share']:.1%} (<={f['upper']:.1%})"

    lines = [
        f"models: {', '.join(f'{k} {v}' for k, v in report['models'].items())}",
        f"note: {report['note']}",
        f"honest: each photo's labelled parts declared; padded: plus one undamaged neighbouring part; "
        f"undamaged: {report['undamaged_set']}, any one part in view declared. Shares with their one-sided "
        f"{report['confidence']:.0%} Clopper-Pearson upper bound.",
        "",
        f"{'policy':<54}{'split':<7}{'honest settle':>24}{'padded settle (leak)':>24}{'stream wrong':>14}",
    ]
    for e in report["policies"]:
        name = f"{e['policy']} ({e['source']})"
        for split in ("val", "test"):
            s = e[split]
            wrong = s["stream"]["wrong_among_settled"]
            lines.append(f"{name:<54}{split:<7}{cell(s['honest']):>24}{cell(s['padded']):>24}"
                         f"{'-' if wrong is None else f'{wrong:.1%}':>14}")
        u = e["undamaged"]
        lines.append(f"{'':<54}{'cars':<7}settles with any part {cell(u['any_part'])}, one part drawn "
                     f"{cell(u['one_part'])}; damage found at score {e['min_detection_score']:g}: "
                     f"{cell(u['damage_found'])}")
        lines.append(f"{'':<54}{'':<7}honest settlements with boxes missing the labels: val "
                     f"{cell(e['val']['honest']['wrong_boxes'])}, test {cell(e['test']['honest']['wrong_boxes'])}")
        verdict = "meets" if e["meets_target_on_test"] else "does NOT meet"
        lines.append(f"{'':<54}{verdict} the target on test (padded settle <= {report['target']:.0%}, "
                     f"undamaged cars' upper bound <= {report['target']:.0%})")
        for row in e["score_sweep"]:
            lines.append(f"{'':<54}at score {row['min_detection_score']:<5g}honest test {cell(row['test']['honest'])}"
                         f", padded test {cell(row['test']['padded'])}, undamaged cars "
                         f"{cell(row['undamaged_any_part'])}")
        for row in e.get("verifier_sweep", []):
            agreement = row["min_verifier_probability"]
            lines.append(
                f"{'':<54}verifier {'off' if agreement is None else f'>= {agreement:g}':<8} honest val "
                f"{cell(row['val']['honest'])}, padded val {cell(row['val']['padded'])}, honest test "
                f"{cell(row['test']['honest'])}, padded test {cell(row['test']['padded'])}; undamaged cars "
                f"{cell(row['undamaged_any_part'])}, found {cell(row['undamaged_damage_found'])}; open world: "
                f"settle val {cell(row['val']['open_world']['settled'])} wrong parts "
                f"{cell(row['val']['open_world']['wrong_parts'])}, test {cell(row['test']['open_world']['settled'])} "
                f"wrong {cell(row['test']['open_world']['wrong_parts'])}, cars "
                f"{cell(row['undamaged_open_world_settled'])}")
    lines.append(f"\n'stream wrong': share of settlements paying for an undamaged part when "
                 f"{report['padded_share']:.0%} of claims are padded")
    lines.append(f"plot: {report['plot']}\nreport: {report['report_file']}")
    return "\n".join(lines)
