# querydeck — the README's two commands, and a few more.
# Everything installs from the project's own files: uv comes from PyPI into .tools/
# when it is not on PATH, and uv never downloads a Python (the machine's python3 is used).

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

.PHONY: run test lint typecheck bench install clean docs

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Bytecode is compiled at install time (the dependencies by uv, querydeck's own modules by
# compileall): where PYTHONDONTWRITEBYTECODE is set, every process would otherwise compile
# every module it imports again (each CLI, server and test subprocess).
install: $(UV)
	$(UV) sync --frozen --quiet --compile-bytecode
	$(UV) run --frozen python -m compileall -q src > /dev/null

run: install
	$(UV) run --frozen querydeck serve

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports

typecheck: install
	$(UV) run --frozen mypy

test: lint typecheck
	$(UV) run --frozen pytest -p no:cacheprovider -n 2 --dist loadfile --cov=querydeck --cov-branch \
		--cov-report=term --cov-fail-under=90 $(PYTEST_ARGS)

bench: install
	$(UV) run --frozen python -m bench

docs: install
	$(UV) run --frozen python -m querydeck.reference
	$(UV) run --frozen typer querydeck.cli utils docs --name querydeck --output .cli-reference.md
	sed -n '1,/^<!-- generated reference below -->$$/p' docs/cli.md > .cli-head.md
	cat .cli-head.md .cli-reference.md > docs/cli.md
	rm -f .cli-head.md .cli-reference.md

clean:
	rm -rf .tools .venv .coverage .coverage.* .mypy_cache .ruff_cache
