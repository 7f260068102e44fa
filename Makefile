# The two commands of the README: `make demo` and `make test`. Each installs what it needs.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint typecheck pytest install node redis-server bench bench-quick

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node: tests/js/node_modules/.installed

redis-server:
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server; }

demo: install
	$(PY) -m examples.chat

lint: install
	$(VENV)/bin/ruff format --check --no-cache .
	$(VENV)/bin/ruff check --no-cache .

typecheck: install
	$(VENV)/bin/mypy

pytest: install node redis-server
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck pytest
