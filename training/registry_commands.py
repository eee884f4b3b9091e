"""``autoquote-train registry list|add`` (the model store, :mod:`model.store`) and ``compare``.

Reviewed claims come from the service as a folder (``autoquote export-reviewed --out DIR``); feed them to
training with ``autoquote-train prepare --set "extra_detect=[DIR/detect]"`` and
``autoquote-train train-cost --set "ledger.extra=[DIR/ledger.csv]"``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from model import store
from model.manifest import Manifest
from training.config import default_work_dir


def run_registry(args: argparse.Namespace) -> None:
    if args.registry_command == "add":
        for path in args.models:
            entry = store.register(args.registry, path)
            print(f"registered {entry.manifest.name}@{entry.manifest.version} ({entry.kind}) at {entry.path}")
    else:
        print(format_entries(store.entries(args.registry)))


def headline(manifest: Manifest) -> str:
    """The held-out metric a model is known by."""
    m = manifest.metrics
    for key in ("map50", "macro_f1"):
        if isinstance(m.get(key), int | float):
            return f"{key}={m[key]:.3f} ({m.get('split', '?')})"
    head = m.get("cost-head")
    if isinstance(head, dict) and "mdape" in head:
        return f"mdape={head['mdape']:.3f} ({m.get('split', '?')})"
    return "-"


def format_entries(found: list[store.Entry]) -> str:
    """The entries as a table with their held-out metric."""
    lines = [f"{'kind':<9} {'name':<22} {'version':<24} {'sha256':<12}  {'held-out':<26} path"]
    for e in found:
        m = e.manifest
        lines.append(
            f"{e.kind:<9} {m.name:<22} {m.version:<24} {m.sha256[:12]:<12}  {headline(m):<26} {e.path}"
        )
    return "\n".join(lines)


def run_compare(args: argparse.Namespace) -> None:
    from training.compare import compare, in_service, models_from, table

    baseline = (
        in_service(args.service_data)
        if args.baseline == ["in-service"]
        else models_from("baseline", [Path(p) for p in args.baseline])
    )
    candidate = models_from("candidate", args.candidate)
    out = args.out or default_work_dir() / "compare"
    report = compare(baseline, candidate, args.prepared, args.ledger, args.shadow, out)
    print(table(report))
    print(f"\nreport: {out / 'compare.json'}")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``registry`` and ``compare`` to ``autoquote-train``."""
    p = subparsers.add_parser("registry", help="list or add models in the model registry (immutable entries)")
    p.add_argument(
        "--registry",
        type=Path,
        default=store.default_store(),
        help="registry folder (AUTOQUOTE_REGISTRY_DIR, default data/registry)",
    )
    sub = p.add_subparsers(dest="registry_command", required=True)
    sub.add_parser("list", help="every entry with its held-out metric")
    add = sub.add_parser("add", help="copy ONNX files with their manifests into the registry")
    add.add_argument("models", nargs="+", type=Path)
    p.set_defaults(func=run_registry)

    p = subparsers.add_parser(
        "compare", help="a candidate against the models in service on the same held-out data"
    )
    p.add_argument(
        "--candidate",
        type=Path,
        nargs="+",
        required=True,
        help="candidate ONNX files or registry entry folders (detector, severity and/or cost head)",
    )
    p.add_argument(
        "--baseline",
        nargs="+",
        default=["in-service"],
        help="'in-service' (default: the service's promoted or shipped models) or ONNX files",
    )
    p.add_argument("--service-data", type=Path, help="the service's data folder (reads active_models.json)")
    p.add_argument(
        "--prepared", type=Path, help="prepared data folder for detector and severity (test split)"
    )
    p.add_argument("--ledger", type=Path, help="claims ledger CSV for cost error (its test split)")
    p.add_argument("--shadow", type=Path, help="shadow_quotes.jsonl from 'autoquote export-reviewed'")
    p.add_argument("--out", type=Path, help="report folder (default work/compare)")
    p.set_defaults(func=run_compare)
