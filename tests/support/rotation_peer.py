"""Callers racing for one token in a process of their own: `python -m tests.support.rotation_peer`.

Each caller asks the store for a client (`get_client` in a thread, `async_get_client` in an asyncio task of
one event loop) with the same key, so with an expired token they all want the same refresh. The process
talks JSON lines:

    stdin   {"threads": 8, "tasks": 8, "key": {"team_id": "T1", "user_id": null, ...}, "check": true,
             "setup": {"installation": {...}} or null}
    stdout  {"ready": true}      set up (with "setup": the database migrated and the installation saved),
                                 and every caller connected to the database, waiting
    stdin   "go"                 every caller calls now
    stdout  {"callers": [...], "refresh_tokens": [...]}

A caller's entry: its name, the token its client holds, when it started (`started_at`, time.time()) and
`seconds` from its call to the return, whether it
was the one that called Slack's oauth.v2.access (`refreshed`), whether Slack's auth.test accepted the token
(`valid`, with "check") and its error, if any (the exception's class and text, which never hold a token).
`refresh_tokens` are every refresh token the tables hold once all have returned.

The environment: PEER_DATABASE (JSON: the database settings to use, as Django's DATABASES["default"]),
PEER_SLACK_API_URL and PEER_CLIENT_SECRET. The database is the test's (a server's test database, or an
SQLite file: no test database of pytest-django's is one another process can open).
"""

import asyncio
import contextvars
import json
import os
import sys
import threading
import time

# Who is calling, in the caller's thread or task; sync_to_async carries it into the refresh's thread.
_caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller")


def main():
    os.environ["DB_BACKEND"] = "sqlite"  # settings start no PgBouncer of their own: PEER_DATABASE decides
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    from django.conf import settings

    settings.DATABASES = {"default": json.loads(os.environ["PEER_DATABASE"])}
    settings.DJANGO_SLACK_STORE = {"SLACK_API_URL": os.environ["PEER_SLACK_API_URL"]}

    import django

    django.setup()

    from django.db import connections

    from django_slack_store.stores import DjangoInstallationStore
    from tests.support.store_api import CLIENT_ID

    plan = json.loads(sys.stdin.readline())
    store = DjangoInstallationStore(CLIENT_ID, client_secret=os.environ["PEER_CLIENT_SECRET"])
    if plan.get("setup"):
        set_up(store, plan["setup"])
    connections.close_all()

    refreshed_by = set()
    exchange = store._exchange

    def spied_exchange(*args, **kwargs):
        refreshed_by.add(_caller.get(None))
        return exchange(*args, **kwargs)

    store._exchange = spied_exchange

    def released():
        print(json.dumps({"ready": True}), flush=True)
        return sys.stdin.readline().strip() == "go"

    callers = race(store, plan, released)
    if callers is None:
        return
    for caller in callers:
        caller["refreshed"] = caller["name"] in refreshed_by
    print(json.dumps({"callers": callers, "refresh_tokens": stored_refresh_tokens(store)}), flush=True)


def set_up(store, setup):
    from django.core.management import call_command
    from slack_sdk.oauth.installation_store import Installation

    call_command("migrate", verbosity=0)
    store.save(Installation(**setup["installation"]))


def race(store, plan, released):
    """Start the callers, connected to the database, and have them wait; once `released()` returns, let them
    all call at once. Each one's result."""
    from asgiref.sync import sync_to_async
    from django.db import connection, connections

    key, check = plan["key"], plan.get("check", False)
    connected, go = (
        threading.Barrier(plan["threads"] + 2, timeout=60),
        threading.Event(),
    )  # and the loop's, and this
    results = []

    def in_thread(number):
        _caller.set(f"thread-{number}")
        try:
            connection.ensure_connection()  # timed are the calls, not the connecting
            connected.wait()
            go.wait()
            started = time.time(), time.perf_counter()
            try:
                client = store.get_client(**key)
            except Exception as error:  # reported to the test, which fails on it
                results.append(failed(started, error))
                return
            results.append(succeeded(started, client.token, check and client.auth_test()["ok"]))
        finally:
            connections.close_all()

    async def in_task(number):
        _caller.set(f"task-{number}")
        started = time.time(), time.perf_counter()
        try:
            client = await store.async_get_client(**key)
        except Exception as error:
            results.append(failed(started, error))
            return
        valid = check and (await client.auth_test())["ok"]
        results.append(succeeded(started, client.token, valid))

    async def tasks():
        loop = asyncio.get_running_loop()
        if plan["tasks"]:
            # Connected too: the loop's connections (a find of nobody each), and the thread that refreshes.
            nobody = {"enterprise_id": None, "team_id": "T0NOBODY"}
            await asyncio.gather(*(store.async_find_bot(**nobody) for _ in range(plan["tasks"])))
            await sync_to_async(lambda: connection.ensure_connection())()  # that thread's connection
        await loop.run_in_executor(None, connected.wait)
        await loop.run_in_executor(None, go.wait)
        await asyncio.gather(*(in_task(number) for number in range(plan["tasks"])))
        await sync_to_async(connections.close_all)()

    threads = [threading.Thread(target=in_thread, args=(number,)) for number in range(plan["threads"])]
    threads.append(threading.Thread(target=asyncio.run, args=(tasks(),)))
    for thread in threads:
        thread.start()
    connected.wait()
    wanted = released()
    go.set()  # unwanted, they run all the same, and their results are dropped
    for thread in threads:
        thread.join()
    return results if wanted else None


def succeeded(started, token, valid):
    return timed(started, token=token, valid=valid, error=None)


def failed(started, error):
    return timed(started, token=None, valid=False, error=f"{type(error).__name__}: {error}")


def timed(started, **result):
    """A caller's result, with when it started (the wall clock, comparable between processes) and how long
    its call took."""
    started_at, counter = started
    return {
        "name": _caller.get(),
        "started_at": started_at,
        "seconds": time.perf_counter() - counter,
        **result,
    }


def stored_refresh_tokens(store):
    from django.db import connections

    models = ((store.installation_model, "user_refresh_token"), (store.bot_model, "bot_refresh_token"))
    # Read through the models: a field opens its ciphertext (values_list() would give the ciphertext).
    tokens = [
        getattr(row, name) for model, name in models for row in model.objects.all() if getattr(row, name)
    ]
    connections.close_all()
    return tokens


if __name__ == "__main__":
    main()
