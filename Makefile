# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export CHECKPOINT_DISABLE := 1
export NO_COLOR := 1

.PHONY: install services test lint demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[sandbox,dev]'
	touch $(STAMP)

services:
	scripts/services.sh up

test: install services
	$(BIN)/ruff check cosydeploy tests benchmarks
	$(BIN)/pytest tests

lint: install
	$(BIN)/ruff check cosydeploy tests benchmarks
	$(BIN)/ruff format --check cosydeploy tests benchmarks
	$(BIN)/mypy cosydeploy

demo: install services
	scripts/demo.sh

bench: install services
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .cache .pytest_cache
