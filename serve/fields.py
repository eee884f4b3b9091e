"""Field types every request uses: text without NUL bytes, numbers that are numbers, filenames fit to show.

Numbers are strict (``"12"`` is not 12) and finite (NaN and infinities are refused with their own message);
text refuses NUL, which PostgreSQL cannot store and which no user types.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

# Names of the characters never shown: C0/C1 controls, bidi overrides and isolates, zero-width marks.
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
MAX_FILENAME = 255


def no_nul(value: str) -> str:
    """Refuse text containing a NUL byte."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL (\\u0000) characters; remove them")
    return value


Text = Annotated[str, AfterValidator(no_nul)]
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Money = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1e8)]
Hours = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1e4)]
Part = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(no_nul)]
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
