"""Field types only the service's requests use: page offsets, and sent filenames made fit to show.

The types records share with the domain (text without NUL, strict finite numbers, part names) are in
:mod:`model.fields`.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import Field

# Names of the characters never shown: C0/C1 controls, bidi overrides and isolates, zero-width marks.
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
MAX_FILENAME = 255


# A page offset beyond any real table; larger values would overflow the database's integers.
Offset = Annotated[int, Field(ge=0, le=1_000_000_000)]


def display_filename(name: str | None) -> str:
    """A sent filename made safe to show: no path, no control, bidi or invisible characters, NFC, bounded."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES)
    text = " ".join(text.split())
    if len(text) > MAX_FILENAME:
        stem, dot, ext = text.rpartition(".")
        keep = ext if dot and len(ext) <= 10 else ""
        text = text[: MAX_FILENAME - len(keep) - 2] + "…" + ("." + keep if keep else "")
    return text or "photo"
