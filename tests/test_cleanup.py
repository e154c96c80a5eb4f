"""`manage.py slack_store_cleanup`, the QuerySets' `prune_history()` and the store's `prune_history()`."""

import datetime
import io

import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.db import connection

from django_slack_store.fields import UTC
from django_slack_store.models import NO_ID, SlackBot, SlackInstallation, SlackOAuthState
from django_slack_store.stores import DjangoInstallationStore, PrunedHistory
from tests.support.factories import BASE_TIME, InstallationFactory, rotated
from tests.support.store_api import CLIENT_ID

LOOKUPS = [
    {"enterprise_id": None, "team_id": "T0HIST"},
    {"enterprise_id": None, "team_id": "T0HIST", "user_id": "U0ALICE"},
    {"enterprise_id": None, "team_id": "T0HIST", "user_id": "U0BOB"},
    {"enterprise_id": "E0ORG", "team_id": None, "is_enterprise_install": True},
    {"enterprise_id": None, "team_id": "T0ONE"},
]


def make_history(api):
    """T0HIST: alice installed 5 times, bob twice, and the oldest bot's token was rotated last, so it is
    the one served. An org with 3 installs, and a workspace installed once."""
    for n in range(5):
        api.save(InstallationFactory(team_id="T0HIST", user_id="U0ALICE", installed_at=BASE_TIME + 10 * n))
    for n in range(2):
        api.save(InstallationFactory(team_id="T0HIST", user_id="U0BOB", installed_at=BASE_TIME + 5 + 10 * n))
    oldest = InstallationFactory(team_id="T0HIST", user_id="U0ALICE", installed_at=BASE_TIME)
    api.save_bot(rotated(oldest.to_bot(), bot_token="xoxb-test-rotated-oldest"))
    for n in range(3):
        api.save(InstallationFactory(org_wide=True, user_id="U0ADMIN", installed_at=BASE_TIME + n))
    api.save(InstallationFactory(team_id="T0ONE"))


def answers(api):
    """What every find returns (as vars): pruning must change none of it."""
    found = []
    for lookup in LOOKUPS:
        bot_lookup = {key: value for key, value in lookup.items() if key != "user_id"}
        found.append((vars(api.find_installation(**lookup)), vars(api.find_bot(**bot_lookup))))
    return found


def installs(team_id, user_id=None):
    rows = SlackInstallation.objects.filter(team_id=team_id)
    rows = rows.filter(user_id=user_id) if user_id else rows
    return sorted(row.installed_at.timestamp() - BASE_TIME for row in rows)


def bots(team_id):
    return sorted(
        row.installed_at.timestamp() - BASE_TIME for row in SlackBot.objects.filter(team_id=team_id)
    )


