# ThaiNguyen ID — the two commands: `make demo` (run it) and `make test` (prove it).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000

.PHONY: demo test lint install system-deps translations clean interop bench bench-staff bench-import

$(BIN)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || scripts/ensure-system-deps venv
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || scripts/ensure-system-deps venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,postgres,redis]"
	@touch $@

install: $(BIN)/.installed

## demo: install, create the SQLite database in instance/, then clients_example/run_demo.py seeds
## the demo accounts (`tnid demo`), serves ThaiNguyen ID on :5000 and the example apps (portal :5001,
## health records :5002, market :5003), prints every URL and credential; Ctrl-C stops them all
demo: install
	$(BIN)/tnid init
	$(BIN)/python -m clients_example.run_demo --port $(PORT)

## test: lint, then the whole suite on SQLite and on a throw-away PostgreSQL, browser tests included
test: install system-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest --db=sqlite
	$(BIN)/python -m pytest --db=postgresql

system-deps:
	@scripts/ensure-system-deps

## interop: pyoidc (OpenID Certified RP) signs in to a running `make demo` with every client auth method
interop: install
	$(BIN)/python scripts/interop-check

## bench: the OIDC hot endpoints (SQLite, then PostgreSQL) and password sign-in, through gunicorn pinned to vCPU 0
bench: install system-deps
	$(BIN)/python bench/oidc_endpoints.py --db sqlite
	$(BIN)/python bench/oidc_endpoints.py --db postgresql
	$(BIN)/python bench/password_signin.py --db sqlite

## bench-staff: console search (CCCD, phone, name prefix) and citizen page with 1.3 million citizens
bench-staff: install system-deps
	$(BIN)/python bench/staff_search.py --db sqlite
	$(BIN)/python bench/staff_search.py --db postgresql

## bench-import: tnid citizens import of 1.3 million generated citizens (SQLite, then PostgreSQL)
bench-import: install system-deps
	$(BIN)/python bench/import_citizens.py --db sqlite
	$(BIN)/python bench/import_citizens.py --db postgresql

lint: install
	$(BIN)/ruff check .

translations: install
	scripts/translations all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache test-artifacts
