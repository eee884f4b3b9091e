"""The notebooks run top to bottom on the shipped models and the shared data, so they cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["data_preparation.ipynb", "heldout_errors.ipynb"])
def test_notebook_is_stripped_in_git(name: str) -> None:
    book = json.loads((NOTEBOOKS / name).read_text())
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in book["cells"] if c["cell_type"] == "code")


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("name", ["data_preparation.ipynb", "heldout_errors.ipynb"])
def test_notebook_executes(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    monkeypatch.setenv("AUTOQUOTE_NOTEBOOK_WORK", str(tmp_path))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    assert any(o.get("output_type") == "display_data" for c in book.cells for o in c.get("outputs", []))
