"""Django settings for the test suite.

The database comes from the environment, so one suite runs on every backend we support:

    DB_BACKEND   sqlite (default) | postgresql | mariadb | pgbouncer (PostgreSQL through a PgBouncer in
                 transaction mode that this process starts: tests/support/pgbouncer.py)
    DB_HOST      default 127.0.0.1
    DB_PORT      default 5432 for postgresql and pgbouncer (the real server's), 3306 for mariadb
    DB_USER      default postgres for postgresql and pgbouncer, root for mariadb
    DB_PASSWORD  default empty
    DB_NAME      default test (Django's test runner creates and drops test_<DB_NAME>)
    DB_OPTIONS   JSON merged into the database's OPTIONS, e.g. the PostgreSQL tuning of docs/performance.md:
                 '{"server_side_binding": true, "prepare_threshold": 5}'
"""

import json
import os

DB_BACKENDS = ("sqlite", "postgresql", "mariadb", "pgbouncer")

_backend = os.environ.get("DB_BACKEND", "sqlite")
if _backend not in DB_BACKENDS:
    # A typo must not quietly fall back to SQLite and report a green run for the wrong database.
    raise ValueError(f"DB_BACKEND={_backend!r} is not one of {', '.join(DB_BACKENDS)}")


def _server_database(engine: str, port: str, user: str) -> dict:
    return {
        "ENGINE": engine,
        "HOST": os.environ.get("DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("DB_PORT", port),
        "USER": os.environ.get("DB_USER", user),
        "PASSWORD": os.environ.get("DB_PASSWORD", ""),
        "NAME": os.environ.get("DB_NAME", "test"),
    }


if _backend in ("postgresql", "pgbouncer"):
    _database = _server_database("django.db.backends.postgresql", "5432", "postgres")
elif _backend == "mariadb":
    _database = _server_database("django.db.backends.mysql", "3306", "root")
    _database["OPTIONS"] = {"charset": "utf8mb4"}
    _database["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
else:
    # Django tests an in-memory SQLite database in shared-cache mode, so threads see the same data.
    _database = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}

if _backend == "pgbouncer":
    from tests.support import pgbouncer

    _bouncer = pgbouncer.start(_database["HOST"], _database["PORT"], _database["USER"], _database["PASSWORD"])
    _database.update(HOST=_bouncer.host, PORT=str(_bouncer.port))
    # .iterator() reads through a server-side cursor, which lives in one server session; with transaction
    # pooling the next fetch may land on another. Django's documented setting for transaction pooling:
    _database["DISABLE_SERVER_SIDE_CURSORS"] = True

_database["OPTIONS"] = {**_database.get("OPTIONS", {}), **json.loads(os.environ.get("DB_OPTIONS") or "{}")}
DATABASES = {"default": _database}

SECRET_KEY = "django-slack-store-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    # The browser tests' live server serves the admin's CSS and JavaScript through it.
    "django.contrib.staticfiles",
    "django_slack_store",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ROOT_URLCONF = "tests.urls"
STATIC_URL = "/static/"

USE_TZ = True
TIME_ZONE = "UTC"

# Users created by admin tests need no real password hashing.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
