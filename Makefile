# The commands developers type. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
export VIRTUAL_ENV := $(VENV)
export PATH := $(BIN):$(PATH)
export PYO3_PYTHON := $(BIN)/python

.PHONY: help install install-runtime lock build-dev build-runtime build-prod format lint servers test test-rust test-python docs docs-check bench bench-peers demo wheel wheels wheel-smoke clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One .venv, two markers: .runtime (requirements/runtime.lock: what `make demo` needs) and
# .installed (requirements/dev.lock: everything `make test` needs, a superset with the same
# pins). A venv made by `make demo` has no .installed, so `make test` completes it first.
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check

$(VENV)/.runtime: requirements/runtime.lock | $(BIN)/python
	$(PIP) 'pip==26.3'
	$(PIP) -r requirements/runtime.lock
	touch $@

$(VENV)/.installed: requirements/dev.lock | $(BIN)/python
	$(PIP) 'pip==26.3'
	$(PIP) -r requirements/dev.lock
	touch $@ $(VENV)/.runtime

install: $(VENV)/.installed ## create .venv and install the locked dev dependencies

install-runtime: $(VENV)/.runtime ## create .venv with only what the demo needs (requirements/runtime.lock)

lock: ## re-resolve requirements/dev.lock and runtime.lock from pyproject.toml (needs uv)
	uv pip compile pyproject.toml --all-extras --group pyproject.toml:dev -o requirements/dev.lock --python-version 3.11
	uv pip compile pyproject.toml --extra claude --extra openai --extra gemini --extra emulator -c requirements/dev.lock -o requirements/runtime.lock --python-version 3.11
	echo 'maturin==$(shell sed -n 's/^maturin==//p' requirements/dev.lock)' >> requirements/runtime.lock

build-dev: install ## build the extension (debug) and install the package editable into .venv
	maturin develop -q

# `maturin develop` would also install the dev dependency group: the runtime build compiles the
# extension in place and puts python/ on the venv's path instead.
build-runtime: install-runtime ## build the extension (debug) into a runtime-only .venv (the demo's)
	maturin develop -q --skip-install
	$(BIN)/python -c 'import site, pathlib; pathlib.Path(site.getsitepackages()[0], "automatosx-dev.pth").write_text("$(CURDIR)/python\n")'

build-prod: install ## build the extension (release, fat LTO) into .venv
	maturin develop -q --release

format: install ## format Rust and Python
	cargo fmt
	ruff format python tests benches
	ruff check --fix python tests benches

lint: build-dev ## ruff, mypy --strict, stubtest, clippy, rustfmt, workflow checks
	ruff format --check python tests benches
	ruff check python tests benches
	mypy
	python -m mypy.stubtest automatosx._core --allowlist .stubtest-allowlist
	cargo fmt --check
	cargo clippy --all-targets -q -- -D warnings
	cargo clippy --all-targets --features python -q -- -D warnings
	check-jsonschema -q --builtin-schema vendor.github-workflows .github/workflows/*.yml
	zizmor --offline -q .github/workflows

test-rust: ## cargo test of the pure core (no libpython)
	cargo test -q

servers: ## check PostgreSQL and redis-server are installed (apt-get installs them if missing; the tests start their own)
	bash scripts/ensure-servers.sh

test-python: build-dev servers ## pytest with coverage
	python -m pytest -q --cov --cov-report=term --cov-fail-under=90

test: test-rust test-python lint docs ## everything CI runs

docs: install ## the documentation site into site/ (mkdocs --strict; fails on a raw :role: left in the HTML)
	NO_MKDOCS_2_WARNING=1 PYTHONPATH=$(CURDIR)/python mkdocs build --strict -f mkdocs.yml
	python scripts/check_docs_html.py site

docs-check: docs ## render the built pages in headless Chromium; screenshots in site-shots/
	bash scripts/docs-check.sh site site-shots

bench: build-prod servers ## the benchmarks (release build); ends with PASS/MISS per budget (docs/performance.md)
	python -m pytest benches -q --benchmark-enable --benchmark-columns=median,iqr,ops,rounds --benchmark-sort=name -p no:randomly
	python benches/startup.py
	python benches/open_stall.py
	python benches/bench_hedging.py
	python benches/bench_telemetry.py
	python benches/bench_shared.py
	python benches/bench_cache.py
	python benches/bench_sticky.py
	python benches/bench_budgets.py
	python benches/failover_scenarios.py
	python benches/bench_store_postgres.py --runs 3
	python benches/bench_features.py
	python benches/bench_before.py

demo: build-runtime ## the offline demo: emulator + SQLite, nothing to configure (runtime deps only)
	python -m automatosx.cli demo

# --zig links against glibc 2.17 from zig's own libc headers, so the wheel is manylinux2014 on any
# host without the manylinux Docker image; one abi3 wheel serves CPython >= 3.10. The old
# artifacts go first so check-wheel.sh checks what was just built; the sdist before the wheel
# (outside a git checkout maturin would pack dist/ into it). Extra checks: STRICT=1,
# SDIST_BUILD=1 (see scripts/check-wheel.sh).
wheel: install ## a release abi3 manylinux2014 wheel (via zig) + sdist in dist/, checked in a clean venv
	rm -f dist/automatosx-*.whl dist/automatosx-*.tar.gz
	maturin sdist -o dist
	maturin build --release --zig --compatibility manylinux2014 -o dist
	bash scripts/check-wheel.sh

# Every wheel this machine can build: x86_64 and aarch64 (cross, Debian's rustc-web with the
# arm64 standard library through multiarch, zig as linker) manylinux2014 abi3, and the sdist.
# apt-get installs the toolchain when missing (docs/guides/platforms.md). Not part of `make test`.
wheels: install ## every wheel this machine builds (x86_64 + aarch64 manylinux abi3) + sdist, into dist/
	bash scripts/build-wheels.sh

# check-wheel.sh on each wheel in dist/, then its smoke test (import, Rust core, one request to
# the emulator) run by a CPython of the wheel's own architecture: aarch64 under qemu-user.
wheel-smoke: install ## check and smoke-test each wheel in dist/ (aarch64 under qemu-user; after make wheels)
	bash scripts/smoke-wheels.sh

# LiteLLM side by side with automatosx (benches/peer_litellm.py). LiteLLM is no dependency: it
# gets a throwaway venv of its own, pinned here and to requirements/dev.lock (same openai SDK).
PEERS_VENV := $(CURDIR)/.venv-peers
LITELLM_VERSION := 1.110.2
$(PEERS_VENV)/.installed: requirements/dev.lock
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install -q --disable-pip-version-check -c requirements/dev.lock 'litellm==$(LITELLM_VERSION)' openai
	touch $@

bench-peers: build-prod $(PEERS_VENV)/.installed ## automatosx vs LiteLLM: added time per call, import, RSS (docs/performance.md)
	LITELLM_PYTHON=$(PEERS_VENV)/bin/python python benches/peer_litellm.py

clean: ## remove build outputs and the virtualenv
	rm -rf .venv .venv-peers target dist site site-shots .mypy_cache .ruff_cache .pytest_cache .benchmarks .coverage
