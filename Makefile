# One entry point for the common tasks. `make demo` and `make test` are the README's quick start;
# each installs what it needs on a fresh Debian machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export ONNXRUNTIME_NODE_INSTALL := skip
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

VENV := .venv
PY := $(VENV)/bin/python
RESULTS := test-results
PYTHON_SOURCES := kernel-bridge scripts fixtures demo examples ui-tests jupyter-config bench

# Shell code: apt-get install $(1), as root or through sudo (a fresh Debian machine has neither
# chromium nor, often, python3-venv).
define apt_install
if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null; then sudo=sudo; \
else echo "make: installing $(1) needs root or sudo" >&2; exit 1; fi; \
$$sudo apt-get update -q && \
$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(1)
endef

.PHONY: help setup setup-export setup-ray system-deps node build demo demo-offline lab test test-suites test-js test-py test-ui lint bench clean

help:
	@echo "make demo    prune SmolLM2-135M-Instruct into an English·computing·QA expert, evaluate it against the baselines"
	@echo "             (DEMO_MODEL=gemma3: Gemma 3 270M into a German·computing·QA expert; DEMO_MODEL=embedded: offline)"
	@echo "make demo-offline  the same on the embedded 2.9M model, German·computing·QA, with nothing to fetch"
	@echo "make lab     start JupyterLab with cusprun enabled"
	@echo "make test    run every test suite (lint, jest, pytest, Galata) and print 'N passed, N failed'"
	@echo "make bench   run the benchmarks (bench/, scoring on Ray, and the panel slider in ui-tests/bench/)"
	@echo "make setup   install npm packages, build, make the project venv with cusprun installed"

node_modules/.package-lock.json: package-lock.json package.json src/sidecar/package.json
	npm ci --no-audit --no-fund

node: node_modules/.package-lock.json

build: node
	npm run build

$(PY): requirements-dev.txt
	@python3 -c 'import ensurepip' 2>/dev/null || { $(call apt_install,python3-venv); }
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(PY)

# The wheel refuses to build without the labextension, so `build` comes first; installing the
# wheel (not an editable install) puts the labextension and the server config where Jupyter looks.
setup: build $(PY)
	$(PY) -m pip install --quiet --no-build-isolation --no-deps --force-reinstall .

# Debian's chromium for Galata (Playwright cannot download a browser here).
system-deps:
	@[ -x /usr/bin/chromium ] || { $(call apt_install,chromium fonts-liberation); }

# `cusprun export` needs the export extra: CPU torch first (pinned, or pip takes a CUDA build),
# then the extra's other packages. The demos on real weights export their model once.
EXPORT_EXTRA := $(VENV)/.export-extra
$(EXPORT_EXTRA): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --no-build-isolation '.[export]'
	touch $@

setup-export: setup $(EXPORT_EXTRA)

# Scoring on Ray (kernel-bridge/cusprun/distributed.py) needs the ray extra; its tests start a
# local Ray cluster.
RAY_EXTRA := $(VENV)/.ray-extra
$(RAY_EXTRA): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --no-build-isolation '.[ray]'
	touch $@

setup-ray: setup $(RAY_EXTRA)

# DEMO_MODEL: smollm2 (default), gemma3, or embedded (the 2.9M model in demo/model, offline).
DEMO_MODEL ?= smollm2
demo: $(if $(filter embedded,$(DEMO_MODEL)),setup,setup-export)
	DEMO_MODEL=$(DEMO_MODEL) bash demo/expert.sh

demo-offline:
	$(MAKE) --no-print-directory demo DEMO_MODEL=embedded

lab: setup
	$(VENV)/bin/jupyter lab --config=jupyter-config/demo_config.py

# The tests of `cusprun export` need the export extra (CPU torch), and those of scoring on Ray the
# ray extra, so `test-suites` installs both.
# `test-suites` runs every step even when an earlier one fails (a failed setup counts as one
# failed test, like lint) and leaves the results in $(RESULTS); the summary prints the closing line
# `N passed, N failed` and decides the exit status. .ci/run calls the two itself, so that nothing
# (not even make's "*** Error" line) follows the closing line.
test: test-suites
	@python3 scripts/summarize_tests.py $(RESULTS)

test-suites:
	rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	$(MAKE) --no-print-directory setup-export setup-ray system-deps; echo $$? > $(RESULTS)/setup.rc
	$(MAKE) --no-print-directory lint; echo $$? > $(RESULTS)/lint.rc
	-$(MAKE) --no-print-directory test-js
	-$(MAKE) --no-print-directory test-py
	-$(MAKE) --no-print-directory test-ui

lint:
	npm run --silent lint
	$(VENV)/bin/ruff format --check $(PYTHON_SOURCES)
	$(VENV)/bin/ruff check $(PYTHON_SOURCES)

test-js:
	mkdir -p $(RESULTS)
	npx jest --ci --json --outputFile=$(RESULTS)/jest.json

test-py:
	mkdir -p $(RESULTS)
	$(VENV)/bin/pytest -q --junitxml=$(RESULTS)/pytest.xml

test-ui: system-deps
	mkdir -p $(RESULTS)
	cd ui-tests && npx playwright test

bench: setup system-deps $(RAY_EXTRA)
	npm run --silent bench
	$(PY) bench/ray_scoring.py
	mkdir -p $(RESULTS)
	cd ui-tests && npx playwright test -c playwright.bench.config.js

clean:
	npm run clean
	rm -rf $(VENV) $(RESULTS)
