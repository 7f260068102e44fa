# The commands of the README: `make demo`, `make test`, `make bench`, `make bench-quick`. Each installs what it needs.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: soak demo test lint typecheck docs pytest install node redis-server chromium web web-types bench bench-quick bench-deps

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,docs,cluster]"
	touch $@

install: $(VENV)/.installed

tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node: tests/js/node_modules/.installed

$(VENV)/.bench-installed: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $@

bench/node_modules/.installed: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund --loglevel=error
	touch $@

bench-deps: $(VENV)/.bench-installed bench/node_modules/.installed redis-server

# Every system under the same load, 3 rounds; results in bench/results/latest.{json,md,png}. About 30 minutes.
# Then room-sharded pub/sub against one channel, and on a Redis Cluster (bench/results/sharding.{json,md}): 3 minutes.
# Then what recovery costs a publish on the cluster (bench/results/cluster_recovery.md): 1 minute.
bench: bench-deps
	$(PY) -m bench
	$(PY) -m bench.sharding --cluster
	$(PY) -m bench.cluster_recovery | tee bench/results/cluster_recovery.md

# Sharding on 2 processes, then fan-out and acks, raw and typed, about 2 minutes; its last line is the typed/raw
# deliveries ratio at 1,000 clients.
bench-quick: bench-deps
	$(PY) -m bench.sharding --quick
	$(PY) -m bench --quick

redis-server:
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server; }

# The browser tests drive Debian's Chromium through Playwright; Playwright never downloads a browser of its own.
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

# The demo page: TypeScript on the generated events.ts, bundled by esbuild into examples/chat/web/dist/.
WEB := examples/chat/web
DEMO_CODEGEN := examples.chat.events --out $(WEB)/src/generated --target ts,schema,asyncapi,zod

$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web-types: install
	$(PY) -m codegen $(DEMO_CODEGEN)

web: $(WEB)/node_modules/.installed
	cd $(WEB) && npm run --silent build

# Regenerates the types first (the tests instead check that the committed ones are current).
demo: install web-types web
	$(PY) -m examples.chat

# Two demo processes (ports 8000 and 8001) on a 6-node Redis Cluster it starts in a temporary directory;
# Ctrl-C stops everything and removes the directory. Needs redis-py 8: the cluster extra, which `install` adds.
.PHONY: demo-cluster test-demo-cluster
demo-cluster: install web-types web redis-server
	$(PY) -m examples.chat.cluster

# Its test (about 15 s, so not in `make test`): the script starts, both processes answer, an event sent on one
# reaches a client of the other, and SIGINT stops everything and removes the directory.
test-demo-cluster: install redis-server
	$(VENV)/bin/pytest -m demo_cluster tests/e2e/test_demo_cluster.py

lint: install
	$(VENV)/bin/ruff format --check --no-cache .
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) tests/packaging/check_large_files.py

typecheck: install
	$(VENV)/bin/mypy

# The documentation site (mkdocs.yml, docs/) into site/; --strict makes a broken link, include or reference an error.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

pytest: install node redis-server chromium web
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck docs pytest

# The soak, outside `make test` (which runs an 8-second one): SOAK_SECONDS (default 600) of churning Node connections
# (tests/js/load.mjs), stalled readers and broadcasts on a server process with Redis, which is SIGKILLed and restarted
# halfway; report in soak-results/ (JSON, markdown, PNG).
SOAK_SECONDS ?= 600
soak: install node redis-server
	$(PY) -m tests.soak --duration $(SOAK_SECONDS) --redis-kill --out soak-results

# Fault tests too heavy for `make test` (marker `faults`): a burst of 10,000 connects on 127.0.0.1 against one server
# process, the per-user limit refusing the excess and every counter back to its baseline afterwards; Redis SIGKILLed,
# a server SIGKILLed, a stalled reader fed through Redis, on two server processes. About 8 minutes. `make test` runs the
# cut-subscription tests of tests/e2e/test_redis_faults.py.
.PHONY: test-faults
test-faults: install node redis-server
	$(VENV)/bin/pytest -m faults -s tests/e2e $(PYTEST_ARGS)

# The wheel and the sdist, installed into fresh virtualenvs with pip 23 and the newest pip, with and without the
# extras: about 2 minutes, so not in `make test`; .ci/run runs it after `make test`.
.PHONY: test-packaging
test-packaging: install
	$(VENV)/bin/pytest -m packaging tests/packaging

# Python 3.13 beside the machine's 3.11, by hand only (never in `make test` or .ci/run): a Debian trixie chroot in
# build/py313 (0.8 GiB, about 3 minutes the first time) with python3.13 and the project in a virtualenv; see
# devtools/py313.py. `make test-py313` runs the suite in it (no browser, packaging, faults or demo-cluster tests) and
# `python -m bench.interpreters` measures the server under both interpreters. Root only: chroot and mount.
.PHONY: py313 test-py313 debootstrap
debootstrap:
	@command -v debootstrap >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq debootstrap; }

py313: debootstrap
	python3 -m devtools.py313 build

test-py313: py313 node web
	python3 -m devtools.py313 run -- pytest -m "not browser and not packaging and not faults and not demo_cluster" \
		-p no:cacheprovider $(PYTEST_ARGS)

# The suite against the lowest versions pyproject.toml allows (keep the two in step; pydantic at [codegen]'s 2.14, which
# the suite needs) in its own virtualenv, without the browser tests: about 7 minutes, so not in `make test`; .ci/run
# runs it after `make test`. tests/packaging runs a server with every core dependency at its floor (pydantic 2.12).
LOWEST_VENV := .venv-lowest
LOWEST := python-socketio==5.16.3 python-engineio==4.13.2 redis==5.0.8 "pyjwt[crypto]==2.8.0" pydantic==2.14.0 \
	pydantic-settings==2.7.0 uvicorn==0.52.1 datamodel-code-generator==0.89.0

$(LOWEST_VENV)/.installed: pyproject.toml Makefile
	test -x $(LOWEST_VENV)/bin/python || python3 -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST_VENV)/bin/python -m pip install --quiet -e ".[test,docs]" $(LOWEST)
	touch $@

.PHONY: test-lowest
test-lowest: $(LOWEST_VENV)/.installed node redis-server web
	$(LOWEST_VENV)/bin/pytest -m "not browser and not packaging and not faults and not demo_cluster" $(PYTEST_ARGS)
