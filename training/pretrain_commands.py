"""``autoquote-train`` commands that make better-started or smaller models: pretraining, distillation, int8,
and carrying the prepared data to a GPU machine.

``register(subparsers)`` adds ``prepare-pretrain``, ``pretrain``, ``distill``, ``quantize`` and ``carry``;
a pretrained checkpoint seeds ``train-detector`` / ``train-severity`` through their ``--init-from``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from training.config import (
    add_config_options,
    command_line,
    default_data_root,
    default_work_dir,
    load_config,
    overrides_with,
)


def _config_options(p: argparse.ArgumentParser, default: str) -> None:
    add_config_options(p, default)
    p.add_argument("--prepared", help="prepared data folder (default work/prepared)")


def cmd_prepare_pretrain(args: argparse.Namespace) -> None:
    from training.data.car_parts import PretrainDataConfig, prepare_pretrain

    cfg = load_config(
        PretrainDataConfig, args.config, overrides_with(args, prepared=args.prepared, data_root=args.data_root)
    )
    print(json.dumps(prepare_pretrain(cfg), indent=2))
    print(f"written to {cfg.prepared / 'pretrain'}")


def cmd_pretrain(args: argparse.Namespace) -> None:
    from training.pretrain import SSLConfig, SupervisedPretrainConfig, pretrain_ssl, pretrain_supervised

    config = args.config or f"pretrain-{args.method}.yaml"
    overrides = overrides_with(args, prepared=args.prepared)
    if args.method == "supervised":
        run = pretrain_supervised(load_config(SupervisedPretrainConfig, config, overrides))
        ckpt = run / "weights" / "best.pt"
        print(f"run folder: {run}\nnext: autoquote-train train-detector --init-from {ckpt}")
    else:
        run = pretrain_ssl(load_config(SSLConfig, config, overrides))
        print(
            f"run folder: {run}\n"
            f"next: autoquote-train train-detector --init-from {run}/weights/backbone-detect.pt"
            f"\n      autoquote-train train-severity --init-from {run}/weights/backbone-cls.pt"
        )
    (run / "command.txt").write_text(command_line(args) + "\n")


def cmd_distill(args: argparse.Namespace) -> None:
    from training.distill import DistillConfig, distill

    cfg = load_config(DistillConfig, args.config, overrides_with(args, prepared=args.prepared))
    run = distill(cfg)
    (run / "command.txt").write_text(command_line(args) + "\n")
    print(f"student run folder: {run}\nnext: autoquote-train export detector --run {run}")


def cmd_quantize(args: argparse.Namespace) -> None:
    from training.quantize import QuantizeConfig, quantize, ship_if_kept

    cfg = load_config(
        QuantizeConfig, args.config, overrides_with(args, prepared=args.prepared, model=args.model, out=args.out)
    )
    report = quantize(cfg, command_line(args))
    keys = (
        "model",
        "split",
        "images",
        "fp32",
        "int8",
        "map50_drop",
        "latency_ms",
        "latency_saving",
        "size_bytes",
    )
    print(json.dumps({k: report[k] for k in keys}, indent=2))
    print(
        f"verdict: {report['verdict']} (mAP50 drop {report['map50_drop'] * 100:.2f} points, "
        f"limit {cfg.max_drop * 100:.2f}); report in {cfg.out / 'quantize_report.json'}"
    )
    if args.ship:
        shipped = ship_if_kept(report, cfg.out)
        print(f"shipped as {shipped}" if shipped else "not shipped: int8 costs too much accuracy")


def cmd_carry(args: argparse.Namespace) -> None:
    from training.carry import carry, rebase

    if args.rebase:
        for path in rebase(Path(args.rebase)):
            print(f"rebased {path}")
        return
    out = Path(args.out) if args.out else default_work_dir() / "carry"
    root = Path(args.data_root) if args.data_root else default_data_root()
    summary = carry(root, out, args.max_side, args.quality)
    print(json.dumps({k: v for k, v in summary.items() if k != "pretrain"}, indent=2))
    print(
        f"{int(summary['bytes']) / 2**20:.1f} MiB in {out} (ignored by git); "  # type: ignore[call-overload]
        "on the GPU machine: autoquote-train carry --rebase <that folder>/prepared"
    )


def register(sub: Any) -> None:
    """Mount these commands on the ``autoquote-train`` subparsers."""
    p = sub.add_parser(
        "prepare-pretrain", help="car-parts as YOLO and the SSL photo list, test photos left out"
    )
    _config_options(p, "pretrain-data.yaml")
    p.add_argument("--data-root", help="folder holding car-parts/ (default ../shared/datasets)")
    p.set_defaults(func=cmd_prepare_pretrain)

    p = sub.add_parser(
        "pretrain", help="pretrain without downloads: supervised on car-parts, or SSL (SimCLR)"
    )
    p.add_argument("--method", choices=["supervised", "ssl"], required=True)
    _config_options(p, "")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("distill", help="teacher (larger, longer) pseudo-labels; nano student trained on them")
    _config_options(p, "distill.yaml")
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("quantize", help="int8 detector with onnxruntime, fp32 vs int8 on the held-out split")
    _config_options(p, "quantize.yaml")
    p.add_argument("--model", help="detector ONNX with its manifest (default: the shipped one)")
    p.add_argument("--out", help="folder for the int8 model, manifest and report (default work/quantize)")
    p.add_argument("--ship", action="store_true", help="copy the int8 model into model/weights if it is kept")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("carry", help="a compact copy of the prepared data to take to a GPU machine")
    p.add_argument("--out", help="folder to write (default work/carry)")
    p.add_argument("--data-root", help="shared datasets folder (default ../shared/datasets)")
    p.add_argument("--max-side", type=int, default=320)
    p.add_argument("--quality", type=int, default=70)
    p.add_argument(
        "--rebase", metavar="PREPARED", help="only rewrite the data.yaml paths of a carried folder"
    )
    p.set_defaults(func=cmd_carry)
