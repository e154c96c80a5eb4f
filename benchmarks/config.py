"""Where the benchmark's databases and cache are: environment variables, with local defaults.

The run drops and recreates its PostgreSQL database and its SQLite file at every start, so results are
reproducible; it refuses database names it must never drop (the test suite's `test` and `test_*`, and the
server's own).
"""

import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
# Gitignored (benchmarks/.gitignore): the SQLite file, the workers' JSON results, --quick reports.
DATA_DIR = BENCH_DIR / ".data"
REPO_DIR = BENCH_DIR.parent

DATABASES = ("sqlite", "postgresql")
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
PG_PASSWORD = os.environ.get("BENCH_PG_PASSWORD", "")
PG_NAME = os.environ.get("BENCH_PG_NAME", "dss_bench")
SQLITE_PATH = Path(os.environ.get("BENCH_SQLITE_PATH", DATA_DIR / "bench.sqlite3"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

# Connections of the async floor, shared by all its tasks. Of 1, 2, 4, 8 and 16 tried with 64 tasks on a
# 2-core machine, 4 gave the most lookups/s on PostgreSQL and as many as any on SQLite (SQLAlchemy's default
# pool_size is 5).
FLOOR_POOL_SIZE = 4

_PROTECTED_NAMES = re.compile(r"(test|test_.*|postgres|template\d+)\Z")


def pg_params(dbname: str = PG_NAME) -> dict:
    """psycopg.connect() keyword arguments."""
    params = {"host": PG_HOST, "port": PG_PORT, "user": PG_USER, "dbname": dbname}
    return params | ({"password": PG_PASSWORD} if PG_PASSWORD else {})


def check_pg_name(name: str = PG_NAME) -> None:
    if _PROTECTED_NAMES.match(name):
        raise SystemExit(
            f"BENCH_PG_NAME={name!r}: the benchmark drops its database, so it will not use {name!r}"
        )


# docs/performance.md's tuning: server-side binding, so that psycopg prepares the statements it runs often.
TUNED_OPTIONS = {"server_side_binding": True, "prepare_threshold": 5}
# Our store on PostgreSQL is measured on two database aliases of the same database: "default" with Django's
# default OPTIONS (what a user gets without tuning) and "tuned" with TUNED_OPTIONS. A router
# (benchmarks/routing.py) sends the store to one or the other around each subject's calls.
TUNED = "tuned"


def django_databases(database: str) -> dict:
    """Django's DATABASES of a worker measuring `database`."""
    if database == "postgresql":
        default = {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": PG_HOST,
            "PORT": str(PG_PORT),
            "USER": PG_USER,
            "PASSWORD": PG_PASSWORD,
            "NAME": PG_NAME,
        }
        return {"default": default, TUNED: default | {"OPTIONS": TUNED_OPTIONS}}
    return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(SQLITE_PATH)}}


def sqlalchemy_url(database: str, *, asynchronous: bool) -> str:
    from sqlalchemy.engine import URL

    if database == "postgresql":
        url = URL.create(
            "postgresql+psycopg",
            username=PG_USER,
            password=PG_PASSWORD or None,
            host=PG_HOST,
            port=PG_PORT,
            database=PG_NAME,
        )
        return url.render_as_string(hide_password=False)
    return f"sqlite+{'aiosqlite' if asynchronous else 'pysqlite'}:///{SQLITE_PATH}"


def answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether a TCP server accepts a connection there (as scripts/test-all-databases checks)."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def pg_answers() -> bool:
    return answers(PG_HOST, PG_PORT)


def redis_answers() -> bool:
    url = urlsplit(REDIS_URL)
    return answers(url.hostname or "127.0.0.1", url.port or 6379)


def pg_where() -> str:
    return f"{PG_HOST}:{PG_PORT}"