def cleanup(*args):
    out = io.StringIO()
    call_command("slack_store_cleanup", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.mark.parametrize("keep", [0, 1, 2])
def test_history_beyond_keep_goes_and_no_find_changes(api, keep):
    make_history(api)
    before = answers(api)

    pruned = api.prune_history(keep)

    assert answers(api) == before
    assert installs("T0HIST", "U0ALICE") == pytest.approx([10 * n for n in range(5)][-max(keep, 1) :])
    assert installs("T0HIST", "U0BOB") == pytest.approx([5, 15][-max(keep, 1) :])
    # The keep latest bots by installed_at, and the served one (the oldest, rotated last) in any case.
    latest_bots = [0, 5, 10, 15, 20, 30, 40][7 - keep :] if keep else []
    assert bots("T0HIST") == pytest.approx([0, *latest_bots])
    assert installs("T0ONE") and bots("T0ONE")
    assert pruned == PrunedHistory(
        installations=(5 - max(keep, 1)) + (2 - max(keep, 1)) + (3 - max(keep, 1)),
        bots=(7 - 1 - keep) + (3 - max(keep, 1)),
    )


def test_prune_history_is_scoped_by_client_id(api):
    make_history(api)
    other = api.with_client_id("9999.8888")
    make_history(other)
    api.prune_history(0)
    assert SlackInstallation.objects.filter(client_id="9999.8888").count() == 11
    assert SlackInstallation.objects.filter(client_id=CLIENT_ID).count() == 4


def test_a_dry_run_counts_and_deletes_nothing(api):
    make_history(api)
    counts = (SlackInstallation.objects.count(), SlackBot.objects.count())
    assert api.prune_history(0, dry_run=True) == PrunedHistory(installations=7, bots=8)
    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == counts


def test_the_default_comes_from_the_setting(api, settings):
    make_history(api)
    settings.DJANGO_SLACK_STORE = {"HISTORY_KEEP": None}
    assert api.prune_history() == PrunedHistory(0, 0)
    settings.DJANGO_SLACK_STORE = {"HISTORY_KEEP": 3}
    assert api.prune_history() == PrunedHistory(installations=2, bots=3)


def test_pruning_sends_no_signal(api, received, django_capture_on_commit_callbacks):
    make_history(api)
    received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        api.prune_history(0)
        cleanup("--keep", "0")
    assert received == []


@pytest.mark.parametrize(
    ("keep", "batch_size", "error"),
    [
        (-1, 10, ValueError),
        (1.5, 10, TypeError),
        (True, 10, TypeError),
        (1, 0, ValueError),
        (1, "9", TypeError),
    ],
)
def test_bad_arguments_are_type_or_value_errors(db, keep, batch_size, error):
    with pytest.raises(error, match="keep|batch_size"):
        list(SlackInstallation.objects.prune_history(keep, batch_size=batch_size))


def test_each_batch_checks_its_rows_again(db):
    """A bot rotated between two batches becomes the served one: the next batch keeps it."""
    store = DjangoInstallationStore(client_id=CLIENT_ID)
    first, second, third = (
        InstallationFactory(team_id="T0RACE", installed_at=BASE_TIME + n) for n in range(3)
    )
    for installation in (first, second, third):
        store.save(installation)
    pruning = SlackBot.objects.prune_history(0, batch_size=1)
    assert next(pruning) == 1  # the first bot
    store.save_bot(rotated(second.to_bot(), bot_token="xoxb-test-rotated-meanwhile"))
    assert list(pruning) == [1]  # the third: no longer served
    assert store.find_bot(enterprise_id=None, team_id="T0RACE").bot_token == "xoxb-test-rotated-meanwhile"
    assert list(SlackBot.objects.values_list("installed_at", flat=True)) == [
        datetime.datetime.fromtimestamp(second.installed_at, UTC)
    ]


# -- the command -----------------------------------------------------------------------------------------


def add_states(now):
    for seconds in (-3600, -1, 1, 3600):
        SlackOAuthState.objects.create(
            digest=f"{seconds + 10_000:064d}", expires_at=now + datetime.timedelta(seconds=seconds)
        )


def test_the_command_purges_expired_states_and_prunes_history(db):
    store = DjangoInstallationStore(client_id=CLIENT_ID)
    make_history(store)
    add_states(datetime.datetime.now(UTC))

    output = cleanup("--keep", "1", "--batch-size", "2")

    assert "OAuth states: batch 1: 2 deleted (2 so far)" in output
    assert "Slack installations: batch 1: 2 deleted (2 so far)" in output
    assert "Slack installations: batch 4: 1 deleted (7 so far)" in output
    assert output.rstrip().endswith(
        "2 expired OAuth state(s), 7 old Slack installations, 7 old Slack bots deleted (kept the latest 1 "
        "per user / workspace, and every served row)."
    )
    assert SlackOAuthState.objects.count() == 2
    assert installs("T0HIST", "U0ALICE") == pytest.approx([40])


def test_the_command_dry_run(db):
    make_history(DjangoInstallationStore(client_id=CLIENT_ID))
    add_states(datetime.datetime.now(UTC))
    counts = (SlackInstallation.objects.count(), SlackBot.objects.count(), SlackOAuthState.objects.count())

    output = cleanup("--keep", "0", "--dry-run")

    assert output.rstrip().endswith(
        "Dry run, nothing deleted: 2 expired OAuth state(s), 7 old Slack installations, 8 old Slack bots "
        "would be deleted (kept the latest 0 per user / workspace, and every served row)."
    )
    assert counts == (
        SlackInstallation.objects.count(),
        SlackBot.objects.count(),
        SlackOAuthState.objects.count(),
    )


def test_the_command_default_keep_and_keep_all(db, settings):
    make_history(DjangoInstallationStore(client_id=CLIENT_ID))
    assert "0 old Slack installations" in cleanup()  # HISTORY_KEEP 10
    settings.DJANGO_SLACK_STORE = {"HISTORY_KEEP": None}
    assert "History: all kept" in cleanup()
    settings.DJANGO_SLACK_STORE = {"HISTORY_KEEP": 2}
    assert "History: all kept" in cleanup("--keep", "all")
    assert "4 old Slack installations" in cleanup()
    assert SlackInstallation.objects.count() == 7


def test_the_command_client_id(db):
    make_history(DjangoInstallationStore(client_id=CLIENT_ID))
    make_history(DjangoInstallationStore(client_id="9999.8888"))
    cleanup("--keep", "0", "--client-id", "9999.8888")
    assert SlackInstallation.objects.filter(client_id=CLIENT_ID).count() == 11
    assert SlackInstallation.objects.filter(client_id="9999.8888").count() == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep", "-1"], "must be an int >= 0 or 'all'"),
        (["--keep", "some"], "must be an int >= 0 or 'all'"),
        (["--batch-size", "0"], "--batch-size: must be at least 1"),
    ],
)
def test_the_command_refuses_bad_arguments(db, args, message):
    with pytest.raises(CommandError, match=message):
        cleanup(*args)


