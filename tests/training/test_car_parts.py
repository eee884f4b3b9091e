"""Pretraining data: car-parts converted to YOLO, the SSL photo list, and the test split kept out of both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.data.car_parts import (
    PretrainDataConfig,
    prepare_pretrain,
    read_car_parts,
    read_listing,
    ssl_images,
)
from training.data.grouping import dhash_file, near_duplicate_pairs
from training.data.prepare import PrepareConfig, prepare

from .synthetic_car_parts import PART_CLASSES, make_car_parts
from .synthetic_data import make_shared_datasets


def test_coco_boxes_become_normalised_rows_without_the_background_class(tmp_path: Path) -> None:
    counts = make_car_parts(tmp_path, n_train=3, n_test=2)
    classes, images = read_car_parts(tmp_path)
    assert classes == PART_CLASSES
    assert [im.split for im in images].count("train") == 3 and [im.split for im in images].count("val") == 2
    assert sum(len(im.boxes) for im in images) == counts["boxes"]
    for im in images:
        for cls, cx, cy, w, h in im.boxes:
            assert 0 <= cls < len(PART_CLASSES) and 0 < w <= 1 and 0 < h <= 1 and 0 <= cy <= 1
            assert 0 <= cx - w / 2 and cx + w / 2 <= 1 + 1e-9


@pytest.fixture(scope="module")
def pretrain_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    root = tmp_path_factory.mktemp("pretrain")
    make_shared_datasets(root / "shared", n_sources=21, n_severity=15)
    prepare(PrepareConfig(data_root=root / "shared", out=root / "prepared"), progress=False)
    test_files = [
        root / "shared" / str(r["file"]) for r in read_listing(root / "prepared") if r["split"] == "test"
    ]
    assert test_files
    make_car_parts(root / "shared", n_train=6, n_test=2, copies_of=test_files[:2])
    report = prepare_pretrain(
        PretrainDataConfig(data_root=root / "shared", prepared=root / "prepared"), progress=False
    )
    return root, report


def test_car_parts_folder_leaves_out_copies_of_test_photos(
    pretrain_data: tuple[Path, dict[str, object]],
) -> None:
    root, report = pretrain_data
    cp = report["car_parts"]
    assert isinstance(cp, dict)
    assert cp["dropped_near_test"] == 2 and cp["train"] == 6 and cp["val"] == 2
    out = root / "prepared" / "pretrain" / "car_parts"
    spec = json.loads((out / "data.yaml").read_text())
    assert Path(spec["path"]).is_absolute() and list(spec["names"].values()) == PART_CLASSES
    assert len(list((out / "train" / "images").iterdir())) == 6
    assert len(list((out / "train" / "labels").iterdir())) == 6


def test_ssl_list_is_one_photo_per_group_and_never_the_test_split(
    pretrain_data: tuple[Path, dict[str, object]],
) -> None:
    root, _ = pretrain_data
    prepared = root / "prepared"
    listed = ssl_images(prepared)
    assert listed and all(p.is_file() for p in listed)
    rows = read_listing(prepared)
    test_hashes = [dhash_file(root / "shared" / str(r["file"])) for r in rows if r["split"] == "test"]
    hashes = [dhash_file(p) for p in listed]
    crossing = [(i, j) for i, j in near_duplicate_pairs(hashes + test_hashes, 6) if i < len(hashes) <= j]
    assert crossing == []
    within = [(i, j) for i, j in near_duplicate_pairs(hashes, 6)]
    assert within == []  # one photo per group
    groups = {str(r["group"]) for r in rows if r["split"] in ("train", "val")}
    assert len(listed) >= len(groups)  # every train/val group, plus distinct car-parts photos
    assert not any("/test/" in p.as_posix() for p in listed)


@pytest.mark.data
@pytest.mark.slow
def test_real_car_parts_conversion_keeps_the_test_split_out(data_root: Path, tmp_path: Path) -> None:
    prepare(PrepareConfig(data_root=data_root, out=tmp_path / "prepared"), progress=False)
    report = prepare_pretrain(
        PretrainDataConfig(data_root=data_root, prepared=tmp_path / "prepared"), progress=False
    )
    cp = report["car_parts"]
    assert isinstance(cp, dict) and len(cp["classes"]) == 18 and "_background_" not in cp["classes"]
    assert cp["train"] + cp["val"] + cp["dropped_near_test"] == 500
    assert cp["train"] >= 380 and cp["val"] >= 90 and cp["instances"] > 3500
    rows = read_listing(tmp_path / "prepared")
    test_hashes = [dhash_file(data_root / str(r["file"])) for r in rows if r["split"] == "test"]
    converted = sorted((tmp_path / "prepared" / "pretrain" / "car_parts").glob("*/images/*"))
    hashes = [dhash_file(p) for p in converted]
    assert not [p for p in near_duplicate_pairs(hashes + test_hashes, 6) if p[0] < len(hashes) <= p[1]]
    ssl = report["ssl"]
    assert isinstance(ssl, dict) and ssl["photos"] > 2000
