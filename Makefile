# Steward — the two commands a newcomer needs are `make run` and `make test`.

CARGO      ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
STEWARD    := $(TARGET_DIR)/release/steward

.PHONY: run build migrate test browser-deps lint fmt layering bench bench-inprocess fuzz-api

DEMO_CONFIG ?= config/demo.toml

## run: build (release), migrate and seed the demo into data/steward.db, serve on 127.0.0.1:8080
run: build
	$(STEWARD) --config $(DEMO_CONFIG) migrate
	$(STEWARD) --config $(DEMO_CONFIG) demo
	$(STEWARD) --config $(DEMO_CONFIG) serve

build:
	$(CARGO) build --release --bin steward

## migrate: apply pending migrations to the configured database (default data/steward.db)
migrate: build
	$(STEWARD) migrate

## test: every test on SQLite and PostgreSQL (PostgreSQL cases skip without a server unless STEWARD_REQUIRE_POSTGRES=1)
test: browser-deps
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

## browser-deps: the browser tests' npm packages, when Node is here (the tests skip without them and Chromium)
browser-deps:
	@if command -v npm >/dev/null 2>&1 && [ ! -d tests/browser/node_modules ]; then \
		cd tests/browser && npm ci --no-audit --no-fund --loglevel=error; \
	fi

## bench: the gateway against the LiteLLM proxy (pinned, in a venv) in front of one nginx upstream, with wrk, on SQLite and PostgreSQL; uses the release binary, rebuilds nothing else
bench: build
	python3 scripts/bench_gateway.py

## bench-inprocess: the in-process benches (gateway overhead, search over 10,000 properties, conversation turns); these build the workspace in the bench profile
bench-inprocess:
	$(CARGO) bench -p system-tests --bench gateway_overhead
	$(CARGO) bench -p system-tests --bench search
	$(CARGO) bench -p system-tests --bench conversation

## fuzz-api: schemathesis (pinned, in a venv) against a live server on SQLite and PostgreSQL: every operation, 0 failures
fuzz-api:
	bash scripts/fuzz_api.sh

## lint: formatting, clippy with warnings denied, and the layering check
lint: layering
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

layering:
	python3 scripts/check_layering.py --self-test
	python3 scripts/check_layering.py

## fmt: format the code
fmt:
	$(CARGO) fmt --all
