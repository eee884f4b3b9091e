"""Synthetic photos whose paint says which damaged part a fake detector finds there.

Each half of a photo (left, right) is painted in a part's colour (a door red, a fender green, a bumper blue)
or left grey (nothing damaged); :class:`SceneDetector` finds that part on each painted half. A test can so
say what every photo shows: a wide shot of a damaged door and fender, a close-up of the door, a close-up
where nothing can be seen, a dark one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from model.findings import Detection
from model.pipeline import Pipeline
from tests.fakes import FakeManifest, FakePricer, FakeSeverity, fake_pipeline

PAINT: dict[str, tuple[int, int, int]] = {"Door": (200, 60, 60), "Fender": (60, 200, 60), "Bumper": (60, 60, 200)}
GREY = (128, 128, 128)


def scene(
    left: str | None = None,
    right: str | None = None,
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
    light: float = 1.0,
    camera: bool = False,
) -> bytes:
    """A JPEG whose left and right halves (as seen upright) show the damaged parts named (None: grey), ``light``
    times as bright. ``camera``: compressed like a phone's photo (smooth texture, mild noise) and stored sideways
    with EXIF orientation 6, as phones store a photo taken upright."""
    width, height = size
    rng = np.random.default_rng(seed)
    arr = np.empty((height, width, 3), dtype=np.float32)
    for half, part in ((slice(0, width // 2), left), (slice(width // 2, width), right)):
        arr[:, half] = PAINT[part] if part else GREY
    if camera:
        coarse = rng.normal(0, 50, size=(max(1, height // 32), max(1, width // 32), 3)).astype(np.float32)
        blotches = Image.fromarray(((coarse + 128).clip(0, 255)).astype(np.uint8), "RGB")
        texture = np.asarray(blotches.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32) - 128
        shown = (arr + texture + rng.normal(0, 4, size=arr.shape)) * light
    else:
        shown = (arr + rng.normal(0, 25, size=arr.shape)) * light
    image = Image.fromarray(shown.clip(0, 255).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    if camera:
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90 degrees clockwise to show it upright
        image.transpose(Image.Transpose.ROTATE_90).save(buf, format="JPEG", quality=90, exif=exif)
    else:
        image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@dataclass
class SceneDetector:
    """Finds, on each half of a photo, the part whose paint it shows (at ``score``)."""

    score: float = 0.9
    input_size: int = 320
    manifest: FakeManifest = field(default_factory=lambda: FakeManifest("scene-detector", "0.1"))

    def detect(self, image: Image.Image) -> list[Detection]:
        arr = np.asarray(image.convert("RGB"), dtype=np.float32)
        width, height = image.size
        found = []
        for x1, x2 in ((0, width // 2), (width // 2, width)):
            mean = arr[:, x1:x2].reshape(-1, 3).mean(axis=0)
            for i, (part, paint) in enumerate(PAINT.items()):
                if np.linalg.norm(mean - np.array(paint)) < 60:
                    found.append(Detection(box=(x1, 0, x2, height), label=part, score=self.score, class_id=i))
        return found


def scene_pipeline(per_finding: float = 300.0) -> Pipeline:
    """The fake pipeline with the scene detector: each finding priced at ``per_finding`` CNY."""
    return fake_pipeline(detector=SceneDetector(), severity=FakeSeverity(), pricer=FakePricer(per_finding=per_finding))
