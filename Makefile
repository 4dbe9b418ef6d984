# Entry points for people and CI. `make demo` runs the main job on the sandbox; `make test` runs
# every test. Both set themselves up on a machine that has only Python 3.11+ and make.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := sandbox tap-adminpulse target-amlcare tap-amlcare target-adminpulse
PACKAGE_FILES := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
# pip learnt dependency groups (PEP 735) in 25.1.
PIP_VERSION := 26.3

.PHONY: help install plugins orchestrator demo test lint format sandbox-start sandbox-stop clean bench

help:
	@echo "make demo     run the nightly import, then the outbound sync, on a seeded sandbox"
	@echo "make test     run every test (unit, sandbox, standard Singer tests, end-to-end)"
	@echo "make lint     ruff check and format check"
	@echo "make clean    remove the virtualenvs, Meltano's plugin installs and outputs"

$(BIN)/.installed: pyproject.toml $(PACKAGE_FILES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip==$(PIP_VERSION)"
	$(BIN)/python -m pip install --quiet --group dev $(foreach p,$(PACKAGES),-e ./$(p))
	touch $@

install: $(BIN)/.installed

# Meltano gives every plugin its own virtualenv under .meltano/; editable installs keep them
# pointing at the source folders, so only dependency changes need a reinstall. uv, Meltano's
# installer, leaves the bytecode to be compiled at first import; where PYTHONDONTWRITEBYTECODE
# is set (as in many CI images and containers) that would happen again at every start of every
# connector, about 0.4 s each, so it is compiled once here.
.meltano/.installed: $(BIN)/.installed meltano.yml $(PACKAGE_FILES)
	UV_COMPILE_BYTECODE=1 $(BIN)/meltano install
	touch $@

plugins: .meltano/.installed

# The Dagster example (orchestrate/) has a virtualenv of its own, so that Dagster's pins never
# meet the project's; its test loads the definitions from there.
orchestrate/.venv/.installed: orchestrate/requirements.txt
	$(PYTHON) -m venv orchestrate/.venv
	orchestrate/.venv/bin/python -m pip install --quiet "pip==$(PIP_VERSION)"
	orchestrate/.venv/bin/python -m pip install --quiet -r orchestrate/requirements.txt
	touch $@

orchestrator: orchestrate/.venv/.installed

demo: plugins
	$(BIN)/python scripts/demo.py

test: plugins orchestrator
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Figures for the README's Performance section: about 15 minutes for the default sizes, about an
# hour for all of them (BENCH_SIZES=1000,5000,10000,50000); JSON under benchmarks/results/.
BENCH_SIZES ?= 1000,5000
bench: plugins
	$(BIN)/python benchmarks/run.py --sizes $(BENCH_SIZES)

sandbox-start: install
	$(BIN)/amlsync-sandbox start

sandbox-stop: install
	$(BIN)/amlsync-sandbox stop

clean:
	rm -rf $(VENV) orchestrate/.venv .meltano output .sandbox .pytest_cache .ruff_cache .mypy_cache
