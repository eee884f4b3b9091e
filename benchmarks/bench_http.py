"""End-to-end HTTP benchmark of the one-shot quote: latency percentiles, throughput and server peak memory.

Starts ``autoquote serve`` (the shipped models, SQLite in a temporary folder) with 1 and 2 uvicorn workers,
posts a synthetic 12-MP phone JPEG (~3 MB, textured like a photo) and a 640-px JPEG to ``/v1/quote``,
and reports the median over several runs. With ``--ultralytics-weights PATH`` it also times the same
detector through ultralytics' PyTorch predict on the same images, and prints our p50 over theirs.

    .venv/bin/python benchmarks/bench_http.py --runs 3 --requests 20 [--ultralytics-weights best.pt]
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def phone_jpeg(width: int, height: int, seed: int = 0, base: Image.Image | None = None) -> bytes:
    """A photo-like JPEG: ``base`` (or smooth structure) at two scales plus sensor noise (~3 MB at 12 MP)."""
    rng = np.random.default_rng(seed)

    def layer(div: int, resample: Image.Resampling) -> np.ndarray:
        small = rng.normal(0, 1, size=(max(1, height // div), max(1, width // div), 3))
        scaled = ((small - small.min()) / np.ptp(small) * 255).astype(np.uint8)
        return np.asarray(Image.fromarray(scaled).resize((width, height), resample), dtype=np.float32)

    arr = 0.6 * layer(16, Image.Resampling.BICUBIC) + 0.4 * layer(4, Image.Resampling.BILINEAR)
    if base is not None:
        content = np.asarray(
            base.convert("RGB").resize((width, height), Image.Resampling.BICUBIC), np.float32
        )
        arr = 0.85 * content + 0.15 * arr
    arr += rng.normal(0, 5, size=arr.shape)
    buf = io.BytesIO()
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "serve.cli", *args], env=env, cwd=REPO, capture_output=True, text=True
    )
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


def run_server(workers: int, data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
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


def measure(base: str, key: str, image: bytes, requests: int, concurrency: int) -> tuple[list[float], float]:
    """Sequential latencies (ms), then throughput (req/s) with ``concurrency`` clients."""
    headers = {"Authorization": f"Bearer {key}"}
    files = {"files": ("photo.jpg", image, "image/jpeg")}
    latencies: list[float] = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        for _ in range(3):
            http.post("/v1/quote", files=files).raise_for_status()
        for _ in range(requests):
            t0 = time.perf_counter()
            http.post("/v1/quote", files=files).raise_for_status()
            latencies.append((time.perf_counter() - t0) * 1e3)

    done = 0
    lock = threading.Lock()

    def client() -> None:
        nonlocal done
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            for _ in range(requests // concurrency):
                http.post("/v1/quote", files=files).raise_for_status()
                with lock:
                    done += 1

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, done / (time.perf_counter() - t0)


def ultralytics_ms(
    weights: Path, images: dict[str, bytes], imgsz: int, repeats: int
) -> dict[str, float] | str:
    """Median ms of ultralytics' PyTorch predict per image (decode included, from the same JPEG files)."""
    try:
        from model.offline import configure_offline

        configure_offline()
        from ultralytics import YOLO
    except ImportError:
        return "ultralytics is not installed"
    detector = YOLO(str(weights))
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in images.items():
            path = Path(tmp) / f"{name}.jpg"
            path.write_bytes(data)
            detector.predict(str(path), imgsz=imgsz, device="cpu", verbose=False)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                detector.predict(str(path), imgsz=imgsz, device="cpu", verbose=False)
                times.append((time.perf_counter() - t0) * 1e3)
            out[name] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20, help="sequential requests per run and image")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--ultralytics-weights", type=Path, default=None)
    parser.add_argument("--base-photo", type=Path, default=None, help="a car photo to scale up as content")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))  # the script runs from benchmarks/; the pipeline lives in model/

    base = Image.open(args.base_photo) if args.base_photo else None
    images = {"12MP": phone_jpeg(4032, 3024, base=base), "640px": phone_jpeg(640, 480, seed=1, base=base)}
    print("images: " + ", ".join(f"{k} {len(v) / 1e6:.2f} MB" for k, v in images.items()))
    rows = []
    p50s: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AUTOQUOTE_DATA_DIR": str(Path(tmp) / "data"), "PYTHONPATH": str(REPO)}
        env.pop("AUTOQUOTE_DATABASE_URL", None)
        key = cli(env, "keys", "create", "--role", "customer", "--name", "bench").strip().splitlines()[-1]
        for workers in (int(w) for w in args.workers.split(",")):
            proc, base = run_server(workers, Path(tmp), env)
            try:
                versions = httpx.get(f"{base}/v1/models").json()["versions"]
                for name, image in images.items():
                    runs = [
                        measure(base, key, image, args.requests, max(2, workers)) for _ in range(args.runs)
                    ]
                    stats = [statistics.median(percentile(lat, q) for lat, _ in runs) for q in (50, 95, 99)]
                    rps = statistics.median(r for _, r in runs)
                    rows.append((workers, name, *stats, rps, peak_rss_mb(proc.pid)))
                    if workers == 1:
                        p50s[name] = stats[0]
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    print("models: " + ", ".join(f"{k}={v}" for k, v in versions.items()))
    header = ("workers", "image", "p50 ms", "p95 ms", "p99 ms", "req/s", "peak RSS MB")
    print("{:>7} {:>6} {:>8} {:>8} {:>8} {:>7} {:>12}".format(*header))
    for w, name, p50, p95, p99, rps, rss in rows:
        print(f"{w:>7} {name:>6} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f} {rps:>7.1f} {rss:>12.0f}")
    if args.ultralytics_weights is None:
        print("ultralytics: skipped (pass --ultralytics-weights PATH to a .pt checkpoint)")
        return
    from model import load_detector

    imgsz = load_detector().input_size
    result = ultralytics_ms(args.ultralytics_weights, images, imgsz, repeats=max(5, args.requests // 2))
    if isinstance(result, str):
        print(f"ultralytics: skipped ({result})")
        return
    for name, ms in result.items():
        print(
            f"ultralytics predict {name}: {ms:.1f} ms (detector only, imgsz {imgsz}); "
            f"HTTP quote p50 / ultralytics = {p50s[name] / ms:.2f}"
        )


if __name__ == "__main__":
    main()
