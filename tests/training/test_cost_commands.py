"""The cost commands as a user runs them: help, a synthetic ledger, overrides."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from model.errors import ConfigError
from model.pricing import load_catalogue
from training.cost.commands import main, register
from training.cost.ledger import read_ledger


@pytest.mark.parametrize("command", ["ledger", "train-cost", "evaluate-cost"])
def test_every_command_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "--set" in capsys.readouterr().out


def test_ledger_command_writes_the_requested_synthetic_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ledger.csv"
    assert main(["ledger", "--out", str(out), "--set", "ledger.size=60", "--set", "seed=9"]) == 0
    ledger = read_ledger(out, load_catalogue())
    assert len(ledger.rows) == 60 and ledger.synthetic
    assert "SYNTHETIC" in capsys.readouterr().out


def test_bad_override_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="split"):
        main(["ledger", "--out", str(tmp_path / "x.csv"), "--set", "split.train=0.9"])


def test_register_mounts_into_another_cli() -> None:
    parser = argparse.ArgumentParser(prog="autoquote-train")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train-cost", "--ship", "--set", "head.epochs=3"])
    assert args.ship and args.overrides == ["head.epochs=3"] and args.prog == "autoquote-train train-cost"
