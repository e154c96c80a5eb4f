"""Run the same test through the store's sync methods or their `async_` twins, and on PostgreSQL through the
native async path too (docs/performance.md#async)."""

import asyncio
import contextlib
import functools
import os

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from django_slack_store import native
from django_slack_store.stores import DjangoInstallationStore

CLIENT_ID = "1111.2222"

# The native async path runs on PostgreSQL with psycopg 3, directly or through PgBouncer.
NATIVE = os.environ.get("DB_BACKEND") in ("postgresql", "pgbouncer")
MODES = ["sync", "async", "native"] if NATIVE else ["sync", "async"]
# The async method that always runs its sync twin in a thread (a cron job's batched ORM work).
THREAD_HOPS = {"prune_history"}


class StoreAPI:
    """`api.find_bot(...)` calls `store.find_bot` (mode "sync"), or awaits `store.async_find_bot`:

    - "async": under `async_to_sync`, as sync code calls it. The call runs on this thread and its
      connection, inside the test's transaction (the thread hop's path, which a caller that holds a
      transaction gets);
    - "native": on an event loop of the test's own, in this thread, as an ASGI server calls it. The call
      runs on the store's own connections, so it sees only committed rows: the test needs
      `transactional_db`. `close()` shuts the loop down, which closes those connections.
    """

    def __init__(self, store, mode: str, loop: asyncio.AbstractEventLoop | None = None):
        self.store = store
        self.mode = mode
        self.loop = loop or (asyncio.new_event_loop() if mode == "native" else None)
        self._owns_loop = loop is None

    def __getattr__(self, name):
        if self.mode == "sync":
            return getattr(self.store, name)
        method = getattr(self.store, f"async_{name}")
        if self.mode == "async":
            return async_to_sync(method)
        return lambda *args, **kwargs: self.loop.run_until_complete(method(*args, **kwargs))

    @contextlib.contextmanager
    def assert_num_queries(self, expected: int, *, exact: bool = True):
        """The statements run in the block, on Django's connection of this thread or on the native path,
        are `expected` in number (at most that many, unless `exact`)."""
        with CaptureQueriesContext(connection) as django_queries, native_statements() as native_queries:
            yield
        # Transaction control is no statement of the store's (Django's log has no BEGIN or COMMIT either).
        django_run = [query["sql"] for query in django_queries.captured_queries]
        run = [sql for sql in django_run if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
        run += native_queries
        assert len(run) == expected if exact else len(run) <= expected, "\n".join(run)

    def skip_native_in_callers_transaction(self) -> None:
        """For a test whose caller holds a Django transaction: such a caller is sync code, which calls the
        async API through async_to_sync (the "async" mode); the native mode has no such caller."""
        if self.mode == "native":
            pytest.skip("a caller holding a transaction calls through async_to_sync: the async mode")

    def with_client_id(self, client_id: str) -> "StoreAPI":
        return self.with_store(DjangoInstallationStore(client_id=client_id))

    def with_store(self, store: DjangoInstallationStore) -> "StoreAPI":
        """Another store, called in the same mode (and on the same event loop)."""
        return StoreAPI(store, self.mode, self.loop)

    def close(self) -> None:
        if self.loop is not None and self._owns_loop and not self.loop.is_closed():
            # A documented thread hop (THREAD_HOPS) left a Django connection in asgiref's thread.
            self.loop.run_until_complete(sync_to_async(connections.close_all)())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


def store_api(request, store):
    """A StoreAPI of `store` in the mode `request.param`; in the native mode, a test fails if the store
    falls back to the thread hop. The database access each mode needs is marked at collection."""
    if request.param == "native":
        refuse_thread_hops(request.getfixturevalue("monkeypatch"))
    api = StoreAPI(store, request.param)
    yield api
    api.close()


def refuse_thread_hops(monkeypatch):
    """Make the stores' thread hop (the fallback of the native path) fail the test; calls in threads of
    the loop's default executor (a network cache client) stay allowed."""
    from django_slack_store import oauth_state
    from django_slack_store.installation_store import base, deletes, finds, lifecycle, saves

    def hop(func, *, thread_sensitive=True, **kwargs):
        name = func.func.__name__ if isinstance(func, functools.partial) else func.__name__
        assert name in THREAD_HOPS or not thread_sensitive, (
            f"the native path fell back to the thread hop for {func}"
        )
        return sync_to_async(func, thread_sensitive=thread_sensitive, **kwargs)

    for module in (base, deletes, finds, lifecycle, saves, oauth_state):
        assert module.sync_to_async is sync_to_async
        monkeypatch.setattr(module, "sync_to_async", hop)


@contextlib.contextmanager
def native_statements():
    """The SQL of every statement the native path runs in the block (BEGIN and COMMIT excepted, as Django's
    query log leaves them out too)."""
    run = []
    originals = {name: getattr(native.Transaction, name) for name in ("fetch_one", "execute")}

    def logged(method):
        async def run_logged(self, sql, params):
            run.append(sql)
            return await method(self, sql, params)

        return run_logged

    for name, method in originals.items():
        setattr(native.Transaction, name, logged(method))
    try:
        yield run
    finally:
        for name, method in originals.items():
            setattr(native.Transaction, name, method)


def run(make_coroutine):
    """Run a coroutine as an ASGI server would: on an event loop with no sync caller above it."""
    return asyncio.run(make_coroutine())


def close_thread_hop_connections():
    """Close the Django connection of the thread that the thread hop runs in (from a loop with no sync
    caller: asgiref's one thread-sensitive thread); Django's request handling does so after each request."""
    run(lambda: sync_to_async(connections.close_all)())
