"""End-to-end HTTP benchmark of the one-shot quote, beside the core it cannot avoid and ultralytics' predict.

Starts ``autoquote serve`` (the shipped models, SQLite in a temporary folder) and posts to ``/v1/quote``
a synthetic 12-MP phone JPEG (~3 MB, textured like a photo) and the same picture resized to a 1600-px
long side as the customer page sends it. In the same run, interleaved with the HTTP runs so that a
loaded machine weighs on every figure alike, it times in process:

  - the core: the service's reduced-size decode of the same 12-MP bytes plus one detector pass;
  - where the rest goes: sha256, multipart parsing, quality checks, severity per crop, photo write +
    fsync, and an authenticated HTTP round trip with one database query;
  - ultralytics' ``predict`` of the same detector (the shipped ONNX file, and with
    ``--ultralytics-weights`` a PyTorch checkpoint of it) on the same 12-MP file.

It prints the three ratios the service is held to: 12-MP HTTP p50 / core <= 1.2, 12-MP HTTP p50 /
ultralytics <= 0.5, 1600-px p50 / 12-MP p50 <= 0.3. Absolute times move with the machine's load; the
ratios, measured side by side, are what to compare.

    .venv/bin/python benchmarks/bench_http.py --runs 5 --requests 20 [--workers 1,2] [--ultralytics-weights best.pt]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"HTTP 12-MP p50 / core": 1.2, "HTTP 12-MP p50 / ultralytics": 0.5, "1600-px p50 / 12-MP p50": 0.3}


def phone_jpeg(width: int, height: int, seed: int = 0, base: Image.Image | None = None) -> bytes:
    """A photo-like JPEG: ``base`` (or smooth structure) at two scales plus sensor noise (~3 MB at 12 MP)."""
    rng = np.random.default_rng(seed)

    def layer(div: int, resample: Image.Resampling) -> np.ndarray:
        small = rng.normal(0, 1, size=(max(1, height // div), max(1, width // div), 3))
        scaled = ((small - small.min()) / np.ptp(small) * 255).astype(np.uint8)
        return np.asarray(Image.fromarray(scaled).resize((width, height), resample), dtype=np.float32)

    arr = 0.6 * layer(16, Image.Resampling.BICUBIC) + 0.4 * layer(4, Image.Resampling.BILINEAR)
    if base is not None:
        content = np.asarray(base.convert("RGB").resize((width, height), Image.Resampling.BICUBIC), np.float32)
        arr = 0.85 * content + 0.15 * arr
    arr += rng.normal(0, 5, size=arr.shape)
    buf = io.BytesIO()
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def resized_upload(data: bytes, long_side: int = 1600, quality: int = 85) -> bytes:
    """What the customer page uploads: the photo scaled to ``long_side`` and re-encoded as JPEG."""
    im = Image.open(io.BytesIO(data)).convert("RGB")
    im.thumbnail((long_side, long_side), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "serve.cli", *args], env=env, cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return out.stdout


def peak_rss_mb(pid: int) -> float:
    """Sum of peak resident memory (VmHWM) of a process and its children."""
    import psutil

    total = 0
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for proc in procs:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, psutil.Error):
            continue
    return total / 1e6


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` in ms, after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def run_server(workers: int, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "serve.cli", "serve", "--port", str(port), "--workers", str(workers),
         "--log-level", "warning"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start")


def post(http: httpx.Client, image: bytes, timings: dict[str, list[float]] | None = None) -> float:
    """One ``/v1/quote`` request: its latency (ms); the server's own stage timings go to ``timings``."""
    t0 = time.perf_counter()
    r = http.post("/v1/quote", files={"files": ("photo.jpg", image, "image/jpeg")})
    elapsed = (time.perf_counter() - t0) * 1e3
    r.raise_for_status()
    if timings is not None:
        for part in r.headers.get("server-timing", "").split(","):
            name, _, dur = part.strip().partition(";dur=")
            if name and dur:
                timings.setdefault(name, []).append(float(dur))
    return elapsed


