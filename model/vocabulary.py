"""The words every side of autoquote shares: severities, segments, repair operations, sides, roles and codes.

Each list is a ``Literal`` type (what mypy and the API schemas check) and the tuple of its values (what
loops, command-line choices and error messages use); the tuple is derived from the type, never retyped.
"""

from __future__ import annotations

from typing import Literal, get_args

Severity = Literal["minor", "moderate", "severe"]
SEVERITY_LEVELS: tuple[Severity, ...] = get_args(Severity)

Segment = Literal["economy", "mid", "premium"]
SEGMENTS: tuple[Segment, ...] = get_args(Segment)

# What a line item does to a part; painting is part of both (its refinish hours), not an operation.
Operation = Literal["repair", "replace"]
OPERATIONS: tuple[Operation, ...] = get_args(Operation)

# Where on the car a declared damage is; the part names themselves are the detector's classes (its manifest).
Side = Literal["front", "rear", "left", "right"]
SIDES: tuple[Side, ...] = get_args(Side)

Role = Literal["customer", "adjuster", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

# A pricing region code (CN, US, ...) and a decision-policy name (CN, CN-single-vehicle, ...): policy names
# become file names, so the pattern admits no path separator and no leading dot.
REGION_PATTERN = r"^[A-Za-z]{2,8}$"
JURISDICTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
