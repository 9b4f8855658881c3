# SkillSub: two commands. `make up` runs the platform; `make test` runs every test.
# Both install what they need into the project-local environment .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: up test test-all install install-test test-deps bench clean lint

up: $(STAMP)
	$(BIN)/skillsub up

# Everything but the tests marked slow (the 25-kill chaos run); `make test-all` adds them.
test: $(STAMP)-test test-deps
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)-test test-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/skillsub bench --certificates $${CERTIFICATES:-50000}

lint: $(STAMP)-test
	$(BIN)/ruff check shared services tests bench
	$(BIN)/mypy shared

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP)-test: $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

test-deps:
	bash scripts/test-deps.sh

clean:
	rm -rf $(VENV) .data
