"""The learning loop in training: reviewed data beside the shared data, the registry, and the comparison."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model.errors import ConfigError
from model.manifest import WEIGHTS_DIR
from training.cli import main

from .synthetic_data import CLASSES, _scene, make_shared_datasets


def reviewed_folder(root: Path, n: int = 4) -> Path:
    """What `autoquote export-reviewed` writes under detect/: images, YOLO labels, classes.txt."""
    detect = root / "detect"
    (detect / "images").mkdir(parents=True)
    (detect / "labels").mkdir()
    (detect / "classes.txt").write_text("".join(c + "\n" for c in CLASSES))
    for i in range(n):
        image, _ = _scene(5000 + i)
        image.save(detect / "images" / f"aq-{i:016x}.jpg")
        (detect / "labels" / f"aq-{i:016x}.txt").write_text("3 0.5 0.5 0.4 0.4\n")
    return detect


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("loop")
    make_shared_datasets(root / "shared", n_sources=14, n_severity=9)
    return root


def test_prepare_puts_reviewed_photos_in_train_only(shared: Path, tmp_path: Path) -> None:
    assert main(["prepare", "--data-root", str(shared / "shared"), "--out", str(tmp_path / "plain")]) == 0
    extra = reviewed_folder(tmp_path / "reviewed")
    # A reviewed photo that is a test photo of the shared data must not reach train.
    test_image = sorted((tmp_path / "plain" / "detect" / "test" / "images").iterdir())[0]
    shutil.copyfile(test_image, extra / "images" / "aq-leak.jpg")
    (extra / "labels" / "aq-leak.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    out = tmp_path / "with"
    assert (
        main(
            [
                "prepare",
                "--data-root",
                str(shared / "shared"),
                "--out",
                str(out),
                "--set",
                f"extra_detect=[{extra}]",
            ]
        )
        == 0
    )
    train = {p.name for p in (out / "detect" / "train" / "images").iterdir()}
    assert {f"aq-{i:016x}.jpg" for i in range(4)} <= train and "aq-leak.jpg" not in train
    for split in ("val", "test"):
        assert not [p for p in (out / "detect" / split / "images").iterdir() if p.name.startswith("aq-")]
        assert sorted(p.name for p in (out / "detect" / split / "images").iterdir()) == sorted(
            p.name for p in (tmp_path / "plain" / "detect" / split / "images").iterdir()
        )
    label = (out / "detect" / "train" / "labels" / "aq-0000000000000000.txt").read_text()
    assert label.startswith("3 0.500000 0.500000 0.400000 0.400000")
    before = json.loads((tmp_path / "plain" / "report.json").read_text())["sha256"]["detect"]
    after = json.loads((out / "report.json").read_text())["sha256"]["detect"]
    assert after["test"] == before["test"] and after["train"] != before["train"]
    (extra / "classes.txt").write_text("Wing\nMirror\n")
    with pytest.raises(ConfigError, match="other classes"):
        from training.config import load_config
        from training.data.prepare import PrepareConfig, prepare

        prepare(
            load_config(
                PrepareConfig,
                "prepare.yaml",
                [f"data_root={shared / 'shared'}", f"out={tmp_path / 'bad'}", f"extra_detect=[{extra}]"],
            ),
            progress=False,
        )


def approved_ledger(path: Path, n: int = 30) -> Path:
    rows = ["claim_id,date,region,segment,currency,paid,findings,source"]
    for i in range(n):
        findings = json.dumps(
            [
                {
                    "part": "Door",
                    "severity": {"minor": 0.1, "moderate": 0.8, "severe": 0.1},
                    "area_fraction": 0.1,
                    "photo_id": f"p{i}",
                }
            ]
        ).replace('"', '""')
        rows.append(f'review-{i},2026-11-20,CN,mid,CNY,{1500 + 10 * i},"{findings}",adjuster-approved')
    path.write_text("\n".join(rows) + "\n")
    return path


def test_train_cost_reads_the_approved_ledger_beside_the_shared_one(tmp_path: Path) -> None:
    extra = approved_ledger(tmp_path / "ledger.csv")
    run = tmp_path / "run"
    assert (
        main(
            [
                "train-cost",
                "--out",
                str(run),
                "--set",
                "ledger.size=200",
                "--set",
                "head.epochs=1",
                "--set",
                f"ledger.extra=[{extra}]",
            ]
        )
        == 0
    )
    report = json.loads((run / "report.json").read_text())
    assert report["ledger"]["rows"] == 230 and "adjuster-approved" in report["ledger"]["sources"]


def test_registry_entries_are_immutable_and_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "registry"
    head = WEIGHTS_DIR / "cost_head.onnx"
    assert main(["registry", "--registry", str(registry), "add", str(head)]) == 0
    assert main(["registry", "--registry", str(registry), "add", str(head)]) == 0  # same file: no-op
    (entry,) = registry.glob("cost/*/model.onnx")
    assert entry.read_bytes() == head.read_bytes() and not entry.stat().st_mode & 0o222
    changed = tmp_path / "cost_head.onnx"
    changed.write_bytes(head.read_bytes() + b"\0")
    manifest = json.loads(head.with_suffix(".json").read_text())
    import hashlib

    manifest["sha256"] = hashlib.sha256(changed.read_bytes()).hexdigest()
    changed.with_suffix(".json").write_text(json.dumps(manifest))
    assert main(["registry", "--registry", str(registry), "add", str(changed)]) == 2
    assert "immutable" in capsys.readouterr().err
    assert main(["registry", "--registry", str(registry), "list"]) == 0
    listing = capsys.readouterr().out
    assert "cost-head" in listing and str(entry) in listing and "mdape=" in listing


def test_compare_prints_one_table_on_the_same_held_out_data(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepared = tmp_path / "prepared"
    assert main(["prepare", "--data-root", str(shared / "shared"), "--out", str(prepared)]) == 0
    registry = tmp_path / "registry"
    assert (
        main(
            [
                "registry",
                "--registry",
                str(registry),
                "add",
                str(WEIGHTS_DIR / "detector.onnx"),
                str(WEIGHTS_DIR / "cost_head.onnx"),
            ]
        )
        == 0
    )
    candidates = sorted(str(p.parent) for p in registry.glob("*/*/model.onnx"))
    ledger = tmp_path / "ledger.csv"
    assert main(["ledger", "--out", str(ledger), "--set", "ledger.size=120"]) == 0
    shadow = tmp_path / "shadow_quotes.jsonl"
    shadow.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "claim_id": "a",
                    "service": {"decision": "auto_settle", "total": 900.0},
                    "shadow": {"decision": "auto_settle", "total": 1000.0},
                    "final": None,
                },
                {
                    "claim_id": "b",
                    "service": {"decision": "human_review", "total": 3000.0},
                    "shadow": {"decision": "auto_settle", "total": 1900.0},
                    "final": {"outcome": "approved", "amount": 2000.0},
                },
            ]
        )
        + "\n"
    )
    capsys.readouterr()
    assert (
        main(
            [
                "compare",
                "--candidate",
                *candidates,
                "--prepared",
                str(prepared),
                "--ledger",
                str(ledger),
                "--shadow",
                str(shadow),
                "--out",
                str(tmp_path / "cmp"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    for row in (
        "detector mAP50 (test)",
        "AP50 Bonnet",
        "cost MdAPE (ledger test)",
        "share auto-settled (ledger)",
        "live share auto-settled",
        "live MdAPE vs final amount",
    ):
        assert row in out, out
    report = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    # The same detector on the same split scores the same; the candidate's cost head differs from the default.
    assert report["baseline"]["detector"]["map50"] == report["candidate"]["detector"]["map50"]
    assert report["candidate"]["cost"]["pricer"].startswith("cost-head@")
    assert report["baseline"]["live"] == {"n": 2, "auto_settled": 0.5, "mdape_vs_final": 0.5, "reviewed": 1}
    assert report["candidate"]["live"]["auto_settled"] == 1.0
    assert report["candidate"]["live"]["mdape_vs_final"] == pytest.approx(0.05)
