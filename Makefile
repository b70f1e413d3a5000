# Two commands on a fresh machine: `make demo` and `make test`. Both install what is missing, from PyPI and npm only.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps

export SOLCX_BINARY_PATH := $(CURDIR)/tools/solc
export APE_DATA_FOLDER := $(CURDIR)/.ape-data
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: deps demo test test-contracts test-anvil test-python lint format bench clean reliability fuzz case-study

deps: $(STAMPS)/python $(STAMPS)/npm $(STAMPS)/ipfs-rpc

$(STAMPS)/python: pyproject.toml constraints.txt
	@mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip install -q -c constraints.txt dm-tree
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt dp-accounting  # see pyproject: extra 'dp'
	@touch $@

$(STAMPS)/npm: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# js-ipfs with the Kubo RPC API, for the storage tests against a real node (tools/ipfs-rpc/README).
$(STAMPS)/ipfs-rpc: tools/ipfs-rpc/package.json tools/ipfs-rpc/package-lock.json
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error --prefix tools/ipfs-rpc
	@touch $@

# ape's incremental compile can keep bytecode older than an edited library or base contract: recompile all
# of it whenever any source changes.
CONTRACT_SOURCES := $(shell find contracts -name '*.sol') ape-config.yaml
$(STAMPS)/contracts: $(CONTRACT_SOURCES) $(STAMPS)/python $(STAMPS)/npm
	@mkdir -p $(STAMPS)
	$(BIN)/ape compile --force
	@touch $@

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the package's layers: imports point down only (pyproject [tool.importlinter])
	npx --no-install solhint --max-warnings 0 'contracts/**/*.sol'
	$(BIN)/python tools/slither_lint.py  # slither, every finding triaged in contracts/SLITHER.md

format: deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test-contracts: deps $(STAMPS)/contracts
	QFL_EXPECT_PROVIDER=test $(BIN)/ape test tests/contracts

test-anvil: deps $(STAMPS)/contracts
	QFL_EXPECT_PROVIDER=foundry $(BIN)/ape test tests/contracts --network ethereum:local:foundry

test-python: deps $(STAMPS)/contracts
	$(BIN)/python -m pytest tests/python

test: lint test-contracts test-anvil test-python

# docs/reliability.md: every fault and user mistake tried by the tests marked `fault`, with its outcome.
reliability: deps $(STAMPS)/contracts
	$(BIN)/python -m pytest tests/python -m fault --reliability-table docs/reliability.md

# The fuzz targets (hypothesis) over the weight codec and the CID parser, at length (20000 examples a test;
# FUZZ_EXAMPLES=N to change; an hour a test at most); `make test` runs them briefly (profile "ci", 200).
fuzz: deps
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/python/fuzz --timeout=3600

demo: deps $(STAMPS)/contracts
	$(BIN)/qflchain demo

# PennyLane (for the throughput comparison only) gets its own venv so it can never disturb the pinned set.
$(STAMPS)/bench: benchmarks/requirements-bench.txt pyproject.toml
	@mkdir -p $(STAMPS)
	test -x .venv-bench/bin/python || $(PY) -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q -r benchmarks/requirements-bench.txt
	.venv-bench/bin/python -m pip install -q --no-deps -e .
	@touch $@

bench: deps $(STAMPS)/bench
	$(BIN)/python -m benchmarks.run_all

# docs/case-study.md: QFLchain against its baselines on the four pillars (< 60 min here; `--quick` in the tests).
case-study: deps $(STAMPS)/contracts
	$(BIN)/python -m benchmarks.casestudy

clean:
	rm -rf .build .ape-data $(STAMPS) .pytest_cache .ruff_cache
