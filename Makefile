# Sequestra: set up, run the demo, run the tests, run the benchmarks.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
DEMO_ARGS ?=

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund
	touch $(NODE_STAMP)

setup: $(STAMP) $(NODE_STAMP)

demo: setup
	$(BIN)/sequestra-sandbox demo $(DEMO_ARGS)

test: setup lint
	scripts/ensure-postgres
	scripts/ensure-chromium
	SEQUESTRA_REQUIRE_ANVIL=1 SEQUESTRA_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -n 2 -q

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m mypy src
	$(BIN)/lint-imports

bench: setup
	scripts/ensure-postgres
	mkdir -p bench/results
	$(BIN)/python bench/ledger_bench.py | tee bench/results/ledger.json
	$(BIN)/python bench/tlog_bench.py | tee bench/results/tlog.json
	$(BIN)/python bench/custody_bench.py | tee bench/results/custody.json
	$(BIN)/python bench/watch_bitcoin_bench.py | tee bench/results/watch_bitcoin.json
	$(BIN)/python bench/watch_ethereum_bench.py | tee bench/results/watch_ethereum.json
	$(BIN)/python bench/revalue_bench.py --output bench/results/revalue.json
	$(BIN)/python bench/fund_bench.py --output bench/results/fund.json
	$(BIN)/python bench/report_bench.py --output bench/results/report.json
	$(BIN)/python bench/api_bench.py --output bench/results/api.json
	$(BIN)/python bench/api_bench.py --database postgresql --output bench/results/api-postgresql.json

clean:
	rm -rf $(VENV) var .pytest_cache node_modules
