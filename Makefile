# tradepit: `make run` and `make test` work on a fresh machine with Python 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SETTINGS ?= settings.toml

.PHONY: run test test-ray lint typecheck pytest bench check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/tradepit run $(SETTINGS)

check: $(VENV)/.installed
	$(BIN)/tradepit check $(SETTINGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest

test: lint typecheck pytest

# Ray is an optional extra (tradepit[ray]), heavy to install and to start: its
# tests run here, in a venv of their own, not in `make test`.
RAY_VENV := .venv-ray
test-ray:
	$(PYTHON) -m venv $(RAY_VENV)
	$(RAY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RAY_VENV)/bin/python -m pip install --quiet -e '.[dev,ray]'
	$(RAY_VENV)/bin/pytest -m ray tests/test_ray_trials.py

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.run --output BENCHMARKS.md

clean:
	rm -rf $(VENV) $(RAY_VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
