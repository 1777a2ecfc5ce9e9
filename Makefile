# The two commands of the README: `make demo` and `make test`. Both create .venv when
# needed and install what they need, idempotently (a stamp per install set, redone
# when pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: demo test bench lint typecheck clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "opsloop needs Python >= 3.11; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.core.stamp: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.test.stamp: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.core.stamp

demo: $(VENV)/.core.stamp
	$(BIN)/opsloop demo $(ARGS)

lint: $(VENV)/.test.stamp
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

typecheck: $(VENV)/.test.stamp
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# `make bench` runs both benchmarks, tracking then registry (BENCH=registry: one of them);
# ARGS go to each. Both run even if the first fails; the first failure's status wins.
BENCH ?= tracking registry
bench: $(VENV)/.test.stamp
	@rc=0; for b in $(BENCH); do \
	  echo "$(BIN)/python bench/$$b.py $(ARGS)"; \
	  $(BIN)/python bench/$$b.py $(ARGS) || { s=$$?; [ $$rc -ne 0 ] || rc=$$s; }; \
	done; exit $$rc

clean:
	rm -rf $(VENV) bench/.venvs .mypy_cache .ruff_cache .pytest_cache .hypothesis
