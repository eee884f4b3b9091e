"""ImageNet EfficientNet-Lite0 runs on synthetic data: the severity fine-tune (resumable) and the part verifier,
each exported with its parity check and manifest and loaded by the runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.cli import main

from .synthetic_car_parts import make_car_parts
from .synthetic_data import make_shared_datasets

pytest.importorskip("efficientnet_lite_pytorch")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("effnet")
    make_shared_datasets(root / "shared", n_sources=30, n_severity=30)
    make_car_parts(root / "shared", n_train=10, n_test=3)
    assert main(["prepare", "--data-root", str(root / "shared"), "--out", str(root / "prepared")]) == 0
    return root


def no_machine_paths(manifest: dict[str, object], root: Path) -> None:
    assert str(root) not in json.dumps(manifest)


def test_severity_fine_tunes_resumes_exports_and_grades(root: Path) -> None:
    prepared = root / "prepared"
    assert main(["prepare-severity-crops", "--prepared", str(prepared), "--with-photos"]) == 0
    common = ["train-effnet", "--set", f"prepared={prepared}", "--set", f"project={root / 'runs'}",
              "--set", "name=sev", "--set", "imgsz=64", "--set", "batch=4", "--set", "threads=1"]
    assert main([*common, "--set", "epochs=2", "--set", "stop_after=1"]) == 0  # a session ends after epoch 1
    run = root / "runs" / "sev"
    assert len((run / "results.csv").read_text().splitlines()) == 2
    assert main([*common, "--set", "epochs=2"]) == 2  # the folder holds a run: resume it or choose another name
    assert main([*common, "--set", "epochs=9", "--resume"]) == 0  # the run's own recipe: 2 epochs
    rows = (run / "results.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]  # epoch 2 continued epoch 1, not a fresh start

    assert main(["export-severity-effnet", "--run", str(run), "--version", "smoke", "--flip-average"]) == 0
    onnx = run / "weights" / "best.onnx"
    manifest = json.loads(onnx.with_suffix(".json").read_text())
    assert manifest["name"] == "autoquote-severity" and manifest["classes"] == ["minor", "moderate", "severe"]
    assert manifest["preprocess"]["mean"] == [0.5, 0.5, 0.5] and manifest["preprocess"]["flip_average"]
    weights = manifest["initial_weights"]
    assert len(weights["sha256"]) == 64 and "Apache-2.0" in weights["licence"]
    assert weights["loaded"] == "torch.load(weights_only=True)"
    metrics = manifest["metrics"]
    assert metrics["parity_torch_vs_onnxruntime"]["max_probability"] < 1e-4
    assert {"whole_photos", "val_crops", "damaged_parts_crops", "int8"} <= set(metrics)
    no_machine_paths(manifest, root)

    from model.severity import SeverityModel
    from tests.conftest import synthetic_car_photo

    grades = SeverityModel.load(onnx).grade_many([synthetic_car_photo(), synthetic_car_photo()])
    assert len(grades) == 2 and abs(sum(grades[0].probabilities.values()) - 1) < 1e-4

    # averaged with the shipped severity model in one file, the weight chosen on val crops
    from model.manifest import WEIGHTS_DIR

    shipped = WEIGHTS_DIR / "severity.onnx"
    assert main(["ensemble-severity", "--members", str(onnx)]) == 2  # two members, or a clear error
    assert main(["ensemble-severity", "--members", str(shipped), str(onnx), "--weight", "1.5",
                 "--prepared", str(prepared), "--out", str(root / "ens")]) == 2
    assert main(["ensemble-severity", "--members", str(shipped), str(onnx), "--prepared", str(prepared),
                 "--out", str(root / "ens"), "--version", "ens-smoke"]) == 0
    ensemble = json.loads((root / "ens" / "severity.json").read_text())
    assert [m["version"] for m in ensemble["members"]] == [json.loads(shipped.with_suffix(".json").read_text())[
        "version"], "smoke"]
    assert abs(sum(m["weight"] for m in ensemble["members"]) - 1) < 1e-9
    sizes = [json.loads(m.with_suffix(".json").read_text())["input_size"] for m in (shipped, onnx)]
    assert ensemble["input_size"] == max(sizes)  # the larger member's; each member resizes to its own inside
    metrics = ensemble["metrics"]
    assert metrics["weight_choice"]["chosen"] == ensemble["members"][1]["weight"]
    by_weight = metrics["weight_choice"]["val_crops_by_weight"]
    assert [m["val_crops_macro_f1"] for m in ensemble["members"]] == [by_weight["0.0"]["macro_f1"],
                                                                      by_weight["1.0"]["macro_f1"]]
    assert {"whole_photos", "val_crops", "damaged_parts_crops", "against_members"} <= set(metrics)
    assert metrics["against_members"]["decisions_changed"] <= metrics["against_members"]["crops"]
    no_machine_paths(ensemble, root)
    grades = SeverityModel.load(root / "ens" / "severity.onnx").grade_many([synthetic_car_photo()])
    assert abs(sum(grades[0].probabilities.values()) - 1) < 1e-4


def test_the_verifier_probe_fits_exports_and_checks_crops(root: Path) -> None:
    prepared = root / "prepared"
    assert main(["prepare-verifier-crops", "--prepared", str(prepared), "--data-root", str(root / "shared")]) == 0
    meta = json.loads((prepared / "verifier" / "verifier.json").read_text())
    assert meta["classes"][-1] == "no_damage" and meta["counts"]["train"]["no_damage"] > 0
    assert "test" not in meta["counts"] or "carparts" not in " ".join(
        p.name for p in (prepared / "verifier" / "test").rglob("*.jpg"))  # car-parts/testset is never written
    assert main(["train-verifier-probe", "--set", f"prepared={prepared}", "--set", f"project={root / 'runs'}",
                 "--set", "name=ver", "--set", "imgsz=64", "--set", "penalties=[0.01]", "--set", "threads=1"]) == 0
    run = root / "runs" / "ver"
    assert main(["export-verifier", "--run", str(run), "--version", "smoke", "--data-root",
                 str(root / "shared")]) == 0
    onnx = run / "weights" / "best.onnx"
    manifest = json.loads(onnx.with_suffix(".json").read_text())
    assert manifest["name"] == "autoquote-verifier" and manifest["metrics"]["split"] == "test"
    assert manifest["metrics"]["parity_torch_vs_onnxruntime"]["max_probability"] < 1e-4
    no_machine_paths(manifest, root)

    from model.verifier import PartVerifier
    from tests.conftest import synthetic_car_photo

    verifier = PartVerifier.load(onnx)
    agreement = verifier.agreement([synthetic_car_photo()], [verifier.classes[0]])
    assert len(agreement) == 1 and 0.0 <= agreement[0] <= 1.0


def test_export_refuses_a_folder_without_a_run(tmp_path: Path) -> None:
    assert main(["export-severity-effnet", "--run", str(tmp_path)]) == 2
    assert main(["export-verifier", "--run", str(tmp_path)]) == 2
