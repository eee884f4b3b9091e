# Two entry points: `make serve` starts the service, `make test` installs what the tests need and runs them.
PYTHON ?= python3
SERVE_VENV ?= .venv-serve
TEST_VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: serve test

$(SERVE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/pip install --quiet --upgrade pip
	$(SERVE_VENV)/bin/pip install --quiet -e '.[serve]'
	touch $@

$(TEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install --quiet --upgrade pip
	$(TEST_VENV)/bin/pip install --quiet -e '.[serve,train,dev]'
	touch $@

serve: $(SERVE_VENV)/.installed
	$(SERVE_VENV)/bin/autoquote serve --host $(HOST) --port $(PORT)

test: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/python -m pytest $(PYTEST_ARGS)
