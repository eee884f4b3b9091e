"""The claims ledger: a reproducible synthetic generator and a loader that reports what it rejects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.errors import LedgerError
from model.findings import ClaimContext
from model.ledger import COLUMNS, write_ledger
from model.pricing import Estimator, load_catalogue
from training.cost.ledger import read_ledger, split_of
from training.cost.synthetic import SYNTHETIC_SOURCE, NoiseModel, PaymentNoise, PhotoNoise, synthetic_rows

CATALOGUE = load_catalogue()
GOOD_FINDINGS = json.dumps(
    [{"part": "bumper", "severity": {"minor": 0.9, "moderate": 0.1}, "area_fraction": 0.05}]
)


def _csv(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    path = tmp_path / "ledger.csv"
    lines = [",".join(COLUMNS)]
    for row in rows:
        cells = {
            "claim_id": "C1",
            "date": "2025-03-01",
            "region": "cn",
            "segment": "Mid",
            "currency": "CNY",
            "paid": "640",
            "findings": GOOD_FINDINGS,
            "source": "acme-insurance",
            **row,
        }
        lines.append(",".join('"' + cells[c].replace('"', '""') + '"' for c in COLUMNS))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_generator_is_reproducible_and_labelled_synthetic(tmp_path: Path) -> None:
    a = write_ledger(synthetic_rows(CATALOGUE, 40, seed=3), tmp_path / "a.csv").read_bytes()
    b = write_ledger(synthetic_rows(CATALOGUE, 40, seed=3), tmp_path / "b.csv").read_bytes()
    c = write_ledger(synthetic_rows(CATALOGUE, 40, seed=4), tmp_path / "c.csv").read_bytes()
    assert a == b and a != c
    ledger = read_ledger(tmp_path / "a.csv", CATALOGUE)
    assert len(ledger.rows) == 40 and not ledger.rejected
    assert ledger.sources == [SYNTHETIC_SOURCE] and ledger.synthetic


def _paid_at_catalogue(**hidden: float) -> PaymentNoise:
    """Payment noise that pays the catalogue estimate to the cent, but for the hidden damage given."""
    return PaymentNoise(
        labour_sigma={"CN": 0.0, "US": 0.0},
        parts_sigma=0.0,
        premium_labour_uplift=0.0,
        estimator_sigma=0.0,
        rounding={"CNY": 0.01, "USD": 0.01},
        **hidden,
    )


def test_without_noise_the_ledger_pays_the_catalogue_estimate() -> None:
    quiet = NoiseModel(
        photos=PhotoNoise(grader_strength=60.0, area_error_sigma=0.0, duplicate_rate=0.0, second_photo_rate=0.0),
        paid=_paid_at_catalogue(hidden_base=0.0, hidden_severe=0.0, hidden_front=0.0),
    )
    estimator = Estimator(CATALOGUE)
    for row in synthetic_rows(CATALOGUE, 30, seed=5, noise=quiet):
        assert row.paid == pytest.approx(estimator.price(row.to_findings(), row.context()).total, abs=0.02)


def test_hidden_damage_adds_a_supplement() -> None:
    always = NoiseModel(
        photos=PhotoNoise(grader_strength=60.0, area_error_sigma=0.0), paid=_paid_at_catalogue(hidden_base=1.0)
    )
    estimator = Estimator(CATALOGUE)
    for row in synthetic_rows(CATALOGUE, 30, seed=6, noise=always):
        estimate = estimator.price(row.to_findings(), row.context()).total
        assert 1.19 * estimate <= row.paid <= 1.81 * estimate


def test_loader_reports_each_rejected_row_with_its_number_and_reason(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        [
            {},
            {
                "claim_id": "C2",
                "findings": json.dumps([{"part": "Spoiler", "severity": {"minor": 1}, "area_fraction": 0.1}]),
            },
            {"claim_id": "C3", "paid": "-5"},
            {"claim_id": "C4", "findings": "[{not json"},
            {"claim_id": "C5", "currency": "USD"},
            {
                "claim_id": "C6",
                "findings": json.dumps([{"part": "Door", "severity": {"minor": 1}, "area_fraction": 1.5}]),
            },
            {"claim_id": "C1"},
            {"claim_id": "C8", "date": "yesterday"},
            {"claim_id": "C9", "region": "DE"},
        ],
    )
    ledger = read_ledger(path, CATALOGUE)
    assert [r.claim_id for r in ledger.rows] == ["C1"]
    assert ledger.rows[0].region == "CN" and ledger.rows[0].segment == "mid"
    reasons = {r.row: r.reason for r in ledger.rejected}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10]
    for row, words in {
        3: "Spoiler",
        4: "paid",
        5: "not valid JSON",
        6: "USD",
        7: "between 0 and 1",
        8: "more than once",
        9: "date",
        10: "DE",
    }.items():
        assert words in reasons[row]
    assert not ledger.synthetic


def test_ledger_with_nothing_usable_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no usable rows.*row 2"):
        read_ledger(_csv(tmp_path, [{"paid": "zero"}]), CATALOGUE)
    bad = tmp_path / "columns.csv"
    bad.write_text("claim_id,paid\nC1,100\n", encoding="utf-8")
    with pytest.raises(LedgerError, match="lacks column.*findings"):
        read_ledger(bad, CATALOGUE)


def test_split_is_stable_and_follows_fractions() -> None:
    ids = [f"claim-{i}" for i in range(3000)]
    splits = np.asarray([split_of(i, (0.6, 0.2, 0.2)) for i in ids])
    assert split_of("claim-7", (0.6, 0.2, 0.2)) == splits[7]
    assert abs(np.mean(splits == "train") - 0.6) < 0.04 and abs(np.mean(splits == "test") - 0.2) < 0.04


def test_rows_carry_a_context_the_estimator_accepts() -> None:
    row = synthetic_rows(CATALOGUE, 1, seed=1)[0]
    assert isinstance(row.context(), ClaimContext) and row.currency == CATALOGUE.currency_for(row.region)
