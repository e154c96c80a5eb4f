"""32 callers want the same expired token at once: Slack is asked once, and every caller gets the new token.

The callers are two processes (tests/support/rotation_peer.py), each with threads calling `get_client()` and
asyncio tasks awaiting `async_get_client()`, released together, against the test's database and the fake
Slack, which is slow to answer (0.3 s) so that they really overlap, and which, as Slack, revokes a refresh
token once used: a second refresh with it would fail one caller with invalid_refresh_token.

On SQLite the test database is in memory, which no other process can open, and its shared-cache mode uses
table locks that fail at once rather than wait: there the two processes share an SQLite file of their own,
and call from threads only.
"""

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from tests.support.factories import InstallationFactory

SECRET = "test-client-secret-of-1111.2222"
PROCESSES = 2
CALLERS = 32
SLACK_LATENCY = 0.3


class Racers:
    """The racing processes: started, set up, then released together by one "go" line each."""

    def __init__(self, database, fake, plans):
        env = {
            **os.environ,
            "PEER_DATABASE": json.dumps(database),
            "PEER_SLACK_API_URL": fake.base_url,
            "PEER_CLIENT_SECRET": SECRET,
        }
        self.processes = []
        for plan in plans:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.rotation_peer"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                text=True,
            )
            self.processes.append(process)
            self._send(process, json.dumps(plan))
            if plan.get("setup"):  # the others use the tables it makes
                assert self._receive(process) == {"ready": True}
                plan["ready"] = True
        for process, plan in zip(self.processes, plans, strict=True):
            if not plan.get("ready"):
                assert self._receive(process) == {"ready": True}

    def race(self):
        """Release every caller; (the callers' results, named by process, the refresh tokens stored)."""
        for process in self.processes:
            self._send(process, "go")
        callers, refresh_tokens = [], []
        for number, process in enumerate(self.processes):
            report = self._receive(process)
            for caller in report["callers"]:
                callers.append({**caller, "name": f"process-{number}/{caller['name']}"})
            refresh_tokens = report["refresh_tokens"]  # each reads them once its callers are done
        for process in self.processes:
            process.stdin.close()
            assert process.wait(timeout=30) == 0
        return callers, refresh_tokens

    def kill(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    @staticmethod
    def _send(process, line):
        process.stdin.write(line + "\n")
        process.stdin.flush()

    @staticmethod
    def _receive(process):
        line = process.stdout.readline()
        assert line, f"a racing process exited ({process.wait(timeout=30)})"
        return json.loads(line)


def the_tests_database():
    """The test database's settings, for another process (through PgBouncer where this one goes so)."""
    names = ("ENGINE", "NAME", "HOST", "PORT", "USER", "PASSWORD", "OPTIONS", "DISABLE_SERVER_SIDE_CURSORS")
    return {name: connection.settings_dict[name] for name in names if name in connection.settings_dict}


def plans(installation, kind, *, setup):
    """Each process's plan: 16 callers, half threads and half tasks (on SQLite, threads only)."""
    per_process = CALLERS // PROCESSES
    threads = per_process if setup else per_process // 2
    key = {"enterprise_id": None, "team_id": installation.team_id}
    if kind == "user":
        key["user_id"] = installation.user_id
    result = [
        {"threads": threads, "tasks": per_process - threads, "key": key, "check": True, "setup": None}
        for _ in range(PROCESSES)
    ]
    if setup:
        result[0]["setup"] = {"installation": as_json(installation)}
    return result


def as_json(installation):
    """The installation's keyword arguments, its instants as epoch seconds."""
    arguments = installation.to_dict_for_copying()
    for name in ("installed_at", "bot_token_expires_at", "user_token_expires_at"):
        arguments[name] = getattr(installation, name)
    return arguments


def exchangeable(fake, installation, kind):
    used = getattr(installation, f"{kind}_refresh_token")
    access, following = f"xoxe.xox{kind[0]}-1-after-{used}", f"xoxe-1-after-{used}"
    fake.add_refresh_token(used, access_token=access, next_refresh_token=following, token_type=kind)
    if kind == "bot":
        fake.add_token(access, team_id=installation.team_id, user_id=installation.bot_user_id, bot_id="B0")
    else:
        fake.add_token(access, team_id=installation.team_id, user_id=installation.user_id)
    return used, access, following


def race(fake, installation, kind, database, *, setup):
    used, access, following = exchangeable(fake, installation, kind)
    fake.add_delay("oauth.v2.access", SLACK_LATENCY)
    racers = Racers(database, fake, plans(installation, kind, setup=setup))
    try:
        callers, refresh_tokens = racers.race()
    finally:
        racers.kill()
    return used, access, following, callers, refresh_tokens


def assert_one_refresh_served_everyone(fake, used, access, following, callers, refresh_tokens):
    who = [(caller["name"], caller["error"], round(caller["seconds"], 3)) for caller in callers]
    assert [caller["error"] for caller in callers] == [None] * CALLERS, who  # errors never hold a token
    assert fake.refreshes_with(used) == 1
    assert len(fake.calls_to("oauth.v2.access")) == 1
    assert {caller["token"] for caller in callers} == {access}
    assert all(caller["valid"] for caller in callers)  # auth.test accepted each client's token
    [winner] = [caller for caller in callers if caller["refreshed"]]
    # They overlapped: every caller had started before the one refresh returned.
    refresh_returned = winner["started_at"] + winner["seconds"]
    assert max(caller["started_at"] for caller in callers) < refresh_returned
    assert following in refresh_tokens and used not in refresh_tokens
    assert not fake.is_used(following)
    assert [token for token in refresh_tokens if fake.is_used(token)] == []


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite: the test below, on a file of its own")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["bot", "user"])
def test_32_callers_of_two_processes_refresh_once(fake_slack, kind):
    from django_slack_store.stores import DjangoInstallationStore
    from tests.support.store_api import CLIENT_ID

    installation = InstallationFactory(rotating=True)
    store = DjangoInstallationStore(CLIENT_ID)
    store.save(installation)

    used, access, following, callers, refresh_tokens = race(
        fake_slack, installation, kind, the_tests_database(), setup=False
    )

    assert_one_refresh_served_everyone(fake_slack, used, access, following, callers, refresh_tokens)
    assert sum(caller["name"].split("/")[1].startswith("task") for caller in callers) == CALLERS // 2
    found = store.find_installation(
        enterprise_id=None, team_id=installation.team_id, user_id=installation.user_id
    )
    assert getattr(found, f"{kind}_token") == access
    assert getattr(found, f"{kind}_refresh_token") == following


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite run of the test above")
@pytest.mark.parametrize("kind", ["bot", "user"])
def test_32_threads_of_two_processes_refresh_once_on_an_sqlite_file(fake_slack, tmp_path, kind):
    installation = InstallationFactory(rotating=True)
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "rotation.sqlite3")}

    used, access, following, callers, refresh_tokens = race(
        fake_slack, installation, kind, database, setup=True
    )

    assert_one_refresh_served_everyone(fake_slack, used, access, following, callers, refresh_tokens)
    assert all(caller["name"].split("/")[1].startswith("thread") for caller in callers)
