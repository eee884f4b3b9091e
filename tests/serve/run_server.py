"""Start the real app on fake models under uvicorn: ``python run_server.py DATA_DIR PORT`` (tests only).

Small limits by default so refusals are cheap to provoke; an ``AUTOQUOTE_*`` variable in the environment wins.
``AUTOQUOTE_TEST_POLICIES_DIR`` names other decision policies than the tests' own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: tests.fakes

from serve.app import create_app  # noqa: E402
from serve.settings import Settings  # noqa: E402
from tests.fakes import fake_pipeline  # noqa: E402
from tests.serve.test_autonomy import autonomy_pipeline  # noqa: E402

if __name__ == "__main__":
    defaults: dict[str, object] = {
        "environment": "test",
        "max_photo_bytes": 3_000_000,
        "max_request_bytes": 6_000_000,
        "max_pixels": 4_000_000,
        "min_side": 200,
    }
    chosen = {k: v for k, v in defaults.items() if f"AUTOQUOTE_{k.upper()}" not in os.environ}
    settings = Settings(data_dir=Path(sys.argv[1]), **chosen)  # type: ignore[arg-type]
    policies = os.environ.get("AUTOQUOTE_TEST_POLICIES_DIR")
    pipeline = autonomy_pipeline(Path(policies)) if policies else fake_pipeline()
    app = create_app(settings, pipeline_factory=lambda _s: pipeline)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
