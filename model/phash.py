"""Perceptual hashes of photos: the same picture re-encoded, resized or lightly edited hashes alike.

A 64-bit difference hash (dHash): the photo in grey at 9x8 pixels, one bit per horizontal neighbour pair
(is the left one brighter). Near-duplicates differ in a few bits; unrelated photos in about half of them.
The hash is cut into four 16-bit bands so a database finds candidates by equality on an indexed band: two
hashes at most three bits apart always share a band (pigeonhole), and most at up to six do.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Hashes at most this many bits apart are the same picture (re-encoded, resized, brightness nudged).
NEAR_DUPLICATE_BITS = 6


def dhash(image: Image.Image) -> int:
    """The 64-bit difference hash of a picture (box-filtered, so every pixel counts, not a sample)."""
    small = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BOX), dtype=np.int16)
    bits = (small[:, :-1] > small[:, 1:]).flatten()
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def to_hex(value: int) -> str:
    return f"{value:016x}"


def bands(value: int) -> tuple[int, int, int, int]:
    """The four 16-bit bands of a hash, lowest first."""
    return (value & 0xFFFF, (value >> 16) & 0xFFFF, (value >> 32) & 0xFFFF, (value >> 48) & 0xFFFF)


def distance(a: int, b: int) -> int:
    """How many bits two hashes differ in."""
    return (a ^ b).bit_count()


def informative(value: int) -> bool:
    """False for the hash of a nearly flat picture (almost all bits alike), which many unrelated photos share."""
    return 8 <= value.bit_count() <= 56
