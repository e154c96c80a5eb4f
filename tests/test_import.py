"""`manage.py slack_store_import` from slack_sdk's own stores, filled through their real classes.

Each source gets the same history (tests/test_import.py `fill`): a workspace reinstalled by another user and
rotated, an Enterprise Grid org-wide install and a workspace of that org, a user-only install, custom values,
an older bot rotated after a newer install, and a deleted bot. After the import, every find of ours returns
what the source's find returns, except where docs/store.md says the source is wrong: then ours returns
what `find_bot` serves for the bot fields of `find_installation` (theirs may return a deleted or stale bot
there), scopes as lists and absent ids as None (theirs may give "a,b" text, None or ""), and an installation
where the File store without historical data returns None for `find_installation(user_id=None)`.
"""

import datetime
import io
import json
import os
import re
import sqlite3
import sys
import uuid

import pytest
from django.core.management import CommandError, call_command
from hypothesis import event, given, note
from hypothesis import strategies as st
from slack_sdk.oauth.installation_store import Bot, FileInstallationStore, Installation
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

from django_slack_store import transfer
from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.rows import BOT_FIELDS
from django_slack_store.stores import DjangoInstallationStore
from django_slack_store.transfer.importer import _without_bot
from tests.support.factories import BASE_TIME, InstallationFactory, rotated
from tests.support.store_api import CLIENT_ID
from tests.support.strategies import ALL_FIELDS, HYPOTHESIS, VALID, expected, same

sqlalchemy = pytest.importorskip("sqlalchemy", reason="the [import] extra (SQLAlchemy) is not installed")
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore  # noqa: E402

UTC = datetime.timezone.utc
ORG = {"enterprise_id": "E0ORG", "team_id": None, "is_enterprise_install": True}
# Every workspace `fill` writes (and one it does not), with the users who installed there.
WORKSPACES = [
    ({"enterprise_id": None, "team_id": "T0ACME"}, ["U0ALICE", "U0BOB", "U0CAROL"]),
    (ORG, ["U0ORGADMIN"]),
    ({"enterprise_id": "E0ORG", "team_id": "T0GRID"}, ["U0GRID"]),
    ({"enterprise_id": None, "team_id": "T0CUSTOM"}, ["U0CUSTOM"]),
    ({"enterprise_id": None, "team_id": "T0ROT"}, ["U0OLD", "U0NEW"]),
    ({"enterprise_id": None, "team_id": "T0GONE"}, ["U0GONE"]),
    ({"enterprise_id": None, "team_id": "T0NEVER"}, ["U0NOBODY"]),
]


def fill(source):
    """The same history in any source (see the module docstring); returns the installations by name."""
    at = BASE_TIME
    saved = {
        "alice": InstallationFactory(team_id="T0ACME", user_id="U0ALICE", installed_at=at, rotating=True),
        "bob": InstallationFactory(team_id="T0ACME", user_id="U0BOB", installed_at=at + 10, rotating=True),
    }
    for installation in saved.values():
        source.save(installation)
    saved["bob"] = rotated(
        saved["bob"],
        bot_token="xoxb-test-rotated-bob",
        bot_refresh_token="xoxe-test-rotated-bob",
        bot_token_expires_at=1_800_000_000,
        user_token="xoxp-test-rotated-bob",
    )
    source.save(saved["bob"])
    saved["org"] = InstallationFactory(org_wide=True, user_id="U0ORGADMIN", installed_at=at + 20)
    saved["grid"] = InstallationFactory(
        enterprise_id="E0ORG",
        enterprise_name="Acme Org",
        team_id="T0GRID",
        user_id="U0GRID",
        installed_at=at + 30,
    )
    saved["carol"] = InstallationFactory(  # user-only: no bot in this install
        team_id="T0ACME",
        user_id="U0CAROL",
        installed_at=at + 40,
        bot_token=None,
        bot_id=None,
        bot_user_id=None,
    )
    saved["custom"] = InstallationFactory(
        team_id="T0CUSTOM",
        user_id="U0CUSTOM",
        installed_at=at + 50,
        custom_values={"plan": "pro", "seats": 3},
    )
    saved["old"] = InstallationFactory(team_id="T0ROT", user_id="U0OLD", installed_at=at + 60)
    saved["new"] = InstallationFactory(team_id="T0ROT", user_id="U0NEW", installed_at=at + 70)
    saved["gone"] = InstallationFactory(team_id="T0GONE", user_id="U0GONE", installed_at=at + 80)
    for name in ("org", "grid", "carol", "custom", "old", "new", "gone"):
        source.save(saved[name])
    # The older install's bot token rotated after the newer install.
    source.save_bot(rotated(saved["old"].to_bot(), bot_token="xoxb-test-rotated-old"))
    source.delete_bot(enterprise_id=None, team_id="T0GONE")
    return saved


# -- sources, through slack_sdk's real store classes -------------------------------------------------------


