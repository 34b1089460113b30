# Bosun developer entry points. Needs only Python 3.11 and make: the venv is created on first use and
# re-installed only when pyproject.toml changes (stamp files inside .venv).

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: up test lint browser clean-venv

up: $(VENV)/.stamp-run
	$(BIN)/bosun up $(ARGS)

# Replicas run as other users when root runs the suite: from a checkout they cannot enter (inside a `0700`
# directory), the suite runs from a copy they can (tests/reachable.py).
test: lint browser
	@if $(BIN)/python tests/reachable.py; then $(BIN)/pytest -q -n 2 --dist loadfile $(ARGS); else \
	  dest=$$($(BIN)/python tests/reachable.py --stage) && echo "replicas cannot enter this checkout: the suite runs from $$dest" && \
	  cd "$$dest" && $(CURDIR)/$(BIN)/pytest -q -n 2 --dist loadfile $(ARGS); fi

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
