# The two commands: `make run` (serve the demo) and `make test` (lint, types, tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test check fuzz bench-ingest bench-setup bench-routing fast sim-speed clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Serve convroute on 127.0.0.1:8080 with SQLite in var/, a demo account and demo routes,
## on the compiled routing engine (built first, once: ~35 s; from the source if it fails).
run: $(STAMP)
	@mkdir -p var
	@if $(MAKE) --no-print-directory fast; then fast=build/fast; else fast=; \
	  echo "convroute: the compiled routing engine did not build; serving from the source"; fi; \
	PYTHONPATH=$$fast $(BIN)/convroute serve --demo --database-url sqlite:///var/convroute.db

## Lint, format check, strict types, then the test suite on two workers (pytest-xdist; a
## file's tests stay together in one worker, so its fixtures are built once), and last, alone,
## the tests that play a scenario faster than real time (a busy second worker slows their
## pace and with it what they measure).
test: $(STAMP) check
	$(BIN)/pytest -n 2 --dist loadfile -m "not paced"
	$(BIN)/pytest -m paced

check: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

## The API fuzzer (schemathesis over /openapi.json, every dialect) at 200 cases an operation.
fuzz: $(STAMP)
	FUZZ_EXAMPLES=200 $(BIN)/pytest tests/api/test_fuzz.py -s -p no:cacheprovider

## Durable-ingest benchmark against a server it starts itself (see docs/benchmarks.md).
bench-ingest: $(STAMP)
	$(BIN)/python -m benchmarks.ingest

## The optional benchmark dependencies (SMPyBandits, matplotlib) in .venv.
bench-setup: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'

## The routing engine and the simulator compiled with mypyc into build/fast (same results,
## ~2.5x faster; see docs/benchmarks.md). Built again when a source file changed.
FAST := build/fast/.built
$(FAST): $(STAMP) $(shell find src/convroute -name '*.py')
	$(BIN)/python -m benchmarks.compiled --out build/fast
	@touch $@

fast: $(FAST)

## Routing benchmark: every policy, the oracle and SMPyBandits on every scenario (compiled).
bench-routing: bench-setup $(FAST)
	PYTHONPATH=build/fast $(BIN)/convroute bench routing --seeds 20 --smpy-seeds 2 --jobs 2 --out docs/benchmarks

## Simulator speed: S2 stretched to 1,000,000 messages with the default policy (compiled).
sim-speed: $(FAST)
	PYTHONPATH=build/fast $(BIN)/python -m benchmarks.sim_speed --messages 1000000

clean:
	rm -rf $(VENV) var build .mypy_cache .ruff_cache .pytest_cache