class Source:
    """A slack_sdk store to fill (`save`, `save_bot`, `delete_bot`) and to ask (`store`), and the
    slack_store_import arguments that read it."""

    def __init__(self, store, args):
        self.store, self.args = store, args

    def __getattr__(self, name):
        return getattr(self.store, name)

    def close(self):
        pass


class SQLAlchemySource(Source):
    def __init__(self, url, client_id=CLIENT_ID, **tables):
        self.engine = sqlalchemy.create_engine(url)
        names = {
            "installations_table_name": tables.get("installations", "slack_installations"),
            "bots_table_name": tables.get("bots", "slack_bots"),
        }
        store = SQLAlchemyInstallationStore(client_id=client_id, engine=self.engine, **names)
        store.create_tables()
        args = ["--sqlalchemy-url", url]
        if tables:
            args += ["--installations-table", tables["installations"], "--bots-table", tables["bots"]]
        super().__init__(store, args)

    def close(self):
        self.engine.dispose()


class SQLite3Source(Source):
    """slack_sdk's SQLite3 store stamps rows with SQLite's CURRENT_TIMESTAMP (whole seconds), so saves in
    one test would tie: each save's rows are restamped a minute after the previous save, as a real history."""

    def __init__(self, path, client_id=CLIENT_ID):
        super().__init__(
            SQLite3InstallationStore(database=str(path), client_id=client_id), ["--sqlite3-path", str(path)]
        )
        self.path = path
        self.clock = datetime.datetime(2023, 11, 14, 22, 0, tzinfo=UTC)
        self.last_ids = {"slack_installations": 0, "slack_bots": 0}

    def save(self, installation):
        self.store.save(installation)
        self._stamp()

    def save_bot(self, bot):
        self.store.save_bot(bot)
        self._stamp()

    def _stamp(self):
        self.clock += datetime.timedelta(minutes=1)
        with sqlite3.connect(self.path) as connection:
            for table, last_id in self.last_ids.items():
                connection.execute(
                    f"update {table} set installed_at = ? where id > ?",
                    [f"{self.clock:%Y-%m-%d %H:%M:%S}", last_id],
                )
                self.last_ids[table] = connection.execute(
                    f"select coalesce(max(id), 0) from {table}"
                ).fetchone()[0]


def file_source(tmp_path, historical_data_enabled=True):
    store = FileInstallationStore(
        base_dir=str(tmp_path / "files"), client_id=CLIENT_ID, historical_data_enabled=historical_data_enabled
    )
    return Source(store, ["--file-dir", str(tmp_path / "files"), "--client-id", CLIENT_ID])


@pytest.fixture
def postgresql_url():
    """A database of its own on the test run's PostgreSQL server, for slack_sdk's SQLAlchemy store."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if "postgresql" not in database["ENGINE"]:
        pytest.skip("the SQLAlchemy store on PostgreSQL is tested with DB_BACKEND=postgresql")
    server = sqlalchemy.engine.URL.create(
        "postgresql+psycopg",
        username=database["USER"],
        password=database["PASSWORD"] or None,
        host=database["HOST"],
        port=int(database["PORT"]),
        database="postgres",
    )
    name = f"dss_import_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"create database {name}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"drop database {name} with (force)")
        admin.dispose()


SOURCES = [
    "sqlalchemy-sqlite",
    "sqlalchemy-sqlite-named-tables",
    "sqlalchemy-postgresql",
    "sqlite3",
    "file",
    "file-latest-only",
]


@pytest.fixture(params=SOURCES)
def source(request, tmp_path):
    kind = request.param
    if kind == "sqlalchemy-sqlite":
        made = SQLAlchemySource(f"sqlite:///{tmp_path / 'sqlalchemy.db'}")
    elif kind == "sqlalchemy-sqlite-named-tables":
        made = SQLAlchemySource(
            f"sqlite:///{tmp_path / 'named.db'}", installations="my_installs", bots="my_bots"
        )
    elif kind == "sqlalchemy-postgresql":
        made = SQLAlchemySource(request.getfixturevalue("postgresql_url"))
    elif kind == "sqlite3":
        made = SQLite3Source(tmp_path / "sqlite3.db")
    else:
        made = file_source(tmp_path, historical_data_enabled=kind == "file")
    made.kind = kind
    yield made
    made.close()


def run_import(*args, stdin=None):
    out = io.StringIO()
    call_command("slack_store_import", *args, stdout=out, stderr=out, **({"stdin": stdin} if stdin else {}))
    return out.getvalue()


# -- comparing answers -----------------------------------------------------------------------------------


def normal(obj):
    """vars() with the source's quirks smoothed: absent ids None, scopes lists."""
    if obj is None:
        return None
    values = dict(vars(obj))
    for name in ("enterprise_id", "team_id", "user_id"):
        if name in values:
            values[name] = values[name] or None
    for name in ("bot_scopes", "user_scopes"):
        if name in values:
            scopes = values[name]
            values[name] = (
                (scopes.split(",") if scopes else []) if isinstance(scopes, str) or not scopes else scopes
            )
    return values


