"""``autoquote``: serve, migrate, manage API keys, quote photos, promote models, run the offline jobs, verify the
audit log."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from serve.cli import audit, jobs, models, operators


def get_args_parser() -> argparse.ArgumentParser:
    """The command line of ``autoquote``."""
    parser = argparse.ArgumentParser(prog="autoquote", description=__doc__)
    parser.add_argument(
        "--data-dir", type=Path, help="service data folder (AUTOQUOTE_DATA_DIR, default ./data)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    operators.add_parsers(sub)
    models.add_parsers(sub)
    jobs.add_parsers(sub)
    audit.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``autoquote`` command; every failure is one line on stderr that says what to do."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: Exception) -> str:
    from pydantic import ValidationError

    from model.errors import AutoquoteError

    if isinstance(exc, AutoquoteError):
        return f"[{exc.code}] {exc.message}"
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = "_".join(str(p) for p in first.get("loc", ())).upper()
        variable = f"AUTOQUOTE_{where}" if where else "an AUTOQUOTE_* variable"
        return f"[config_invalid] {variable}: {first.get('msg')}; fix the environment variable and run again"
    if isinstance(exc, FileNotFoundError):
        return f"[file_not_found] no such file: {exc.filename}; check the path"
    if isinstance(exc, IsADirectoryError):
        return f"[file_not_found] {exc.filename} is a folder, not a photo; name the photo files"
    if isinstance(exc, PermissionError):
        return f"[permission_denied] cannot read {exc.filename}; check its permissions"
    if isinstance(exc, OSError):
        return f"[os_error] {exc.strerror or exc} ({exc.filename or ''}); check the path and the disk"
    return f"[internal_error] {type(exc).__name__}: {exc}; this is a bug, please report it with the command"


def _run(argv: Sequence[str] | None) -> int:
    from model.offline import configure_offline

    configure_offline()
    args = get_args_parser().parse_args(argv)
    if args.data_dir is not None:
        os.environ["AUTOQUOTE_DATA_DIR"] = str(args.data_dir)
    from model.errors import AutoquoteError

    try:
        status: int = args.run(args)
        return status
    except AutoquoteError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 2
