# One task runner. Every target creates or reuses the local virtualenv in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv lint test demo bench sim clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check bulkflow tests benchmarks
	$(BIN)/ruff format --check bulkflow tests benchmarks
	$(BIN)/mypy bulkflow

test: lint
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest -n 4 -m 'not timing'
	$(BIN)/coverage run -m pytest -m timing
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

demo: $(STAMP)
	$(BIN)/bulkflow run jobs/q4-segment-rollout.yaml --sim

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

sim: $(STAMP)
	$(BIN)/bulkflow sim --flows 1000 --connections 50

clean:
	rm -rf $(VENV) runs build .mypy_cache .pytest_cache .ruff_cache .coverage .coverage.*
