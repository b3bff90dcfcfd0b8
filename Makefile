# One entry point for the common tasks. `make demo` and `make test` are the README's quick start;
# each installs what it needs on a fresh Debian machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export ONNXRUNTIME_NODE_INSTALL := skip
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

VENV := .venv
PY := $(VENV)/bin/python
DEMO_MODEL ?= fixtures/models/llama/torchscript
RESULTS := test-results

.PHONY: help setup system-deps venv node build demo test test-js test-py test-ui lint bench fixtures clean

help:
	@echo "make demo    inspect the embedded default model, then start JupyterLab with cusprun enabled"
	@echo "make test    run every test suite (lint, jest, pytest, Galata) and print 'N passed, N failed'"
	@echo "make bench   run the benchmarks in bench/"
	@echo "make setup   install npm packages, build, and make the project venv"

node_modules/.package-lock.json: package-lock.json package.json src/sidecar/package.json
	npm ci --no-audit --no-fund

node: node_modules/.package-lock.json

build: node
	npm run build

$(PY): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(PY)

venv: $(PY)

# The labextension must exist before the package is installed: the wheel refuses to build without it.
setup: build venv
	$(PY) -m pip install --quiet --no-build-isolation -e .
	$(VENV)/bin/jupyter labextension develop --overwrite .

demo: setup
	npm run --silent cusprun -- inspect $(DEMO_MODEL)
	$(VENV)/bin/jupyter lab --config=jupyter-config/demo_config.py

test: setup system-deps
	rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	-$(MAKE) --no-print-directory lint; echo $$? > $(RESULTS)/lint.rc
	-$(MAKE) --no-print-directory test-js
	-$(MAKE) --no-print-directory test-py
	-$(MAKE) --no-print-directory test-ui
	$(PY) scripts/summarize_tests.py $(RESULTS)

lint: node venv
	npm run --silent lint
	$(VENV)/bin/ruff format --check kernel-bridge scripts fixtures
	$(VENV)/bin/ruff check kernel-bridge scripts fixtures

test-js: build
	npx jest --ci --json --outputFile=$(RESULTS)/jest.json

test-py: setup
	$(VENV)/bin/pytest -q kernel-bridge/tests --junitxml=$(RESULTS)/pytest.xml

test-ui: setup system-deps
	cd ui-tests && npx playwright test

bench: node
	npm run --silent bench

clean:
	npm run clean