def bot_fields(bot):
    if bot is None:
        return dict.fromkeys(BOT_FIELDS) | {"bot_scopes": []}
    return {name: normal(bot)[name] for name in BOT_FIELDS}


def assert_same_answers(ours, theirs, *, skip_workspace_finds=False):
    """Every find of ours returns the source's answer; find_installation's bot fields are its find_bot's."""
    for workspace, users in WORKSPACES:
        their_bot = theirs.find_bot(**workspace)
        assert normal(ours.find_bot(**workspace)) == normal(their_bot), workspace
        for user_id in [None, *users]:
            if user_id is None and skip_workspace_finds:
                continue
            their_installation = theirs.find_installation(**workspace, user_id=user_id)
            expected = (
                None if their_installation is None else normal(their_installation) | bot_fields(their_bot)
            )
            assert normal(ours.find_installation(**workspace, user_id=user_id)) == expected, (
                workspace,
                user_id,
            )


@pytest.fixture
def ours(db):
    return DjangoInstallationStore(client_id=CLIENT_ID)


# -- the import ------------------------------------------------------------------------------------------


def test_after_import_every_find_answers_as_the_source(source, ours):
    fill(source)
    output = run_import(*source.args)

    assert "Verified" in output and "Verification failed" not in output
    latest_only = source.kind == "file-latest-only"
    assert_same_answers(ours, source.store, skip_workspace_finds=latest_only)
    if latest_only:
        # Without historical data the File store has no installer-latest: its find_installation without a
        # user finds nothing. Ours finds the latest installation, as for every other source.
        assert source.store.find_installation(enterprise_id=None, team_id="T0ACME") is None
        assert ours.find_installation(enterprise_id=None, team_id="T0ACME").user_id == "U0CAROL"


def test_where_the_source_is_wrong_ours_is_right(tmp_path, ours):
    source = SQLAlchemySource(f"sqlite:///{tmp_path / 'sqlalchemy.db'}")
    saved = fill(source)
    run_import(*source.args)
    theirs = source.store

    # slack_sdk's store keeps serving the deleted bot's token in find_installation; we serve no bot.
    assert theirs.find_bot(enterprise_id=None, team_id="T0GONE") is None
    assert theirs.find_installation(enterprise_id=None, team_id="T0GONE").bot_token == saved["gone"].bot_token
    assert ours.find_installation(enterprise_id=None, team_id="T0GONE").bot_token is None
    # Its find_installation and find_bot disagree after an older bot's rotation; ours agree on find_bot's.
    assert theirs.find_installation(enterprise_id=None, team_id="T0ROT").bot_token == saved["new"].bot_token
    assert ours.find_installation(enterprise_id=None, team_id="T0ROT").bot_token == saved["new"].bot_token
    # It drops custom values (there is no column for them): there is nothing to import.
    assert ours.find_installation(enterprise_id=None, team_id="T0CUSTOM").custom_values == {}
    # Empty scopes come back as None from it, as [] from us.
    assert theirs.find_installation(enterprise_id=None, team_id="T0ACME").user_scopes is not None
    carol = theirs.find_installation(enterprise_id=None, team_id="T0ACME", user_id="U0CAROL")
    assert (carol.bot_token, ours.find_bot(enterprise_id=None, team_id="T0ACME").bot_token) == (
        saved["bob"].bot_token,
        saved["bob"].bot_token,
    )
    source.close()


def test_installed_at_and_every_field_are_kept_exactly(tmp_path, ours):
    source = file_source(tmp_path)
    installation = InstallationFactory(complete=True, installed_at=BASE_TIME + 0.000001)
    source.save(installation)
    run_import(*source.args)

    assert vars(ours.find_installation(enterprise_id="E0GRID", team_id=installation.team_id)) == vars(
        installation
    )
    assert vars(ours.find_bot(enterprise_id="E0GRID", team_id=installation.team_id)) == vars(
        installation.to_bot()
    )


def test_bot_rows_without_a_token_are_skipped(tmp_path, ours):
    source = SQLAlchemySource(f"sqlite:///{tmp_path / 'sqlalchemy.db'}")
    # slack_sdk's SQLAlchemy store writes a bot row without a token for a user-only install.
    source.save(InstallationFactory(team_id="T0USER", bot_token=None, bot_id=None, bot_user_id=None))
    output = run_import(*source.args)

    assert "Skipped 1 bot rows without a bot token" in output
    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (1, 0)
    source.close()


# -- idempotence, re-runs, dry runs -------------------------------------------------------------------------


def test_a_second_run_imports_nothing_new(tmp_path, ours, received, django_capture_on_commit_callbacks):
    source = SQLAlchemySource(f"sqlite:///{tmp_path / 'sqlalchemy.db'}")
    fill(source)
    run_import(*source.args)
    before = {model: list(model.objects.order_by("pk").values()) for model in (SlackInstallation, SlackBot)}
    received.clear()

    with django_capture_on_commit_callbacks(execute=True):
        output = run_import(*source.args)

    assert "installations 0 new, 0 updated, 9 unchanged; bots 0 new, 0 updated, 7 unchanged" in output
    assert before == {
        model: list(model.objects.order_by("pk").values()) for model in (SlackInstallation, SlackBot)
    }
    assert received == []
    source.close()


