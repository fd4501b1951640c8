# The two commands: `make run` and `make test`. Both create the environment if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt wheel bench clean

DEV_STAMP := $(VENV)/.dev-installed

# `make run` needs the runtime requirements only; `make test` adds the test tools
# (Playwright alone is most of their size).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

# DEBUG is off in `make run` too, and settings refuse the public development key then:
# this machine's own key, made once (an exported SECRET_KEY wins).
VAR_DIR := $(or $(TASKBOARD_VAR_DIR),var)
SECRET_FILE := $(VAR_DIR)/secret-key
run: export SECRET_KEY ?= $(shell cat $(SECRET_FILE) 2>/dev/null)

$(SECRET_FILE):
	@mkdir -p $(VAR_DIR)
	@umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

run: $(STAMP) $(SECRET_FILE)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py taskboard_groups -v0
	$(BIN)/python manage.py ensure_demo_user
	@echo "Taskboard: http://127.0.0.1:$${TASKBOARD_PORT:-8000}/  (Ctrl-C stops web, worker and beat)"
	@# The Procfile's "ready" process says it again once web and a worker answer.
	$(BIN)/python -m web.procfile Procfile

test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The installable app alone (taskboard/), into dist/; hatchling is a test tool, so no
# build isolation and no network.
wheel: $(DEV_STAMP)
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation -w dist .

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(DEV_STAMP) requirements-bench.txt
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $(BENCH_STAMP)

# Needs PostgreSQL and Redis on 127.0.0.1, wrk and chromium (Debian); see docs/performance.md.
bench: $(BENCH_STAMP)
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk" >&2; exit 1; }
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var dist build
