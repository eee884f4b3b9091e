"""Group photos by source: Roboflow copies share a name stem, near-duplicates share a difference hash."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

RF_MARKER = ".rf."


def source_stem(name: str) -> str:
    """The source-photo name of a Roboflow export file: the part before ``.rf.`` (or the stem)."""
    base = Path(name).name
    if RF_MARKER in base:
        return base.split(RF_MARKER, 1)[0]
    return Path(base).stem


def dhash(image: Image.Image, size: int = 8) -> tuple[int, int]:
    """Difference hash of an image and of its mirror image, as two 64-bit integers."""
    gray = np.asarray(image.convert("L").resize((size + 1, size), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (gray[:, 1:] > gray[:, :-1]).flatten()
    mirrored = gray[:, ::-1]
    mbits = (mirrored[:, 1:] > mirrored[:, :-1]).flatten()
    return _pack(bits), _pack(mbits)


def _pack(bits: np.ndarray) -> int:
    return int("".join("1" if b else "0" for b in bits), 2)


def dhash_file(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.draft("L", (64, 64))
        return dhash(im)


def _popcount64(x: np.ndarray) -> np.ndarray:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


def near_duplicate_pairs(
    hashes: Sequence[tuple[int, int]], max_distance: int = 6, block: int = 1024
) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose hashes differ in at most ``max_distance`` bits, mirror included."""
    plain = np.array([h[0] for h in hashes], dtype=np.uint64)
    mirror = np.array([h[1] for h in hashes], dtype=np.uint64)
    pairs: list[tuple[int, int]] = []
    n = len(plain)
    for start in range(0, n, block):
        rows = plain[start : start + block, None]
        dist = np.minimum(_popcount64(rows ^ plain[None, :]), _popcount64(rows ^ mirror[None, :]))
        ii, jj = np.nonzero(dist <= max_distance)
        for i, j in zip(ii + start, jj, strict=True):
            if i < j:
                pairs.append((int(i), int(j)))
    return pairs


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_ids(n: int, links: Iterable[tuple[int, int]]) -> list[int]:
    """Connected components of ``links`` over n items, as the smallest member index of each."""
    uf = UnionFind(n)
    for a, b in links:
        uf.union(a, b)
    return [uf.find(i) for i in range(n)]
