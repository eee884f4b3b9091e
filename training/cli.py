"""autoquote-train: prepare data, train, export and evaluate the detector, severity model and cost head.

Typical use, from a fresh clone with the shared datasets beside it::

    autoquote-train prepare                                  # group, split, write work/prepared
    autoquote-train train-detector --config detector.yaml    # GPU recipe; detector-cpu.yaml on a CPU
    autoquote-train train-severity --config severity.yaml
    autoquote-train export detector --run work/runs/detector --ship
    autoquote-train evaluate detector                        # the shipped model on the test split
    autoquote-train calibrate                                # decision thresholds with a proven error bound
    autoquote-train calibrate --declared                     # how often declared claims settle, honest or not
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from model.errors import AutoquoteError, ConfigError
from model.manifest import DEFAULT_NMS_IOU, WEIGHTS_DIR
from model.offline import configure_offline
from training.config import add_config_options, command_line, default_work_dir, load_config, overrides_with
from training.cost.commands import register as register_cost
from training.effnet import register as register_effnet
from training.ensemble import register as register_ensemble
from training.kinds import KINDS, Kind
from training.pretrain_commands import register as register_pretrain
from training.registry_commands import register as register_registry
from training.severity_crops import register as register_crops
from training.verifier import register as register_verifier

COMMAND_FILE = "command.txt"


def cmd_prepare(args: argparse.Namespace) -> None:
    from training.data.prepare import PrepareConfig, format_report, prepare

    cfg = load_config(PrepareConfig, args.config, overrides_with(args, data_root=args.data_root, out=args.out))
    report = prepare(cfg)
    print(format_report(report, report["classes"]))  # type: ignore[arg-type]
    print(f"\nwritten to {cfg.out}")


def cmd_train(args: argparse.Namespace, kind: Kind) -> None:
    overrides = overrides_with(args, prepared=args.prepared)
    if args.init_from:  # the option wins over a --set init_from=...
        overrides.append(f"init_from={args.init_from}")
    run = load_config(kind.recipe(), args.config, overrides).train()
    (run / COMMAND_FILE).write_text(command_line(args) + "\n")
    print(f"run folder: {run}\nnext: autoquote-train export {kind.name} --run {run}")


def cmd_export(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from training import plots
    from training.export import build_manifest, export_onnx, finalise, ship
    from training.transfer import initial_weights

    kind = KINDS[args.kind]
    for flag in ("flip_average", "photo_average"):
        if getattr(args, flag) and kind.task != "classify":
            raise ConfigError(f"--{flag.replace('_', '-')} is for the severity classifier, not the {kind.name}")
    if args.nms_iou is not None and kind.task != "detect":
        raise ConfigError(f"--nms-iou is for the detector, not the {kind.name}")
    if args.nms_iou is not None and not 0 < args.nms_iou <= 1:
        raise ConfigError(f"--nms-iou {args.nms_iou}: an IoU in (0, 1]")
    if args.detector and "crops" not in kind.inputs:
        raise ConfigError(f"--detector names the detector whose crops a severity model is measured on, "
                          f"not one for the {kind.name}")
    if args.detector and not Path(args.detector).is_file():
        raise ConfigError(f"--detector {args.detector}: no such file")
    run = Path(args.run)
    cfg = kind.recipe().model_validate(yaml.safe_load((run / "config.yaml").read_text()))
    prepared = Path(args.prepared) if args.prepared else cfg.prepared
    report = json.loads((prepared / "report.json").read_text())
    weights = run / "weights" / "best.pt"
    onnx_path = export_onnx(weights, cfg.imgsz, args.opset, batch_axis=kind.task == "classify")
    command_file = run / COMMAND_FILE
    train_cmd = command_file.read_text().strip() if command_file.is_file() else f"(config {run}/config.yaml)"
    command = f"autoquote-train prepare && {train_cmd} && {command_line(args)}"
    version = args.version or datetime.now(UTC).strftime("%Y.%m.%d-%H%M")
    out_dir = run / "eval"
    classes = kind.classes(report)
    hashes = report["sha256"][kind.data_key]

    def manifest(metrics: dict[str, Any], notes: list[str]) -> Any:
        return build_manifest(
            kind.name, onnx_path, classes, cfg.imgsz, version, cfg, command, hashes, metrics, args.opset, notes,
            initial_weights(run), flip_average=args.flip_average, photo_average=args.photo_average,
            nms_iou=args.nms_iou,
        )

    finalise(onnx_path, manifest({}, []))  # the runtime loads the model by its manifest to evaluate it
    if "crops" in kind.inputs:
        # the headline is what the service grades: crops around the boxes of the detector in service
        crops_from = Path(args.detector) if args.detector else WEIGHTS_DIR / "detector.onnx"
        metrics = kind.evaluate(onnx_path, prepared, args.split, out_dir, crops_from)
        photos = kind.evaluate(onnx_path, prepared, args.split, out_dir / "whole-photos", None)
        metrics["whole_photos"] = {k: photos[k] for k in ("macro_f1", "accuracy", "per_class")}
    else:
        metrics = kind.evaluate(onnx_path, prepared, args.split, out_dir, None)
    metrics["parity_torch_vs_onnxruntime"] = kind.parity(weights, onnx_path, prepared, args.split, cfg.imgsz)
    plots.training_curves(run / "results.csv", out_dir / f"{kind.name}_training_curves.png", list(kind.curves))
    notes = ["metrics computed by `autoquote-train evaluate` through model/ (onnxruntime), not ultralytics"]
    finalise(onnx_path, manifest({"split": args.split, **metrics}, notes))
    headline = ("map50", "map50_95", "macro_f1", "accuracy", "latency_ms", "parity_torch_vs_onnxruntime")
    print(json.dumps({k: metrics[k] for k in metrics if k in headline}, indent=2))
    print(f"exported {onnx_path} with manifest; plots in {out_dir}")
    if args.ship:
        print(f"shipped as {ship(onnx_path, WEIGHTS_DIR, kind.name)}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    kind = KINDS[args.kind]
    prepared = Path(args.prepared) if args.prepared else default_work_dir() / "prepared"
    out_dir = Path(args.out) if args.out else default_work_dir() / "eval"
    if args.input not in kind.inputs:
        raise ConfigError(f"{kind.name} is evaluated on {' or '.join(kind.inputs)}, not {args.input}")
    crops_from = Path(args.detector) if args.detector else WEIGHTS_DIR / "detector.onnx"
    report = kind.evaluate(Path(args.model) if args.model else None, prepared, args.split, out_dir,
                           crops_from if args.input == "crops" else None)
    print(json.dumps({k: report[k] for k in kind.report_keys if k in report}, indent=2))
    print(f"report and plots in {out_dir}")


def cmd_calibrate(args: argparse.Namespace) -> None:
    from training.calibrate import CalibrateConfig, calibrate, summary

    overrides = list(args.overrides)
    for key in ("prepared", "out", "plots", "detector", "severity", "verifier", "target", "version"):
        value = getattr(args, key)
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.jurisdiction:
        overrides.append(f"jurisdictions={json.dumps(args.jurisdiction)}")
    if args.data_root is not None:
        overrides.append(f"data_root={args.data_root}")
    cfg = load_config(CalibrateConfig, args.config, overrides)
    if args.declared:
        from training.declared_claims import calibrate_declared, declared_summary

        if args.ship:
            raise ConfigError("--declared measures the policies and writes no new one; leave out --ship")
        print(declared_summary(calibrate_declared(cfg, default_work_dir(), command_line(args))))
        return
    report = calibrate(cfg, default_work_dir(), command_line(args), ship=args.ship)
    print(summary(report))


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autoquote-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("prepare", help="group the shared datasets by source photo and split them")
    add_config_options(p, "prepare.yaml")
    p.add_argument("--data-root", help="folder holding damaged-parts/ and severity/ (default ../shared/datasets)")
    p.add_argument("--out", help="where to write the prepared splits (default work/prepared)")
    p.set_defaults(func=cmd_prepare)

    for kind in KINDS.values():
        p = sub.add_parser(f"train-{kind.name}", help=f"train the {kind.name} (ultralytics)")
        add_config_options(p, kind.default_config, "imgsz=320")
        p.add_argument("--prepared", help="prepared data folder (default work/prepared)")
        p.add_argument(
            "--init-from",
            metavar="PATH",
            help="checkpoint (pretrain, ssl or another run) whose matching layers seed the network",
        )
        p.set_defaults(func=lambda a, k=kind: cmd_train(a, k))

    p = sub.add_parser("export", help="export a run to ONNX, check parity, evaluate, write the manifest")
    p.add_argument("kind", choices=list(KINDS))
    p.add_argument("--run", required=True, help="run folder written by train-detector / train-severity")
    p.add_argument("--split", default="test", help="held-out split to report (default test)")
    p.add_argument("--prepared", help="prepared data folder (default: the one the run used)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--version", help="model version (default: UTC date and time)")
    p.add_argument("--ship", action="store_true", help="copy the ONNX and manifest into model/weights/")
    p.add_argument("--flip-average", action="store_true",
                   help="severity: the runtime grades each picture with its mirror image and averages the two")
    p.add_argument("--photo-average", action="store_true",
                   help="severity: the runtime averages each crop's grade with the whole photo's")
    p.add_argument("--nms-iou", type=float, help="detector: the runtime's NMS IoU threshold, chosen on val "
                   f"(default {DEFAULT_NMS_IOU})")
    p.add_argument("--detector", help="severity: the detector whose crops the test figures are measured on "
                   "(default: the shipped one)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("evaluate", help="evaluate an ONNX model through the runtime on a held-out split")
    p.add_argument("kind", choices=list(KINDS))
    p.add_argument("--model", help="ONNX file with its manifest beside it (default: the shipped one)")
    p.add_argument("--split", default="test")
    p.add_argument("--prepared", help="prepared data folder (default work/prepared)")
    p.add_argument("--out", help="folder for the JSON report and plots (default work/eval)")
    p.add_argument("--input", choices=["photos", "crops"], default="photos",
                   help="severity only: grade whole photos, or crops around detected damage as the service does")
    p.add_argument("--detector", help="with --input crops: the detector ONNX that finds the crops (default: shipped)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("calibrate", help="choose the decision thresholds on val with a proven error bound")
    add_config_options(p, "calibrate.yaml", "target=0.05")
    p.add_argument("--prepared", help="prepared data folder (default work/prepared)")
    p.add_argument("--jurisdiction", action="append", help="policy to calibrate (repeatable; default: all)")
    p.add_argument("--detector", help="detector ONNX with its manifest beside it (default: the shipped one)")
    p.add_argument("--severity", help="severity ONNX with its manifest beside it (default: the shipped one)")
    p.add_argument("--verifier", help="part verifier ONNX with its manifest beside it (default: the shipped one, "
                   "when there is one)")
    p.add_argument("--target", type=float, help="largest share of settled photos with wrong parts (default 0.05)")
    p.add_argument("--version", help="version of the new policies (default: UTC date and time, -cal)")
    p.add_argument("--out", help="folder for the policies and the JSON report (default work/calibration)")
    p.add_argument("--plots", help="folder for the plots (default docs/plots)")
    p.add_argument("--ship", action="store_true", help="copy the new policies into model/policies/")
    p.add_argument("--declared", action="store_true",
                   help="measure instead how often each policy settles declared claims: honest, padded with an "
                        "undamaged part, and undamaged cars (car-parts/testset); writes a report and a plot")
    p.add_argument("--data-root", help="folder holding car-parts/ for --declared (default ../shared/datasets)")
    p.set_defaults(func=cmd_calibrate)

    register_cost(sub)
    register_pretrain(sub)
    register_registry(sub)
    register_crops(sub)
    register_effnet(sub)
    register_ensemble(sub)
    register_verifier(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_offline()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = get_args_parser().parse_args(argv)
    args.argv = argv
    try:
        args.func(args)
    except AutoquoteError as exc:
        print(f"error [{exc.code}]: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
