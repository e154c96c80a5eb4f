"""`manage.py slack_store_refresh_tokens`: the rotating tokens in use, refreshed at the fake Slack once."""

import io
import time

import pytest
from django.core.management import CommandError, call_command

from django_slack_store import token_refresh
from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support.admin import assert_no_tokens
from tests.support.factories import BASE_TIME, InstallationFactory, rotated
from tests.support.store_api import CLIENT_ID

pytestmark = pytest.mark.django_db

OTHER_APP = "3333.4444"
HOUR = 3600


@pytest.fixture
def secrets(slack, settings):
    """The fake Slack, and the client secret of CLIENT_ID's app (not OTHER_APP's)."""
    settings.DJANGO_SLACK_STORE = {**settings.DJANGO_SLACK_STORE, "CLIENT_SECRETS": {CLIENT_ID: "s3cr3t"}}
    return slack


def install(client_id=CLIENT_ID, *, expires_in=HOUR, user_expires_in=None, **fields):
    """Save a rotating installation whose bot token expires in `expires_in` seconds (and user token in
    `user_expires_in`, default: never within any window)."""
    now = int(time.time())
    installation = InstallationFactory(
        rotating=True,
        bot_token_expires_at=now + expires_in,
        user_token_expires_at=now + (user_expires_in if user_expires_in is not None else 30 * HOUR),
        **fields,
    )
    DjangoInstallationStore(client_id=client_id).save(installation)
    return installation


def exchangeable(slack, refresh_token, access_token, next_refresh_token, token_type="bot"):
    slack.add_refresh_token(
        refresh_token, access_token=access_token, next_refresh_token=next_refresh_token, token_type=token_type
    )