def throughput(base: str, headers: dict[str, str], image: bytes, requests: int, concurrency: int) -> float:
    """Quotes per second with ``concurrency`` clients."""
    files = {"files": ("photo.jpg", image, "image/jpeg")}

    def client() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            for _ in range(requests // concurrency):
                http.post("/v1/quote", files=files).raise_for_status()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return concurrency * (requests // concurrency) / (time.perf_counter() - t0)


class InProcess:
    """The service's own stages, loaded as the server loads them, timed one by one on the same bytes."""

    def __init__(self, data: bytes, store_dir: Path) -> None:
        from model.pipeline import build_pipeline
        from serve.photos.local import LocalPhotoStore
        from serve.settings import Settings

        settings = Settings(data_dir=store_dir)
        self.pipeline = build_pipeline(
            settings.pipeline_config(), settings.detector_path, settings.severity_path, settings.ort_threads
        )
        assert self.pipeline.detector is not None and self.pipeline.severity is not None
        self.data = data
        self.store = LocalPhotoStore(store_dir / "photos")
        self.decoded = self.pipeline.decode(data)
        request = httpx.Request("POST", "http://x/v1/quote", files={"files": ("photo.jpg", data, "image/jpeg")})
        self.body = request.read()
        self.content_type = request.headers["content-type"]
        self.writes = 0

    def core(self) -> object:
        """The unavoidable part of a quote: a reduced-size decode and one detector pass."""
        assert self.pipeline.detector is not None
        return self.pipeline.detector.detect(self.pipeline.decode(self.data).image)

    def stages(self, repeats: int) -> dict[str, float]:
        """Median ms of each stage of a 12-MP quote, measured apart."""
        from model.pipeline import expand_box
        from model.quality import assess_quality

        detector, severity = self.pipeline.detector, self.pipeline.severity
        assert detector is not None and severity is not None
        image = self.decoded.image
        found = detector.detect(image)
        box = found[0].box if found else (image.width * 0.3, image.height * 0.3, image.width * 0.6, image.height * 0.6)
        crop = image.crop(expand_box(box, image.size, self.pipeline.config.crop_margin))

        def write() -> None:
            self.writes += 1  # new bytes each time, or put() would find the file and skip the write
            self.store.put(self.data + self.writes.to_bytes(4, "big"))

        return {
            "multipart parsing": median_ms(self.parse_multipart, repeats),
            "sha256": median_ms(lambda: hashlib.sha256(self.data).hexdigest(), repeats),
            "decode (reduced size, EXIF, RGB, sha256)": median_ms(lambda: self.pipeline.decode(self.data), repeats),
            "quality checks": median_ms(
                lambda: assess_quality(image, self.decoded.original_size, self.pipeline.config.quality), repeats
            ),
            "detector (letterbox + run + decode)": median_ms(lambda: detector.detect(image), repeats),
            "severity, one crop": median_ms(lambda: severity.grade_many([crop]), repeats),
            "severity, three crops, one at a time": median_ms(
                lambda: [severity.grade_many([crop]) for _ in range(3)], repeats
            ),
            "severity, three crops, one run": median_ms(lambda: severity.grade_many([crop] * 3), repeats),
            "photo write + fsync (claims only)": median_ms(write, repeats),
        }

    def parse_multipart(self) -> None:
        """Starlette's form parsing of the upload body, as FastAPI runs it before the handler."""
        from starlette.requests import Request

        body, content_type = self.body, self.content_type

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def parse() -> None:
            scope = {"type": "http", "method": "POST", "headers": [(b"content-type", content_type.encode())]}
            form = await Request(scope, receive).form(max_part_size=64 * 1024 * 1024)
            upload = form["files"]
            await upload.read()  # type: ignore[union-attr]
            await form.close()

        asyncio.run(parse())


def ultralytics_ms(weights: Path, images: dict[str, bytes], imgsz: int, repeats: int) -> dict[str, float] | str:
    """Median ms of ultralytics' predict per image (decode included, from the same JPEG files)."""
    try:
        from model.offline import configure_offline

        configure_offline()
        from ultralytics import YOLO
    except ImportError:
        return "ultralytics is not installed"
    detector = YOLO(str(weights), task="detect")
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in images.items():
            path = Path(tmp) / f"{name}.jpg"
            path.write_bytes(data)
            out[name] = median_ms(
                lambda p=str(path): detector.predict(p, imgsz=imgsz, device="cpu", verbose=False), repeats
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs; medians across them are reported")
    parser.add_argument("--requests", type=int, default=20, help="sequential requests per run and image")
    parser.add_argument("--workers", default="1", help="uvicorn worker counts to measure, e.g. 1,2")
    parser.add_argument("--long-side", type=int, default=1600, help="long side of the resized upload")
    parser.add_argument("--ultralytics-weights", type=Path, default=None, help="a PyTorch checkpoint of the detector")
    parser.add_argument("--base-photo", type=Path, default=None, help="a car photo to scale up as content")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))  # the script runs from benchmarks/; the pipeline lives in model/

    base_photo = Image.open(args.base_photo) if args.base_photo else None
    big = phone_jpeg(4032, 3024, base=base_photo)
    images = {"12MP": big, f"{args.long_side}px": resized_upload(big, args.long_side)}
    small = f"{args.long_side}px"
    print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    print("images: " + ", ".join(f"{k} {len(v) / 1e6:.2f} MB" for k, v in images.items()))
    rows = []
    p50s: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "AUTOQUOTE_DATA_DIR": str(Path(tmp) / "data"), "PYTHONPATH": path}
        env.pop("AUTOQUOTE_DATABASE_URL", None)
        key = cli(env, "keys", "create", "--role", "customer", "--name", "bench").strip().splitlines()[-1]
        headers = {"Authorization": f"Bearer {key}"}
        local = InProcess(big, Path(tmp) / "local")
        cores: list[list[float]] = []
        server: dict[str, dict[str, list[float]]] = {name: {} for name in images}
        stage_runs: list[dict[str, float]] = []
        for workers in (int(w) for w in args.workers.split(",")):
            proc, base = run_server(workers, env)
            try:
                versions = httpx.get(f"{base}/v1/models").json()["versions"]
                per_image: dict[str, list[list[float]]] = {name: [] for name in images}
                rps: dict[str, list[float]] = {name: [] for name in images}
                with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
                    for image in images.values():  # warm-up
                        for _ in range(3):
                            post(http, image)
                    for _ in range(args.runs):
                        # Request by request, side by side: a load that comes and goes weighs on all alike.
                        run: dict[str, list[float]] = {name: [] for name in images}
                        run_cores: list[float] = []
                        for _ in range(args.requests):
                            for name, image in images.items():
                                run[name].append(post(http, image, server[name] if workers == 1 else None))
                            if workers == 1:  # in process, while the server is idle
                                run_cores.append(median_ms(local.core, 1))
                        for name in images:
                            per_image[name].append(run[name])
                        if workers == 1:
                            cores.append(run_cores)
                            stages = local.stages(max(5, args.requests // 2))
                            stages["HTTP round trip + auth + one DB query"] = median_ms(
                                lambda: http.get("/v1/claims?limit=1").raise_for_status(), args.requests
                            )
                            stage_runs.append(stages)
                for name, image in images.items():
                    rps[name].append(throughput(base, headers, image, args.requests, max(2, workers)))
                for name in images:
                    stats = [statistics.median(percentile(lat, q) for lat in per_image[name]) for q in (50, 95, 99)]
                    rows.append((workers, name, *stats, statistics.median(rps[name]), peak_rss_mb(proc.pid)))
                    if workers == 1:
                        p50s[name] = stats[0]
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    print("models: " + ", ".join(f"{k}={v}" for k, v in versions.items()))
    print(
        "{:>7} {:>7} {:>8} {:>8} {:>8} {:>7} {:>12}".format(
            "workers", "image", "p50 ms", "p95 ms", "p99 ms", "req/s", "peak RSS MB"
        )
    )
    for w, name, p50, p95, p99, r, rss in rows:
        print(f"{w:>7} {name:>7} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f} {r:>7.1f} {rss:>12.0f}")
    if not cores:
        return
    core = statistics.median(statistics.median(run) for run in cores)
    print(f"\ncore, in process (reduced-size decode + one detector pass) on the 12-MP bytes: p50 {core:.1f} ms")
    for name in images:
        said = ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in server[name].items())
        print(f"inside the server, {name} (Server-Timing medians, ms): {said}")
    print("each stage apart, in process on the 12-MP bytes (medians of the runs):")
    for stage in stage_runs[-1]:
        values = [s[stage] for s in stage_runs if stage in s]
        print(f"  {stage:<45} {statistics.median(values):7.1f} ms")
    ratios = {"HTTP 12-MP p50 / core": p50s["12MP"] / core, "1600-px p50 / 12-MP p50": p50s[small] / p50s["12MP"]}
    from model import load_detector

    detector = load_detector()
    onnx_file = REPO / "model" / "weights" / "detector.onnx"
    theirs = ultralytics_ms(onnx_file, {"12MP": big}, detector.input_size, repeats=max(5, args.requests // 2))
    if isinstance(theirs, str):
        print(f"ultralytics: skipped ({theirs})")
    else:
        size = detector.input_size
        print(f"ultralytics predict of the shipped detector.onnx, 12-MP file: {theirs['12MP']:.1f} ms (imgsz {size})")
        ratios["HTTP 12-MP p50 / ultralytics"] = p50s["12MP"] / theirs["12MP"]
    if args.ultralytics_weights is not None:
        torch_ms = ultralytics_ms(
            args.ultralytics_weights, {"12MP": big}, detector.input_size, repeats=max(5, args.requests // 2)
        )
        if isinstance(torch_ms, dict):
            print(
                f"ultralytics PyTorch predict of {args.ultralytics_weights.name}, 12-MP file: {torch_ms['12MP']:.1f} ms"
            )
            ratios["HTTP 12-MP p50 / ultralytics PyTorch"] = p50s["12MP"] / torch_ms["12MP"]
    print("\nratios (one run, side by side):")
    for name, value in ratios.items():
        target = TARGETS.get(name) or TARGETS.get("HTTP 12-MP p50 / ultralytics")
        verdict = "met" if value <= target else "NOT met"
        print(f"  {name:<38} {value:5.2f}  (target <= {target}: {verdict})")
    if not isinstance(theirs, str):
        print_bounds(core, theirs["12MP"], server[small])


def print_bounds(core: float, theirs: float, small_stages: dict[str, list[float]]) -> None:
    """What the stages alone allow, before any HTTP cost: whether the targets can hold together at all."""
    needed = ("decode", "quality", "detect", "grade")
    floor_small = sum(statistics.median(small_stages[k]) for k in needed if k in small_stages)
    allowed_12mp = TARGETS["HTTP 12-MP p50 / ultralytics"] * theirs
    print("\nbounds from the stages alone (HTTP, multipart and the database only add to them):")
    print(f"  core / ultralytics                     {core / theirs:5.2f}  (HTTP 12-MP / ultralytics cannot be lower)")
    print(
        f"  1600-px decode+quality+detect+grade {floor_small:6.1f} ms; with the 12-MP quote at the ultralytics "
        f"target ({allowed_12mp:.1f} ms), 1600-px / 12-MP >= {floor_small / allowed_12mp:.2f}"
    )


if __name__ == "__main__":
    main()
