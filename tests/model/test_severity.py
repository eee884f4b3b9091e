"""Severity runtime: preprocessing parity with torchvision and the shipped model's output."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model.manifest import Preprocess
from model.preprocess import resize_center_crop


@pytest.mark.parametrize("size", [(300, 200), (200, 300), (224, 224), (1000, 999)])
def test_resize_center_crop_matches_torchvision(size: tuple[int, int], car_photo: Image.Image) -> None:
    torchvision = pytest.importorskip("torchvision")
    T = torchvision.transforms
    image = car_photo.resize(size)
    expected = T.Compose([T.Resize(160), T.CenterCrop(160), T.ToTensor()])(image).numpy()
    actual = resize_center_crop(image, 160, Preprocess(kind="resize_center_crop"))[0]
    assert np.abs(actual - expected).max() < 1.5 / 255


def test_shipped_severity_model_gives_probabilities(car_photo: Image.Image) -> None:
    import model

    severity = model.load_severity()
    grade = severity.grade(car_photo)
    assert set(grade.probabilities) == {"minor", "moderate", "severe"}
    assert sum(grade.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert grade.label in grade.probabilities
    assert severity.grade(car_photo.convert("L")).probabilities.keys() == grade.probabilities.keys()


def test_several_crops_are_graded_as_each_alone(car_photo: Image.Image) -> None:
    import model

    severity = model.load_severity()
    crops = [car_photo, car_photo.crop((10, 10, 120, 90)), car_photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    together = severity.grade_many(crops)
    assert len(together) == 3 and severity.grade_many([]) == []
    for crop, graded in zip(crops, together, strict=True):
        alone = severity.grade(crop).probabilities
        assert graded.probabilities == pytest.approx(alone, abs=1e-5)


def test_flip_average_grades_each_picture_with_its_mirror_image(car_photo: Image.Image) -> None:
    import model
    from model.severity import SeverityModel

    shipped = model.load_severity()
    manifest = shipped.manifest

    def with_flip(on: bool) -> SeverityModel:
        preprocess = manifest.preprocess.model_copy(update={"flip_average": on})
        return SeverityModel(shipped.session, manifest.model_copy(update={"preprocess": preprocess}))

    plain, flipping = with_flip(False), with_flip(True)
    pictures = [car_photo.crop((0, 0, car_photo.width // 2, car_photo.height)), car_photo]
    graded = flipping.grade_many(pictures)
    for picture, grade in zip(pictures, graded, strict=True):
        tensor = resize_center_crop(picture, plain.input_size, manifest.preprocess)
        mirror = np.ascontiguousarray(tensor[..., ::-1])
        expected = plain._grade((plain.probabilities(tensor)[0] + plain.probabilities(mirror)[0]) / 2)
        assert grade.probabilities == pytest.approx(expected.probabilities, abs=1e-5)
        assert sum(grade.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert graded[0].probabilities != pytest.approx(plain.grade(pictures[0]).probabilities, abs=1e-4)


def test_photo_average_averages_each_crop_with_the_whole_photo(car_photo: Image.Image) -> None:
    import model
    from model.severity import SeverityModel

    shipped = model.load_severity()
    manifest = shipped.manifest

    def with_options(**options: bool) -> SeverityModel:
        preprocess = manifest.preprocess.model_copy(update=options)
        return SeverityModel(shipped.session, manifest.model_copy(update={"preprocess": preprocess}))

    plain = with_options(flip_average=False, photo_average=False)
    both = with_options(flip_average=False, photo_average=True)
    crops = [car_photo.crop((0, 0, car_photo.width // 2, car_photo.height)), car_photo.crop((40, 30, 200, 150))]
    photo_probs = plain.grade(car_photo).probabilities
    graded = both.grade_many(crops, photo=car_photo)
    for crop, grade in zip(crops, graded, strict=True):
        alone = plain.grade(crop).probabilities
        assert grade.probabilities == pytest.approx({k: (alone[k] + photo_probs[k]) / 2 for k in alone}, abs=1e-5)
    # without a photo, or with a model that does not ask for it, each crop is graded alone
    for grades in (both.grade_many(crops), plain.grade_many(crops, photo=car_photo)):
        for grade, crop in zip(grades, crops, strict=True):
            assert grade.probabilities == pytest.approx(plain.grade(crop).probabilities, abs=1e-6)
