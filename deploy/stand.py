"""Drive the multi-replica stand of ``deploy/up.sh``: keys, a candidate model, Locust runs, a promotion under load.

Used by the CI test (``tests/deploy``) and by ``benchmarks/bench_replicas.py``; every address is 127.0.0.1.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
REPO = DEPLOY.parent


@dataclass
class Stand:
    """A running stand: where nginx and each replica answer, and what they share."""

    run: Path
    nginx: str
    nginx_one: str
    replicas: list[str]
    database_url: str
    registry: Path

    def env(self) -> dict[str, str]:
        """The environment of an ``autoquote`` command on the stand's database."""
        env = {**os.environ, "PYTHONPATH": str(REPO), "AUTOQUOTE_DATABASE_URL": self.database_url}
        env["AUTOQUOTE_DATA_DIR"] = str(self.run / "cli")
        env["AUTOQUOTE_REGISTRY_DIR"] = str(self.registry)
        return env


def up(run: Path, database_url: str | None = None, poll_seconds: float = 1.0) -> Stand:
    """Start the stand in ``run`` (see ``deploy/up.sh``)."""
    env = {**os.environ, "PYTHON": sys.executable, "AUTOQUOTE_MODEL_POLL_SECONDS": str(poll_seconds)}
    env.pop("AUTOQUOTE_DATABASE_URL", None)
    if database_url:
        env["AUTOQUOTE_DATABASE_URL"] = database_url
    done = subprocess.run(
        ["bash", str(DEPLOY / "up.sh"), str(run)], env=env, capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        down(run)
        logs = "".join(f"\n--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted((run / "logs").glob("*.log")))
        raise RuntimeError(f"deploy/up.sh failed ({done.returncode}): {done.stdout}{done.stderr}{logs}")
    values = dict(line.split("=", 1) for line in (run / "stand.env").read_text().splitlines() if "=" in line)
    return Stand(
        run=run,
        nginx=values["NGINX_URL"],
        nginx_one=values["NGINX_ONE_URL"],
        replicas=values["REPLICA_URLS"].split(),
        database_url=values["AUTOQUOTE_DATABASE_URL"],
        registry=Path(values["AUTOQUOTE_REGISTRY_DIR"]),
    )


def down(run: Path) -> None:
    """Stop the stand."""
    subprocess.run(["bash", str(DEPLOY / "down.sh"), str(run)], timeout=120, check=False)


def make_key(stand: Stand, role: str) -> str:
    """A new API key on the stand's database."""
    done = subprocess.run(
        [sys.executable, "-m", "serve.cli", "keys", "create", "--role", role, "--name", f"load-{role}"],
        env=stand.env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip().splitlines()[-1]


def add_candidate(stand: Stand, version: str) -> str:
    """The shipped detector registered under another version (a stand-in candidate); its path in the registry."""
    from model.manifest import WEIGHTS_DIR, Manifest, write_manifest
    from model.store import register

    shipped = WEIGHTS_DIR / "detector.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        onnx = Path(tmp) / "detector.onnx"
        shutil.copyfile(shipped, onnx)
        manifest = Manifest.model_validate_json(shipped.with_suffix(".json").read_text(encoding="utf-8"))
        write_manifest(onnx, manifest.model_copy(update={"version": version}))
        entry = register(stand.registry, onnx)
    return entry.path.relative_to(stand.registry).as_posix()


def get_json(url: str, key: str | None = None, body: dict[str, object] | None = None) -> dict[str, object]:
    """One JSON request (POST when there is a body)."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=300) as response:
        answer: dict[str, object] = json.loads(response.read())
        return answer


def detector_version(url: str) -> str:
    versions = get_json(f"{url}/v1/models")["versions"]
    assert isinstance(versions, dict)
    return str(versions["detector"])


@dataclass
class LoadResult:
    """Locust's aggregate over one run."""

    users: int
    seconds: float
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    by_name: dict[str, dict[str, float]] = field(default_factory=dict)


def load(url: str, key: str, users: int, seconds: int, prefix: Path) -> LoadResult:
    """A headless Locust run of fixed users and duration against ``url``; stops by itself."""
    env = {**os.environ, "AUTOQUOTE_LOAD_KEY": key}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(DEPLOY / "locustfile.py"),
            "--headless",
            "--host",
            url,
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--stop-timeout",
            "30",
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 180,
    )
    with Path(f"{prefix}_stats.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    return LoadResult(
        users=users,
        seconds=seconds,
        requests=int(total["Request Count"]),
        failures=int(total["Failure Count"]),
        rps=float(total["Requests/s"]),
        p50_ms=float(total["50%"]),
        p95_ms=float(total["95%"]),
        by_name={
            r["Name"]: {
                "requests": float(r["Request Count"]),
                "failures": float(r["Failure Count"]),
                "p95_ms": float(r["95%"]),
            }
            for r in rows
            if r["Name"] != "Aggregated"
        },
    )


@dataclass
class PromotionWatch:
    """A promotion sent through nginx during a load run, and when each replica was seen running it."""

    detector: str
    version: str
    after_seconds: float
    sent_at: float = 0.0
    answered_s: float = 0.0
    seen_s: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def all_replicas_s(self) -> float | None:
        """Seconds from sending the promotion until the last replica answered with the new model."""
        return max(self.seen_s.values()) if self.seen_s else None


def promote_during(stand: Stand, admin_key: str, watch: PromotionWatch, limit: float = 120.0) -> threading.Thread:
    """In a thread: after ``watch.after_seconds``, promote through nginx, then poll every replica until it switched."""

    def run() -> None:
        try:
            time.sleep(watch.after_seconds)
            watch.sent_at = time.monotonic()
            get_json(f"{stand.nginx}/v1/admin/models/promote", admin_key, {"detector": watch.detector})
            watch.answered_s = time.monotonic() - watch.sent_at
            pending = set(stand.replicas)
            while pending and time.monotonic() - watch.sent_at < limit:
                for url in sorted(pending):
                    if detector_version(url).endswith("@" + watch.version):
                        watch.seen_s[url] = time.monotonic() - watch.sent_at
                        pending.discard(url)
                time.sleep(0.1)
            if pending:
                watch.error = f"not switched within {limit:.0f} s: {sorted(pending)}"
        except Exception as exc:  # reported by the caller
            watch.error = repr(exc)

    thread = threading.Thread(target=run, name="promotion", daemon=True)
    thread.start()
    return thread