def run(*args, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command("slack_store_refresh_tokens", *args, stdout=out, stderr=err, **options)
    return out.getvalue() + err.getvalue()


def run_failing(*args):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("slack_store_refresh_tokens", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue() + str(failure.value)


def bot_of(team_id, client_id=CLIENT_ID):
    return SlackBot.objects.filter(client_id=client_id, team_id=team_id).freshest_first().first()


def test_refreshes_each_due_token_once_and_a_second_run_refreshes_nothing(secrets):
    due = install(team_id="T0DUE")
    later = install(team_id="T0LATER", expires_in=10 * HOUR)
    exchangeable(secrets, due.bot_refresh_token, "xoxb-test-new-bot-token", "xoxe-test-new-bot-refresh")

    output = run()

    assert secrets.refreshes_with(due.bot_refresh_token) == 1
    assert secrets.refreshes_with(later.bot_refresh_token) == 0
    row = bot_of("T0DUE")
    assert (row.bot_token, row.bot_refresh_token) == ("xoxb-test-new-bot-token", "xoxe-test-new-bot-refresh")
    assert row.bot_token_expires_at > time.time() + 11 * HOUR
    assert bot_of("T0LATER").bot_token == later.bot_token
    assert f"bot token of team T0DUE (app {CLIENT_ID}): refreshed" in output
    assert "1 refreshed, 0 already fresh (refreshed by another process), 0 failed." in output
    assert_no_tokens(output, due.bot_token, due.bot_refresh_token, "xoxb-test-new-bot-token")

    assert "0 refreshed, 0 already fresh (refreshed by another process), 0 failed." in run()
    assert len(secrets.calls_to("oauth.v2.access")) == 1


def test_user_tokens_of_each_users_latest_installation(secrets):
    old = install(team_id="T0USERS", user_id="U0ALICE", expires_in=30 * HOUR, user_expires_in=60)
    latest = install(
        team_id="T0USERS",
        user_id="U0ALICE",
        expires_in=30 * HOUR,
        user_expires_in=60,
        installed_at=old.installed_at + 100,
    )
    exchangeable(secrets, latest.user_refresh_token, "xoxp-test-new-user-token", "xoxe-new-user", "user")

    output = run()

    assert secrets.refreshes_with(latest.user_refresh_token) == 1
    assert secrets.refreshes_with(old.user_refresh_token) == 0  # history: not in use, left alone
    rows = SlackInstallation.objects.filter(user_id="U0ALICE").latest_first()
    assert [row.user_token for row in rows] == ["xoxp-test-new-user-token", old.user_token]
    assert f"user token of user U0ALICE of team T0USERS (app {CLIENT_ID}): refreshed" in output


def test_only_the_served_bot_is_refreshed(secrets):
    first = install(team_id="T0HIST", expires_in=60)
    second = install(team_id="T0HIST", expires_in=60, installed_at=first.installed_at + 10)
    # Bolt rotated the first install's token last: that bot is the one served.
    DjangoInstallationStore(client_id=CLIENT_ID).save_bot(
        rotated(first.to_bot(), bot_token="xoxb-test-rotated-first", bot_refresh_token="xoxe-test-first-2")
    )
    exchangeable(secrets, "xoxe-test-first-2", "xoxb-test-rotated-again", "xoxe-test-first-3")

    run()

    assert secrets.refreshes_with("xoxe-test-first-2") == 1
    assert secrets.refreshes_with(second.bot_refresh_token) == 0
    assert bot_of("T0HIST").bot_token == "xoxb-test-rotated-again"


def test_a_failure_changes_nothing_exits_non_zero_after_the_others(secrets):
    bad = install(team_id="T0BAD", installed_at=BASE_TIME)
    good = install(team_id="T0GOOD", installed_at=BASE_TIME + 1)
    # T0BAD's refresh token is not exchangeable: invalid_refresh_token.
    exchangeable(secrets, good.bot_refresh_token, "xoxb-test-good-new", "xoxe-test-good-next")

    output = run_failing()

    row = bot_of("T0BAD")
    assert (row.bot_token, row.bot_refresh_token, row.bot_token_expires_at) == (
        bad.bot_token,
        bad.bot_refresh_token,
        bad.bot_token_expires_at,
    )
    assert bot_of("T0GOOD").bot_token == "xoxb-test-good-new"
    assert f"bot token of team T0BAD (app {CLIENT_ID}): failed: invalid_refresh_token" in output
    assert "1 refreshed, 0 already fresh (refreshed by another process), 1 failed." in output
    assert "1 token refresh(es) failed or skipped" in output
    assert_no_tokens(output, bad.bot_token, bad.bot_refresh_token, good.bot_token, good.bot_refresh_token)


def test_an_unreachable_slack_is_a_failure_with_code_network(secrets, settings):
    bad = install(team_id="T0NET")
    settings.DJANGO_SLACK_STORE = {**settings.DJANGO_SLACK_STORE, "SLACK_API_URL": "http://127.0.0.1:9/api/"}

    output = run_failing()

    assert f"bot token of team T0NET (app {CLIENT_ID}): failed: network" in output
    assert bot_of("T0NET").bot_token == bad.bot_token


def test_already_refreshed_by_another_process(secrets):
    """Another process refreshed the token between this run's read and its lock: the store finds it fresh
    under the lock and calls nobody."""
    due = install(team_id="T0RACE")
    stale_row = bot_of("T0RACE")
    store = DjangoInstallationStore(client_id=CLIENT_ID)
    exchangeable(secrets, due.bot_refresh_token, "xoxb-test-other-process", "xoxe-test-other-next")
    store.refresh(store.find_bot(enterprise_id=None, team_id="T0RACE"))  # the other process

    from django_slack_store.token_refresh import Outcome, refresh_row

    assert refresh_row(store, stale_row, 120).outcome is Outcome.FRESH
    assert secrets.refreshes_with(due.bot_refresh_token) == 1
    assert secrets.refreshes_with("xoxe-test-other-next") == 0


def test_no_client_secret_skips_that_app_only(secrets):
    mine = install(team_id="T0MINE")
    theirs = install(OTHER_APP, team_id="T0THEIRS")
    exchangeable(secrets, mine.bot_refresh_token, "xoxb-test-mine-new", "xoxe-test-mine-next")

    output = run_failing()

    assert secrets.refreshes_with(mine.bot_refresh_token) == 1
    assert secrets.refreshes_with(theirs.bot_refresh_token) == 0
    assert bot_of("T0THEIRS", OTHER_APP).bot_token == theirs.bot_token
    assert f"1 skipped: no client secret for client {OTHER_APP}" in output
    assert f"no client secret for client {OTHER_APP}" in output


def test_dry_run_lists_and_calls_nobody(secrets):
    due = install(team_id="T0DRY")
    install(team_id="T0NOTYET", expires_in=10 * HOUR)
    exchangeable(secrets, due.bot_refresh_token, "xoxb-test-dry-new", "xoxe-test-dry-next")

    output = run("--dry-run")

    assert secrets.calls == []
    assert bot_of("T0DRY").bot_token == due.bot_token
    assert f"bot token of team T0DRY (app {CLIENT_ID}): would be refreshed" in output
    assert "T0NOTYET" not in output
    assert "Dry run, nobody called: 1 token(s) would be refreshed." in output


def test_within_widens_the_window(secrets):
    later = install(team_id="T0LATER", expires_in=10 * HOUR)
    exchangeable(secrets, later.bot_refresh_token, "xoxb-test-later-new", "xoxe-test-later-next")

    assert "0 refreshed" in run()  # default window: 120 minutes
    assert "1 refreshed" in run("--within", "720")
    assert secrets.refreshes_with(later.bot_refresh_token) == 1


def test_static_tokens_are_never_refreshed(secrets):
    DjangoInstallationStore(client_id=CLIENT_ID).save(InstallationFactory(team_id="T0STATIC"))
    output = run("--within", "99999")
    assert "0 refreshed, 0 already fresh (refreshed by another process), 0 failed." in output
    assert secrets.calls == []


@pytest.mark.parametrize("value", ["-1", "soon", "inf", "nan"])
def test_a_bad_within_is_refused_by_name(secrets, value):
    with pytest.raises(CommandError, match="--within"):
        call_command("slack_store_refresh_tokens", "--within", value, stdout=io.StringIO())
    with pytest.raises(CommandError, match="--within"):
        call_command("slack_store_refresh_tokens", within=value, stdout=io.StringIO())
    assert secrets.calls == []


@pytest.mark.parametrize(
    "refreshed, at_slack",
    [
        (token_refresh.Refreshed(token_refresh.Outcome.FAILED, "invalid_refresh_token"), True),
        (token_refresh.Refreshed(token_refresh.Outcome.FAILED, "network"), True),
        (token_refresh.Refreshed(token_refresh.Outcome.FAILED, "lock_timeout"), False),
        (token_refresh.Refreshed(token_refresh.Outcome.FAILED, "undecryptable"), False),
        (token_refresh.Refreshed(token_refresh.Outcome.FAILED, "unexpected_error"), False),
        (token_refresh.Refreshed(token_refresh.Outcome.REFRESHED), False),
        (token_refresh.Refreshed(token_refresh.Outcome.NO_SECRET), False),
    ],
)
def test_a_failure_is_slack_s_unless_it_happened_here(refreshed, at_slack):
    # The admin's actions tell the operator where calls to Slack go only after one of them failed.
    assert refreshed.failed_at_slack is at_slack
