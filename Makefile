# The two commands of the README: `make up` runs the service, `make test` runs every check and test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test install install-dev lint bench smoke

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps -e examples/gateways/bank_transfer

up: install
	$(BIN)/billing up

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services tests examples bench

test: lint
	$(BIN)/pytest

bench: install-dev
	$(BIN)/python bench/payments.py

smoke: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python ../shared/tools/contract_smoke.py
