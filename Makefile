# Sequestra: set up, run the demo, run the tests, run the benchmarks.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
DEMO_ARGS ?=
# The dashboard's port (`make demo PORT=8081`); empty: the demo's default, 8080.
PORT ?=

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# npm ci installs exactly what package-lock.json records and never rewrites it (npm install
# would add other platforms' optional anvil packages to the tracked lock file).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

setup: $(STAMP) $(NODE_STAMP)

demo: setup
	$(BIN)/sequestra-sandbox demo $(if $(PORT),--port $(PORT)) $(DEMO_ARGS)

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
