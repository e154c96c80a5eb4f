# make venv   .venv with the package (editable) and its test dependencies
# make test   the test suite on SQLite, PostgreSQL, MariaDB, and PostgreSQL through PgBouncer in transaction
#             mode (servers skipped when unreachable, required with REQUIRE_DATABASES=1); extra pytest
#             arguments: make test PYTEST_ARGS="-k rotation"
# make demo   the example project (Bolt AsyncApp on Channels/daphne, with the admin) on http://127.0.0.1:8000,
#             with a demo admin user and demo installations; make demo-setup does all but serving
# make bench  benchmarks of the store beside slack_sdk's SQLAlchemy stores and a raw-driver floor, on SQLite,
#             PostgreSQL and MariaDB (servers skipped when unreachable): writes docs/benchmark-results.md and
#             charts, ~13 minutes; make bench ARGS=--quick is a one-minute run written under benchmarks/.data/
#             (benchmarks/README.md)
# make clean  remove build output, caches and the demo database; make distclean also removes .venv and .tox

BASE_PYTHON ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=
ARGS ?=
MYSQLCLIENT_BUILD_DEPS := default-libmysqlclient-dev pkg-config
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8000
# The demo, and only the demo, runs with DEBUG on (example_project/settings.py reads the rest).
DEMO_ENV := DJANGO_SETTINGS_MODULE=example_project.settings DJANGO_DEBUG=1

.PHONY: venv test bench demo demo-setup clean distclean

# Checked on every run, not only when the venv is built: DB_BACKEND=pgbouncer runs Debian's pgbouncer.
venv: $(VENV)/.installed-test
	@if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing pgbouncer for the PgBouncer test run"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y pgbouncer || (apt-get update && apt-get install -y pgbouncer); \
		else \
			echo "warning: pgbouncer not installed; make test skips its PgBouncer run (apt-get install pgbouncer)"; \
		fi; \
	fi

# mysqlclient compiles against the MySQL/MariaDB client headers, found through pkg-config.
MYSQLCLIENT_HEADERS = \
	if ! pkg-config --exists mysqlclient 2>/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing mysqlclient build dependencies: $(MYSQLCLIENT_BUILD_DEPS)"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y $(MYSQLCLIENT_BUILD_DEPS) \
				|| (apt-get update && apt-get install -y $(MYSQLCLIENT_BUILD_DEPS)); \
		else \
			echo "warning: pkg-config cannot find mysqlclient; install $(MYSQLCLIENT_BUILD_DEPS) (or your" \
				"system's equivalent) if building mysqlclient fails"; \
		fi; \
	fi

# The one way every target gets its venv: $(VENV)/.installed-EXTRAS installs the package (editable: code
# changes need no reinstall) with those extras, after the same pip upgrade; it reruns only when the packaging
# files change. test and bench build mysqlclient; the demo builds no database driver.
NEEDS_MYSQLCLIENT := test bench
$(VENV)/.installed-%: setup.cfg pyproject.toml
	@$(if $(filter $*,$(NEEDS_MYSQLCLIENT)),$(MYSQLCLIENT_HEADERS))
	test -x $(PYTHON) || $(BASE_PYTHON) -m venv $(VENV)
	$(PYTHON) -m pip install --upgrade pip
	$(PYTHON) -m pip install -e '.[$*]'
	touch $@

test: venv
	PYTHON=$(PYTHON) scripts/test-all-databases $(PYTEST_ARGS)

# The benchmarks need their extra only (benchmarks/README.md); options go through ARGS, e.g. ARGS=--quick.
bench: $(VENV)/.installed-bench
	$(PYTHON) -m benchmarks $(ARGS)

# The demo needs the example's extras only (no database drivers to build).
demo: $(VENV)/.installed-example
	@$(MAKE) --no-print-directory demo-setup
	$(DEMO_ENV) $(PYTHON) -m daphne -b $(DEMO_HOST) -p $(DEMO_PORT) example_project.asgi:application

# What `make demo` does before serving, with the $(PYTHON) given (tests pass their own interpreter).
demo-setup:
	$(DEMO_ENV) $(PYTHON) manage.py migrate --noinput
	$(DEMO_ENV) $(PYTHON) manage.py demo_setup --url http://$(DEMO_HOST):$(DEMO_PORT)

clean:
	rm -rf build dist *.egg-info .data .pytest_cache .ruff_cache .mypy_cache
	find . -path ./$(VENV) -prune -o -path ./.tox -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .tox
