# SkillSub: two commands. `make up` runs the platform; `make test` runs every test.
# Both install what they need into the project-local environment .venv first, at the exact
# versions (and hashes) of the lock files: requirements.lock (what the services run) and
# requirements-test.lock (that plus the test tools). `make lock` refreshes both.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
TEST_LOCK := requirements-test.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) $(TEST_LOCK) | sha1sum | cut -c1-12)
PYTEST_ARGS ?=
# The end-to-end faults CI runs once more on Apache Kafka (TEST_BROKER=apache), with the tests of
# what only Apache Kafka does (ACLs, a marker aged out of retention).
APACHE_TESTS ?= \
  "tests/e2e/test_platform_faults.py::test_platform_end_to_end_certificates_pushed_over_rest_are_decided_drafted_and_counted" \
  "tests/e2e/test_platform_faults.py::test_platform_consumer_killed_between_db_commit_and_offset_commit_applies_each_event_once" \
  "tests/e2e/test_platform_faults.py::test_platform_restart_with_events_in_flight_loses_nothing_and_doubles_nothing" \
  "tests/e2e/test_platform_faults.py::test_platform_broker_restart_mid_stream_relays_republish_and_nothing_is_lost" \
  "tests/e2e/test_chaos.py::test_consumers_killed_at_their_batch_points_with_broker_and_database_restarts_lose_and_double_nothing" \
  tests/e2e/test_storm.py tests/integration/test_kafka_acls.py tests/integration/test_outbox_marker.py

.PHONY: up test test-all test-apache install install-test test-deps bench clean lint lock kafka

up: $(STAMP)
	$(BIN)/skillsub up

# Everything but the tests marked slow (the 25-kill chaos run); `make test-all` adds them.
test: $(STAMP)-test test-deps
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)-test test-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The same tests on Apache Kafka (needs Java 17 and Maven; the broker comes from Maven Central).
test-apache: $(STAMP)-test kafka
	TEST_BROKER=apache $(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS) $(APACHE_TESTS)

kafka: $(STAMP)
	bash scripts/kafka.sh fetch

bench: $(STAMP)
	$(BIN)/skillsub bench --certificates $${CERTIFICATES:-50000}

# ruff over everything; mypy over shared/ and the pure domain modules (no I/O; mypy follows
# their imports into the other pure modules).
DOMAIN := services/registry/domain.py services/eligibility/domain.py services/payments/domain.py \
  services/reporting/domain.py services/eligibility/whatif.py services/registry/catalog.py \
  services/reporting/progress.py services/reporting/ratios.py services/reporting/history.py \
  services/eligibility/rules.py services/eligibility/choice.py services/eligibility/person.py \
  services/eligibility/review_rules.py services/eligibility/fraud.py services/payments/fund_use.py \
  services/registry/payee_rules.py
lint: $(STAMP)-test
	$(BIN)/ruff check shared services tests bench
	$(BIN)/mypy shared $(DOMAIN)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml $(LOCK)
	$(BIN)/pip install -q --require-hashes -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(STAMP)-test: $(STAMP) $(TEST_LOCK)
	$(BIN)/pip install -q --require-hashes -r $(TEST_LOCK)
	touch $@

# Refresh the locks after changing pyproject.toml's dependencies (newest versions it allows, with
# hashes, for every platform); commit both files, and run `make test` before you do.
lock: $(VENV)/bin/python
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra test --universal --python-version 3.11 --generate-hashes \
	  -c $(LOCK) -o $(TEST_LOCK)

install: $(STAMP)

install-test: $(STAMP)-test

test-deps:
	bash scripts/test-deps.sh

clean:
	rm -rf $(VENV) .data
