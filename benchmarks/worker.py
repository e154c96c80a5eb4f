"""One database's measurements, in a process of its own: `python -m benchmarks.worker '<options as JSON>'`.

A process per database because Django's settings name one database for the whole process: this one gets
BENCH_DATABASE before django.setup(). The database is dropped and created anew, migrated with Django's
migrate, populated and measured; the results go to a JSON file that the parent process reports.
"""

import asyncio
import gc
import json
import os
import sqlite3
import sys
import time
from pathlib import Path


def log(message):
    print(message, flush=True)


def recreate(database):
    """An empty database: results must not depend on what an earlier run left."""
    from . import config

    if database in config.SERVERS:
        config.SERVERS[database].check_name()
    if database == "postgresql":
        import psycopg
        from psycopg import sql

        with psycopg.connect(**config.pg_params("postgres"), autocommit=True) as connection:
            name = sql.Identifier(config.PG.name)
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
            return "PostgreSQL " + connection.execute("SHOW server_version").fetchone()[0].split()[0]
    if database == "mariadb":
        import MySQLdb

        connection = MySQLdb.connect(**config.mariadb_params(None))
        try:
            cursor = connection.cursor()
            name = "`" + config.MARIADB.name.replace("`", "``") + "`"  # a quoted identifier
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
            # The character set and collation of the store's tests (tests/settings.py), whatever the server's
            # defaults: slack_sdk's tables (create_tables()) take the database's.
            cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            cursor.execute("SELECT VERSION()")
            return "MariaDB " + cursor.fetchone()[0].split("-")[0]
        finally:
            connection.close()
    config.SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{config.SQLITE_PATH}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(config.SQLITE_PATH) as connection:
        # Write-ahead logging, as SQLite is run behind a web server: readers never wait for the writer.
        connection.execute("PRAGMA journal_mode=WAL")
    return f"SQLite {sqlite3.sqlite_version}"


def main_phase(database, options, run_options):
    from . import config, data
    from .run import Bench
    from .subjects import Subjects

    data.check_columns()
    started = time.perf_counter()
    keys = list(data.generate(0, options["teams"], data.UniqueTokens()))
    generated = time.perf_counter() - started
    started = time.perf_counter()
    installations, bots = data.write_ours(database, keys)
    ours_s = time.perf_counter() - started
    log(
        f"  data set: {options['teams']:,} teams, {len(keys):,} lookup keys, {installations:,} installations "
        f"and {bots:,} bots (generated and encrypted in {generated:.1f} s, written to our tables in "
        f"{ours_s:.1f} s)"
    )
    redis = config.redis_answers()
    if not redis:
        log(f"  skipped: Redis not reachable at {config.REDIS_URL}: no ours+redis rows")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    subjects = Subjects(database, loop, redis=redis)
    started = time.perf_counter()
    subjects.sdk_store.create_tables()
    data.write_slack_sdk(subjects.engine, subjects.sdk_store, keys)
    sdk_s = time.perf_counter() - started
    data.analyze(database)
    log(f"  the same rows in slack_sdk's tables in {sdk_s:.1f} s")
    gc.freeze()  # the data set stays: collections need not walk it again and again
    bench = Bench(keys, subjects, run_options, log)
    try:
        bench.check()
        queries = bench.count_queries()
        bench.run()
        native_pools = bench.native_pools()
    finally:  # also when the check fails: aiosqlite's threads would keep the process alive
        subjects.close()
        loop.close()
    return bench.results() | {
        "teams": options["teams"],
        "keys": len(keys),
        "installations": installations,
        "bots": bots,
        "populate_s": {"generate": generated, "ours": ours_s, "slack_sdk": sdk_s},
        "queries": queries,
        "native_pools": native_pools,
        "redis": _redis_version() if redis else None,
    }


def _redis_version():
    import redis

    from . import config

    client = redis.Redis.from_url(config.REDIS_URL)
    try:
        return client.info("server")["redis_version"]
    finally:
        client.close()


def main():
    options = json.loads(sys.argv[1])
    database = options["database"]
    os.environ["BENCH_DATABASE"] = database
    os.environ["BENCH_REDIS_PREFIX"] = options["redis_prefix"]
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    import django
    from django.core.management import call_command

    server = recreate(database)
    django.setup()
    from .run import Options

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    log(f"  {server}: database created and migrated in {time.perf_counter() - started:.1f} s")
    run_options = Options(options["rounds"], options["batch"], options["seconds"])
    result = {"database": database, "server": server, "phase": options["phase"]}
    if options["phase"] == "main":
        result |= main_phase(database, options, run_options)
    else:
        from . import scaling

        started = time.perf_counter()
        result["steps"] = scaling.run(database, options["scaling_teams"], run_options, log)
        result["seconds"] = time.perf_counter() - started
    Path(options["result"]).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
