"""The ``autoquote`` command: keys, migrate, quote from the terminal, and ``serve`` on a fresh folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from serve.cli.main import main
from tests.fakes import photo_bytes
from tests.serve.live import wait_until_answers

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUTOQUOTE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("AUTOQUOTE_DATABASE_URL", raising=False)
    return tmp_path / "data"


def test_keys_create_list_revoke(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert main(["keys", "create", "--role", "customer", "--name", "alice"]) == 0
    out = capsys.readouterr().out
    key_id = next(line for line in out.splitlines() if line.startswith("created")).split()[3]
    key = out.strip().splitlines()[-1]
    assert key.startswith("aq_")
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert "alice" in listing and "active" in listing and key not in listing
    assert main(["keys", "revoke", key_id]) == 0
    assert main(["keys", "list"]) == 0 and "revoked" in capsys.readouterr().out
    assert main(["keys", "revoke", "nope"]) == 2
    assert "api_key_not_found" in capsys.readouterr().err


def test_quote_prints_a_readable_quote(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(photo_bytes(seed=5))
    assert main(["quote", str(photo), "--region", "CN", "--segment", "mid"]) == 0
    out = capsys.readouterr().out
    from model.decision import load_policy

    shipped = load_policy("CN")
    assert out.startswith("decision: ") and "versions: detector=" in out and f"policy={shipped.label}" in out
    assert "declared" not in out
    assert main(["quote", str(photo), "--declared", "door:left", "--declared", "Bumper"]) == 0
    out = capsys.readouterr().out
    declared = out[out.index("declared (at detector score") :].splitlines()[1:3]
    assert [line.split()[0] for line in declared] == ["Door:left", "Bumper"], out
    assert main(["quote", str(photo), "--declared", "Wheel"]) == 2
    assert "unknown_part" in capsys.readouterr().err
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    assert main(["quote", str(bad)]) == 2
    assert "image_type_unsupported" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_on_a_fresh_folder_prints_the_address_and_how_to_get_a_key(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "AUTOQUOTE_DATA_DIR": str(tmp_path / "fresh"), "PYTHONPATH": str(REPO)}
    env.pop("AUTOQUOTE_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "serve.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/healthz", proc)
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).json()
        assert set(models["versions"]) == {"detector", "severity", "verifier", "pricer", "catalogue"}  # all shipped
        assert httpx.get(f"http://127.0.0.1:{port}/v1/claims", timeout=5).status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"autoquote serving on http://127.0.0.1:{port}" in out
    assert "keys create --role admin" in out
    assert (tmp_path / "fresh" / "autoquote.db").is_file()


def test_errors_are_one_line_that_say_what_to_do(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["quote", str(data_dir / "nonexistent.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err and "nonexistent.jpg" in err and "Traceback" not in err
    monkeypatch.setenv("AUTOQUOTE_ENVIRONMENT", "staging")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "AUTOQUOTE_ENVIRONMENT" in err and "fix the environment variable" in err


@pytest.mark.parametrize("name", ["", "   ", "a\x07b", "x" * 101])
def test_key_names_are_validated(data_dir: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["keys", "create", "--role", "customer", "--name", name])
    assert exit_.value.code == 2 and "not a usable name" in capsys.readouterr().err


def test_first_start_hint_names_a_command_that_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from serve.cli.operators import self_command

    venv_exe = tmp_path / "venv" / "bin" / "autoquote"
    venv_exe.parent.mkdir(parents=True)
    venv_exe.write_text("#!/bin/sh\n")
    venv_exe.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(venv_exe), "serve"])
    monkeypatch.setenv("PATH", "/nonexistent")
    assert self_command() == str(venv_exe)  # not on PATH: the full path, which runs
    monkeypatch.setenv("PATH", str(venv_exe.parent))
    assert self_command() == "autoquote"
    monkeypatch.setattr(sys, "argv", ["-c"])
    assert self_command().endswith("-m serve.cli")


@pytest.mark.slow
def test_serve_with_two_workers_counts_every_request_in_one_metrics_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    env = {**os.environ, "AUTOQUOTE_DATA_DIR": str(tmp_path / "two"), "PYTHONPATH": str(REPO)}
    for name in ("AUTOQUOTE_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUTOQUOTE_DATA_DIR", str(tmp_path / "two"))
    assert main(["keys", "create", "--role", "admin", "--name", "ops"]) == 0
    admin = {"Authorization": f"Bearer {capsys.readouterr().out.strip().splitlines()[-1]}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "serve.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{base}/readyz", proc)
        for _ in range(40):  # new connections: the workers share them out
            with httpx.Client() as client:
                assert client.get(f"{base}/healthz").status_code == 200
        text = httpx.get(f"{base}/metrics", headers=admin, timeout=5).text
        served = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("autoquote_http_request_duration_seconds_count") and 'route="/healthz"' in line
        ]
        assert served == [40.0]  # every worker's requests, not only those of the worker that answered
        assert "autoquote_models_ready 1.0" in text
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert (tmp_path / "two" / "prometheus").is_dir()
