"""`autoquote-train export` refuses options that do not fit the model, before it reads or exports anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "detector", "--flip-average"], "--flip-average is for the severity classifier"),
        (["export", "detector", "--photo-average"], "--photo-average is for the severity classifier"),
        (["export", "detector", "--detector", "model/weights/detector.onnx"], "--detector names the detector"),
        (["export", "severity", "--detector", "no-such-detector.onnx"], "no-such-detector.onnx: no such file"),
        (["export", "severity", "--nms-iou", "0.5"], "--nms-iou is for the detector"),
        (["export", "detector", "--nms-iou", "1.5"], "an IoU in (0, 1]"),
    ],
)
def test_wrong_options_exit_2_with_a_stable_code(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "no-run"  # never read: the options are checked first
    assert main([*argv, "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "config_invalid" in err and message in err
    assert not run.exists()
