# Two commands matter: `make demo` and `make test`. Both set everything up themselves.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INFRA_VENV := .venv-infra

.PHONY: setup demo test lint typecheck unit bench clean infra-tools fuzz browser storm chaos replay

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium and its driver, for the report's browser test (tests/integration/test_report_browser.py). Idempotent: nothing
# happens when both are on the PATH; otherwise installed with apt (CI and the dev machines run as root).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

# Bicep parsing and checkov live in their own environment: checkov pins many packages of its own.
infra-tools: $(INFRA_VENV)/.installed

$(INFRA_VENV)/.installed: requirements-infra.txt
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check lifecycle demo function_app.py

typecheck: setup
	$(VENV)/bin/mypy

# PYTEST_ARGS narrows a run by hand (`make test PYTEST_ARGS="-k fanout"`); CI passes none. pytest's exit 5
# (no tests collected) fails the target like any other failure, and says so.
PYTEST_ARGS ?=
test: setup browser infra-tools lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS) || { rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing the run" >&2; fi; exit $$rc; }

unit: setup
	$(PY) -m pytest tests/unit

# Reliability suites at full size (`make test` runs a short version of each); each prints its figures.
fuzz: setup
	RELIABILITY_SCALE=full $(PY) -m pytest tests/reliability/test_fuzz_events.py \
		tests/reliability/test_fuzz_policies.py tests/reliability/test_hostile.py \
		tests/reliability/test_fuzz_integration.py tests/reliability/test_event_order.py

storm: setup
	RELIABILITY_SCALE=full $(PY) -m pytest tests/reliability/test_storm.py

# Fault seeds on one gallery (test_chaos) and on a fleet run as the Functions host runs it (test_fleet:
# timer, queue workers, Event Grid deliveries and operators at once). FLEET_INVARIANTS=all also fails on the
# invariants test_fleet.PENDING lists as not built yet.
chaos: setup
	RELIABILITY_SCALE=full $(PY) -m pytest tests/reliability/test_chaos.py tests/reliability/test_fleet.py

# The emulator held to the Azure CLI's recorded gallery traffic (docs/emulator.md); `make test` runs it too
# (tests/emulator/test_replay.py). REPLAY=path/to/cassettes replays others, e.g. a smoke --record folder.
REPLAY ?= ../shared/reference/cli-recordings
replay: setup
	$(PY) -m emulator replay $(REPLAY)

demo: setup
	$(PY) -m lifecycle demo

bench: setup
	$(PY) bench/cold_start.py
	$(PY) bench/sweep.py
	$(PY) bench/fleet.py
	$(PY) bench/report.py

clean:
	rm -rf $(VENV) $(INFRA_VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
