"""The versioned pricing catalogue: part prices, labour hours and regional rates, read from YAML."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from model.errors import CatalogueError, UnknownCurrency, UnknownPart, UnknownRegion, UnknownSegment
from model.text_file import read_hashed_text
from model.vocabulary import SEGMENTS, SEVERITY_LEVELS, Segment, Severity

CATALOGUE_DIR = Path(__file__).resolve().parents[1] / "catalogues"
DEFAULT_CATALOGUE = CATALOGUE_DIR / "catalogue-2026.1.yaml"

_Strict = ConfigDict(frozen=True, extra="forbid")


class Source(BaseModel):
    """Where a figure comes from: a published fact, or an illustrative default to replace."""

    model_config = _Strict
    kind: Literal["published", "illustrative"]
    text: str = Field(min_length=1)


class Figure(BaseModel):
    model_config = _Strict
    value: float = Field(ge=0)
    source: str


class _FigureTable(BaseModel):
    """Three figures keyed by a vocabulary word (a segment, a severity level), with their source."""

    model_config = _Strict
    source: str

    def of(self, key: Segment | Severity) -> float:
        """The figure for ``key``."""
        return float(getattr(self, key))


class SegmentPrices(_FigureTable):
    economy: float = Field(gt=0)
    mid: float = Field(gt=0)
    premium: float = Field(gt=0)


class SeverityFigures(_FigureTable):
    minor: float = Field(ge=0)
    moderate: float = Field(ge=0)
    severe: float = Field(ge=0)


class AreaScaling(BaseModel):
    """Repair hours x clip((area / reference) ** exponent, min, max)."""

    model_config = _Strict
    reference: float = Field(gt=0, le=1)
    exponent: float = Field(ge=0, le=2)
    min: float = Field(gt=0)
    max: float = Field(gt=0)
    source: str

    def factor(self, area: float) -> float:
        """The multiplier on body labour hours for a damaged area fraction."""
        raw = (max(area, 1e-6) / self.reference) ** self.exponent
        return float(min(max(raw, self.min), self.max))


class EstimatorInterval(BaseModel):
    model_config = _Strict
    level: float = Field(gt=0, lt=1)
    log_low: float = Field(le=0)
    log_high: float = Field(ge=0)
    source: str


class RegionSpec(BaseModel):
    model_config = _Strict
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    labour_rate: Figure
    paint_labour_rate: Figure
    paint_materials_per_hour: Figure


class PartSpec(BaseModel):
    model_config = _Strict
    repairable_up_to: Literal["none", "minor", "moderate", "severe"]
    price: dict[str, SegmentPrices]
    repair_hours: SeverityFigures
    replace_hours: Figure
    refinish_hours: Figure

    def repairable(self, severity: Severity) -> bool:
        """Whether damage of this severity can be repaired at all (else the part is replaced)."""
        if self.repairable_up_to == "none":
            return False
        return SEVERITY_LEVELS.index(severity) <= SEVERITY_LEVELS.index(self.repairable_up_to)


class CatalogueSpec(BaseModel):
    """The catalogue file's schema."""

    model_config = _Strict
    version: str = Field(min_length=1)
    replace_when_repair_exceeds: Figure
    sources: dict[str, Source]
    area_scaling: AreaScaling
    repair_refinish_share: SeverityFigures
    estimator_interval: EstimatorInterval
    regions: dict[str, RegionSpec] = Field(min_length=1)
    parts: dict[str, PartSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _every_part_priced_in_every_region(self) -> CatalogueSpec:
        for name, part in self.parts.items():
            missing = sorted(set(self.regions) - set(part.price))
            if missing:
                raise ValueError(f"part {name} has no price for region(s) {', '.join(missing)}")
        return self


def _marks(node: yaml.Node, path: tuple[str | int, ...], out: dict[tuple[str | int, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, str(key.value))] = key.start_mark.line + 1
            _marks(value, (*path, str(key.value)), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _marks(item, (*path, i), out)


def _line_of(loc: tuple[str | int, ...], lines: Mapping[tuple[str | int, ...], int]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def _source_refs(data: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], Any]]:
    refs: list[tuple[tuple[str | int, ...], Any]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "source" and path[:1] != ("sources",):
                refs.append(((*path, "source"), value))
            else:
                refs.extend(_source_refs(value, (*path, str(key))))
    return refs


def _parse(text: str, where: str) -> CatalogueSpec:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise CatalogueError(f"{where}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    lines: dict[tuple[str | int, ...], int] = {}
    if root is not None:
        _marks(root, (), lines)
    if not isinstance(data, dict):
        raise CatalogueError(f"{where}:1: a catalogue is a mapping with version, regions and parts")
    try:
        spec = CatalogueSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field = ".".join(str(p) for p in loc) or "catalogue"
        raise CatalogueError(
            f"{where}:{_line_of(loc, lines)}: {field}: {first['msg']}; fix this entry and reload"
        ) from exc
    for loc, ref in _source_refs(data, ()):
        if ref not in spec.sources:
            raise CatalogueError(
                f"{where}:{_line_of(loc, lines)}: {'.'.join(str(p) for p in loc)}: source {ref!r} is not "
                f"listed under `sources` (known: {', '.join(sorted(spec.sources))})"
            )
    return spec


class Catalogue:
    """A validated catalogue with case-insensitive look-ups that raise the typed input errors."""

    def __init__(self, spec: CatalogueSpec, path: Path | None = None, sha256: str = "") -> None:
        self.spec = spec
        self.path = path
        self.sha256 = sha256
        self._parts = {name.casefold(): name for name in spec.parts}
        self._regions = {name.casefold(): name for name in spec.regions}

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def parts(self) -> list[str]:
        return list(self.spec.parts)

    @property
    def regions(self) -> list[str]:
        return list(self.spec.regions)

    @property
    def currencies(self) -> list[str]:
        return sorted({r.currency for r in self.spec.regions.values()})

    def part_name(self, name: str) -> str:
        """The catalogue's spelling of a part name matched case-insensitively."""
        found = self._parts.get(name.strip().casefold())
        if found is None:
            raise UnknownPart(f"unknown part {name!r}; the catalogue prices {', '.join(self.parts)}")
        return found

    def region_name(self, name: str) -> str:
        """The catalogue's spelling of a region code matched case-insensitively."""
        found = self._regions.get(name.strip().casefold())
        if found is None:
            raise UnknownRegion(f"unknown region {name!r}; this catalogue covers {', '.join(self.regions)}")
        return found

    def segment_name(self, name: str) -> Segment:
        """A vehicle segment matched case-insensitively."""
        for segment in SEGMENTS:
            if segment == name.strip().casefold():
                return segment
        raise UnknownSegment(f"unknown vehicle segment {name!r}; use one of {', '.join(SEGMENTS)}")

    def part(self, name: str) -> PartSpec:
        """A part's prices and hours."""
        return self.spec.parts[self.part_name(name)]

    def region(self, name: str) -> RegionSpec:
        """A region's currency and rates."""
        return self.spec.regions[self.region_name(name)]

    def currency_for(self, region: str) -> str:
        """The currency claims in ``region`` are priced in."""
        return self.region(region).currency

    def check_currency(self, region: str, currency: str) -> str:
        """Refuse a currency the catalogue does not price ``region`` in; return the canonical code."""
        expected = self.currency_for(region)
        if currency.strip().upper() != expected:
            raise UnknownCurrency(
                f"currency {currency!r} is not priced for region {region!r}; this catalogue prices it in "
                f"{expected} (known currencies: {', '.join(self.currencies)})"
            )
        return expected


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """Read and validate a catalogue YAML (``None``: the shipped one); errors name the file and line."""
    file = Path(path) if path is not None else DEFAULT_CATALOGUE
    text, sha256 = read_hashed_text(file, "catalogue", CatalogueError)
    return Catalogue(_parse(text, str(file)), path=file, sha256=sha256)