def test_a_rerun_picks_up_rotations_and_keeps_serving_the_sources_bot(tmp_path, ours):
    source = SQLAlchemySource(f"sqlite:///{tmp_path / 'sqlalchemy.db'}")
    saved = fill(source)
    run_import(*source.args)

    # After the first import the old app still runs: it rotates the latest bot, then an older one.
    source.save(rotated(saved["bob"], bot_token="xoxb-test-rotated-again", user_token="xoxp-test-again"))
    source.save_bot(rotated(saved["old"].to_bot(), bot_token="xoxb-test-rotated-old-again"))
    output = run_import(*source.args)

    assert "installations 0 new, 1 updated, 8 unchanged" in output
    # bob's bot and old's bot are rewritten; new's bot (the one T0ROT serves) is written again after old's.
    assert "bots 0 new, 2 updated, 5 unchanged, 1 rewritten" in output
    assert ours.find_bot(enterprise_id=None, team_id="T0ACME").bot_token == "xoxb-test-rotated-again"
    assert ours.find_bot(enterprise_id=None, team_id="T0ROT").bot_token == saved["new"].bot_token
    assert_same_answers(ours, source.store)
    source.close()


def test_bots_are_written_in_installed_at_order(tmp_path, ours):
    """The SQLAlchemy store serves the bot with the latest installed_at, whatever order rows were written."""
    source = SQLAlchemySource(f"sqlite:///{tmp_path / 'sqlalchemy.db'}")
    newer = InstallationFactory(team_id="T0ORDER", installed_at=BASE_TIME + 100)
    older = InstallationFactory(team_id="T0ORDER", installed_at=BASE_TIME)
    source.save(newer)
    source.save(older)  # written last, installed first
    run_import(*source.args)

    assert source.store.find_bot(enterprise_id=None, team_id="T0ORDER").bot_token == newer.bot_token
    assert ours.find_bot(enterprise_id=None, team_id="T0ORDER").bot_token == newer.bot_token
    bots = SlackBot.objects.order_by("updated_at")
    assert [bot.installed_at.timestamp() for bot in bots] == [older.installed_at, newer.installed_at]
    source.close()


def test_a_dry_run_writes_nothing(tmp_path, ours):
    source = file_source(tmp_path)
    fill(source)
    output = run_import(*source.args, "--dry-run")

    assert "Dry run, nothing written. Would import: installations 9 new" in output
    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (0, 0)


def test_progress_is_reported_per_batch(tmp_path, ours):
    source = file_source(tmp_path)
    fill(source)
    output = run_import(*source.args, "--batch-size", "2")
    assert "  installations: 2 new, 0 updated, 0 unchanged" in output
    assert "  installations: 4 new, 0 updated, 0 unchanged" in output
    assert_same_answers(ours, source.store)


# -- signals ---------------------------------------------------------------------------------------------


def test_an_import_sends_the_save_signals(tmp_path, ours, received, django_capture_on_commit_callbacks):
    source = file_source(tmp_path)
    source.save(InstallationFactory(team_id="T0SIG", user_id="U0SIG"))
    with django_capture_on_commit_callbacks(execute=True):
        run_import(*source.args)

    assert received.names() == ["installation_saved", "bot_saved"]
    [saved] = received.of("installation_saved")
    # Installation rows hold no bot credentials: the bot comes with bot_saved.
    assert saved["installation"].user_id == "U0SIG" and saved["installation"].bot_token is None
    assert received.of("bot_saved")[0]["bot"].bot_token


def test_no_signals(tmp_path, ours, received, django_capture_on_commit_callbacks):
    source = file_source(tmp_path)
    fill(source)
    with django_capture_on_commit_callbacks(execute=True):
        run_import(*source.args, "--no-signals")
    assert received == [] and SlackInstallation.objects.count() == 9


# -- client ids and time zones -------------------------------------------------------------------------------


def test_client_id_selects_one_app(tmp_path, ours):
    url = f"sqlite:///{tmp_path / 'sqlalchemy.db'}"
    mine, theirs = SQLAlchemySource(url), SQLAlchemySource(url, client_id="9999.8888")
    mine.save(InstallationFactory(team_id="T0MINE"))
    theirs.save(InstallationFactory(team_id="T0THEIRS"))

    run_import(*mine.args, "--client-id", CLIENT_ID)
    assert list(SlackInstallation.objects.values_list("client_id", "team_id")) == [(CLIENT_ID, "T0MINE")]

    run_import(*mine.args)  # every app of the source
    assert sorted(SlackInstallation.objects.values_list("client_id", "team_id")) == [
        (CLIENT_ID, "T0MINE"),
        ("9999.8888", "T0THEIRS"),
    ]

    output = run_import(*mine.args, "--client-id", "5555.5555")
    assert (
        "Nothing to import for client_id '5555.5555'; the source's client ids: 1111.2222, 9999.8888."
        in output
    )
    mine.close()
    theirs.close()


