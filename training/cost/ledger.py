"""The claims ledger: settled claims with their findings and the amount paid, read from CSV.

The columns and the row shape are :mod:`model.ledger` (the service writes the same file).

An insurer's ledger is validated row by row: bad rows are reported (row number and reason) and
skipped; :class:`model.errors.LedgerError` is raised only when no usable row remains.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from model.errors import AutoquoteError, LedgerError
from model.ledger import COLUMNS, LedgerRow
from model.pricing.catalogue import Catalogue
from model.pricing.estimator import Estimator
from model.text_file import read_hashed_text

SPLITS = ("train", "calibration", "test")


@dataclass(frozen=True)
class Rejected:
    """A ledger row that could not be used, and why."""

    row: int
    claim_id: str
    reason: str


@dataclass(frozen=True)
class Ledger:
    """The usable rows of a ledger file, what was rejected, and the file's hash."""

    path: Path
    rows: tuple[LedgerRow, ...]
    rejected: tuple[Rejected, ...]
    sha256: str

    @property
    def sources(self) -> list[str]:
        """The distinct ``source`` labels of the usable rows."""
        return sorted({row.source for row in self.rows})

    @property
    def synthetic(self) -> bool:
        """Whether any usable row was generated rather than paid."""
        return any(s.startswith("synthetic") for s in self.sources)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    if isinstance(exc, json.JSONDecodeError):
        return f"findings is not valid JSON ({exc.msg} at character {exc.pos})"
    return str(exc)


def validate_row(cells: dict[str, str], estimator: Estimator) -> LedgerRow:
    """Parse and check one CSV row against the schema and the catalogue; raises on a bad row."""
    data: dict[str, object] = {k: (cells.get(k) or "").strip() for k in COLUMNS}
    data["findings"] = json.loads(str(data["findings"]) or "null")
    row = LedgerRow.model_validate(data)
    claim = estimator.claim(row.to_findings(), row.context())  # unknown part/region/segment, bad area
    currency = estimator.catalogue.check_currency(claim.region, row.currency)
    return row.model_copy(update={"region": claim.region, "segment": claim.segment, "currency": currency})


def read_ledger(path: Path | str, catalogue: Catalogue) -> Ledger:
    """Load a ledger CSV, keeping valid rows and reporting each rejected one with its row number."""
    file = Path(path)
    text, sha256 = read_hashed_text(file, "ledger", LedgerError, encoding="utf-8-sig")
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise LedgerError(
            f"ledger {file} lacks column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}"
        )
    estimator = Estimator(catalogue)
    rows: list[LedgerRow] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    for number, cells in enumerate(reader, start=2):  # row 1 is the header
        claim_id = (cells.get("claim_id") or "").strip()
        try:
            if claim_id in seen:
                raise LedgerError(f"claim_id {claim_id!r} appears more than once")
            row = validate_row(cells, estimator)
        except (AutoquoteError, ValidationError, json.JSONDecodeError, TypeError) as exc:
            rejected.append(Rejected(number, claim_id, _reason(exc)))
            continue
        seen.add(claim_id)
        rows.append(row)
    if not rows:
        first = "; ".join(f"row {r.row}: {r.reason}" for r in rejected[:3])
        raise LedgerError(
            f"ledger {file} has no usable rows ({len(rejected)} rejected; {first or 'it is empty'})"
        )
    return Ledger(file, tuple(rows), tuple(rejected), sha256)


def split_of(claim_id: str, fractions: Sequence[float]) -> str:
    """Train / calibration / test by a hash of the claim id: stable when rows are added or reordered."""
    digest = hashlib.sha256(claim_id.encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for name, fraction in zip(SPLITS, fractions, strict=True):
        edge += fraction
        if u < edge:
            return name
    return SPLITS[-1]
