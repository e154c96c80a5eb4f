"""The native async path on PostgreSQL (django_slack_store/native.py, docs/performance.md#async): when it is
used, its connections, and what the contract tests (run through it as the "native" mode) cannot show."""

import asyncio
import os
import shutil
import subprocess
import threading

import pytest
from asgiref.sync import async_to_sync
from django.db import DatabaseError, ProgrammingError, connection, connections, transaction

from django_slack_store import native
from django_slack_store.models import SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support import pgbouncer
from tests.support.factories import InstallationFactory
from tests.support.store_api import CLIENT_ID, NATIVE, close_thread_hop_connections, native_statements, run

needs_native = pytest.mark.skipif(not NATIVE, reason="the native path runs on PostgreSQL only")
pytestmark = pytest.mark.django_db(transaction=True)

CONCURRENT_FINDS = 64


@pytest.fixture
def saved():
    """A store, and an installation it has saved (committed)."""
    store = DjangoInstallationStore(CLIENT_ID)
    installation = InstallationFactory()
    store.save(installation)
    return store, installation


def find(store, installation):
    return store.async_find_installation(enterprise_id=None, team_id=installation.team_id)


# -- when the native path is used ------------------------------------------------------------------------


@needs_native
def test_async_code_on_a_loop_takes_the_native_path():
    installation = InstallationFactory()
    store = DjangoInstallationStore(CLIENT_ID)
    store.save(installation)

    with native_statements() as run_natively:
        found = run(lambda: find(store, installation))

    assert found.bot_token == installation.bot_token
    assert len(run_natively) == 1


@pytest.mark.skipif(NATIVE, reason="checks the other backends")
def test_other_backends_take_the_thread_hop():
    assert run(lambda: native.database(SlackInstallation)) is None
    installation = InstallationFactory()
    store = DjangoInstallationStore(CLIENT_ID)
    store.save(installation)
    assert run(lambda: find(store, installation)).bot_token == installation.bot_token
    close_thread_hop_connections()


@needs_native
def test_the_setting_switches_it_off(settings):
    settings.DJANGO_SLACK_STORE = {"ASYNC_NATIVE": False}
    assert run(lambda: native.database(SlackInstallation)) is None
    installation = InstallationFactory()
    store = DjangoInstallationStore(CLIENT_ID)
    with native_statements() as run_natively:
        run(lambda: store.async_save(installation))
        assert run(lambda: find(store, installation)).bot_token == installation.bot_token
    close_thread_hop_connections()
    assert run_natively == []


@needs_native
def test_sync_code_in_a_transaction_sees_its_own_writes_through_the_async_api():
    """async_to_sync from sync code: the call runs on the caller's thread and connection, in its
    transaction, so it sees what that transaction wrote and has not committed."""
    store = DjangoInstallationStore(CLIENT_ID)
    installation = InstallationFactory()
    with native_statements() as run_natively, transaction.atomic():
        store.save(installation)
        found = async_to_sync(store.async_find_installation)(enterprise_id=None, team_id=installation.team_id)
        assert found.bot_token == installation.bot_token
        async_to_sync(store.async_delete_all)(enterprise_id=None, team_id=installation.team_id)
        transaction.set_rollback(True)
    assert run_natively == []


# -- connections -------------------------------------------------------------------------------------------


