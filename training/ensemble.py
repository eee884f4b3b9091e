"""One severity model from several: their probabilities averaged inside a single ONNX graph.

The COCO-initialised severity model (160 px) and the ImageNet EfficientNet-Lite0 one (224 px) err in
different places: the first under-calls severe damage, the second over-calls it and confuses moderate. Their
average is better than either on the crops the service grades. Rather than teach the runtime about
ensembles, ``ensemble-severity`` writes one ONNX file that takes the larger input, resizes and normalises it
for each member inside the graph, runs both and returns the weighted mean of their probabilities. The
runtime, the service and every tool that reads a severity model run it unchanged; the manifest names the
members (version, sha256, weight, input size, initial weights).

The weight is chosen on val crops, from the members' own probabilities; the file is then measured as
shipped, through the runtime, on test crops (the headline), whole photos, the crops of ``damaged-parts``
and val crops. Large weights are stored as float16 and cast back to float32 when the session loads (ORT
folds the casts), which halves the file for a change in the probabilities far below a decision's margin
(measured and recorded).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model.errors import ConfigError
from model.findings import SEVERITY_LEVELS

WEIGHT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7)
FP16_MIN_ELEMENTS = 1024  # smaller tensors (biases, batch-norm shifts) stay float32


def _member_graph(model: Any, manifest: Any, index: int, source: str, size: int, weight: float) -> tuple[
        list[Any], list[Any], str]:
    """Nodes and initialisers that take the shared 0-1 input ``source`` to this member's weighted probabilities."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    prefix = f"m{index}_"
    graph = onnx.compose.add_prefix(model, prefix=prefix).graph
    pre = manifest.preprocess
    if pre.kind != "resize_center_crop" or abs(pre.scale - 1 / 255) > 1e-9:
        raise ConfigError(f"{manifest.version}: only resize_center_crop members on 0-1 pixels can be averaged")
    nodes: list[Any] = []
    inits: list[Any] = []
    current = source
    if manifest.input_size != size:  # sizes must name every axis in opset 17: batch and channels from the input
        inits.append(numpy_helper.from_array(np.array([0], np.int64), prefix + "slice_start"))
        inits.append(numpy_helper.from_array(np.array([2], np.int64), prefix + "slice_end"))
        inits.append(numpy_helper.from_array(np.array([manifest.input_size] * 2, np.int64), prefix + "hw"))
        nodes += [
            helper.make_node("Shape", [current], [prefix + "shape"]),
            helper.make_node("Slice", [prefix + "shape", prefix + "slice_start", prefix + "slice_end"],
                             [prefix + "nc"]),
            helper.make_node("Concat", [prefix + "nc", prefix + "hw"], [prefix + "sizes"], axis=0),
            helper.make_node("Resize", [current, "", "", prefix + "sizes"], [prefix + "resized"], mode="linear",
                             coordinate_transformation_mode="half_pixel"),
        ]
        current = prefix + "resized"
    if tuple(pre.mean) != (0.0, 0.0, 0.0) or tuple(pre.std) != (1.0, 1.0, 1.0):
        inits.append(numpy_helper.from_array(np.array(pre.mean, np.float32).reshape(1, 3, 1, 1), prefix + "mean"))
        inits.append(numpy_helper.from_array(np.array(pre.std, np.float32).reshape(1, 3, 1, 1), prefix + "std"))
        nodes += [helper.make_node("Sub", [current, prefix + "mean"], [prefix + "centred"]),
                  helper.make_node("Div", [prefix + "centred", prefix + "std"], [prefix + "normalised"])]
        current = prefix + "normalised"
    nodes.append(helper.make_node("Identity", [current], [graph.input[0].name]))
    nodes += list(graph.node)
    inits += list(graph.initializer)
    probabilities = graph.output[0].name
    if graph.node[-1].op_type != "Softmax":
        nodes.append(helper.make_node("Softmax", [probabilities], [prefix + "softmax"], axis=1))
        probabilities = prefix + "softmax"
    inits.append(helper.make_tensor(prefix + "weight", TensorProto.FLOAT, [], [weight]))
    nodes.append(helper.make_node("Mul", [probabilities, prefix + "weight"], [prefix + "weighted"]))
    return nodes, inits, prefix + "weighted"