def test_a_bad_setting_is_a_command_error_and_a_check_error(db, settings):
    settings.DJANGO_SLACK_STORE = {"HISTORY_KEEP": "10"}
    with pytest.raises(CommandError, match="HISTORY_KEEP'] must be None or an int >= 0"):
        cleanup()
    assert [m.id for m in checks.run_checks() if m.id.startswith("django_slack_store.")] == [
        "django_slack_store.E004"
    ]
    settings.DJANGO_SLACK_STORE = {"HISTORY_KEEP": None}
    assert not [m for m in checks.run_checks() if m.id.startswith("django_slack_store.E")]


def prepared(model, name, value, bound_to=None):
    """`value` as the field hands it to the database (UTC, JSON as the backend wants), a secret encrypted for
    the row of the ids `bound_to`."""
    field = model._meta.get_field(name)
    return field.get_db_prep_save(field.seal(value, bound_to) if bound_to else value, connection)


def insert_rows(model, names, rows):
    """INSERT `rows` (prepared values of the fields `names`) in one go: 100k rows in seconds, where
    bulk_create() spends a minute in per-row Python. PostgreSQL's COPY, elsewhere one executemany (psycopg
    binds parameters client-side under Django, which makes executemany slow there)."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in names)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(names))})", rows
            )


def test_100k_rows_are_pruned_in_batches(db):
    """1000 users with 100 installs each, 1000 workspaces with 10 bots each: keep 3."""
    base = datetime.datetime.fromtimestamp(BASE_TIME, UTC)
    minutes = [base + datetime.timedelta(minutes=n) for n in range(100)]
    for model, scopes in ((SlackInstallation, "user_scopes"), (SlackBot, "bot_scopes")):
        common = {"client_id": CLIENT_ID, "enterprise_id": NO_ID, "is_enterprise_install": False}
        common |= {"custom_values": {}, scopes: []}
        constant = [prepared(model, name, value) for name, value in common.items()]
        instants = [prepared(model, "installed_at", instant) for instant in minutes]
        if model is SlackInstallation:
            names = [*common, "team_id", "user_id", "installed_at", "updated_at"]
            rows = [
                [*constant, f"T{group:05d}", f"U{group:05d}", instants[n], instants[0]]
                for group in range(1000)
                for n in range(100)
            ]
        else:
            # The oldest bot of each workspace was written last: it is the one served.
            names = [*common, "team_id", "bot_token", "installed_at", "updated_at"]
            rows = [
                [
                    *constant,
                    f"T{group:05d}",
                    prepared(
                        model,
                        "bot_token",
                        f"xoxb-test-{group}-{n}",
                        (CLIENT_ID, NO_ID, f"T{group:05d}", None),
                    ),
                    instants[n],
                ]
                + [instants[10 - n]]
                for group in range(1000)
                for n in range(10)
            ]
        insert_rows(model, names, rows)
    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (100_000, 10_000)

    batches = list(SlackInstallation.objects.prune_history(3, batch_size=20_000))
    assert batches == [20_000] * 4 + [17_000]
    assert sum(SlackBot.objects.prune_history(3, batch_size=5000)) == 6000

    assert SlackInstallation.objects.count() == 3000
    kept = SlackInstallation.objects.filter(team_id="T00007").values_list("installed_at", flat=True)
    assert sorted(kept) == minutes[97:]
    kept_bots = SlackBot.objects.filter(team_id="T00007").values_list("installed_at", flat=True)
    assert sorted(kept_bots) == [minutes[0], *minutes[7:10]]
    store = DjangoInstallationStore(client_id=CLIENT_ID)
    assert store.find_bot(enterprise_id=None, team_id="T00007").bot_token == "xoxb-test-7-0"
    assert (
        store.find_installation(enterprise_id=None, team_id="T00007").installed_at == minutes[99].timestamp()
    )
