"""The whole loop on a tiny CPU run: reviewed data -> prepare -> train -> export -> registry -> compare -> promote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.cli import main

from .synthetic_data import make_shared_datasets, train_tiny_detector
from .test_loop import reviewed_folder

pytestmark = pytest.mark.slow


def test_retrain_on_reviewed_data_compare_and_promote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fastapi.testclient import TestClient

    from serve.app import create_app
    from serve.db import keys
    from serve.settings import Settings

    make_shared_datasets(tmp_path / "shared", n_sources=20, n_severity=9)
    extra = reviewed_folder(tmp_path / "reviewed")
    prepared = tmp_path / "prepared"
    assert (
        main(
            [
                "prepare",
                "--data-root",
                str(tmp_path / "shared"),
                "--out",
                str(prepared),
                "--set",
                f"extra_detect=[{extra}]",
            ]
        )
        == 0
    )
    onnx_file = train_tiny_detector(prepared, tmp_path / "runs", version="loop-1")
    registry = tmp_path / "data" / "registry"
    assert main(["registry", "--registry", str(registry), "add", str(onnx_file)]) == 0
    (entry,) = registry.glob("detector/*/model.onnx")
    capsys.readouterr()
    assert (
        main(
            [
                "compare",
                "--candidate",
                str(entry),
                "--prepared",
                str(prepared),
                "--out",
                str(tmp_path / "cmp"),
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert "detector mAP50 (test)" in table and "loop-1" in table
    settings = Settings(environment="test", data_dir=tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            _row, admin = keys.create_key(session, "admin", "admin")
            session.commit()
        r = client.post(
            "/v1/admin/models/promote",
            json={"detector": str(entry)},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert r.status_code == 200, r.text
        assert client.get("/v1/models").json()["versions"]["detector"] == "autoquote-detector@loop-1"
    pointer = json.loads((tmp_path / "data" / "active_models.json").read_text())
    assert pointer["detector"] == str(entry.resolve())
