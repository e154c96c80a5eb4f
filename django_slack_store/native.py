"""The store's statements straight on psycopg 3 (PostgreSQL): on the event loop for the async API, and
prepared on Django's own connection for the sync API.

Django (5.2-6.1) has no async database API: `aget()` is `sync_to_async(get)`, so every async ORM call waits
for asgiref's one thread-sensitive thread and its one connection. Here the store's own statements
(statements.py) run through psycopg's `AsyncConnection`, on a few connections per event loop, opened with
the parameters Django would use for the same alias (`get_connection_params()`, without Django's sync cursor
class) and set up as Django sets up its own (time zone, role, isolation level). No thread hop, and many
concurrent callers share several connections instead of queueing for one.

When it is used (`database()` returns None otherwise, and the store takes the thread hop):

- `DJANGO_SLACK_STORE["ASYNC_NATIVE"]` is on, the alias is PostgreSQL and the driver is psycopg 3;
- the caller is async code on an event loop (an ASGI request, a task). Called from sync code through
  `async_to_sync`, the caller may hold a transaction whose uncommitted writes the call must see, and
  Django ties transactions to the caller's thread: the call then runs there, as the thread hop does.

Connections are kept per event loop (a psycopg connection belongs to the loop it was opened on), at most
`ASYNC_POOL_SIZE` of them, opened on demand. They are closed when the loop shuts down through
`asyncio.run()` (as asgiref's `async_to_sync` and uvicorn run loops) or by `close_pools()`. A pooled
connection the server has closed (a restart, an idle timeout) is noticed before use, without a round trip:
its socket has become readable. Prepared statements are used where they are safe (`prepares()`).

The sync API runs on Django's connection of the calling thread, as any ORM query does (`sync_cursor()`).
By default Django binds parameters on the client and never prepares, so PostgreSQL would parse and plan
each find again, which costs more than running it. The store's statements run there on psycopg's
server-binding cursor instead, prepared where that is safe, in Django's transaction and with Django's
error classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import select
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from asgiref.sync import AsyncToSync
from django.core.signals import setting_changed
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.dispatch import receiver

from .conf import store_settings

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["close_pools"]


def prepares(settings_dict: dict[str, Any]) -> bool | None:
    """psycopg's `prepare` argument for the store's statements on a database of these settings.

    OPTIONS["prepare_threshold"], when set, decides (None: never). Otherwise the statements are prepared
    on their first use (they are few and run on every Slack request), except behind a pooler in
    transaction mode, which Django's settings mark with DISABLE_SERVER_SIDE_CURSORS: there a prepared
    statement lives on a server connection that the next transaction may not get (PgBouncer before 1.21).
    """
    if "prepare_threshold" in settings_dict.get("OPTIONS", {}):
        return None
    return not settings_dict.get("DISABLE_SERVER_SIDE_CURSORS", False)


@contextlib.contextmanager
def sync_cursor(connection: BaseDatabaseWrapper) -> Iterator[Any]:
    """A cursor of Django's `connection` for the store's statements. On PostgreSQL with psycopg 3, psycopg's
    server-binding cursor, which prepares them where `prepares()` says so; elsewhere Django's own.

    Django's own also while Django logs queries or wraps their execution (DEBUG, `assertNumQueries`,
    `connection.execute_wrapper()`), so that those see every statement. Either way the statement runs in
    the connection's current transaction and raises Django's exception classes."""
    if (
        connection.vendor != "postgresql"
        or connection.queries_logged
        or connection.execute_wrappers
        or not _is_psycopg3()
    ):
        with connection.cursor() as cursor:
            yield cursor
        return
    # What Django's connection.cursor() checks first.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors:
        yield _ServerBindingCursor(connection)


class _ServerBindingCursor:
    """psycopg's server-binding cursor on Django's connection, preparing the statements it runs where
    `prepares()` says so.

    Django connects with `prepare_threshold=None` unless OPTIONS set one, and None turns `prepare=True`
    off too: then the threshold is set for the call only, so Django's own queries are left as they are.
    """

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        import psycopg
        from django.db.backends.postgresql.psycopg_any import register_tzloader

        self.connection = connection.connection
        self.cursor = psycopg.Cursor(self.connection)
        self.prepare = prepares(connection.settings_dict)
        # As Django's create_cursor(): the time zone of the connection's session may have changed since.
        loader = self.connection.adapters.get_loader(_timestamptz_oid(), TEXT_FORMAT)
        if connection.timezone != getattr(loader, "timezone", None):
            register_tzloader(connection.timezone, self.cursor)

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        threshold = self.connection.prepare_threshold
        if self.prepare and threshold is None:
            self.connection.prepare_threshold = PSYCOPG_PREPARE_THRESHOLD
        try:
            self.cursor.execute(sql, params, prepare=self.prepare)
        finally:
            self.connection.prepare_threshold = threshold

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.cursor.fetchone()

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount


class Transaction:
    """Statements on one connection: in a transaction (`Database.transaction()`), or one autocommit call."""

    def __init__(self, connection: AsyncConnection[Any], database: Database) -> None:
        self.connection, self.prepare, self.wrapper = connection, database.prepare, database.wrapper

    async def fetch_one(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        cursor = await self.connection.execute(sql, params, prepare=self.prepare)
        return await cursor.fetchone()

    async def fetch_all(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cursor = await self.connection.execute(sql, params, prepare=self.prepare)
        return await cursor.fetchall()

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        """Run a statement; returns its row count."""
        cursor = await self.connection.execute(sql, params, prepare=self.prepare)
        return cursor.rowcount


class Database:
    """One Django database alias on one event loop: its pool, and Django's wrapper of it for the rest
    (converters, parameter preparation, and error classes: errors are Django's, as on the sync path)."""

    def __init__(self, using: str, wrapper: BaseDatabaseWrapper) -> None:
        self.using, self.wrapper = using, wrapper
        self.prepare = prepares(wrapper.settings_dict)
        self.pool = Pool(self._connect, store_settings.ASYNC_POOL_SIZE)
        self.generation = _generation

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Transaction]:
        with self.wrapper.wrap_database_errors:
            async with self.pool.connection() as connection:
                yield Transaction(connection, self)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        async with self.connection() as tx, tx.connection.transaction():
            yield tx

    async def fetch_one(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        async with self.connection() as tx:
            return await tx.fetch_one(sql, params)

    async def _connect(self) -> AsyncConnection[Any]:
        import psycopg
        from psycopg import sql

        params = self.wrapper.get_connection_params()
        # Django's sync cursor classes; psycopg's default cursor binds parameters server-side.
        params.pop("cursor_factory", None)
        if self.prepare:
            # Django sets no threshold (None) unless OPTIONS do, and None would turn `prepare=True` off: the
            # store's statements ask to be prepared themselves, anything else gets psycopg's default.
            params["prepare_threshold"] = PSYCOPG_PREPARE_THRESHOLD
        connection = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        # What Django's _configure_connection() and get_new_connection() do for its own connections.
        options = self.wrapper.settings_dict["OPTIONS"]
        timezone_name = self.wrapper.timezone_name
        if timezone_name and connection.info.parameter_status("TimeZone") != timezone_name:
            await connection.execute(self.wrapper.ops.set_time_zone_sql(), [timezone_name])
        if role := options.get("assume_role"):
            await connection.execute(sql.SQL("SET ROLE {}").format(sql.Literal(role)))
        if "isolation_level" in options:
            await connection.set_isolation_level(psycopg.IsolationLevel(options["isolation_level"]))
        return connection


class Pool:
    """At most `size` connections of one event loop: opened on demand, reused latest first, and a caller
    beyond `size` waits for one (in order). A connection that comes back broken or inside a transaction (a
    cancelled call) is closed rather than reused. No background task: nothing outlives the loop."""

    def __init__(self, connect: Callable[[], Coroutine[Any, Any, AsyncConnection[Any]]], size: int) -> None:
        self._connect = connect
        self._slots = asyncio.Semaphore(size)
        self._idle: list[AsyncConnection[Any]] = []
        self._closed = False
        self.opened = 0  # connections opened so far (tests and benchmarks read it)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        async with self._slots:
            connection = await self._take()
            try:
                yield connection
            finally:
                await self._give_back(connection)

    async def _take(self) -> AsyncConnection[Any]:
        while self._idle:
            connection = self._idle.pop()
            if _usable(connection):
                return connection
            await connection.close()
        connection = await self._connect()
        self.opened += 1
        return connection

    async def _give_back(self, connection: AsyncConnection[Any]) -> None:
        from psycopg.pq import TransactionStatus

        if self._closed or connection.closed or connection.info.transaction_status != TransactionStatus.IDLE:
            await connection.close()
        else:
            self._idle.append(connection)

    async def close(self) -> None:
        """Close the idle connections now and the others when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()


def _usable(connection: AsyncConnection[Any]) -> bool:
    """False for a connection the server has closed. An idle connection has nothing to read unless the
    server has ended it (its last message, or the end of the stream), so this is one poll, no round trip."""
    if connection.closed:
        return False
    readable, _, _ = select.select([connection.fileno()], [], [], 0)
    return not readable


# -- the registry: the Databases of each event loop -----------------------------------------------------

_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Database]] = (
    weakref.WeakKeyDictionary()
)
# Keeps each loop's closer alive until the loop finalizes it (see _closed_with_the_loop).
_closers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncIterator[None]] = (
    weakref.WeakKeyDictionary()
)
# Bumped when DATABASES, DJANGO_SLACK_STORE or the time zone settings change: pools made before are replaced.
_generation = 0
PSYCOPG_PREPARE_THRESHOLD = 5  # psycopg's own default


async def database(model: type[models.Model]) -> Database | None:
    """The native path to `model`'s write database for this call, or None when it does not apply."""
    if not store_settings.ASYNC_NATIVE or getattr(AsyncToSync.executors, "current", None) is not None:
        return None  # switched off, or sync code called this through async_to_sync (see the module docstring)
    using = router.db_for_write(model)
    loop = asyncio.get_running_loop()
    databases = _loops.get(loop)
    found = databases.get(using) if databases is not None else None
    if found is None or found.generation != _generation:
        wrapper = connections[using]  # this thread's: the loop's
        if wrapper.vendor != "postgresql" or not _is_psycopg3():
            return None
        if databases is None:
            databases = _loops[loop] = {}
            await _closed_with_the_loop(loop, databases)
        if found is not None:
            await found.pool.close()
        found = databases[using] = Database(using, wrapper)
    # Django's connection of the loop's thread, inside a transaction: only with DJANGO_ALLOW_ASYNC_UNSAFE
    # or a loop run inside atomic(). Its writes are not committed, so the native path would not see them.
    return None if found.wrapper.in_atomic_block else found


async def close_pools() -> None:
    """Close the connections the store opened on the running event loop (say, at an ASGI lifespan shutdown;
    `asyncio.run()` closes them by itself)."""
    for found in _loops.pop(asyncio.get_running_loop(), {}).values():
        await found.pool.close()


async def _closed_with_the_loop(loop: asyncio.AbstractEventLoop, databases: dict[str, Database]) -> None:
    """Close `databases` when `loop` shuts down: an async generator started on a loop is finalized by the
    loop's `shutdown_asyncgens()`, which `asyncio.run()` calls before closing it."""

    async def closer() -> AsyncIterator[None]:
        try:
            yield
        finally:
            for found in databases.values():
                await found.pool.close()

    _closers[loop] = generator = closer()
    await generator.__anext__()


@functools.cache
def _is_psycopg3() -> bool:
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return bool(is_psycopg3)


@functools.cache
def _timestamptz_oid() -> int:
    from psycopg.postgres import types

    return types["timestamptz"].oid


TEXT_FORMAT = 0  # psycopg.pq.Format.TEXT, without importing psycopg where it is not installed


@receiver(setting_changed)
def _replace_pools(setting: str, **kwargs: Any) -> None:
    global _generation
    if setting in ("DATABASES", "DJANGO_SLACK_STORE", "USE_TZ", "TIME_ZONE"):
        _generation += 1
