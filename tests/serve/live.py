"""A live server for the tests that need real HTTP and a real process: the app on fake models under uvicorn
in a subprocess, on a free port of 127.0.0.1, with one API key per role; stopped (or killed) by the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from serve.db import keys
from serve.db.session import make_engine, make_sessionmaker, run_migrations

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ROLES = ("customer", "adjuster", "admin")
POSTGRES_URL = os.environ.get("AUTOQUOTE_TEST_POSTGRES_URL")


def reset_postgres(url: str) -> None:
    """An empty, freshly migrated PostgreSQL database."""
    from alembic import command

    from serve.db.session import alembic_config

    run_migrations(url)
    command.downgrade(alembic_config(url), "base")
    run_migrations(url)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def in_thread(app: Any, start_timeout: float = 60) -> Iterator[str]:
    """``app`` under uvicorn in a daemon thread of this process, on a free port; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def wait_until_answers(url: str, proc: subprocess.Popen[Any], timeout: float = 120) -> None:
    """Poll ``url`` until it answers 200; fail with the process's output if it exits first, or on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"the server exited with {proc.returncode} before {url} answered: {output!r}")
        assert time.monotonic() < deadline, f"{url} did not answer in {timeout:.0f} s"
        time.sleep(0.2)


def make_keys(db_url: str) -> dict[str, str]:
    """Migrate the database and create one API key per role."""
    run_migrations(db_url)
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            made = {role: keys.create_key(session, f"live-{role}", role)[1] for role in ROLES}
            session.commit()
    finally:
        engine.dispose()
    return made


@dataclass
class LiveServer:
    data_dir: Path
    db_url: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> LiveServer:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "AUTOQUOTE_DATABASE_URL": self.db_url,
            **self.env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "run_server.py"), str(self.data_dir), str(self.port)], env=env, cwd=REPO
        )
        wait_until_answers(f"{self.base}/healthz", self.proc, timeout)
        return self

    def peak_rss_mb(self) -> float:
        """The server process's peak resident memory so far (VmHWM), in MiB."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM in /proc")

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