def _float16_storage(graph: Any) -> int:
    """Store large float32 initialisers as float16 with a Cast back; returns how many were converted."""
    from onnx import TensorProto, helper, numpy_helper

    kept, casts, converted = [], [], 0
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= FP16_MIN_ELEMENTS:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "_fp16")
            kept.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
            converted += 1
        else:
            kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return converted


def build(members: list[tuple[Path, float]], out: Path, float16: bool = True) -> int:
    """Write the averaged graph of ``members`` (ONNX path, weight) to ``out``; returns its input size."""
    import onnx
    from onnx import TensorProto, helper

    from model.manifest import load_manifest

    loaded = [(onnx.load(str(path)), load_manifest(path), w) for path, w in members]
    size = max(manifest.input_size for _, manifest, _ in loaded)
    nodes: list[Any] = []
    inits: list[Any] = []
    weighted = []
    for i, (model, manifest, weight) in enumerate(loaded):
        if model.opset_import[0].version != loaded[0][0].opset_import[0].version:
            raise ConfigError("ensemble members must share an opset")
        n, t, w = _member_graph(model, manifest, i, "images", size, weight)
        nodes += n
        inits += t
        weighted.append(w)
    nodes.append(helper.make_node("Sum", weighted, ["probabilities"]))
    graph = helper.make_graph(
        nodes, "severity_ensemble",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(SEVERITY_LEVELS)])],
        initializer=inits)
    if float16:
        _float16_storage(graph)
    model = helper.make_model(graph, opset_imports=list(loaded[0][0].opset_import), producer_name="autoquote")
    model.ir_version = loaded[0][0].ir_version
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return size


def crop_pictures(prepared: Path, split: str, detector: Any) -> list[tuple[Image.Image, int]]:
    """Each severity photo of ``split`` as the service grades it: the crop around its top detection."""
    from model.pipeline import PipelineConfig
    from training.evaluate import severity_images
    from training.severity_crops import damage_crop

    margin = PipelineConfig().crop_margin
    out = []
    for path, label in severity_images(prepared, split):
        with Image.open(path) as im:
            image = im.convert("RGB")
        out.append((damage_crop(image, detector, margin)[0], label))
    return out


def probabilities(model: Any, pictures: list[Image.Image], batch: int = 16) -> np.ndarray:
    """Rows of minor / moderate / severe probabilities, ``batch`` pictures a run (memory stays small)."""
    rows = [[g.probabilities[k] for k in SEVERITY_LEVELS]
            for i in range(0, len(pictures), batch) for g in model.grade_many(pictures[i : i + batch])]
    return np.array(rows, dtype=np.float64).reshape(-1, len(SEVERITY_LEVELS))


def _macro_f1(labels: np.ndarray, guesses: np.ndarray) -> tuple[float, float]:
    f1 = []
    for c in range(len(SEVERITY_LEVELS)):
        tp = int(np.sum((guesses == c) & (labels == c)))
        wrong = int(np.sum(guesses == c) + np.sum(labels == c)) - 2 * tp
        f1.append(2 * tp / max(2 * tp + wrong, 1))
    severe = SEVERITY_LEVELS.index("severe")
    return float(np.mean(f1)), float(np.mean(guesses[labels == severe] == severe))


