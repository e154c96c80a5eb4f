"""Fixtures that run the example project for real: a fake Slack Web API, a database of its own, daphne."""

import secrets
import sys

import pytest
from cryptography.fernet import Fernet

from tests.support import pgbouncer
from tests.support.example_server import (
    BOT_SCOPES,
    CLIENT_ID,
    CLIENT_SECRET,
    USER_SCOPES,
    ExampleServer,
    clean_environment,
    run,
)
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import SIGNING_SECRET


@pytest.fixture(scope="module")
def example_database(tmp_path_factory):
    """EXAMPLE_DB_* variables for a database of the example's own on this run's backend (DB_BACKEND):
    a temporary SQLite file, or a throwaway database on the PostgreSQL / MariaDB server, dropped after."""
    from django.conf import settings

    server = settings.DATABASES["default"]
    engine = server["ENGINE"]
    bouncer = pgbouncer.running()
    if bouncer:
        # The example project's PostgreSQL settings prepare statements, which PgBouncer in transaction mode
        # (before 1.21) cannot carry from one server connection to the next (docs/deployment.md): so the
        # example talks to the real server.
        server = {**server, "HOST": bouncer.server_host, "PORT": bouncer.server_port}
    if engine == "django.db.backends.sqlite3":
        yield {
            "EXAMPLE_DB_ENGINE": engine,
            "EXAMPLE_DB_NAME": str(tmp_path_factory.mktemp("example-db") / "example.sqlite3"),
        }
        return
    name = f"dss_e2e_{secrets.token_hex(4)}"
    if engine == "django.db.backends.postgresql":
        import psycopg

        def execute(sql):
            with psycopg.connect(
                host=server["HOST"],
                port=server["PORT"],
                user=server["USER"],
                password=server["PASSWORD"],
                dbname="postgres",
                autocommit=True,
                connect_timeout=10,
            ) as connection:
                connection.execute(sql)

        create, drop = f'CREATE DATABASE "{name}"', f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    else:
        import MySQLdb

        def execute(sql):
            connection = MySQLdb.connect(
                host=server["HOST"],
                port=int(server["PORT"]),
                user=server["USER"],
                password=server["PASSWORD"],
                connect_timeout=10,
            )
            try:
                connection.cursor().execute(sql)
            finally:
                connection.close()

        create = f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        drop = f"DROP DATABASE IF EXISTS `{name}`"

    execute(create)
    try:
        yield {
            "EXAMPLE_DB_ENGINE": engine,
            "EXAMPLE_DB_NAME": name,
            "EXAMPLE_DB_HOST": server["HOST"],
            "EXAMPLE_DB_PORT": str(server["PORT"]),
            "EXAMPLE_DB_USER": server["USER"],
            "EXAMPLE_DB_PASSWORD": server["PASSWORD"],
        }
    finally:
        execute(drop)


@pytest.fixture(scope="module")
def slack():
    """The fake Slack Web API that the example server calls (tests/support/fake_slack.py), shared by a
    module's tests: each test installs its own workspace and looks at the calls made with its own tokens."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def example_server(example_database, slack, tmp_path_factory):
    """The example project, migrated and served by daphne, configured through its environment variables as a
    deployment would be (DEBUG off), with the Slack Web API at the fake. Stopped after the module."""
    env = clean_environment(
        DJANGO_SETTINGS_MODULE="example_project.settings",
        DJANGO_SECRET_KEY="end-to-end-tests-not-secret",
        DJANGO_DEBUG="0",
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_SCOPES=BOT_SCOPES,
        SLACK_USER_SCOPES=USER_SCOPES,
        SLACK_API_URL=slack.base_url,
        SLACK_STORE_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        **example_database,
    )
    run([sys.executable, "manage.py", "migrate", "--noinput"], env=env)
    server = ExampleServer(env, tmp_path_factory.mktemp("example-server") / "server.log")
    try:
        yield server
    finally:
        server.stop()