@needs_native
def test_64_concurrent_finds_share_several_connections_and_never_block_the_loop(settings):
    """64 tasks look up at once while another connection holds a lock that every find waits for. The loop
    keeps running (a ticker counts), the finds wait on as many connections as the pool has, and once the
    lock is gone every task gets its own answer."""
    settings.DJANGO_SLACK_STORE = {"ASYNC_POOL_SIZE": 4}
    store = DjangoInstallationStore(CLIENT_ID)
    installations = [InstallationFactory() for _ in range(8)]
    for installation in installations:
        store.save(installation)
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {SlackInstallation._meta.db_table} IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(timeout=10)
        connections.close_all()

    async def look_up_while_locked():
        ticks = 0

        async def tick():
            nonlocal ticks
            while not release.is_set():
                await asyncio.sleep(0.005)
                ticks += 1

        ticker = asyncio.create_task(tick())
        finds = [
            asyncio.create_task(find(store, installations[i % len(installations)]))
            for i in range(CONCURRENT_FINDS)
        ]
        await asyncio.sleep(0.3)
        # Until every connection's find waits on the lock (the others queue for a connection), 10 s at most.
        for _ in range(200):
            waiting = await asyncio.to_thread(waiting_backends)
            if waiting >= 4:
                break
            await asyncio.sleep(0.05)
        pool = (await native.database(SlackInstallation)).pool
        release.set()
        found = await asyncio.gather(*finds)
        await ticker
        return ticks, waiting, pool.opened, found

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        ticks, waiting, opened, found = run(look_up_while_locked)
    finally:
        release.set()
        holder.join()

    assert ticks >= 20  # the loop ran while every find waited (0.3 s at 5 ms a tick)
    assert waiting == 4 and opened == 4
    expected = [installations[i % len(installations)].bot_token for i in range(CONCURRENT_FINDS)]
    assert [installation.bot_token for installation in found] == expected


def waiting_backends():
    """Sessions of this database waiting for a lock (the native finds queued behind the holder)."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (count,) = cursor.fetchone()
    connections["default"].close()
    return count


async def pool_after_a_find(store, installation):
    """The running loop's native Database, after a find that opened a connection in its pool."""
    await find(store, installation)
    return await native.database(SlackInstallation)


@needs_native
def test_each_loop_has_connections_of_its_own_closed_with_it(saved):
    store, installation = saved

    async def use():
        database = await pool_after_a_find(store, installation)
        return database, list(database.pool._idle)

    first, first_connections = run(use)
    second, second_connections = run(use)

    assert first is not second
    assert first_connections and second_connections
    assert not {id(c) for c in first_connections} & {id(c) for c in second_connections}
    assert all(c.closed for c in first_connections + second_connections)  # asyncio.run() closed them


@needs_native
def test_close_pools_closes_them_and_the_next_call_reconnects(saved):
    store, installation = saved

    async def close_then_find():
        before = list((await pool_after_a_find(store, installation)).pool._idle)
        await native.close_pools()
        found = await find(store, installation)
        return before, found

    before, found = run(close_then_find)
    assert before and all(c.closed for c in before)
    assert found.bot_token == installation.bot_token


@needs_native
def test_connections_the_server_ended_are_replaced_before_use(saved):
    store, installation = saved

    async def find_around_termination():
        database = await pool_after_a_find(store, installation)
        pids = [c.info.backend_pid for c in database.pool._idle]
        await asyncio.to_thread(terminate, pids)
        return await find(store, installation), database.pool.opened

    found, opened = run(find_around_termination)
    assert found.bot_token == installation.bot_token
    # Through PgBouncer the ended sessions are its server connections: ours to it live on, and it opens
    # new server connections by itself.
    assert opened == (1 if pgbouncer.running() else 2)


def terminate(pids):
    with connections["default"].cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])  # returns once it is gone
    connections["default"].close()


def can_restart_postgresql():
    return (
        NATIVE
        and os.environ.get("DB_HOST", "127.0.0.1") == "127.0.0.1"
        and os.environ.get("DB_PORT", "5432") == "5432"
        and hasattr(os, "geteuid")
        and os.geteuid() == 0
        and shutil.which("pg_ctlcluster") is not None
        and os.path.isdir("/etc/postgresql")
    )


