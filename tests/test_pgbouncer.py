"""DB_BACKEND=pgbouncer really runs the suite through PgBouncer in transaction mode
(tests/support/pgbouncer.py)."""

import os

import psycopg
import pytest
from django.db import connection

from tests.support import pgbouncer

bouncer = pgbouncer.running()
this_run = os.environ.get("DB_BACKEND", "sqlite")
pytestmark = pytest.mark.skipif(
    bouncer is None, reason=f"runs with DB_BACKEND=pgbouncer only; this run is DB_BACKEND={this_run}"
)


def client(name):
    """A connection of its own to the test database through PgBouncer, named for SHOW CLIENTS."""
    return psycopg.connect(
        host=bouncer.host,
        port=bouncer.port,
        user=connection.settings_dict["USER"],
        dbname=connection.settings_dict["NAME"],
        application_name=name,
    )


def backend_pid(conn):
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def server_of(name):
    """The PostgreSQL backend pid that PgBouncer has given the client `name` right now, or None."""
    [client_row] = [row for row in bouncer.admin("SHOW CLIENTS") if row["application_name"] == name]
    servers = {row["ptr"]: row["remote_pid"] for row in bouncer.admin("SHOW SERVERS")}
    return servers.get(client_row["link"])


def test_django_connects_through_pgbouncer_in_transaction_mode(db):
    database = connection.settings_dict
    assert (database["HOST"], int(database["PORT"])) == (bouncer.host, bouncer.port)
    assert database["DISABLE_SERVER_SIDE_CURSORS"] is True
    config = {row["key"]: row["value"] for row in bouncer.admin("SHOW CONFIG")}
    assert config["pool_mode"] == "transaction"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    pools = {(row["database"], row["user"]): row["pool_mode"] for row in bouncer.admin("SHOW POOLS")}
    assert pools[(database["NAME"], database["USER"])] == "transaction"


def test_a_client_holds_a_server_connection_only_during_a_transaction(db):
    with client("dss-probe-a") as a, client("dss-probe-b") as b:
        first = backend_pid(a)  # psycopg opened a transaction
        assert server_of("dss-probe-a") == first
        a.commit()
        # Still connected, but its server connection went back to the pool (session mode would keep it).
        assert server_of("dss-probe-a") is None

        # PgBouncer hands out the most recently released server first (server_round_robin = 0): B gets
        # the backend A just used, and A's next transaction another one, while A stays connected.
        assert backend_pid(b) == first
        assert backend_pid(a) != first
