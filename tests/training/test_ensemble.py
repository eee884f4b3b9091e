"""Two severity models averaged in one ONNX graph: the file computes the weighted mean of what each member
computes on its own preprocessing (size, mean, std), stores its large weights as float16, and the runtime's
severity model runs it unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from model.errors import ConfigError  # noqa: E402
from model.manifest import DatasetRef, Manifest, Preprocess, TrainedWith  # noqa: E402
from model.severity import SeverityModel  # noqa: E402
from training.ensemble import build, choose_weight  # noqa: E402
from training.export import finalise  # noqa: E402

CHANNELS = 400  # 1x1 convolution 3 -> 400 and a 400 -> 3 layer: both big enough to be stored as float16


def member(path: Path, size: int, mean: float, std: float, seed: int, softmax: bool) -> tuple[np.ndarray, ...]:
    """A tiny classifier: 1x1 convolution, global average, linear layer (and a softmax, or raw logits)."""
    rng = np.random.default_rng(seed)
    conv = rng.normal(0, 0.5, (CHANNELS, 3, 1, 1)).astype(np.float32)
    dense = rng.normal(0, 0.5, (CHANNELS, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["images", "conv"], ["features"]),
             helper.make_node("GlobalAveragePool", ["features"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("MatMul", ["flat", "dense"], ["logits"])]
    out = "logits"
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["output0"], axis=1))
        out = "output0"
    graph = helper.make_graph(
        nodes, "member", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", 3])],
        initializer=[numpy_helper.from_array(conv, "conv"), numpy_helper.from_array(dense, "dense")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    finalise(path, Manifest(
        name="autoquote-severity", version=f"member-{seed}", task="classify", classes=["minor", "moderate", "severe"],
        input_size=size, preprocess=Preprocess(kind="resize_center_crop", mean=(mean,) * 3, std=(std,) * 3),
        opset=17, sha256="", file=path.name, dataset=DatasetRef(source="synthetic", split="none", sha256="0"),
        metrics={}, trained_with=TrainedWith(command="synthetic", config={}, config_sha256="0"), created="now"))
    return conv.reshape(CHANNELS, 3), dense


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def test_the_file_is_the_weighted_mean_of_its_members(tmp_path: Path) -> None:
    conv_a, dense_a = member(tmp_path / "a.onnx", 8, 0.0, 1.0, seed=1, softmax=True)
    conv_b, dense_b = member(tmp_path / "b.onnx", 16, 0.5, 0.5, seed=2, softmax=False)
    out = tmp_path / "ensemble.onnx"
    assert build([(tmp_path / "a.onnx", 0.3), (tmp_path / "b.onnx", 0.7)], out) == 16

    # 2x2 blocks of one value: halving them (bilinear, half-pixel) keeps the mean, so member a sees exactly the
    # average the 16-px input has, and global averaging makes the expected output exact
    x = np.repeat(np.repeat(np.random.default_rng(0).random((5, 3, 8, 8)), 2, axis=2), 2, axis=3).astype(np.float32)
    pixels = x.mean(axis=(2, 3))
    expected = 0.3 * softmax(pixels @ conv_a.T @ dense_a) + 0.7 * softmax(((pixels - 0.5) / 0.5) @ conv_b.T @ dense_b)
    import onnxruntime as ort

    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got, expected, atol=5e-3)  # float16 weights
    assert np.abs(got - expected).max() > 0  # the weights really are float16 ...
    stored = {i.name: i.data_type for i in onnx.load(str(out)).graph.initializer}
    assert stored["m0_conv_fp16"] == TensorProto.FLOAT16 and stored["m1_dense_fp16"] == TensorProto.FLOAT16
    assert out.stat().st_size < 0.6 * ((tmp_path / "a.onnx").stat().st_size + (tmp_path / "b.onnx").stat().st_size)

    full = tmp_path / "ensemble32.onnx"  # ... and without float16 storage the mean is exact
    build([(tmp_path / "a.onnx", 0.3), (tmp_path / "b.onnx", 0.7)], full, float16=False)
    exact = ort.InferenceSession(str(full), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    np.testing.assert_allclose(exact, expected, atol=1e-5)


def test_the_runtime_grades_with_the_file_and_the_weight_is_chosen_on_the_pictures(tmp_path: Path) -> None:
    from PIL import Image

    member(tmp_path / "a.onnx", 8, 0.0, 1.0, seed=3, softmax=True)
    member(tmp_path / "b.onnx", 16, 0.5, 0.5, seed=4, softmax=True)
    out = tmp_path / "ensemble.onnx"
    build([(tmp_path / "a.onnx", 0.5), (tmp_path / "b.onnx", 0.5)], out)
    finalise(out, Manifest(
        name="autoquote-severity", version="ens", task="classify", classes=["minor", "moderate", "severe"],
        input_size=16, preprocess=Preprocess(kind="resize_center_crop", flip_average=True), opset=17, sha256="",
        file=out.name, dataset=DatasetRef(source="synthetic", split="none", sha256="0"), metrics={},
        trained_with=TrainedWith(command="synthetic", config={}, config_sha256="0"), created="now",
        members=[{"version": "member-3", "weight": 0.5}, {"version": "member-4", "weight": 0.5}]))
    model = SeverityModel.load(out)
    rng = np.random.default_rng(5)
    pictures = [Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)) for _ in range(12)]
    grades = model.grade_many(pictures)
    assert len(grades) == 12 and all(abs(sum(g.probabilities.values()) - 1) < 1e-4 for g in grades)

    members = [SeverityModel.load(tmp_path / "a.onnx"), SeverityModel.load(tmp_path / "b.onnx")]
    labelled = [(p, i % 3) for i, p in enumerate(pictures)]
    choice = choose_weight(members, labelled)
    grid = choice["val_crops_by_weight"]
    assert set(grid) == {"0.0", "0.3", "0.4", "0.5", "0.6", "0.7", "1.0"}
    assert grid[f"{choice['chosen']:.1f}"]["macro_f1"] == max(grid[k]["macro_f1"] for k in grid if k not in
                                                               {"0.0", "1.0"})


def test_members_must_be_resize_center_crop_on_0_1_pixels(tmp_path: Path) -> None:
    member(tmp_path / "a.onnx", 8, 0.0, 1.0, seed=1, softmax=True)
    member(tmp_path / "b.onnx", 8, 0.0, 1.0, seed=2, softmax=True)
    manifest = (tmp_path / "b.json").read_text().replace('"resize_center_crop"', '"letterbox"')
    (tmp_path / "b.json").write_text(manifest)
    with pytest.raises(ConfigError, match="resize_center_crop"):
        build([(tmp_path / "a.onnx", 0.5), (tmp_path / "b.onnx", 0.5)], tmp_path / "e.onnx")