@pytest.mark.skipif(
    not can_restart_postgresql(), reason="restarts the local PostgreSQL: root and pg_ctlcluster"
)
def test_calls_succeed_after_postgresql_restarts(saved):
    """A restart mid-run: the pooled connections die with it, and the next calls open new ones."""
    store, installation = saved
    version = sorted(os.listdir("/etc/postgresql"))[-1]

    async def find_across_a_restart():
        before = await find(store, installation)
        await asyncio.to_thread(
            subprocess.run,
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
            check=True,
            timeout=60,
        )
        return before, [await find(store, installation) for _ in range(3)]

    try:
        before, after = run(find_across_a_restart)
    finally:
        connections.close_all()  # this thread's Django connection died with the server too
    assert before.bot_token == installation.bot_token
    assert [found.bot_token for found in after] == [installation.bot_token] * 3


# -- errors, prepared statements ---------------------------------------------------------------------------


@needs_native
def test_database_errors_are_djangos_and_propagate():
    store = DjangoInstallationStore(CLIENT_ID)
    installation = InstallationFactory()
    table = SlackInstallation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO dss_moved_away")
    try:
        with pytest.raises(ProgrammingError, match="dss_installation|slackinstallation"):
            run(lambda: find(store, installation))
        with pytest.raises(DatabaseError):
            run(lambda: store.async_save(installation))
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE dss_moved_away RENAME TO {table}")


@pytest.mark.parametrize(
    ("settings_dict", "prepare"),
    [
        ({"OPTIONS": {}}, True),
        ({"OPTIONS": {}, "DISABLE_SERVER_SIDE_CURSORS": True}, False),
        ({"OPTIONS": {"prepare_threshold": None}}, None),
        ({"OPTIONS": {"prepare_threshold": 5}}, None),
    ],
    ids=["default", "transaction pooler", "threshold off", "threshold set"],
)
def test_statements_are_prepared_unless_a_pooler_or_the_options_say_otherwise(settings_dict, prepare):
    assert native.prepares(settings_dict) is prepare


def expect_prepared():
    """Whether the store's statements end up prepared on this run's database, after a few runs: always by
    default, never behind a transaction pooler, and as psycopg's threshold says when OPTIONS set one."""
    prepare = native.prepares(connection.settings_dict)
    threshold = connection.settings_dict["OPTIONS"].get("prepare_threshold")
    return prepare is True or (prepare is None and threshold is not None and threshold < RUNS)


RUNS = 10


@needs_native
def test_finds_run_prepared_where_that_is_safe(saved):
    """Prepared on a direct connection; behind a transaction pooler (DISABLE_SERVER_SIDE_CURSORS, as the
    PgBouncer run sets it) never, so every statement works whichever server connection runs it."""
    store, installation = saved

    async def find_then_list_prepared():
        for _ in range(RUNS):
            assert (await find(store, installation)).bot_token == installation.bot_token
        database = await native.database(SlackInstallation)
        async with database.connection() as tx:  # the connection the finds ran on (the pool's latest)
            cursor = await tx.connection.execute(
                "SELECT statement FROM pg_prepared_statements", prepare=False
            )
            return [statement for (statement,) in await cursor.fetchall()]

    prepared = run(find_then_list_prepared)
    ours = [statement for statement in prepared if SlackInstallation._meta.db_table in statement]
    assert bool(ours) is expect_prepared()


@needs_native
def test_sync_finds_are_prepared_on_djangos_connection_where_that_is_safe(saved):
    """The sync API runs on Django's connection, prepared like the native path's (never behind a transaction
    pooler), while Django's own queries stay as Django makes them."""
    store, installation = saved
    for _ in range(RUNS):
        assert store.find_installation(enterprise_id=None, team_id=installation.team_id).bot_token
    # Django's threshold, as it was: None unless OPTIONS set one.
    assert connection.connection.prepare_threshold == connection.settings_dict["OPTIONS"].get(
        "prepare_threshold"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]

    ours = [statement for statement in prepared if "LEFT JOIN" in statement]  # find_installation's
    assert len(ours) == (1 if expect_prepared() else 0)
