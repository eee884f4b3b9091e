"""Command line for the cost model: ``ledger``, ``train-cost`` and ``evaluate-cost``.

Mounted into ``autoquote-train`` by :func:`register`; also runs alone as
``python -m training.cost.commands <command> ...``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from pathlib import Path
from typing import Any

from model.kinds import COST
from model.manifest import WEIGHTS_DIR
from model.offline import configure_offline
from training.config import add_config_options

DEFAULT_CONFIG = "cost_head.yaml"
STANDALONE = "python -m training.cost.commands"


def _config_args(parser: argparse.ArgumentParser) -> None:
    add_config_options(parser, DEFAULT_CONFIG, "head.epochs=20 --set ledger.size=2000")


def get_ledger_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``ledger``."""
    _config_args(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="CSV to write (default: work/ledgers/synthetic-v1-<seed>-<size>.csv)",
    )
    return parser


def get_train_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``train-cost``."""
    _config_args(parser)
    parser.add_argument(
        "--out", type=Path, default=None, help="run folder (default: work/runs/cost/<UTC timestamp>)"
    )
    parser.add_argument(
        "--ship", action="store_true", help=f"copy {COST.file} and its manifest to {WEIGHTS_DIR}"
    )
    return parser


def get_evaluate_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``evaluate-cost``."""
    _config_args(parser)
    parser.add_argument(
        "--head",
        type=Path,
        default=COST.shipped,
        help="cost head ONNX with its manifest beside it (default: the shipped head)",
    )
    parser.add_argument(
        "--ledger",
        type=Path,
        default=None,
        help="ledger CSV (default: regenerate the synthetic ledger the config describes)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="report folder (default: work/runs/cost-eval/<UTC timestamp>)"
    )
    return parser


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")


def _command(args: argparse.Namespace) -> str:
    """The exact command line of this run, for the manifest's ``trained_with.command``."""
    rest = getattr(args, "argv", None)
    if rest is None:  # mounted in another CLI: everything after the subcommand's name
        argv = sys.argv
        rest = argv[argv.index(args.cost_command) + 1 :] if args.cost_command in argv else argv[1:]
    return f"{args.prog} {shlex.join(rest)}".strip()


def _summary(report: dict[str, Any], out: Path) -> None:
    keys = ("mdape", "within_10", "within_20", "coverage", "mean_relative_width", "mae")
    for name in ("cost-head", "estimator"):
        print(f"{name:10s} " + "  ".join(f"{k}={report[name][k]}" for k in keys))
    for note in report["notes"]:
        print(note)
    print(report["verdict"])
    print(f"report: {out / 'report.json'}  plot: {out / 'calibration.png'}")


def run_ledger(args: argparse.Namespace) -> int:
    """Generate a synthetic ledger CSV."""
    configure_offline()
    from model.ledger import write_ledger
    from model.pricing.catalogue import load_catalogue
    from training.config import default_work_dir, load_config
    from training.cost.config import CostConfig
    from training.cost.ledger import read_ledger
    from training.cost.synthetic import SYNTHETIC_SOURCE, synthetic_rows

    config = load_config(CostConfig, args.config, args.overrides)
    catalogue = load_catalogue(config.catalogue)
    out = (
        args.out
        or default_work_dir() / "ledgers" / f"{SYNTHETIC_SOURCE}-{config.seed}-{config.ledger.size}.csv"
    )
    write_ledger(synthetic_rows(catalogue, config.ledger.size, config.seed, config.ledger.noise), out)
    ledger = read_ledger(out, catalogue)
    print(
        f"wrote {len(ledger.rows)} SYNTHETIC claims (source={SYNTHETIC_SOURCE}) to {out}, "
        f"sha256 {ledger.sha256}"
    )
    return 0


def run_train(args: argparse.Namespace) -> int:
    """Train, calibrate, export and evaluate the cost head."""
    configure_offline()
    from training.config import default_work_dir, load_config
    from training.cost.config import CostConfig
    from training.cost.train import train_cost

    config = load_config(CostConfig, args.config, args.overrides)
    out = args.out or default_work_dir() / "runs" / "cost" / _stamp()
    report = train_cost(config, out, _command(args), WEIGHTS_DIR if args.ship else None)
    _summary(report, out)
    if args.ship:
        band = report["estimator"]["band"]
        print(f"shipped to {WEIGHTS_DIR}; the catalogue's estimator_interval should read {band}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a head and the estimator on a ledger's test split."""
    configure_offline()
    from training.config import default_work_dir, load_config
    from training.cost.config import CostConfig
    from training.cost.train import evaluate_cost

    overrides = [*args.overrides, *([f"ledger.path={args.ledger}"] if args.ledger else [])]
    config = load_config(CostConfig, args.config, overrides)
    out = args.out or default_work_dir() / "runs" / "cost-eval" / _stamp()
    _summary(evaluate_cost(config, args.head, out, _command(args)), out)
    return 0


def register(subparsers: argparse._SubParsersAction, prog: str = "autoquote-train") -> None:  # type: ignore[type-arg]
    """Add ``ledger``, ``train-cost`` and ``evaluate-cost`` to a CLI."""
    specs = (
        ("ledger", get_ledger_parser, run_ledger, "generate a SYNTHETIC claims ledger (synthetic-v1) as CSV"),
        (
            "train-cost",
            get_train_parser,
            run_train,
            "train, calibrate (CQR), export to ONNX and evaluate the cost head into a run folder",
        ),
        (
            "evaluate-cost",
            get_evaluate_parser,
            run_evaluate,
            "evaluate a cost head ONNX and the catalogue estimator on a ledger's test split",
        ),
    )
    for name, build, func, text in specs:
        parser = subparsers.add_parser(name, help=text, description=text)
        build(parser)
        parser.set_defaults(func=func, prog=f"{prog} {name}", cost_command=name)


def main(argv: list[str] | None = None) -> int:
    """Run one cost command without the full ``autoquote-train`` CLI."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog=STANDALONE, description=__doc__.splitlines()[0] if __doc__ else None
    )
    register(parser.add_subparsers(dest="command", required=True), prog=STANDALONE)
    args = parser.parse_args(argv)
    args.argv = argv[1:]
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
