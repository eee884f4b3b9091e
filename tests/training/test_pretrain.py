"""Pretraining: SimCLR loss, supervised car-parts pretraining, proof that ``init_from`` moves the weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.config import load_config
from training.detector import DetectorConfig, train_detector
from training.pretrain import SSLConfig, SupervisedPretrainConfig, nt_xent, pretrain_ssl, pretrain_supervised
from training.severity import SeverityConfig, train_severity

from .pretrain_fixtures import frozen, make_prepared, tiny_detector


def test_nt_xent_rewards_matching_views() -> None:
    torch.manual_seed(0)
    z = torch.randn(16, 8)
    assert float(nt_xent(z, z + 0.01 * torch.randn(16, 8), 0.2)) < float(nt_xent(z, torch.randn(16, 8), 0.2))


def test_pretrain_configs_load_and_refuse_pt_names() -> None:
    ssl = load_config(SSLConfig, "pretrain-ssl.yaml", ["epochs=3"])
    assert ssl.epochs == 3 and ssl.layers == 10 and ssl.cls_model == "yolo26n-cls.yaml"
    sup = load_config(SupervisedPretrainConfig, "pretrain-supervised.yaml", ["init_from=x.pt"])
    assert sup.name == "pretrain-car-parts" and sup.fliplr == 0.0 and sup.init_from == Path("x.pt")


def _tensor(ckpt: Path, key: str) -> torch.Tensor:
    from ultralytics.nn.tasks import load_checkpoint

    model, _ = load_checkpoint(ckpt)
    tensor: torch.Tensor = model.state_dict()[key].float()
    return tensor


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_prepared(tmp_path_factory.mktemp("pretrain"))


@pytest.mark.slow
def test_car_parts_pretraining_seeds_the_damage_detector(prepared: Path, tmp_path: Path) -> None:
    sup = SupervisedPretrainConfig.model_validate(
        {**tiny_detector(), "prepared": prepared, "project": tmp_path, "name": "cp"}
    )
    run = pretrain_supervised(sup)
    ckpt = run / "weights" / "best.pt"
    assert ckpt.is_file()
    det = DetectorConfig.model_validate(
        {
            **tiny_detector(**frozen(extra={"plots": False})),
            "prepared": prepared,
            "project": tmp_path,
            "name": "det",
            "init_from": ckpt,
        }
    )
    out = train_detector(det) / "weights" / "last.pt"
    from ultralytics.nn.tasks import DetectionModel

    fresh = DetectionModel("yolo26n.yaml", nc=7, verbose=False).state_dict()
    for key in ("model.0.conv.weight", "model.9.cv2.conv.weight", "model.13.cv1.conv.weight"):
        pretrained, after = _tensor(ckpt, key), _tensor(out, key)
        assert torch.allclose(pretrained, after, atol=1e-3), key  # backbone and neck moved over
        assert not torch.allclose(fresh[key].float(), after, atol=1e-3), key  # and are not a fresh init
    assert _tensor(out, "model.23.cv3.0.2.weight").shape[0] == 7  # the head has the damage classes


@pytest.mark.slow
def test_ssl_backbone_seeds_the_detector_and_the_severity_classifier(prepared: Path, tmp_path: Path) -> None:
    cfg = SSLConfig(
        prepared=prepared,
        project=tmp_path,
        name="ssl",
        epochs=1,
        imgsz=32,
        batch=8,
        workers=0,
        hidden_dim=32,
        proj_dim=16,
        limit=24,
    )
    run = pretrain_ssl(cfg, progress=False)
    det_ckpt, cls_ckpt = run / "weights" / "backbone-detect.pt", run / "weights" / "backbone-cls.pt"
    assert (run / "results.csv").read_text().count("\n") == 2
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint

    fresh = DetectionModel("yolo26n.yaml", nc=7, verbose=False)
    key = "model.4.m.0.cv1.conv.weight"
    before = fresh.state_dict()[key].clone()
    fresh.load(load_checkpoint(det_ckpt)[0], verbose=False)
    assert torch.allclose(fresh.state_dict()[key], _tensor(det_ckpt, key))
    assert not torch.allclose(before, fresh.state_dict()[key])
    sev = SeverityConfig.model_validate(
        {
            "prepared": prepared,
            "project": tmp_path,
            "name": "sev",
            "epochs": 1,
            "imgsz": 32,
            "batch": 8,
            "workers": 0,
            "cache": False,
            "amp": False,
            "init_from": cls_ckpt,
            **frozen(extra={"plots": False}),
        }
    )
    out = train_severity(sev) / "weights" / "last.pt"
    for key in ("model.0.conv.weight", "model.8.m.0.cv1.conv.weight"):
        assert torch.allclose(_tensor(det_ckpt, key), _tensor(out, key), atol=1e-3), key


def test_a_missing_init_from_is_refused_before_training(prepared: Path, tmp_path: Path) -> None:
    from model.errors import ConfigError

    cfg = DetectorConfig.model_validate(
        {"prepared": prepared, "project": tmp_path, "init_from": tmp_path / "x.pt"}
    )
    with pytest.raises(ConfigError, match="init_from"):
        train_detector(cfg)
