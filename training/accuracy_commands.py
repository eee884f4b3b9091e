"""CLI commands of the accuracy programme (issue 6): pretraining, distillation, int8, carrying data to a GPU.

``register(subparsers)`` adds ``prepare-pretrain``, ``pretrain``, ``distill``, ``quantize`` and ``carry``,
and an ``--init-from PATH`` option on ``train-detector`` / ``train-severity`` (the ``init_from`` field).
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from training.config import default_data_root, default_work_dir, load_config


def _command_line(args: argparse.Namespace) -> str:
    return "autoquote-train " + " ".join(shlex.quote(a) for a in getattr(args, "argv", []))


def _config_options(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--config", default=default, help=f"YAML recipe in training/configs or a path (default {default})"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config field (repeatable)",
    )
    p.add_argument("--prepared", help="prepared data folder (default work/prepared)")


def _overrides(args: argparse.Namespace, **paths: str | None) -> list[str]:
    extra = [f"{k}={v}" for k, v in paths.items() if v]
    return [*extra, *args.overrides]


def cmd_prepare_pretrain(args: argparse.Namespace) -> None:
    from training.data.car_parts import PretrainDataConfig, prepare_pretrain

    cfg = load_config(
        PretrainDataConfig, args.config, _overrides(args, prepared=args.prepared, data_root=args.data_root)
    )
    print(json.dumps(prepare_pretrain(cfg), indent=2))
    print(f"written to {cfg.prepared / 'pretrain'}")


def cmd_pretrain(args: argparse.Namespace) -> None:
    from training.pretrain import SSLConfig, SupervisedPretrainConfig, pretrain_ssl, pretrain_supervised

    config = args.config or f"pretrain-{args.method}.yaml"
    overrides = _overrides(args, prepared=args.prepared)
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
    (run / "command.txt").write_text(_command_line(args) + "\n")


def cmd_distill(args: argparse.Namespace) -> None:
    from training.distill import DistillConfig, distill

    cfg = load_config(DistillConfig, args.config, _overrides(args, prepared=args.prepared))
    run = distill(cfg)
    (run / "command.txt").write_text(_command_line(args) + "\n")
    print(f"student run folder: {run}\nnext: autoquote-train export detector --run {run}")


def cmd_quantize(args: argparse.Namespace) -> None:
    from training.quantize import QuantizeConfig, quantize, ship_if_kept

    cfg = load_config(
        QuantizeConfig, args.config, _overrides(args, prepared=args.prepared, model=args.model, out=args.out)
    )
    report = quantize(cfg, _command_line(args))
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


def _with_init_from(parser: argparse.ArgumentParser) -> None:
    """Add ``--init-from`` to a train command: it becomes the ``init_from`` config override."""
    parser.add_argument(
        "--init-from",
        dest="init_from",
        metavar="PATH",
        help="checkpoint (pretrain, ssl or another run) whose matching layers seed the network",
    )
    original = parser.get_default("func")

    def run(args: argparse.Namespace, _original: Any = original) -> None:
        if args.init_from:
            args.overrides = [*args.overrides, f"init_from={args.init_from}"]
        _original(args)

    parser.set_defaults(func=run)


def register(sub: Any) -> None:
    """Mount the accuracy-programme commands on the ``autoquote-train`` subparsers."""
    for name in ("train-detector", "train-severity"):
        if name in sub.choices:
            _with_init_from(sub.choices[name])

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
