"""`manage.py slack_store_check`: auth.test at the fake Slack for every token in use, and --delete-dead."""

import io
import time

import pytest
from django.core.management import CommandError, call_command

from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support.admin import assert_no_tokens, register, tokens_of
from tests.support.factories import InstallationFactory
from tests.support.store_api import CLIENT_ID

pytestmark = pytest.mark.django_db


def install(**fields):
    installation = InstallationFactory(**fields)
    DjangoInstallationStore(client_id=CLIENT_ID).save(installation)
    return installation


def run(*args):
    out = io.StringIO()
    call_command("slack_store_check", *args, stdout=out, stderr=out)
    return out.getvalue()


def line_of(output, team_id):
    """The report's lines for a workspace: its heading and its tokens."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(f"App {CLIENT_ID}, team {team_id}:"))
    end = next((n for n in range(start + 1, len(lines)) if not lines[n].startswith("  ")), len(lines))
    return lines[start:end]


@pytest.fixture
def workspaces(slack):
    """One workspace per outcome (a bot token and a user token each, valid at the fake Slack), then broken
    as each outcome needs."""
    now = int(time.time())
    made = {
        "ok": install(team_id="T0OK", user_id="U0OK"),
        "revoked": install(team_id="T0REVOKED", user_id="U0REV"),
        "inactive": install(team_id="T0INACTIVE", user_id="U0INA"),
        "expired": install(team_id="T0EXPIRED", user_id="U0EXP", rotating=True),
        "past": install(team_id="T0PAST", user_id="U0PAST", rotating=True, bot_token_expires_at=now - 60),
        "down": install(team_id="T0DOWN", user_id="U0DOWN"),
        "proxy": install(team_id="T0PROXY", user_id="U0PROXY"),
        "other": install(team_id="T0OTHER", user_id="U0OTHER"),
    }
    register(slack, *(made[name] for name in made if name != "other"))  # T0OTHER's: invalid_auth
    for name, code in (("revoked", "token_revoked"), ("inactive", "account_inactive")):
        slack.add_error("auth.test", made[name].bot_token, code)
        slack.add_error("auth.test", made[name].user_token, code)
    slack.add_error("auth.test", made["expired"].bot_token, "token_expired")
    slack.add_error("auth.test", made["past"].bot_token, "invalid_auth")
    slack.add_error("auth.test", made["down"].bot_token, "internal_error", status=503)
    slack.add_page("auth.test", made["proxy"].bot_token, "<html>Bad gateway</html>", status=502)
    return made


def test_reports_each_outcome_per_workspace(workspaces, slack):
    output = run()

    assert line_of(output, "T0OK") == [
        f"App {CLIENT_ID}, team T0OK:",
        f"  bot {workspaces['ok'].bot_user_id}: ok",
        "  user U0OK: ok",
    ]
    assert line_of(output, "T0REVOKED")[1:] == [
        f"  bot {workspaces['revoked'].bot_user_id}: revoked (token_revoked)",
        "  user U0REV: revoked (token_revoked)",
    ]
    assert line_of(output, "T0INACTIVE")[1] == (
        f"  bot {workspaces['inactive'].bot_user_id}: account inactive (account_inactive)"
    )
    assert line_of(output, "T0EXPIRED")[1:] == [
        f"  bot {workspaces['expired'].bot_user_id}: expired but refreshable (token_expired)",
        "  user U0EXP: ok",
    ]
    assert line_of(output, "T0PAST")[1] == (
        f"  bot {workspaces['past'].bot_user_id}: expired but refreshable (invalid_auth)"
    )
    assert line_of(output, "T0DOWN")[1] == (
        f"  bot {workspaces['down'].bot_user_id}: unreachable (HTTP 503: internal_error)"
    )
    assert line_of(output, "T0PROXY")[1].startswith(f"  bot {workspaces['proxy'].bot_user_id}: unreachable (")
    assert line_of(output, "T0OTHER")[1:] == [
        f"  bot {workspaces['other'].bot_user_id}: other answer (invalid_auth)",
        "  user U0OTHER: other answer (invalid_auth)",
    ]
    assert (
        "Checked 16 token(s) in 8 workspace(s): 6 ok, 2 revoked, 2 account inactive, "
        "2 expired but refreshable, 2 unreachable, 2 other answer."
    ) in output
    assert_no_tokens(output, *tokens_of(*workspaces.values()))
    assert len(slack.calls_to("auth.test")) == 16
    assert SlackInstallation.objects.count() == 8 and SlackBot.objects.count() == 8  # nothing deleted


def test_only_tokens_in_use_are_checked(slack):
    old = install(team_id="T0HIST", user_id="U0ALICE")
    latest = install(team_id="T0HIST", user_id="U0ALICE", installed_at=old.installed_at + 10)
    no_user_token = install(team_id="T0HIST", user_id="U0BOB", user_token=None)
    register(slack, old, latest, no_user_token)

    output = run()

    checked = sorted(call.token for call in slack.calls_to("auth.test"))
    # The workspace's served bot is the one written last (U0BOB's install); each user's latest user token.
    assert checked == sorted([no_user_token.bot_token, latest.user_token])
    assert "Checked 2 token(s) in 1 workspace(s): 2 ok," in output


def test_delete_dead_deletes_only_what_slack_proves_dead_and_sends_the_signals(
    workspaces, slack, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        output = run("--delete-dead")

    gone_bots = {"T0REVOKED", "T0INACTIVE"}
    assert (
        set(SlackBot.objects.values_list("team_id", flat=True))
        == {installation.team_id for installation in workspaces.values()} - gone_bots
    )
    assert (
        set(SlackInstallation.objects.values_list("team_id", flat=True))
        == {installation.team_id for installation in workspaces.values()} - gone_bots
    )
    assert sorted(kwargs["team_id"] for kwargs in received.of("bot_deleted")) == sorted(gone_bots)
    assert sorted(
        (kwargs["team_id"], kwargs["user_id"]) for kwargs in received.of("installation_deleted")
    ) == [
        ("T0INACTIVE", "U0INA"),
        ("T0REVOKED", "U0REV"),
    ]
    assert f"Deleted the row of the bot token of team T0REVOKED (app {CLIENT_ID})." in output
    assert "Deleted 4 dead row(s)." in output
    assert_no_tokens(output, *tokens_of(*workspaces.values()))


def test_dry_run_checks_but_deletes_nothing(workspaces, slack, received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        output = run("--delete-dead", "--dry-run")

    assert len(slack.calls_to("auth.test")) == 16
    assert SlackInstallation.objects.count() == 8 and SlackBot.objects.count() == 8
    assert received == []
    assert (
        f"Would delete the row of the user token of user U0REV of team T0REVOKED (app {CLIENT_ID})." in output
    )
    assert "Dry run, nothing deleted: 4 dead row(s) would be deleted." in output


def test_a_row_rewritten_after_the_check_is_kept(
    slack, received, monkeypatch, django_capture_on_commit_callbacks
):
    dead = install(team_id="T0ROT", user_id="U0ROT")
    register(slack, dead)
    slack.add_error("auth.test", dead.bot_token, "token_revoked")
    from django_slack_store import health_check

    checked = health_check.check_all

    def check_then_rotate(subjects, **kwargs):
        results = list(checked(subjects, **kwargs))
        # A reinstall lands between the check and the delete: the served bot is rewritten in place.
        DjangoInstallationStore(client_id=CLIENT_ID).save(
            InstallationFactory(
                team_id="T0ROT",
                user_id="U0ROT",
                installed_at=dead.installed_at,
                bot_token="xoxb-test-fresh-1",
            )
        )
        received.clear()
        return iter(results)

    monkeypatch.setattr(
        "django_slack_store.management.commands.slack_store_check.check_all", check_then_rotate
    )
    output = run("--delete-dead")

    assert SlackBot.objects.get(team_id="T0ROT").bot_token == "xoxb-test-fresh-1"
    assert received.of("bot_deleted") == []
    assert "Deleted 0 dead row(s), kept 1 rewritten meanwhile." in output


def test_a_rate_limited_call_is_tried_again_after_retry_after(slack):
    installation = install(team_id="T0LIMIT", user_token=None)
    register(slack, installation)
    slack.add_rate_limit("auth.test", installation.bot_token, retry_after=1, times=1)

    started = time.monotonic()
    output = run()

    assert time.monotonic() - started >= 1  # Retry-After: 1 was honoured
    assert [call.token for call in slack.calls_to("auth.test")] == [installation.bot_token] * 2
    assert f"bot {installation.bot_user_id}: ok" in output


def test_rate_limits_are_retried_a_bounded_number_of_times(slack, monkeypatch):
    from django_slack_store import health_check

    monkeypatch.setattr(health_check.time, "sleep", lambda seconds: None)  # no need to wait 4 s here
    installation = install(team_id="T0LIMIT", user_token=None)
    register(slack, installation)
    slack.add_rate_limit("auth.test", installation.bot_token, retry_after=1, times=100)

    output = run()

    assert len(slack.calls_to("auth.test")) == 1 + health_check.RATE_LIMIT_RETRIES
    assert "unreachable (rate limited by Slack (Retry-After: 1 s))" in output


@pytest.mark.parametrize("concurrency", [1, 2, 4])
def test_no_more_calls_at_once_than_concurrency(slack, concurrency):
    installations = [install(team_id=f"T0C{n}", user_token=None) for n in range(8)]
    register(slack, *installations)
    slack.add_delay("auth.test", 0.2)

    output = run("--concurrency", str(concurrency))

    assert slack.max_in_flight("auth.test") == concurrency
    assert "8 ok" in output


def test_default_concurrency_is_four(slack):
    installations = [install(team_id=f"T0C{n}", user_token=None) for n in range(6)]
    register(slack, *installations)
    slack.add_delay("auth.test", 0.2)
    run()
    assert slack.max_in_flight("auth.test") == 4


@pytest.mark.parametrize("value", ["0", "33", "many"])
def test_bad_concurrency_is_refused_by_name(slack, value):
    with pytest.raises(CommandError, match="--concurrency"):
        call_command("slack_store_check", "--concurrency", value, stdout=io.StringIO())
    with pytest.raises(CommandError, match="--concurrency"):
        call_command("slack_store_check", concurrency=value, stdout=io.StringIO())


def test_dry_run_without_delete_dead_is_refused(slack):
    with pytest.raises(CommandError, match="--dry-run only applies with --delete-dead"):
        call_command("slack_store_check", "--dry-run", stdout=io.StringIO())
    assert slack.calls == []
