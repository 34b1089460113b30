# Bosun developer entry points. Needs only Python 3.11 and make: the venv is created on first use and
# re-installed only when pyproject.toml changes (stamp files inside .venv).

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: up test lint browser clean-venv

up: $(VENV)/.stamp-run
	$(BIN)/bosun up $(ARGS)

test: lint browser
	$(BIN)/pytest -q -n 2 --dist loadfile $(ARGS)

# ruff (rules in pyproject.toml), mypy --strict on core/ actors/ projections/, and the import-linter
# contracts: layers cli -> gateway -> analysis -> projections -> actors -> core, dataplane and supervisor on core only,
# pure modules without I/O, no import cycles.
lint: $(VENV)/.stamp-test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The dashboard's browser tests drive Debian's headless Chromium through its chromedriver (nothing is
# downloaded at run time); install both when missing (CI runs as root with apt reachable).
browser:
	command -v chromedriver >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# The test extras include the runtime dependencies, so they satisfy `make up` as well.
$(VENV)/.stamp-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.stamp-run

clean-venv:
	rm -rf $(VENV)
