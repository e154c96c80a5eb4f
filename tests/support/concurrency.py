"""Concurrency in the tests: threads released together, a row lock held by another connection, and the
mark for tests that need a database server (SQLite serialises all writers)."""

import asyncio
import threading

import pytest
from django.db import connection, connections, transaction

from tests.support.store_api import close_thread_hop_connections, run

needs_server_database = pytest.mark.skipif(
    connection.vendor == "sqlite", reason="needs a database server: SQLite serialises all writers"
)


def in_threads(count, work):
    """Run work(i) in `count` threads released together; re-raise the first error."""
    barrier, errors = threading.Barrier(count), []

    def run(i):
        try:
            barrier.wait()
            work(i)
        except BaseException as error:  # noqa: B036 - reported below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def run_while_rows_locked(locked_rows, make_coroutine):
    """Await `make_coroutine()` while another connection holds a lock on `locked_rows`.

    The coroutine runs as under an ASGI server (the native path on PostgreSQL, the thread hop elsewhere).
    Returns (its result, whether the event loop stayed free). A ticker on the loop releases the lock after
    a few ticks; had the awaited call blocked the loop, the ticker could not have run, the holder's timeout
    would have released the lock instead, and the ticker would still be pending when the call returns.
    """
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with transaction.atomic():
            list(locked_rows.select_for_update())
            locked.set()
            release.wait(timeout=5)
        connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(timeout=10)

    async def run_while_ticking():
        async def tick():
            for _ in range(5):
                await asyncio.sleep(0.01)
            release.set()

        ticker = asyncio.create_task(tick())
        result = await make_coroutine()
        return result, ticker.done()

    try:
        return run(run_while_ticking)
    finally:
        release.set()
        holder.join()
        close_thread_hop_connections()