def test_naive_timestamps_are_read_in_the_source_time_zone(tmp_path, ours):
    """Rows whose naive timestamps are Paris wall-clock time (a writer in that zone) import exactly with
    --source-tz Europe/Paris; read as UTC (the default) they would be an hour off."""
    import zoneinfo

    source = SQLAlchemySource(f"sqlite:///{tmp_path / 'sqlalchemy.db'}")
    installation = InstallationFactory(team_id="T0TZ", rotating=True)
    source.save(installation)
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    with source.engine.begin() as connection:
        for table in (source.store.installations, source.store.bots):
            for row in connection.execute(sqlalchemy.select(table)).mappings():
                shifted = {
                    name: row[name].replace(tzinfo=UTC).astimezone(paris).replace(tzinfo=None)
                    for name in ("installed_at", "bot_token_expires_at", "user_token_expires_at")
                    if name in row and row[name] is not None
                }
                connection.execute(table.update().where(table.c.id == row["id"]).values(**shifted))

    run_import(*source.args, "--source-tz", "Europe/Paris")
    found = ours.find_installation(enterprise_id=None, team_id="T0TZ")
    assert found.installed_at == installation.installed_at
    assert found.bot_token_expires_at == installation.bot_token_expires_at
    assert found.user_token_expires_at == installation.user_token_expires_at

    SlackInstallation.objects.all().delete()
    SlackBot.objects.all().delete()
    run_import(*source.args)  # UTC: the wall-clock time an hour (winter) after the real instant
    assert (
        ours.find_installation(enterprise_id=None, team_id="T0TZ").installed_at
        == installation.installed_at + 3600
    )
    source.close()


def test_an_unknown_time_zone_is_refused(tmp_path, db):
    with pytest.raises(CommandError, match="--source-tz 'Mars/Olympus' is not a time zone"):
        run_import("--sqlite3-path", str(tmp_path / "x.db"), "--source-tz", "Mars/Olympus")


# -- verification and errors --------------------------------------------------------------------------------


def test_verification_reports_a_store_that_differs(tmp_path, ours, monkeypatch):
    source = file_source(tmp_path)
    fill(source)
    save = DjangoInstallationStore.save

    def lose_carol(store, installation):  # a write that does not land (say, a router sends it elsewhere)
        if installation.user_id != "U0CAROL":
            save(store, installation)

    monkeypatch.setattr(DjangoInstallationStore, "save", lose_carol)
    with pytest.raises(CommandError, match="Verification failed") as raised:
        run_import(*source.args)
    message = str(raised.value)
    assert "1 of the source's 9 installations are not here" in message
    assert (
        "team T0ACME: the latest installation here was installed at 2023-11-14T22:13:30.123456+00:00 by "
        "U0BOB, in the source at 2023-11-14T22:14:00.123456+00:00 by U0CAROL" in message
    )


def test_a_catch_up_after_the_switch_keeps_what_happened_here(tmp_path, ours):
    """The old app ran on for a while after the first import, and the new one already runs: a second import
    brings the old store's changes, but never an older rotated token over a newer one, nor un-serves a bot
    installed here since."""
    source = SQLAlchemySource(f"sqlite:///{tmp_path / 'sqlalchemy.db'}")
    kept = InstallationFactory(team_id="T0KEPT", installed_at=BASE_TIME, rotating=True)
    live = InstallationFactory(team_id="T0LIVE", user_id="U0OLD", installed_at=BASE_TIME, rotating=True)
    source.save(kept)
    source.save(live)
    run_import(*source.args)

    def rotation(installation, where, later):
        return rotated(
            installation,
            bot_token=f"xoxb-test-rotated-{where}",
            bot_token_expires_at=installation.bot_token_expires_at + later,
            user_token=f"xoxp-test-rotated-{where}",
            user_token_expires_at=installation.user_token_expires_at + later,
        )

    # T0KEPT rotated in the old app, then again (later) here; T0LIVE rotated there, and reinstalled here.
    source.save(rotation(kept, "there", 100))
    ours.save(rotation(kept, "here", 200))
    source.save(rotation(live, "there", 100))
    reinstall = InstallationFactory(team_id="T0LIVE", user_id="U0NEW", installed_at=BASE_TIME + 3600)
    ours.save(reinstall)

    output = run_import(*source.args)

    assert "installations 0 new, 1 updated, 0 unchanged, 1 kept (rotated here since" in output
    assert (
        "bots 0 new, 1 updated, 0 unchanged, 1 kept (rotated here since: newer than the source's), "
        "1 rewritten" in output
    )
    assert (
        "Verified: 2 time(s) a workspace's latest installation or served bot here was installed here"
        in output
    )
    assert ours.find_bot(enterprise_id=None, team_id="T0KEPT").bot_token == "xoxb-test-rotated-here"
    assert ours.find_installation(enterprise_id=None, team_id="T0KEPT").user_token == "xoxp-test-rotated-here"
    # The old installation got the old app's rotation; the reinstall here stays the latest, and served.
    assert ours.find_installation(enterprise_id=None, team_id="T0LIVE", user_id="U0OLD").user_token == (
        "xoxp-test-rotated-there"
    )
    assert vars(ours.find_installation(enterprise_id=None, team_id="T0LIVE")) == vars(reinstall)
    source.close()


