# Lành Mạnh - developer entry points. CI runs `make test` (via .ci/run).
#
#   make install            create .venv and install the project (+ test extras)
#   make test               full suite against a throwaway PostgreSQL + Kafka
#   make unit               unit tests only (no infrastructure)
#   make test PYTEST_ARGS='-k outbox -x'   extra pytest arguments
#   make pg-up / pg-down / kafka-up / kafka-down   manage the local infrastructure

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv install run test unit lint bench kafka-up kafka-down pg-up pg-down clean

help:
	@sed -n '1,8p' Makefile

venv: $(BIN)/python

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: venv $(STAMP)

# Reinstall only when the dependency declarations change.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --progress-bar off -c constraints.txt -e '.[test]'
	touch $@

run: install
	$(BIN)/lanhmanh run

test:
	bash deploy/scripts/test.sh $(PYTEST_ARGS)

unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: install
	$(BIN)/lint-imports
	$(BIN)/python -m pyflakes chassis contracts services bench tests

bench: install
	bash bench/run.sh

kafka-up:
	bash deploy/kafka/broker.sh start

kafka-down:
	bash deploy/kafka/broker.sh stop

pg-up:
	bash deploy/scripts/postgres.sh start

pg-down:
	bash deploy/scripts/postgres.sh stop

clean:
	rm -rf $(VENV) var .cache
