"""Schemathesis against a live server, every operation, once with a key of each role (and once with none):
no 5xx, no status the OpenAPI document does not declare, bodies that match it, 405s that name the methods.

Bounded: a fixed number of examples per operation (AUTOQUOTE_FUZZ_EXAMPLES, default 25) and a fixed seed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serve.live import LiveServer, make_keys

pytestmark = pytest.mark.slow
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "unsupported_method",
    )
)
EXAMPLES = int(os.environ.get("AUTOQUOTE_FUZZ_EXAMPLES", "25"))


def _schemathesis() -> list[str]:
    exe = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    if not Path(exe).exists():
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    return [exe]


def test_fuzz_every_operation_with_each_role(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = f"sqlite:///{(data / 'autoquote.db').as_posix()}"
    keys = make_keys(db)
    # the fuzzer sends wrong keys on purpose: throttled, most operations would answer 429 and stay untested
    server = LiveServer(data, db, env={"AUTOQUOTE_AUTH_FAILURES_PER_MINUTE": "0"}).start()
    total_cases = 0
    failures: list[str] = []
    try:
        for role in ("none", *keys):
            headers = [] if role == "none" else ["-H", f"Authorization: Bearer {keys[role]}"]
            run = subprocess.run(
                [
                    *_schemathesis(),
                    "run",
                    f"{server.base}/openapi.json",
                    *headers,
                    "--checks",
                    CHECKS,
                    "--max-examples",
                    str(EXAMPLES),
                    "--seed",
                    "20261128",
                    "--phases",
                    "examples,coverage,fuzzing",
                    "--request-timeout",
                    "60",
                    "--continue-on-failure",
                    "--no-color",
                ],
                capture_output=True,
                text=True,
                timeout=1500,
                cwd=tmp_path,  # schemathesis keeps a cache folder in its working directory
                env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
            )
            out = run.stdout + run.stderr
            cases = sum(int(n) for n in re.findall(r"(\d+) generated", out)) or sum(
                int(n) for n in re.findall(r"Test cases:\s*(\d+)", out)
            )
            total_cases += cases
            print(f"schemathesis as {role}: exit {run.returncode}, {cases} cases")
            if run.returncode != 0:
                failures.append(f"--- as {role} ---\n{out[-6000:]}")
        assert server.proc is not None and server.proc.poll() is None, "the server died under fuzzing"
    finally:
        server.stop()
    print(f"schemathesis: {total_cases} cases in total, 4 roles")
    assert not failures, "\n".join(failures)