def test_an_invalid_row_stops_the_import_naming_it(tmp_path, ours):
    source = SQLAlchemySource(f"sqlite:///{tmp_path / 'sqlalchemy.db'}")
    source.save(InstallationFactory(team_id="T0FIRST", installed_at=BASE_TIME))
    source.save(InstallationFactory(team_id="T0" + "X" * 40, installed_at=BASE_TIME + 1))  # too long for us

    with pytest.raises(CommandError, match="slack_installations id 2: team_id is longer than 32 characters"):
        run_import(*source.args, "--batch-size", "1")
    # The batch before it is committed; running again after fixing the source resumes.
    assert list(SlackInstallation.objects.values_list("team_id", flat=True)) == ["T0FIRST"]

    with pytest.raises(CommandError, match="Dry run: nothing was written"):
        run_import(*source.args, "--dry-run")
    source.close()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"team_id": 12345}, "line 1: team_id must be a str, not int"),  # TypeError
        ({"team_id": "T0 SPACE"}, "line 1: team_id must be a Slack id"),  # ValueError
        ({"client_id": 1234.5}, "line 1: client_id must be a str, not float"),
        ({"client_id": {"id": "1.2"}}, "line 1: client_id must be a str, not dict"),
        ({"client_id": ["1.2"]}, "line 1: client_id must be a str, not list"),
    ],
)
def test_a_wrong_type_or_value_stops_the_import_naming_the_row(tmp_path, db, values, message):
    record = {"type": "installation", "client_id": CLIENT_ID, **vars(InstallationFactory()), **values}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(CommandError, match=message):
        run_import("--jsonl", str(path))
    assert SlackInstallation.objects.count() == 0


BAD_TIMES = [
    ("installation", "installed_at", 1e300, "installed_at: 1e+300 is not a timestamp Slack could have sent"),
    ("installation", "installed_at", "inf", "installed_at: 'inf' is not a timestamp Slack could have sent"),
    ("installation", "installed_at", 1e20, "installed_at: 1e+20 is not a timestamp Slack could have sent"),
    ("installation", "installed_at", 10**20, "installed_at: 100000000000000000000 is not a timestamp"),
    ("installation", "installed_at", "9" * 500, "installed_at: '999999999999...9999999999999' is not a"),
    ("installation", "installed_at", "1e999", "installed_at: '1e999' is not a timestamp"),
    (
        "installation",
        "installed_at",
        [1.5],
        "installed_at must be a timestamp (Unix time or ISO 8601), not list",
    ),
    ("installation", "user_token_expires_at", 1e300, "user_token_expires_at: 1e+300 is not a timestamp"),
    ("bot", "bot_token_expires_at", -1e300, "bot_token_expires_at: -1e+300 is not a timestamp"),
    ("bot", "updated_at", 1e300, "updated_at: 1e+300 is not a timestamp Slack could have sent"),
    ("bot", "updated_at", {"at": 1}, "updated_at must be a timestamp (Unix time or ISO 8601), not dict"),
]


@pytest.mark.parametrize(("kind", "name", "value", "message"), BAD_TIMES, ids=lambda v: str(v)[:20])
def test_a_time_no_datetime_holds_stops_the_import_naming_it(tmp_path, ours, kind, name, value, message):
    """Named with its field and its value (shortened), in the row; nothing stored is lost or changed."""
    stored = InstallationFactory(rotating=True)
    ours.save(stored)
    before = vars(ours.find_installation(enterprise_id=None, team_id=stored.team_id))
    good = rotated(stored, user_token="xoxp-test-would-be-updated")  # line 1: would update the stored row
    bad = vars(InstallationFactory() if kind == "installation" else InstallationFactory().to_bot())
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps({"type": "installation", "client_id": CLIENT_ID, **vars(good)})
        + "\n"
        + json.dumps({"type": kind, "client_id": CLIENT_ID, **bad, name: value})
        + "\n"
    )
    with pytest.raises(CommandError) as raised:
        run_import("--jsonl", str(path))
    assert str(raised.value).startswith(f"line 2: {message}")
    assert len(str(raised.value)) < 200
    with pytest.raises(transfer.SourceError, match=re.escape(message)):
        transfer.import_from(transfer.JSONLinesSource(str(path)))
    assert vars(ours.find_installation(enterprise_id=None, team_id=stored.team_id)) == before
    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (1, 1)


def test_sqlalchemy_is_needed_only_for_its_source(tmp_path, monkeypatch, db):
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    with pytest.raises(CommandError, match=r"needs SQLAlchemy: pip install 'django-slack-store\[import\]'"):
        run_import("--sqlalchemy-url", "sqlite://")
    source = file_source(tmp_path)
    source.save(InstallationFactory())
    assert "Imported: installations 1 new" in run_import(*source.args)


