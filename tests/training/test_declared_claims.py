"""`autoquote-train calibrate --declared`: honest, padded and undamaged-car claims settled under each policy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.findings import Detection, SeverityGrade
from model.pipeline import Pipeline, PipelineConfig
from model.quality import QualityThresholds
from tests.fakes import FakeVerifier
from training import declared_claims
from training.cli import main
from training.declared_claims import CAR_PARTS_TO_DAMAGE, NEIGHBOURS, padded_part
from training.risk_control import clopper_pearson_upper

from .synthetic_data import CLASSES

# Flat grey photos with coloured rectangles; the fake detector names each colour's rectangle a part.
GREY = 128
COLOURS = {
    (230, 30, 30): ("Door", 0.92),  # damage the labels name, found confidently
    (30, 30, 230): ("Door", 0.30),  # the same damage, found too weakly to confirm
    (30, 200, 30): ("Fender", 0.90),  # an undamaged fender the detector takes for damage
    (230, 230, 30): ("Bumper", 0.95),  # an intact bumper the detector takes for damage
}
RED, BLUE, GREEN, YELLOW = COLOURS


class Manifest:
    name, version, classes = "fake", "1", CLASSES


class ColourDetector:
    input_size = 64
    manifest = Manifest()

    def detect(self, image: Image.Image) -> list[Detection]:
        arr = np.asarray(image.convert("RGB"), dtype=np.int16)
        found = []
        for colour, (part, score) in COLOURS.items():
            ys, xs = np.nonzero(np.abs(arr - np.array(colour)).max(axis=2) < 40)
            if len(xs) > 20:
                box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
                found.append(Detection(box, part, score, CLASSES.index(part)))
        return found


class MinorSeverity:
    input_size = 32
    manifest = Manifest()

    def grade_many(self, images: Sequence[Image.Image], photo: Image.Image | None = None) -> list[SeverityGrade]:
        return [SeverityGrade({"minor": 0.9, "moderate": 0.08, "severe": 0.02}) for _ in images]


def fake_build_pipeline(config: PipelineConfig | None = None, *args: object, **kwargs: object) -> Pipeline:
    from model.pricing import load_catalogue, load_pricer

    catalogue = load_catalogue()
    return Pipeline(ColourDetector(), MinorSeverity(), load_pricer(catalogue), catalogue,
                    PipelineConfig(quality=QualityThresholds(min_side=0, min_sharpness=0)),
                    verifier=FakeVerifier())


def picture(path: Path, rectangles: list[tuple[tuple[int, int, int], tuple[int, int]]]) -> None:
    arr = np.full((64, 64, 3), GREY, dtype=np.uint8)
    for colour, (x, y) in rectangles:
        arr[y : y + 16, x : x + 16] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def prepared_folder(root: Path) -> Path:
    """Each split: 6 damaged doors found (2 beside a fender the detector also flags), 3 found weakly, 1 unlabelled."""
    (root / "report.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "report.json").write_text(json.dumps({"classes": CLASSES}))
    for split in ("val", "test"):
        kinds = [[RED]] * 4 + [[RED, GREEN]] * 2 + [[BLUE]] * 3 + [[]]
        for i, colours in enumerate(kinds):
            name = f"{split}{i:02d}"
            picture(root / "detect" / split / "images" / f"{name}.png",
                    [(c, (4 + 36 * j, 8)) for j, c in enumerate(colours)])
            label = "" if not colours else f"{CLASSES.index('Door')} {12 / 64:.6f} {16 / 64:.6f} 0.25 0.25\n"
            (root / "detect" / split / "labels").mkdir(parents=True, exist_ok=True)
            (root / "detect" / split / "labels" / f"{name}.txt").write_text(label)
    return root


def undamaged_cars(root: Path) -> Path:
    """car-parts/testset: 5 cars with a front bumper and a hood in view, one bumper flagged; 1 car of wheels."""
    folder = root / "car-parts" / "testset"
    names = ["front_bumper", "hood", "wheel"]
    images: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []
    for i in range(6):
        picture(folder / "JPEGImages" / f"car{i}.png", [(YELLOW, (30, 30))] if i == 0 else [])
        images.append({"id": i, "file_name": f"car{i}.png", "path": f"JPEGImages/car{i}.png",
                       "width": 64, "height": 64})
        for cat in ([2] if i == 5 else [0, 1]):
            annotations.append({"id": len(annotations), "image_id": i, "category_id": cat + 1,
                                "bbox": [30.0, 30.0, 16.0, 16.0]})
    categories = [{"id": 0, "name": "_background_"}] + [{"id": k + 1, "name": n} for k, n in enumerate(names)]
    (folder / "annotations.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return root


def test_calibrate_declared_reports_honest_padded_and_undamaged_claims(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(declared_claims, "build_pipeline", fake_build_pipeline)
    prepared = prepared_folder(tmp_path / "prepared")
    data_root = undamaged_cars(tmp_path / "shared")
    out, plots = tmp_path / "out", tmp_path / "plots"
    assert main(["calibrate", "--declared", "--prepared", str(prepared), "--data-root", str(data_root),
                 "--out", str(out), "--plots", str(plots), "--jurisdiction", "CN",
                 "--set", "score_sweep=[0.2]"]) == 0
    printed = capsys.readouterr().out
    assert "gate opened" in printed and "CN@2025.2 (hand-set)" in printed

    report = json.loads((out / "declared_calibration.json").read_text())
    assert [(e["source"], e["policy"]) for e in report["policies"]] == [
        ("gate opened", report["policies"][0]["policy"]), ("hand-set", "CN@2025.2"),
    ]
    assert report["policies"][0]["policy"].startswith("CN@")
    for entry in report["policies"]:
        for split in ("val", "test"):
            figs = entry[split]
            assert figs["photos"] == 10 and figs["no_labelled_damage"] == 1
            # the 4 lone doors settle; the 2 beside a flagged fender do not (undeclared), nor the 3 weak ones
            assert (figs["honest"]["k"], figs["honest"]["n"]) == (4, 9)
            assert figs["honest"]["upper"] == pytest.approx(clopper_pearson_upper(4, 9, 0.95))
            # every door photo is padded with its one neighbour, the fender: it leaks where the fender is flagged
            assert (figs["padded"]["k"], figs["padded"]["n"]) == (2, 9)
            assert {c["padded"] for c in figs["padded"]["cases"]} == {"Fender"}
            assert {c["photo"] for c in figs["padded"]["cases"]} == {f"{split}04", f"{split}05"}
            assert figs["stream"]["wrong_among_settled"] == pytest.approx(0.2 * 2 / 9 / (0.2 * 2 / 9 + 0.8 * 4 / 9))
        cars = entry["undamaged"]
        assert cars["photos"] == 6 and cars["no_part_in_view"] == 1  # wheels are not a damage part
        assert (cars["any_part"]["k"], cars["any_part"]["n"]) == (1, 5)
        assert cars["cases"] == [{"photo": "car0", "settles_with": [
            {"part": "Bumper", "score": 0.95, "total": cars["cases"][0]["settles_with"][0]["total"]}]}]
        assert cars["any_part"]["upper"] == pytest.approx(clopper_pearson_upper(1, 5, 0.95))
        assert not entry["meets_target_on_test"]  # 2 of 9 padded claims settle
        # at a detection score of 0.2 the weak doors confirm too
        (row,) = entry["score_sweep"]
        assert row["min_detection_score"] == 0.2 and row["test"]["honest"]["k"] == 7
    assert (plots / "declared_calibration.png").stat().st_size > 10_000
    # no machine paths in what is written: outside the checkout a file is named, not located
    assert (report["report_file"], report["plot"]) == ("declared_calibration.json", "declared_calibration.png")


def test_declared_measures_and_never_ships(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--declared", "--ship", "--prepared", str(tmp_path)]) == 2
    assert "--ship" in capsys.readouterr().err


def test_a_padded_part_is_an_unlabelled_neighbour() -> None:
    for part, neighbours in NEIGHBOURS.items():
        assert part in CLASSES and set(neighbours) <= set(CLASSES) and part not in neighbours
        assert all(part in NEIGHBOURS[n] for n in neighbours)  # next to each other both ways
    assert NEIGHBOURS["Door"] == ("Fender",)
    import random

    assert padded_part({"Door"}, random.Random(0)) == "Fender"
    assert padded_part({"Door", "Fender"}, random.Random(0)) in {"Bonnet", "Bumper", "Light"}
    assert padded_part({"Windshield", "Bonnet", "Bumper", "Fender", "Light", "Dickey", "Door"},
                       random.Random(0)) is None
    assert set(CAR_PARTS_TO_DAMAGE.values()) <= set(CLASSES)
