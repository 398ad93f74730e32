# Two commands from a fresh machine: `make demo` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The CPU build this machine's pip serves; pyproject keeps `torch>=2.2` so a GPU user can bring another.
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test lint bench bench-setup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev]"
	@# TransformerLens 4 removed HookedTransformer: a side install of TransformerLens 2 (its
	@# dependencies are TransformerLens 4's) lets the tests load TL2 models in a subprocess
	$(BIN)/pip install -q --no-deps --target $(VENV)/tl2 "transformer-lens==2.18.0" "better_abc==0.0.3"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/mechequiv study --out mechequiv-study

test: $(VENV)/.installed-dev
	@# the report's browser test needs Debian's chromium; without it that test skips, saying why
	-@scripts/ensure_chromium.sh
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	@# strict static types on src/ ([tool.mypy] in pyproject.toml): a missing name fails here
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# The peers the benchmarks compare against (pyproject's `bench` extra: rsatoolbox, pytorch-cka,
# pytest-benchmark); `make test` never needs them.
$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(BIN)/pip install -q -e ".[bench]"
	touch $@

bench-setup: $(VENV)/.installed-bench

bench: $(VENV)/.installed-bench
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python benchmarks/bench_measures.py

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