def _not_sqlite(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database " * 100)
    return ["--sqlite3-path", str(path)]


def _empty_sqlite(tmp_path):
    sqlite3.connect(tmp_path / "empty.db").execute("create table other (id integer)").connection.commit()
    return ["--sqlite3-path", str(tmp_path / "empty.db")]


def _bad_file_store(tmp_path):
    folder = tmp_path / "files" / "none-T0BAD"
    folder.mkdir(parents=True)
    (folder / "installer-latest").write_text("{not json")
    return ["--file-dir", str(tmp_path / "files"), "--client-id", CLIENT_ID]


def _bad_jsonl(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text("\n[1, 2\n")
    return ["--jsonl", str(path)]


def _deep_jsonl(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"type": "installation", "custom_values": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    return ["--jsonl", str(path)]


def _deep_file_store(tmp_path):
    folder = tmp_path / "files" / "none-T0DEEP"
    folder.mkdir(parents=True)
    (folder / "installer-latest").write_text('{"custom_values": ' + '{"k": ' * 100_000 + "1" + "}" * 100_001)
    return ["--file-dir", str(tmp_path / "files"), "--client-id", CLIENT_ID]


def _unknown_type(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text('{"type": "team", "client_id": "1.2"}\n')
    return ["--jsonl", str(path)]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (lambda tmp: ["--sqlite3-path", str(tmp / "missing.db")], "missing.db: no such file"),
        (_not_sqlite, "cannot be read as an SQLite database"),
        (_empty_sqlite, "is not an SQLite3InstallationStore file: no table 'slack_installations'"),
        (lambda tmp: ["--sqlalchemy-url", "nonsense://x"], "Cannot use the SQLAlchemy URL"),
        (
            lambda tmp: ["--sqlalchemy-url", f"sqlite:///{tmp / 'none.db'}"],
            "has no table 'slack_installations' (it has: none). Give --installations-table",
        ),
        (
            lambda tmp: ["--file-dir", str(tmp / "nowhere"), "--client-id", "1.2"],
            "nowhere: no such directory",
        ),
        (lambda tmp: ["--file-dir", str(tmp)], "--client-id is required with --file-dir"),
        (lambda tmp: ["--file-dir", str(tmp), "--client-id", "1.2"], "holds no workspace folders"),
        (_bad_file_store, "installer-latest: cannot be read as JSON"),
        (_bad_jsonl, "line 2: not JSON"),
        (_deep_jsonl, "line 1: not JSON: nested too deeply"),
        (_deep_file_store, "installer-latest: cannot be read as JSON: nested too deeply"),
        (_unknown_type, 'line 1: "type" must be "installation" or "bot", not \'team\''),
        (lambda tmp: ["--jsonl", str(tmp / "missing.jsonl")], "Cannot read"),
        (
            lambda tmp: ["--sqlite3-path", "x.db", "--bots-table", "b"],
            "--installations-table and --bots-table go with --sqlalchemy-url",
        ),
        (lambda tmp: ["--sqlite3-path", "x.db", "--batch-size", "0"], "--batch-size: must be at least 1"),
    ],
    ids=lambda value: "" if callable(value) else value[:40],
)
def test_unreadable_sources_are_clear_errors(tmp_path, db, arguments, message):
    with pytest.raises(CommandError) as raised:
        run_import(*arguments(tmp_path))
    assert message in str(raised.value)
    assert SlackInstallation.objects.count() == 0


@pytest.mark.parametrize(
    ("batch_size", "error", "message"),
    [
        ("10", TypeError, "batch_size must be an int, not str"),
        (True, TypeError, "batch_size must be an int, not bool"),
        (0, ValueError, "batch_size must be an int >= 1, not 0"),
    ],
)
def test_import_from_checks_its_batch_size(batch_size, error, message):
    with pytest.raises(error, match=message):
        transfer.import_from(transfer.Source(), batch_size=batch_size)


def test_exactly_one_source_is_required(db):
    with pytest.raises(CommandError, match="one of the arguments"):
        run_import()
    with pytest.raises(CommandError, match="not allowed with argument"):
        run_import("--sqlite3-path", "a.db", "--file-dir", "b")


def test_the_url_password_is_not_printed(tmp_path, ours, postgresql_url):
    source = SQLAlchemySource(postgresql_url)
    source.save(InstallationFactory())
    output = run_import(*source.args)
    password = sqlalchemy.engine.make_url(postgresql_url).password
    assert "postgresql+psycopg://" in output and (not password or password not in output)
    source.close()


def test_jsonl_from_any_tool(tmp_path, ours):
    """Lines of `installation.__dict__` (with "type" and "client_id") import too: a path from any store."""
    installation = InstallationFactory(complete=True)
    lines = [
        {"type": "installation", "client_id": CLIENT_ID, **vars(installation)},
        {"type": "bot", **vars(installation.to_bot())},  # the client id comes from --client-id
    ]
    path = tmp_path / "any.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run_import("--jsonl", str(path), "--client-id", CLIENT_ID)
    assert vars(ours.find_installation(enterprise_id="E0GRID", team_id=installation.team_id)) == vars(
        installation
    )


def test_jsonl_lines_without_a_client_id_need_one(tmp_path, db):
    path = tmp_path / "no-client.jsonl"
    path.write_text(json.dumps({"type": "bot", **vars(InstallationFactory().to_bot())}) + "\n")
    with pytest.raises(CommandError, match="line 1: no client_id"):
        run_import("--jsonl", str(path))


def test_file_store_under_its_client_id_folder(tmp_path, ours):
    """FileInstallationStore(base_dir, client_id) writes into base_dir/<client_id>: either path works."""
    source = file_source(tmp_path)
    source.save(InstallationFactory(team_id="T0FILES"))
    run_import("--file-dir", str(tmp_path / "files" / CLIENT_ID), "--client-id", CLIENT_ID)
    assert ours.find_installation(enterprise_id=None, team_id="T0FILES")
    assert os.path.isdir(tmp_path / "files" / CLIENT_ID)


# -- any record, property-based --------------------------------------------------------------------------


class Raw(str):
    """JSON text written as it is: what json.dumps cannot write (ints of more digits than Python converts,
    nesting deeper than it recurses)."""


def to_json(value):
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(key)}: {to_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(to_json, value)) + "]"
    return json.dumps(value)  # NaN and infinities as Python writes them: NaN, Infinity


json_ish = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(10**400), max_value=10**400),
        st.floats(),  # NaN and infinities included
        st.sampled_from([1e300, -1e300, 1e20, 2.0**62, 253402214400.0, 5e-324]),
        st.text(max_size=20),
        st.sampled_from(["inf", "-inf", "nan", "1e999", "2024-01-01T00:00:00", "9999-12-31T23:59:59+14:00"]),
        st.builds(
            lambda sign, size: Raw(sign + "9" * size), st.sampled_from(["", "-"]), st.sampled_from([20, 5000])
        ),
        st.builds(lambda depth: Raw("[" * depth + "]" * depth), st.sampled_from([30, 32, 900, 100_000])),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
