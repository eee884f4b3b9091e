"""Reading a versioned text input (a pricing catalogue, a claims ledger) together with the hash of its bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from model.errors import AutoquoteError


def read_hashed_text(
    file: Path, what: str, error: type[AutoquoteError], encoding: str = "utf-8"
) -> tuple[str, str]:
    """The text of ``file`` and the sha256 of its bytes; ``error`` names ``what`` it is when unreadable or not UTF-8."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} {file}: {exc.strerror}") from exc
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise error(f"{what} {file} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return text, hashlib.sha256(raw).hexdigest()
