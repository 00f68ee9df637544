# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export CHECKPOINT_DISABLE := 1
export NO_COLOR := 1

CHECKOV := .cache/checkov-venv/bin/checkov

.PHONY: install services checkov test lint demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[sandbox,dev]'
	$(BIN)/python -m compileall -q cosydeploy
	touch $(STAMP)

services:
	scripts/services.sh up

# checkov pins an older boto3, so it gets a virtualenv of its own.
checkov: $(CHECKOV)

$(CHECKOV):
	$(PYTHON) -m venv .cache/checkov-venv
	.cache/checkov-venv/bin/pip install -q 'checkov==3.3.30'

test: install services checkov
	$(BIN)/ruff check cosydeploy tests benchmarks tools
	# One process per tier: moto keeps its state per process, and the sandbox's
	# rollout driver must not see the other tiers' services. Tiers that wait more than
	# they compute run side by side (scripts/tiers.sh; each log printed whole when its
	# tier ends). The first four: units and CI checks; terraform
	# validate and plan of every stack, offline, with the stand-in providers; the
	# pipeline against a moto server; the sandbox itself (the only one of them with
	# containers).
	scripts/tiers.sh \
	  "$(BIN)/pytest -p no:cacheprovider tests/unit tests/ci" \
	  "$(BIN)/pytest -p no:cacheprovider tests/terraform --timeout 600" \
	  "$(BIN)/pytest -p no:cacheprovider tests/integration" \
	  "$(BIN)/pytest -p no:cacheprovider tests/sandbox"
	# Whole releases through a sandbox, each scenario on its own clients. Two pytest
	# workers, a sandbox each, a test file at a time (the tier mostly waits on rollouts:
	# about 6.5 minutes instead of 13). --durations: where a slow run's time went.
	$(BIN)/pytest tests/e2e -n 2 --dist loadfile --durations=15
	# 200 clients on paper (a sandbox whose tasks start no container): a fleet release,
	# status.
	$(BIN)/pytest tests/paper --timeout 480 --durations=5
	# The README fault table cell by cell, SIGKILL at seeded random moments, a held lock: a sandbox.
	$(BIN)/pytest tests/faults --durations=10
	# Side by side, a sandbox each: the CLI in a real terminal (tmux), read back from the
	# screen; the wheel installed into a fresh virtualenv, run from a project of its own;
	# the GitHub workflows run by act on this host against the sandbox, as their roles.
	scripts/tiers.sh \
	  "$(BIN)/pytest -p no:cacheprovider tests/tty" \
	  "$(BIN)/pytest -p no:cacheprovider tests/installed" \
	  "$(BIN)/pytest -p no:cacheprovider tests/workflows --timeout 1500"

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