RECORD_KEYS = ["type", "client_id", "updated_at", "not_a_field", *ALL_FIELDS]


@st.composite
def records(draw):
    """A record as an export writes it, of an installation or a bot, with up to 3 of its keys (any one of
    "type", "client_id", "updated_at", a field, or one no object has) holding any JSON value, or for a field
    any value a save accepts (tests/test_hardening.py)."""
    installation = InstallationFactory(complete=True)
    kind = draw(st.sampled_from(["installation", "bot"]))
    fields = vars(installation) if kind == "installation" else vars(installation.to_bot())
    record = {"type": kind, "client_id": CLIENT_ID, **fields, "updated_at": installation.installed_at}
    for key in draw(st.lists(st.sampled_from(RECORD_KEYS), max_size=3, unique=True)):
        record[key] = draw(st.one_of(VALID[key], json_ish) if key in VALID else json_ish)
    return record


def table_contents():
    return [
        list(model.objects.order_by("pk").values_list(*[field.name for field in model._meta.fields]))
        for model in (SlackInstallation, SlackBot)
    ]


@HYPOTHESIS
@given(record=records())
def test_any_record_imports_exactly_or_is_refused_naming_its_line(ours, record):
    """Imported, a record's row is what the store returns for the object the source read from it (as any
    save of it: tests/test_hardening.py); refused, it is a SourceError naming the line, quoting no token,
    and nothing stored changed."""
    ours.save(InstallationFactory(team_id="T0STORED"))
    before = table_contents()
    line = to_json(record)
    note(line[:2000])
    try:
        source = transfer.JSONLinesSource("-", stdin=[line])
        [row] = [*source.installations(), *source.bots()]
        result = transfer.import_from(source, send_signals=False)
    except transfer.SourceError as error:
        event("refused")
        message = str(error)
        assert message.startswith("line 1: ") and len(message) < 300, message
        assert "xox" not in message and "/services/" not in message  # no token, no webhook URL
        assert table_contents() == before
    else:
        event("imported")
        assert result.problems == []
        if isinstance(row.item, Bot) and not row.item.bot_token:
            assert table_contents() == before  # skipped, as slack_sdk's find_bot skips it
        else:
            assert_imported(row)
    finally:
        SlackInstallation.objects.all().delete()
        SlackBot.objects.all().delete()


def assert_imported(row):
    """The store returns what a save of the object the source read returns: the installation without its
    bot (bots come from bot records alone), or the bot."""
    store = DjangoInstallationStore(row.client_id)
    is_installation = isinstance(row.item, Installation)
    wanted = expected(_without_bot(row.item) if is_installation else row.item)
    ids = {name: wanted[name] for name in ("enterprise_id", "team_id", "is_enterprise_install")}
    same(vars(store.find_installation(**ids) if is_installation else store.find_bot(**ids)), wanted)
