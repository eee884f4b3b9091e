"""Re-scoring the backlog on Ray: a local head on loopback with two workers, shadow quotes that compare reads."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from serve.app import create_app
from serve.db import keys
from serve.db.rows import ShadowQuoteRow
from serve.db.session import make_engine, make_sessionmaker
from serve.settings import Settings
from tests.fakes import photo_bytes

pytestmark = [pytest.mark.scale, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
LOOPBACK = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token"}
os.environ.update(LOOPBACK)  # before ray is first imported: the head and this driver stay on 127.0.0.1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``ray start --head`` on 127.0.0.1 with two CPUs (two workers); stopped by its process group.

    Its port and its agent's are chosen free (the agent's default is a fixed port in the ephemeral range, which
    another program's connection may hold); a head that exits while starting fails the test with its log."""
    pytest.importorskip("ray", reason="re-scoring needs the scale extra: pip install -e '.[scale]'")
    port, agent_port = _free_port(), _free_port()
    env = {**os.environ, **LOOPBACK, "PYTHONPATH": str(REPO)}
    ray_cli = str(Path(sys.executable).with_name("ray"))
    temp = tmp_path_factory.mktemp("ray")
    with (temp / "head.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                ray_cli,
                "start",
                "--head",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                f"--dashboard-agent-listen-port={agent_port}",
                "--num-cpus=2",
                "--include-dashboard=false",
                "--disable-usage-stats",
                f"--temp-dir={temp}",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                tail = (temp / "head.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"ray start --head exited ({proc.returncode}); its log:\n{tail}")
            assert time.monotonic() < deadline, "the Ray head did not listen within 120 s"
            time.sleep(0.5)
        yield address
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:  # the head and its whole group are gone already
            pass
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def backlog(settings: Settings, pipeline) -> Settings:  # type: ignore[no-untyped-def]
    """Six claims with photos assessed by the service (on fake models), in a SQLite file and a photo folder."""
    with TestClient(create_app(settings, pipeline_factory=lambda _s: pipeline)) as client:
        with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            _row, key = keys.create_key(session, "c", "customer")
            session.commit()
        headers = {"Authorization": f"Bearer {key}"}
        for i in range(6):
            claim = client.post("/v1/claims", json={"region": "CN"}, headers=headers).json()
            files = [
                ("files", (f"{i}-{j}.jpg", photo_bytes(seed=100 + 10 * i + j), "image/jpeg")) for j in range(1 + i % 2)
            ]
            assert client.post(f"/v1/claims/{claim['id']}/photos", files=files, headers=headers).status_code == 201
            assert client.post(f"/v1/claims/{claim['id']}/assess", headers=headers).status_code == 200
    return settings


def _env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, **LOOPBACK, "PYTHONPATH": str(REPO), "AUTOQUOTE_DATA_DIR": str(settings.data_dir)}
    env.pop("AUTOQUOTE_DATABASE_URL", None)
    return env


def _rescore(settings: Settings, *args: str) -> str:
    """``autoquote rescore`` in its own process (Ray's driver never lives in the test process)."""
    done = subprocess.run(
        [sys.executable, "-m", "serve.cli", "rescore", *args],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return done.stdout


def test_rescore_on_a_ray_head_writes_shadow_quotes_that_compare_reads(
    backlog: Settings, ray_head: str, tmp_path: Path
) -> None:
    out = _rescore(backlog, "--since", "2020-01-01", "--workers", "2", "--address", ray_head)
    assert "re-scored 6 claim(s), 9 photo(s)" in out and "on 2 worker(s) (2 model load(s))" in out
    engine = make_engine(backlog.db_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.scalars(select(ShadowQuoteRow)).all()
            assert len(rows) == 6 and all(r.main_quote_id for r in rows)
            assert len({r.versions["detector"] for r in rows}) == 1
            assert not rows[0].versions["detector"].startswith("fake")  # the real shipped detector ran
    finally:
        engine.dispose()
    again = _rescore(backlog, "--since", "2020-01-01", "--workers", "2", "--address", ray_head)
    assert "re-scored 0 claim(s)" in again and "6 already scored by this candidate" in again  # resumes
    later = _rescore(backlog, "--since", "2999-01-01", "--address", ray_head)
    assert "re-scored 0 claim(s)" in later and "0 already scored" in later

    export_dir = tmp_path / "export"
    done = subprocess.run(
        [sys.executable, "-m", "serve.cli", "export-reviewed", "--out", str(export_dir)],
        env=_env(backlog),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    from training.compare import shadow

    records = [json.loads(line) for line in (export_dir / "shadow_quotes.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all(r["service"]["versions"]["detector"].startswith("fake") for r in records)
    live = shadow(export_dir / "shadow_quotes.jsonl")
    assert live["shadow"]["n"] == 6 and live["service"]["n"] == 6


def test_the_command_starts_a_local_instance_by_default(backlog: Settings) -> None:
    pytest.importorskip("ray", reason="re-scoring needs the scale extra: pip install -e '.[scale]'")
    out = _rescore(backlog, "--since", "2020-01-01", "--workers", "2")
    assert "re-scored 6 claim(s), 9 photo(s)" in out and "on 2 worker(s) (2 model load(s))" in out
    assert "photos/s" in out
