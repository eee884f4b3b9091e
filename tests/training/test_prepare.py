"""Data preparation: grouping by source photo, split by group, labels converted, report."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from training.config import load_config
from training.data.grouping import dhash, group_ids, near_duplicate_pairs, source_stem
from training.data.prepare import PrepareConfig, prepare
from training.data.sources import polygon_to_box

from .synthetic_data import make_shared_datasets


def test_source_stem_is_the_name_before_rf() -> None:
    assert source_stem("major_100_jpg.rf.35b92ea47004142d.jpg") == "major_100_jpg"
    assert source_stem("plain_photo.jpg") == "plain_photo"


def test_polygon_and_box_rows_become_clipped_boxes() -> None:
    assert polygon_to_box([0.5, 0.5, 0.2, 0.4]) == pytest.approx((0.5, 0.5, 0.2, 0.4))
    cx, cy, w, h = polygon_to_box([0.1, 0.2, 0.5, 0.2, 0.5, 0.6, 0.1, 0.6])  # type: ignore[misc]
    assert (cx, cy, w, h) == pytest.approx((0.3, 0.4, 0.4, 0.4))
    assert polygon_to_box([-0.2, 0.1, 0.3, 0.1, 0.3, 1.4]) == pytest.approx((0.15, 0.55, 0.3, 0.9))
    assert polygon_to_box([0.1, 0.1, 0.0, 0.1]) is None  # zero width
    assert polygon_to_box([0.1, 0.2, 0.3]) is None  # malformed


def test_dhash_matches_mirrored_copies_and_separates_different_photos(car_photo: Image.Image) -> None:
    other = Image.effect_noise((320, 240), 60).convert("RGB")
    hashes = [dhash(car_photo), dhash(ImageOps.mirror(car_photo)), dhash(other)]
    assert near_duplicate_pairs(hashes, max_distance=6) == [(0, 1)]


def test_group_ids_are_connected_components() -> None:
    assert group_ids(5, [(0, 1), (1, 2), (3, 4)]) == [0, 0, 0, 3, 3]


@pytest.fixture
def prepared(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    info = make_shared_datasets(tmp_path / "shared")
    cfg = PrepareConfig(data_root=tmp_path / "shared", out=tmp_path / "prepared")
    prepare(cfg, progress=False)
    return tmp_path / "prepared", info


def test_no_group_crosses_splits_and_duplicates_share_a_split(prepared: tuple[Path, dict[str, object]]) -> None:
    out, info = prepared
    listing = json.loads((out / "photos.json").read_text())
    splits_of_group: dict[str, set[str]] = defaultdict(set)
    splits_of_source: dict[str, set[str]] = defaultdict(set)
    for row in listing:
        splits_of_group[row["group"]].add(row["split"])
        splits_of_source[row["source"]].add(row["split"])
    assert all(len(s) == 1 for s in splits_of_group.values())
    assert all(len(s) == 1 for s in splits_of_source.values())
    dup = info["duplicate"]
    assert isinstance(dup, dict)
    sev = next(r for r in listing if r["file"].endswith(dup["severity"]))
    dp = [r for r in listing if r["source"] == "damaged-parts/" + dup["damaged_parts_source"]]
    assert dp and {r["group"] for r in dp} == {sev["group"]}


def test_detector_folders_keep_backgrounds_and_one_copy_outside_train(prepared: tuple[Path, dict[str, object]]) -> None:
    out, _ = prepared
    report = json.loads((out / "report.json").read_text())
    det = report["detect"]
    assert sum(det[s]["images"] for s in ("train", "val", "test")) == 24  # one copy per source photo
    assert sum(det[s]["background_images"] for s in ("train", "val", "test")) == 1
    labels = list((out / "detect").glob("*/labels/src003_jpg*.txt"))
    assert len(labels) == 1 and labels[0].read_text() == ""
    for line in next((out / "detect").glob("*/labels/src000_jpg*.txt")).read_text().splitlines():
        cls, *xywh = line.split()
        assert 0 <= int(cls) < 7 and all(0 <= float(v) <= 1 for v in xywh)
    spec = json.loads((out / "detect" / "data.yaml").read_text())
    assert Path(spec["path"]).is_absolute()  # ultralytics resolves relative paths elsewhere


def test_split_is_reproducible_and_seed_dependent(tmp_path: Path) -> None:
    make_shared_datasets(tmp_path / "shared")

    def splits(seed: int, name: str) -> dict[str, str]:
        cfg = PrepareConfig(data_root=tmp_path / "shared", out=tmp_path / name, seed=seed)
        prepare(cfg, progress=False)
        return {r["file"]: r["split"] for r in json.loads((tmp_path / name / "photos.json").read_text())}

    assert splits(1, "a") == splits(1, "b")
    assert splits(1, "a") != splits(2, "c")


def test_config_file_and_overrides(tmp_path: Path) -> None:
    cfg = load_config(PrepareConfig, "prepare.yaml", ["seed=7", "fractions=[0.6, 0.2, 0.2]"])
    assert cfg.seed == 7 and cfg.fractions == (0.6, 0.2, 0.2)
    from model.errors import ConfigError

    with pytest.raises(ConfigError, match="fractions"):
        load_config(PrepareConfig, "prepare.yaml", ["fractions=[0.5, 0.5, 0.5]"])


@pytest.mark.data
def test_real_datasets_split_by_source_photo(data_root: Path, tmp_path: Path) -> None:
    report = prepare(PrepareConfig(data_root=data_root, out=tmp_path / "prepared"), progress=False)
    listing = json.loads((tmp_path / "prepared" / "photos.json").read_text())
    by_group: dict[str, set[str]] = defaultdict(set)
    for row in listing:
        by_group[row["group"]].add(row["split"])
    assert all(len(s) == 1 for s in by_group.values())
    det = report["detect"]
    assert isinstance(det, dict)
    sources = sum(det[s]["source_photos"] for s in ("train", "val", "test"))
    assert 1500 <= sources <= 1600  # ~1,550 distinct photos behind ~4,000 files
    assert det["test"]["images"] == det["test"]["source_photos"]
