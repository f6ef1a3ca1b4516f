# Two commands matter: `make demo` (the main job) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint typecheck unit bench emulator clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The main job: emulator + example DAG through `airflow dags test`, output rows printed.
demo: $(STAMP)
	$(BIN)/python scripts/demo.py

## Everything CI runs: lint, type checks, the whole test suite.
test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/emulator_load.py
	$(BIN)/python benchmarks/trigger_fanout.py

emulator: $(STAMP)
	$(BIN)/axiom-emulator --port 8099 --scenario demo

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache
