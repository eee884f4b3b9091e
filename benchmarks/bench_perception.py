"""Where the time of one quote goes, stage by stage, in one process: decoding, detector, severity.

For a synthetic 12-MP phone JPEG (~3 MB) and a 640-px JPEG, prints the median over interleaved runs of
  - a full Pillow decode then a resize to the detector's input (the naive way),
  - the service's decoding (JPEG draft decoding at reduced scale, EXIF, RGB),
  - the shipped detector (letterbox + onnxruntime + decode), and its int8 twin if one is given,
  - the shipped severity model on one crop,
and with ``--ultralytics-weights PATH`` the same detector through ultralytics' PyTorch predict, as a ratio.

    .venv/bin/python benchmarks/bench_perception.py --runs 15 [--int8 PATH] [--ultralytics-weights best.pt]
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench_http import phone_jpeg, ultralytics_ms
from PIL import Image

import model
from model.image_io import ImageLimits, decode_image
from model.offline import configure_offline
from model.pipeline import PipelineConfig


def naive_decode(data: bytes, side: int) -> Image.Image:
    """Decode every pixel, then shrink: what a plain ``Image.open(...).resize(...)`` costs."""
    im = Image.open(io.BytesIO(data)).convert("RGB")
    im.thumbnail((side, side), Image.Resampling.BILINEAR)
    return im


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per stage (median reported)")
    parser.add_argument("--int8", type=Path, help="an int8 detector ONNX (manifest beside it) to time too")
    parser.add_argument("--ultralytics-weights", type=Path, help="the detector's .pt checkpoint, for the ratio")
    args = parser.parse_args()
    configure_offline()

    detector = model.load_detector()
    severity = model.load_severity()
    int8 = model.load_detector(args.int8) if args.int8 else None
    limits = ImageLimits()
    side = int(detector.input_size * PipelineConfig().decode_factor)  # as the service decodes
    images = {"12MP": phone_jpeg(4032, 3024), "640px": phone_jpeg(640, 480, seed=1)}
    print(f"detector {detector.version} at {detector.input_size} px, severity {severity.version} at "
          f"{severity.input_size} px; {args.runs} runs each, median ms\n")
    rows: dict[str, dict[str, float]] = {}
    for name, data in images.items():
        decoded = decode_image(data, limits, target_side=side).image
        crop = decoded.crop((0, 0, decoded.width // 2, decoded.height // 2))
        stages: dict[str, Callable[[], object]] = {
            "naive decode + resize": lambda d=data: naive_decode(d, side),
            "draft decode (service)": lambda d=data: decode_image(d, limits, target_side=side),
            "detector fp32": lambda im=decoded: detector.detect(im),
            "severity on a crop": lambda c=crop: severity.grade(c),
        }
        if int8 is not None:
            stages["detector int8"] = lambda im=decoded: int8.detect(im)
        for fn in stages.values():
            fn()  # warm-up
        times: dict[str, list[float]] = {k: [] for k in stages}
        for _ in range(args.runs):  # interleaved, so drift on a busy machine hits every stage alike
            for key, fn in stages.items():
                times[key].append(timed(fn))
        rows[name] = {k: statistics.median(v) for k, v in times.items()}
        print(f"{name} JPEG ({len(data) / 1e6:.2f} MB)")
        for key, value in rows[name].items():
            print(f"  {key:<24} {value:8.1f} ms")
        r = rows[name]
        total = r["draft decode (service)"] + r["detector fp32"] + r["severity on a crop"]
        print(f"  {'decode+detect+grade':<24} {total:8.1f} ms")
        print(f"  naive / draft decode      {r['naive decode + resize'] / r['draft decode (service)']:8.2f}x")
        if int8 is not None:
            print(f"  fp32 / int8 detector      {r['detector fp32'] / r['detector int8']:8.2f}x")
        print()
    if args.ultralytics_weights:
        theirs = ultralytics_ms(args.ultralytics_weights, images, detector.input_size, args.runs)
        if isinstance(theirs, str):
            print(f"ultralytics: skipped ({theirs})")
        else:
            for name, ms in theirs.items():
                ours = rows[name]["draft decode (service)"] + rows[name]["detector fp32"]
                print(f"{name}: ultralytics predict (decode included) {ms:.1f} ms; ours decode+detect "
                      f"{ours:.1f} ms; ratio ultralytics/ours {ms / ours:.2f}x")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
