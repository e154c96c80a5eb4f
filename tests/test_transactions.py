"""Atomic writes, concurrent saves and a free event loop, against the real database.

Failures are made by the database itself (a trigger refuses the write), and concurrency by real threads,
each with its own connection, so these tests use committed transactions (`transaction=True`).
"""

import pytest
from django.db import DatabaseError, connection

from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support.concurrency import in_threads, needs_server_database, run_while_rows_locked
from tests.support.factories import BASE_TIME, InstallationFactory, rotated
from tests.support.store_api import CLIENT_ID


def refuse_writes(table, operations=("INSERT", "UPDATE")):
    """Create triggers that make the database refuse `operations` on `table`; returns their cleanup."""
    vendor, names = connection.vendor, [f"dss_refuse_{op.lower()}" for op in operations]
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION dss_refuse() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'write refused by trigger'; END $$ LANGUAGE plpgsql"
            )
        for name, operation in zip(names, operations, strict=False):
            if vendor == "postgresql":
                body = "EXECUTE FUNCTION dss_refuse()"
            elif vendor == "mysql":
                body = "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'write refused by trigger'"
            else:
                body = "BEGIN SELECT RAISE(ABORT, 'write refused by trigger'); END"
            cursor.execute(f"CREATE TRIGGER {name} BEFORE {operation} ON {table} FOR EACH ROW {body}")

    def cleanup():
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute(
                    f"DROP TRIGGER {name} ON {table}" if vendor == "postgresql" else f"DROP TRIGGER {name}"
                )
            if vendor == "postgresql":
                cursor.execute("DROP FUNCTION dss_refuse()")

    return cleanup


@pytest.fixture
def refused_bot_writes(transactional_db):
    cleanup = refuse_writes(SlackBot._meta.db_table)
    yield
    cleanup()


def stored(installation):
    row = SlackInstallation.objects.get(team_id=installation.team_id)
    return row.user_token, row.team_name


@pytest.mark.django_db(transaction=True)
def test_a_failed_bot_write_leaves_no_installation(api, refused_bot_writes):
    installation = InstallationFactory()
    with pytest.raises(DatabaseError, match="write refused by trigger"):
        api.save(installation)
    assert not SlackInstallation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failed_rotation_changes_nothing(api):
    installation = InstallationFactory(rotating=True)
    api.save(installation)
    cleanup = refuse_writes(SlackBot._meta.db_table)
    try:
        with pytest.raises(DatabaseError, match="write refused by trigger"):
            api.save(
                rotated(installation, bot_token="xoxb-test-new", user_token="xoxp-test-new", team_name="New")
            )
    finally:
        cleanup()
    assert stored(installation) == (installation.user_token, installation.team_name)
    assert SlackBot.objects.get().bot_token == installation.bot_token


@pytest.mark.django_db(transaction=True)
def test_delete_all_is_one_transaction(api):
    installation = InstallationFactory()
    api.save(installation)
    cleanup = refuse_writes(SlackInstallation._meta.db_table, operations=("DELETE",))
    try:
        with pytest.raises(DatabaseError, match="write refused by trigger"):
            api.delete_all(enterprise_id=None, team_id=installation.team_id)
    finally:
        cleanup()
    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (1, 1)


@needs_server_database
@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_of_one_identity_leave_one_row():
    installation = InstallationFactory(team_id="T0RACE", rotating=True)
    tokens = [f"xoxb-test-race-{i}" for i in range(16)]

    def save(i):
        copy = rotated(installation, bot_token=tokens[i])
        copy.user_token = None if i % 2 else installation.user_token  # half of them blanked, as Bolt does
        DjangoInstallationStore(client_id=CLIENT_ID).save(copy)

    in_threads(16, save)

    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (1, 1)
    found = DjangoInstallationStore(client_id=CLIENT_ID).find_installation(
        enterprise_id=None, team_id="T0RACE"
    )
    assert found.bot_token in tokens
    assert found.user_token == installation.user_token


@needs_server_database
@pytest.mark.django_db(transaction=True)
def test_concurrent_installs_are_all_kept_and_the_latest_found():
    installations = [InstallationFactory(team_id="T0MANY", installed_at=BASE_TIME + i) for i in range(16)]
    in_threads(16, lambda i: DjangoInstallationStore(client_id=CLIENT_ID).save(installations[i]))

    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (16, 16)
    found = DjangoInstallationStore(client_id=CLIENT_ID).find_installation(
        enterprise_id=None, team_id="T0MANY"
    )
    assert found.user_id == installations[-1].user_id


@needs_server_database
@pytest.mark.django_db(transaction=True)
def test_an_async_save_waiting_on_the_database_leaves_the_event_loop_free():
    installation = InstallationFactory(team_id="T0LOOP")
    store = DjangoInstallationStore(client_id=CLIENT_ID)
    store.save(installation)

    _, loop_was_free = run_while_rows_locked(
        SlackInstallation.objects.filter(team_id="T0LOOP"),
        lambda: store.async_save(rotated(installation, bot_token="xoxb-test-after-lock")),
    )

    assert loop_was_free
    assert store.find_bot(enterprise_id=None, team_id="T0LOOP").bot_token == "xoxb-test-after-lock"