def choose_weight(member_models: list[Any], pictures: list[tuple[Image.Image, int]]) -> dict[str, Any]:
    """Val macro-F1 and severe recall of each weight of the second member (the first gets the rest)."""
    probs = [probabilities(m, [p for p, _ in pictures]) for m in member_models]
    labels = np.array([y for _, y in pictures])
    grid = {}
    for w in (0.0, *WEIGHT_GRID, 1.0):
        f1, recall = _macro_f1(labels, ((1 - w) * probs[0] + w * probs[1]).argmax(1))
        grid[f"{w:.1f}"] = {"macro_f1": round(f1, 4), "severe_recall": round(recall, 4)}
    best = max(WEIGHT_GRID, key=lambda w: (grid[f"{w:.1f}"]["macro_f1"], -abs(w - 0.5)))
    return {"chosen": best, "val_crops_by_weight": grid}


def cmd_ensemble(args: argparse.Namespace) -> None:
    from model.detector import Detector
    from model.manifest import WEIGHTS_DIR, DatasetRef, Manifest, Preprocess, TrainedWith, load_manifest
    from model.pipeline import PipelineConfig
    from model.severity import SeverityModel
    from training.config import command_line, default_work_dir
    from training.effnet import damaged_parts_crops, grade_pictures
    from training.evaluate import evaluate_severity
    from training.export import finalise, ship

    paths = [Path(p) for p in args.members]
    if len(paths) != 2:
        raise ConfigError("--members takes exactly two severity ONNX files (the second one's weight is chosen)")
    for path in paths:
        if not path.is_file() or not path.with_suffix(".json").is_file():
            raise ConfigError(f"{path}: no such ONNX file with its manifest beside it")
    prepared = Path(args.prepared) if args.prepared else default_work_dir() / "prepared"
    if not (prepared / "report.json").is_file():
        raise ConfigError(f"{prepared}: not a prepared data folder; run `autoquote-train prepare` first")
    version = args.version or datetime.now(UTC).strftime("%Y.%m.%d-%H%M") + "-ensemble"
    out_dir = Path(args.out) if args.out else default_work_dir() / "runs" / f"severity-ensemble-{version}"
    detector = Detector.load(args.detector) if args.detector else Detector.load()
    members = [SeverityModel.load(p) for p in paths]
    manifests = [load_manifest(p) for p in paths]

    print("choosing the weight on val crops ...", flush=True)
    val_pictures = crop_pictures(prepared, "val", detector)
    choice = choose_weight(members, val_pictures)
    weight = args.weight if args.weight is not None else choice["chosen"]
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"--weight {weight}: the second member's weight must be between 0 and 1")
    recipe = {"members": [m.version for m in manifests], "weights": [round(1 - weight, 3), round(weight, 3)],
              "float16_storage": not args.float32}
    onnx_path = out_dir / "severity.onnx"
    size = build([(paths[0], 1 - weight), (paths[1], weight)], onnx_path, float16=not args.float32)
    report = json.loads((prepared / "report.json").read_text())
    hashes = report["sha256"]["severity"]

    def manifest(metrics: dict[str, Any]) -> Manifest:
        return Manifest(
            name="autoquote-severity", version=version, task="classify", classes=list(SEVERITY_LEVELS),
            input_size=size, preprocess=Preprocess(kind="resize_center_crop", flip_average=True),
            opset=17, sha256="", file=onnx_path.name,
            dataset=DatasetRef(source="severity: VDS-2.5k (MIT); crops around damage found by the detector",
                               split="members trained on train (grouped by source photo); weight chosen on val "
                                     "crops; metrics on test", sha256=hashes["all"], splits=hashes),
            metrics=metrics,
            trained_with=TrainedWith(command=" && ".join([*(m.trained_with.command for m in manifests),
                                                          command_line(args)]),
                                     config=recipe, config_sha256=hashlib.sha256(
                                         json.dumps(recipe, sort_keys=True).encode()).hexdigest()),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            licence="AGPL-3.0-or-later; initial weights Apache-2.0 (ImageNet EfficientNet-Lite0) and COCO",
            initial_weights={"members": [m.initial_weights for m in manifests]},
            members=[{"version": m.version, "sha256": m.sha256, "weight": round(w, 3), "input_size": m.input_size,
                      "val_crops_macro_f1": choice["val_crops_by_weight"]["0.0" if i == 0 else "1.0"]
                      ["macro_f1"]}
                     for i, (m, w) in enumerate(zip(manifests, (1 - weight, weight), strict=True))],
            notes=[f"probabilities of the members averaged inside one graph, weights {1 - weight:.2f} / "
                   f"{weight:.2f} chosen on val crops; each member's input resized and normalised in the graph",
                   "metrics computed through model/ (onnxruntime) on crops around the boxes of the shipped "
                   "detector, whole photos, and crops around labelled damage in damaged-parts"])

    finalise(onnx_path, manifest({}))
    model = SeverityModel.load(onnx_path)
    # the file against the members it averages, on the val crops the weight was chosen on
    merged = probabilities(model, [p for p, _ in val_pictures])
    parts = [probabilities(m, [p for p, _ in val_pictures]) for m in members]
    reference = (1 - weight) * parts[0] + weight * parts[1]
    print("measuring the file through the runtime ...", flush=True)
    metrics = evaluate_severity(model, prepared, args.split, out_dir / "eval", crop_detector=detector)
    photos = evaluate_severity(model, prepared, args.split, out_dir / "eval" / "whole-photos")
    val = evaluate_severity(model, prepared, "val", out_dir / "eval" / "val", crop_detector=detector)
    margin = PipelineConfig().crop_margin
    metrics.update(
        whole_photos={k: photos[k] for k in ("macro_f1", "accuracy", "per_class", "confusion_matrix")},
        val_crops={k: val[k] for k in ("macro_f1", "accuracy", "per_class")},
        damaged_parts_crops={s: grade_pictures(model, damaged_parts_crops(prepared, s, margin))
                             for s in ("val", args.split)},
        weight_choice=choice,
        against_members={"max_probability": float(np.abs(merged - reference).max()),
                         "decisions_changed": int(np.sum(merged.argmax(1) != reference.argmax(1))),
                         "crops": len(val_pictures),
                         "what": "the file against the weighted mean of its members run on their own "
                                 "(in-graph resize and float16 storage), val crops"})
    final = finalise(onnx_path, manifest({"split": args.split, **metrics}))
    headline = {"version": final.version, "weights": [round(1 - weight, 3), round(weight, 3)],
                "test_crops_macro_f1": metrics["macro_f1"],
                "test_severe_recall": metrics["per_class"]["severe"]["recall"],
                "val_crops_macro_f1": val["macro_f1"], "whole_photos_macro_f1": photos["macro_f1"],
                "damaged_parts_crops": {s: v["macro_f1"] for s, v in metrics["damaged_parts_crops"].items()},
                "against_members": metrics["against_members"], "bytes": onnx_path.stat().st_size}
    print(json.dumps(headline, indent=2))
    print(f"wrote {onnx_path} with its manifest; plots in {out_dir / 'eval'}")
    if args.ship:
        print(f"shipped as {ship(onnx_path, WEIGHTS_DIR, 'severity')}")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ensemble-severity", help="average two severity models in one ONNX file (weight chosen on "
                       "val crops), measure it through the runtime, write its manifest")
    p.add_argument("--members", nargs="+", required=True, metavar="ONNX",
                   help="two severity ONNX files with their manifests beside them")
    p.add_argument("--weight", type=float, help="weight of the second member (default: chosen on val crops)")
    p.add_argument("--version", help="model version (default: UTC date and time, -ensemble)")
    p.add_argument("--split", default="test", help="held-out split to report (default test)")
    p.add_argument("--prepared", help="prepared data folder (default work/prepared)")
    p.add_argument("--detector", help="detector whose crops the figures are measured on (default: the shipped one)")
    p.add_argument("--out", help="output folder (default work/runs/severity-ensemble-<version>)")
    p.add_argument("--float32", action="store_true", help="keep every weight in float32 (twice the file size)")
    p.add_argument("--ship", action="store_true", help="copy the ONNX and manifest into model/weights/severity.*")
    p.set_defaults(func=cmd_ensemble)
