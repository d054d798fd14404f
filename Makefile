# The two commands: `make run` (the product, embedded mode) and `make test` (the suite on real
# PostgreSQL and Redis). Both build .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint fmt messages bench bench-visibility bench-inbox bench-reports bench-search bench-backup bench-mail smoke-production faults clean

# A venv that a failed `python3 -m venv` left without pip is made again.
$(VENV)/.runtime: pyproject.toml
	$(PY) -m pip --version >/dev/null 2>&1 || (rm -rf $(VENV) && $(PYTHON) -m venv $(VENV))
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check .
	touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(PY) -m pip install -q --disable-pip-version-check ".[test]"
	touch $@

run: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py seed_demo --if-empty
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

# Parallel workers, one per CPU (PYTEST_WORKERS=0: none); the 25 slowest tests reported.
PYTEST_WORKERS ?= auto
test: $(VENV)/.test
	scripts/test-services.sh $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist worksteal \
		--durations=25 $(PYTEST_ARGS)

lint: $(VENV)/.test
	$(VENV)/bin/ruff check .

fmt: $(VENV)/.test
	$(VENV)/bin/ruff check --fix .

# Rebuild the compiled translations after editing locale/*/LC_MESSAGES/django.po.
messages: $(VENV)/.runtime
	$(PY) scripts/compile_messages.py

bench: $(VENV)/.test
	scripts/test-services.sh $(PY) bench/run.py

# The visibility rule at 1M deals, 1M contacts, 10k users and 100k shares (a few minutes).
bench-visibility: $(VENV)/.test
	scripts/test-services.sh $(PY) bench/visibility.py

# Inbound Telegram messages on the production stack as docker-compose.yml runs it, webhook to
# deal card: 300 msg/s for 5 minutes (about 8 minutes in all; run it on a quiet machine).
# Shorter: BENCH_ARGS="--duration 30" make bench-inbox
bench-inbox: $(VENV)/.test
	scripts/test-services.sh $(PY) bench/inbox_stack.py $(BENCH_ARGS)

# The sales head's view at a year of 500 managers (2M deals, 20M messages; BENCH_SCALE=0.1 for
# a tenth).
bench-reports: $(VENV)/.test
	scripts/test-services.sh $(PY) bench/reports.py

# The search at 10M messages over 1M deals and 10k users (BENCH_SCALE=0.1 for a tenth).
bench-search: $(VENV)/.test
	scripts/test-services.sh $(PY) bench/search.py

# Backup and restore of the 1M-deal database of bench-search, with 2,000 files.
bench-backup: $(VENV)/.test
	scripts/test-services.sh $(PY) bench/backup.py

# E-mail on real servers: 10,000 mails read from Dovecot into the CRM, then new mail under IDLE.
bench-mail: $(VENV)/.test
	scripts/test-services.sh $(PY) bench/mail_import.py

clean:
	rm -rf $(VENV) var

# The production install proven: a virtualenv with `pip install .` only (no test extras) runs
# the compose file's processes, and a Telegram update and a reply go through them (CI runs it).
smoke-production: $(VENV)/.test
	rm -rf var/runtime-venv && $(PYTHON) -m venv var/runtime-venv
	var/runtime-venv/bin/pip install -q --disable-pip-version-check .
	scripts/test-services.sh $(PY) scripts/production_smoke.py --runtime-venv var/runtime-venv

# Faults on the production stack (worker, Redis, PostgreSQL, gunicorn, the provider, Mango's
# duplicates): is anything lost, doubled or stuck? About 12 minutes, not in CI; exits 1 if so.
# One experiment: FAULTS_ARGS="--only postgres" make faults
faults: $(VENV)/.test
	scripts/test-services.sh $(PY) bench/faults.py $(FAULTS_ARGS)
