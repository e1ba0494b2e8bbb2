# Two commands on a fresh machine with only Python and pip:
#   make demo   build the virtual environment, install, run the main job on the embedded default
#   make test   the same install, then the whole test suite
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.nanosearch-installed

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/nanosearch demo

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/search_bench.py

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
