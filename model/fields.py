"""Field types of records the domain and the API share: text without NUL bytes, numbers that are numbers.

Numbers are strict (``"12"`` is not 12) and finite (NaN and infinities are refused with their own message);
text refuses NUL, which PostgreSQL cannot store and which no user types.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints


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
