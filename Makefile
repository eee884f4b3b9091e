# Two entry points: `make serve` starts the service, `make test` installs what the tests need and runs them.
PYTHON ?= python3
SERVE_VENV ?= .venv-serve
TEST_VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# CI adds `scale` (S3 store, Ray, the multi-replica run); without it those tests skip and say why.
TEST_EXTRAS ?= serve,train,dev

.PHONY: serve test claim-states error-codes

$(SERVE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/pip install --quiet --upgrade pip
	$(SERVE_VENV)/bin/pip install --quiet -e '.[serve]'
	touch $@

$(TEST_VENV)/.installed-$(TEST_EXTRAS): pyproject.toml
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install --quiet --upgrade pip
	$(TEST_VENV)/bin/pip install --quiet -e '.[$(TEST_EXTRAS)]'
	touch $@

serve: $(SERVE_VENV)/.installed
	$(SERVE_VENV)/bin/autoquote serve --host $(HOST) --port $(PORT)

test: $(TEST_VENV)/.installed-$(TEST_EXTRAS)
	$(TEST_VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The README's claim state diagram, regenerated from serve/claims/states.py (a test fails when it drifts).
claim-states:
	$(PYTHON) -m serve.claims.diagram README.md

# The error-code table of docs/api.md, regenerated from the exception tree (a test fails when it drifts).
error-codes:
	$(PYTHON) -m serve.http.error_table docs/api.md
