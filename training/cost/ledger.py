"""The claims ledger: settled claims with their findings and the amount paid, read from CSV.

Schema, one row per claim (CSV with a header; extra columns are ignored):

    claim_id   text, unique within the ledger
    date       ISO date the claim was settled (YYYY-MM-DD)
    region     a region code of the pricing catalogue (CN, US, ...)
    segment    vehicle segment: economy | mid | premium
    currency   ISO currency the amount was paid in; must be the catalogue's currency for the region
    paid       amount actually paid for the repair, > 0
    findings   JSON list of {"part": str, "severity": {"minor": p, "moderate": p, "severe": p},
               "area_fraction": float in [0, 1], "photo_id": str (optional)}
    source     where the row comes from: an insurer's name, or "synthetic-v1" for generated rows

An insurer's ledger is validated row by row: bad rows are reported (row number and reason) and
skipped; :class:`model.errors.LedgerError` is raised only when no usable row remains.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from model.errors import AutoquoteError, LedgerError
from model.findings import ClaimContext, Finding
from model.pricing.catalogue import Catalogue
from model.pricing.estimator import Estimator

COLUMNS = ("claim_id", "date", "region", "segment", "currency", "paid", "findings", "source")
SPLITS = ("train", "calibration", "test")


class LedgerFinding(BaseModel):
    """One finding as stored in the ledger's ``findings`` JSON column."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    part: str = Field(min_length=1)
    severity: dict[str, float] = Field(min_length=1)
    area_fraction: float
    photo_id: str | None = None


class LedgerRow(BaseModel):
    """One settled claim."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    claim_id: str = Field(min_length=1)
    date: dt.date
    region: str
    segment: str
    currency: str
    paid: float = Field(gt=0)
    findings: tuple[LedgerFinding, ...] = Field(min_length=1)
    source: str = Field(min_length=1)

    @field_validator("paid")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("paid must be a finite amount")
        return value

    def to_findings(self) -> list[Finding]:
        """The row's findings as domain objects."""
        return [Finding(f.part, f.severity, f.area_fraction, photo_id=f.photo_id) for f in self.findings]

    def context(self) -> ClaimContext:
        """The vehicle segment and region the claim was paid for."""
        return ClaimContext(segment=self.segment, region=self.region)

    def to_csv(self) -> dict[str, str]:
        """The row as CSV cells."""
        findings = [f.model_dump(exclude_none=True) for f in self.findings]
        return {
            "claim_id": self.claim_id,
            "date": self.date.isoformat(),
            "region": self.region,
            "segment": self.segment,
            "currency": self.currency,
            "paid": f"{self.paid:.2f}",
            "findings": json.dumps(findings, separators=(",", ":")),
            "source": self.source,
        }


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
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise LedgerError(f"cannot read ledger {file}: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LedgerError(f"ledger {file} is not UTF-8 text (byte {exc.start})") from exc
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
    return Ledger(file, tuple(rows), tuple(rejected), hashlib.sha256(raw).hexdigest())


def write_ledger(rows: Iterable[LedgerRow], path: Path | str) -> Path:
    """Write rows as a ledger CSV with the documented header."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    with file.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row.to_csv())
    return file


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
