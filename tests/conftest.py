"""Shared fixtures: offline settings, the shared-data location, synthetic images and a synthetic dataset."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Tests never touch the user's home: tool caches go to a throwaway folder.
os.environ.setdefault("AUTOQUOTE_CACHE_DIR", str(Path(tempfile.gettempdir()) / "autoquote-test-cache"))

from model.offline import configure_offline  # noqa: E402

configure_offline()

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    env = os.environ.get("AUTOQUOTE_DATA_ROOT")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "datasets"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_data = (shared_data_root() / "damaged-parts").is_dir()
    skip_data = pytest.mark.skip(reason=f"shared datasets not found at {shared_data_root()} (set AUTOQUOTE_DATA_ROOT)")
    for item in items:
        if "data" in item.keywords and not has_data:
            item.add_marker(skip_data)
        if "gpu" in item.keywords:
            try:
                import torch

                ok = torch.cuda.is_available()
            except ImportError:
                ok = False
            if not ok:
                item.add_marker(pytest.mark.skip(reason="no CUDA GPU on this machine"))


@pytest.fixture
def data_root() -> Path:
    return shared_data_root()


def synthetic_car_photo(width: int = 320, height: int = 240, seed: int = 0, boxes: int = 2) -> Image.Image:
    """A textured picture with a few coloured blobs standing in for damaged parts."""
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 200, size=(height, width, 3), dtype=np.uint8)
    base = (base * 0.3 + np.linspace(40, 200, width)[None, :, None] * 0.7).astype(np.uint8)
    for _ in range(boxes):
        x1, y1 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
        x2, y2 = x1 + int(rng.integers(width // 8, width // 2)), y1 + int(rng.integers(height // 8, height // 2))
        base[y1:y2, x1:x2] = rng.integers(0, 255, size=3)
    return Image.fromarray(base)


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture
def car_photo() -> Image.Image:
    return synthetic_car_photo()


# Hand-set decision policies with no calibration block: the fakes' model versions are not the shipped ones,
# and the shipped policies are calibrated for the shipped models only.
TEST_POLICIES_DIR = Path(__file__).resolve().parent / "policies"
