"""`python -m benchmarks.rotation_wait`: how long callers wait for another caller's refresh of their token.

32 callers ask `get_client()` for the same expired bot token at once: two processes
(tests/support/rotation_peer.py), each with 8 threads calling `get_client()` and 8 asyncio tasks awaiting
`async_get_client()` (on SQLite 16 threads, as the async calls there are the same calls in a thread). One of
them refreshes the token at a fake Slack (tests/support/fake_slack.py) that answers after `--latencies`
seconds; the others wait for its lock, then read what it saved. Printed: the wait of those others, from
their call to its return (p50 and p99 over all rounds), beside the refreshing caller's own call, and the
refreshes Slack saw per round (must be 1).

The databases are the benchmark's (README.md: BENCH_PG_*, BENCH_MARIADB_*, each dropped and created anew;
SQLite, a file in benchmarks/.data/, measured twice: on Django's defaults (rollback journal), then in WAL mode
as a tuned deployment runs it). Each round is a new workspace whose token has expired.
"""

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import config

PROCESSES, THREADS, TASKS = 2, 8, 8
SQLITE_PATH = config.DATA_DIR / "rotation-wait.sqlite3"
SECRET = "benchmark-client-secret"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.rotation_wait", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--databases", default=",".join(config.DATABASES), help="comma-separated (default: all)"
    )
    parser.add_argument("--rounds", type=int, default=10, help="races per database and latency (default 10)")
    parser.add_argument(
        "--latencies",
        default="0.3,0",
        help="the fake Slack's seconds per refresh, comma-separated (default 0.3,0)",
    )
    return parser.parse_args(argv)


def database_settings(database, *, wal=False):
    """An empty database of the benchmark's, as Django's DATABASES["default"] of the racing processes. SQLite
    in Django's default rollback-journal mode, or with `wal` in WAL mode (benchmarks/worker.py's tuning)."""
    if database == "sqlite":
        config.DATA_DIR.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
        if wal:
            with sqlite3.connect(SQLITE_PATH) as connection:
                connection.execute("PRAGMA journal_mode=WAL")  # persistent: the file stays in WAL mode
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(SQLITE_PATH)}
    from .worker import recreate

    recreate(database)
    return config.django_databases(database)["default"]


def installation(number):
    """The keyword arguments of a slack_sdk Installation whose bot token expired an hour ago."""
    team_id = f"T{number:07d}"
    return {
        "app_id": "A0BENCH",
        "team_id": team_id,
        "user_id": f"U{number:07d}",
        "bot_token": f"xoxe.xoxb-1-expired-{team_id}",
        "bot_id": f"B{number:07d}",
        "bot_user_id": f"UB{number:06d}",
        "bot_scopes": ["chat:write"],
        "bot_refresh_token": f"xoxe-1-used-{team_id}",
        "bot_token_expires_at": int(time.time()) - 3600,
        "installed_at": time.time(),
    }


def race(fake, database, number, *, threads_only):
    """One race of PROCESSES x (THREADS + TASKS) callers for one expired bot token: the callers' results and
    the refreshes Slack saw."""
    arguments = installation(number)
    fake.add_refresh_token(
        arguments["bot_refresh_token"],
        access_token=f"xoxe.xoxb-1-fresh-{arguments['team_id']}",
        next_refresh_token=f"xoxe-1-next-{arguments['team_id']}",
    )
    threads, tasks = (THREADS + TASKS, 0) if threads_only else (THREADS, TASKS)
    key = {"enterprise_id": None, "team_id": arguments["team_id"]}
    env = {
        **{name: value for name, value in os.environ.items() if not name.lower().endswith("_proxy")},
        "PEER_DATABASE": json.dumps(database),
        "PEER_SLACK_API_URL": fake.base_url,
        "PEER_CLIENT_SECRET": SECRET,
    }
    processes = []
    try:
        for index in range(PROCESSES):
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.rotation_peer"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                cwd=config.REPO_DIR,
                text=True,
            )
            processes.append(process)
            setup = (
                {"installation": arguments} if index == 0 else None
            )  # migrates, and saves the installation
            send(process, json.dumps({"threads": threads, "tasks": tasks, "key": key, "setup": setup}))
            if index == 0:
                receive(process)
        for process in processes[1:]:
            receive(process)
        for process in processes:
            send(process, "go")
        callers = [caller for process in processes for caller in receive(process)["callers"]]
        for process in processes:
            process.stdin.close()
            process.wait(timeout=60)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    errors = [caller["error"] for caller in callers if caller["error"]]
    if errors:
        raise SystemExit(f"{len(errors)} callers failed, the first: {errors[0]}")
    return callers, fake.refreshes_with(arguments["bot_refresh_token"])


def send(process, line):
    process.stdin.write(line + "\n")
    process.stdin.flush()


def receive(process):
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"a racing process exited ({process.wait()})")
    return json.loads(line)


def percentile(values, fraction):
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, str(config.REPO_DIR))
    from tests.support.fake_slack import FakeSlack

    databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    latencies = [float(value) for value in args.latencies.split(",")]
    header = f"{'database':<14} {'Slack':>6} {'callers':>8} {'waiters p50':>12} {'p99':>7} {'max':>7}"
    header += f" {'threads p50':>12} {'tasks p50':>10} {'refresher':>10} {'refreshes/round':>16}"
    print(
        f"{PROCESSES} processes x {THREADS} threads + {TASKS} tasks (SQLite: {THREADS + TASKS} threads) per "
        f"race, {args.rounds} races each; seconds",
        flush=True,
    )
    print(header, flush=True)
    number = 0
    # SQLite on Django's defaults first, then tuned (WAL); the servers as installed.
    runs = [(d, wal) for d in databases for wal in ((False, True) if d == "sqlite" else (False,))]
    for database, wal in runs:
        if database in config.SERVERS and not config.SERVERS[database].answers():
            print(f"{config.LABELS[database]}: not answering on {config.SERVERS[database].where()}, skipped")
            continue
        settings = database_settings(database, wal=wal)
        label = f"{config.LABELS[database]}{' WAL' if wal else ''}"
        for latency in latencies:
            with FakeSlack() as fake:
                fake.add_delay("oauth.v2.access", latency)
                waits, refresher_calls, refreshes, by_kind = [], [], [], {"thread": [], "task": []}
                for _ in range(args.rounds):
                    number += 1
                    callers, refreshed = race(fake, settings, number, threads_only=database == "sqlite")
                    refreshes.append(refreshed)
                    waits += [caller["seconds"] for caller in callers if not caller["refreshed"]]
                    for caller in callers:
                        if not caller["refreshed"]:
                            by_kind[caller["name"].split("-")[0]].append(caller["seconds"])
                    refresher_calls += [caller["seconds"] for caller in callers if caller["refreshed"]]
            counts = "/".join(map(str, sorted(set(refreshes))))  # "1": one refresh in every round
            threads, tasks = (
                f"{statistics.median(by_kind[kind]):.3f}" if by_kind[kind] else "-" for kind in by_kind
            )
            print(
                f"{label:<14} {latency:>6.1f} {len(waits) + len(refresher_calls):>8}"
                f" {statistics.median(waits):>12.3f} {percentile(waits, 0.99):>7.3f} {max(waits):>7.3f}"
                f" {threads:>12} {tasks:>10} {statistics.median(refresher_calls):>10.3f} {counts:>16}",
                flush=True,
            )


if __name__ == "__main__":
    main()
