"""The pricing catalogue: shipped content, and errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.errors import CatalogueError, UnknownCurrency, UnknownRegion
from model.pricing import load_catalogue
from model.pricing.catalogue import DEFAULT_CATALOGUE

DETECTOR_PARTS = ["Bonnet", "Bumper", "Dickey", "Door", "Fender", "Light", "Windshield"]


def _edited(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """A copy of the shipped catalogue with one line changed, and that line's number."""
    lines = DEFAULT_CATALOGUE.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if old in line)
    lines[number - 1] = lines[number - 1].replace(old, new)
    path = tmp_path / "catalogue.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, number


def test_shipped_catalogue_prices_every_detector_part_in_cn_and_us() -> None:
    catalogue = load_catalogue()
    assert catalogue.version == "2026.1"
    assert catalogue.parts == DETECTOR_PARTS
    assert {"CN", "US"} <= set(catalogue.regions)
    assert catalogue.currency_for("CN") == "CNY"
    assert catalogue.currency_for("us") == "USD"


def test_published_figures_name_their_source() -> None:
    spec = load_catalogue().spec
    us = spec.regions["US"].labour_rate
    assert us.value == 64 and spec.sources[us.source].kind == "published"
    assert "364" in spec.sources[spec.parts["Bumper"].price["CN"].source].text
    assert spec.sources["illustrative"].kind == "illustrative"


def test_unknown_source_names_file_and_line(tmp_path: Path) -> None:
    path, line = _edited(
        tmp_path,
        "labour_rate: {value: 64, source: us-labour-2023}",
        "labour_rate: {value: 64, source: hearsay}",
    )
    with pytest.raises(CatalogueError, match=rf"catalogue\.yaml:{line}: .*hearsay"):
        load_catalogue(path)


def test_negative_price_names_the_line(tmp_path: Path) -> None:
    path, line = _edited(tmp_path, "US: {economy: 380,", "US: {economy: -380,")
    with pytest.raises(CatalogueError, match=rf":{line}: parts\.Bumper\.price\.US\.economy"):
        load_catalogue(path)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path, line = _edited(tmp_path, "paint_labour_rate: {value: 150", "paint_labour_rate: {value: [150")
    with pytest.raises(CatalogueError, match=rf":{line}: not valid YAML"):
        load_catalogue(path)


def test_part_without_a_regional_price_is_refused(tmp_path: Path) -> None:
    path, _ = _edited(tmp_path, "US: {economy: 250, mid: 700", "XX: {economy: 250, mid: 700")
    with pytest.raises(CatalogueError, match="Light has no price for region"):
        load_catalogue(path)


def test_missing_file_is_a_catalogue_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read catalogue"):
        load_catalogue(tmp_path / "nope.yaml")


def test_currency_and_region_checks() -> None:
    catalogue = load_catalogue()
    assert catalogue.check_currency("cn", "cny") == "CNY"
    with pytest.raises(UnknownCurrency, match="CNY"):
        catalogue.check_currency("CN", "USD")
    with pytest.raises(UnknownRegion, match="CN, US"):
        catalogue.currency_for("DE")
