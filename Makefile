# Bosun developer entry points. Needs only Python 3.11 and make: the venv is created on first use and
# re-installed only when pyproject.toml changes (stamp files inside .venv).

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: up test clean-venv

up: $(VENV)/.stamp-run
	$(BIN)/bosun up $(ARGS)

test: $(VENV)/.stamp-test
	$(BIN)/pytest -q $(ARGS)

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
