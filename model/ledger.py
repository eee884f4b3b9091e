"""The claims ledger's contract: its CSV columns and one row's shape, written by the service and read by training.

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
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from model.findings import ClaimContext, Finding

COLUMNS = ("claim_id", "date", "region", "segment", "currency", "paid", "findings", "source")


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
