"""Where the benchmark's databases and cache are: environment variables, with local defaults.

The run drops and recreates its PostgreSQL and MariaDB databases and its SQLite file at every start, so
results are reproducible; it refuses database names it must never drop (the test suite's `test` and `test_*`,
and the servers' own).
"""

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
# Gitignored (benchmarks/.gitignore): the SQLite file, the workers' JSON results, --quick reports.
DATA_DIR = BENCH_DIR / ".data"
REPO_DIR = BENCH_DIR.parent

DATABASES = ("sqlite", "postgresql", "mariadb")
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mariadb": "MariaDB"}


@dataclass(frozen=True)
class Server:
    """A database server, from the environment variables `{prefix}_HOST`, `_PORT`, `_USER`, `_PASSWORD` and
    `_NAME` (the database the run drops and creates there)."""

    prefix: str
    host: str
    port: int
    user: str
    password: str
    name: str
    protected: re.Pattern  # names never to drop: the test suite's and the server's own

    @classmethod
    def from_environment(cls, prefix: str, port: int, user: str, own_names: str) -> "Server":
        def env(name, default):
            return os.environ.get(f"{prefix}_{name}", default)

        return cls(
            prefix,
            env("HOST", "127.0.0.1"),
            int(env("PORT", port)),
            env("USER", user),
            env("PASSWORD", ""),
            env("NAME", "dss_bench"),
            re.compile(rf"(test|test_.*|{own_names})\Z", re.IGNORECASE),
        )

    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def answers(self) -> bool:
        return answers(self.host, self.port)

    def check_name(self) -> None:
        if self.protected.match(self.name):
            raise SystemExit(
                f"{self.prefix}_NAME={self.name!r}: the benchmark drops its database, so it will not use "
                f"{self.name!r}"
            )

    def django(self, engine: str) -> dict:
        """Django's DATABASES entry of the database."""
        return {
            "ENGINE": engine,
            "HOST": self.host,
            "PORT": str(self.port),
            "USER": self.user,
            "PASSWORD": self.password,
            "NAME": self.name,
        }


SERVERS = {
    "postgresql": Server.from_environment("BENCH_PG", 5432, "postgres", r"postgres|template\d+"),
    "mariadb": Server.from_environment(
        "BENCH_MARIADB", 3306, "root", "mysql|information_schema|performance_schema|sys"
    ),
}
PG, MARIADB = SERVERS["postgresql"], SERVERS["mariadb"]
SQLITE_PATH = Path(os.environ.get("BENCH_SQLITE_PATH", DATA_DIR / "bench.sqlite3"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

# Connections of the async floor, shared by all its tasks. Of 1, 2, 4, 8 and 16 tried with 64 tasks on a
# 2-core machine, 4 gave the most lookups/s on PostgreSQL and as many as any on SQLite and MariaDB
# (SQLAlchemy's default pool_size is 5).
FLOOR_POOL_SIZE = 4


def pg_params(dbname: str = PG.name) -> dict:
    """psycopg.connect() keyword arguments."""
    params = {"host": PG.host, "port": PG.port, "user": PG.user, "dbname": dbname}
    return params | ({"password": PG.password} if PG.password else {})


# As in the store's tests (tests/settings.py): MariaDB's utf8 holds no 4-byte characters (an emoji in a
# team name).
MARIADB_OPTIONS = {"charset": "utf8mb4"}


def mariadb_params(database: str | None = MARIADB.name) -> dict:
    """MySQLdb.connect() and asyncmy.connect() keyword arguments, the same for both. Autocommit: a lookup is
    one statement, and never reads the old snapshot of a transaction left open (InnoDB's REPEATABLE READ)."""
    params = {"host": MARIADB.host, "port": MARIADB.port, "user": MARIADB.user, "password": MARIADB.password}
    return params | ({"database": database} if database else {}) | MARIADB_OPTIONS | {"autocommit": True}


# docs/performance.md's tuning: server-side binding, so that psycopg prepares the statements it runs often.
TUNED_OPTIONS = {"server_side_binding": True, "prepare_threshold": 5}
# Our store on PostgreSQL is measured on two database aliases of the same database: "default" with Django's
# default OPTIONS (what a user gets without tuning) and "tuned" with TUNED_OPTIONS. A router
# (benchmarks/routing.py) sends the store to one or the other around each subject's calls.
TUNED = "tuned"


def django_databases(database: str) -> dict:
    """Django's DATABASES of a worker measuring `database`."""
    if database == "postgresql":
        default = PG.django("django.db.backends.postgresql")
        return {"default": default, TUNED: default | {"OPTIONS": TUNED_OPTIONS}}
    if database == "mariadb":
        return {"default": MARIADB.django("django.db.backends.mysql") | {"OPTIONS": MARIADB_OPTIONS}}
    return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(SQLITE_PATH)}}


# slack_sdk's stores' SQLAlchemy drivers, (sync, async): the floor's drivers (subjects.py).
SQLALCHEMY_DRIVERS = {
    "sqlite": ("sqlite+pysqlite", "sqlite+aiosqlite"),
    "postgresql": ("postgresql+psycopg", "postgresql+psycopg"),
    "mariadb": ("mysql+mysqldb", "mysql+asyncmy"),
}


def sqlalchemy_url(database: str, *, asynchronous: bool) -> str:
    from sqlalchemy.engine import URL

    driver = SQLALCHEMY_DRIVERS[database][asynchronous]
    if database == "sqlite":
        return f"{driver}:///{SQLITE_PATH}"
    server = SERVERS[database]
    url = URL.create(
        driver,
        username=server.user,
        password=server.password or None,
        host=server.host,
        port=server.port,
        database=server.name,
        query=MARIADB_OPTIONS if database == "mariadb" else {},
    )
    return url.render_as_string(hide_password=False)


def answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether a TCP server accepts a connection there (as scripts/test-all-databases checks)."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def redis_answers() -> bool:
    url = urlsplit(REDIS_URL)
    return answers(url.hostname or "127.0.0.1", url.port or 6379)
