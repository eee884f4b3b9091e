"""Photo quality: too dark, too bright, too blurry, too small — each with a sentence to act on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageFilter
from pydantic import ValidationError

from model.quality import QualityThresholds, assess_quality, laplacian_variance

T = QualityThresholds(min_brightness=40, max_brightness=245, min_sharpness=60, min_side=480)


def textured(brightness: float, noise: float = 40.0, size: tuple[int, int] = (800, 600)) -> Image.Image:
    rng = np.random.default_rng(1)
    arr = rng.normal(brightness, noise, size=(size[1], size[0], 3)).clip(0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def codes(image: Image.Image, original: tuple[int, int] | None = None) -> set[str]:
    return {i.code for i in assess_quality(image, original, T).issues}


def test_a_sharp_well_lit_photo_passes() -> None:
    report = assess_quality(textured(128), None, T)
    assert report.ok and report.sharpness > T.min_sharpness


def test_dark_photo_asks_for_light() -> None:
    report = assess_quality(textured(12, noise=20), None, T)
    assert "too_dark" in {i.code for i in report.issues}
    assert "light" in next(i.message for i in report.issues if i.code == "too_dark")


def test_washed_out_photo() -> None:
    assert "too_bright" in codes(textured(252, noise=10))


def test_blurred_photo_is_caught_and_sharpness_drops() -> None:
    sharp = textured(128)
    blurred = sharp.filter(ImageFilter.GaussianBlur(6))
    assert "too_blurry" in codes(blurred)
    assert "too_blurry" not in codes(sharp)


def test_size_is_judged_on_the_original_not_the_draft() -> None:
    small = textured(128, size=(400, 300))
    assert "too_small" in codes(small)
    # The same working-size picture from a 12-MP original is fine.
    assert "too_small" not in codes(small, original=(4032, 3024))


def test_laplacian_of_flat_image_is_zero() -> None:
    assert laplacian_variance(np.full((50, 50), 100, dtype=np.uint8)) == 0.0
    assert laplacian_variance(np.zeros((2, 2))) == 0.0


@pytest.mark.parametrize(
    ("thresholds", "field"),
    [({"min_brightness": -1}, "min_brightness"), ({"max_brightness": 300}, "max_brightness"),
     ({"min_sharpness": -5}, "min_sharpness"), ({"min_side": -1}, "min_side"),
     ({"min_brightness": 200, "max_brightness": 100}, "must be below max_brightness")],
)
def test_thresholds_no_photo_could_meet_are_refused_when_configured(thresholds: dict[str, float], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        QualityThresholds(**thresholds)  # type: ignore[arg-type]


def test_the_thresholds_are_declared_once_with_their_defaults() -> None:
    """A deployment's settings read the names (``dataclasses.fields``) and defaults from here."""
    defaults = dataclasses.asdict(QualityThresholds())
    assert [f.name for f in dataclasses.fields(QualityThresholds)] == list(defaults)
    assert defaults == {"min_brightness": 40.0, "max_brightness": 245.0, "min_sharpness": 60.0, "min_side": 480}
