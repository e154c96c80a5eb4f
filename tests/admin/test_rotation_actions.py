"""The "Refresh tokens now" and "Check at Slack" actions: permissions, the fake Slack, messages, deadline."""

import time

import pytest
from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry

from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support.admin import admin_url, assert_no_tokens, register, tokens_of, where_hint
from tests.support.factories import rotated
from tests.support.store_api import CLIENT_ID

pytestmark = pytest.mark.django_db

HOUR = 3600


@pytest.fixture
def secrets(slack, settings):
    settings.DJANGO_SLACK_STORE = {**settings.DJANGO_SLACK_STORE, "CLIENT_SECRETS": {CLIENT_ID: "s3cr3t"}}
    return slack


@pytest.fixture
def rotating(install):
    """`rotating(team_id, expires_in=...)`: an installation whose bot token expires in `expires_in` s."""

    def rotating(team_id, expires_in=600, **fields):
        now = int(time.time())
        return install(
            team_id=team_id,
            rotating=True,
            bot_token_expires_at=now + expires_in,
            user_token_expires_at=now + 30 * HOUR,
            **fields,
        )

    return rotating


def act(client, model, action, rows):
    data = {"action": action, "_selected_action": [row.pk for row in rows], "index": 0}
    return client.post(admin_url(model), data, follow=True)


def reported(response):
    return [(message.level, message.message) for message in response.context["messages"]]


def action_choices(client, model):
    form = client.get(admin_url(model)).context["action_form"]
    return dict(form.fields["action"].choices) if form else {}


def bot_row(team_id):
    return SlackBot.objects.filter(team_id=team_id).freshest_first().first()


# -- who may run them ---------------------------------------------------------------------------------------


def test_refresh_needs_the_change_permission_check_the_view_permission(staff_client, admin_client, slack):
    assert {"refresh_tokens", "check_at_slack"} <= set(action_choices(admin_client, "slackbot"))

    viewer = staff_client("view_slackinstallation", "view_slackbot", "change_slackinstallation")
    assert "check_at_slack" in action_choices(viewer, "slackbot")
    assert "refresh_tokens" not in action_choices(viewer, "slackbot")
    assert "refresh_tokens" not in viewer.get(admin_url("slackbot")).content.decode()
    assert "refresh_tokens" in action_choices(viewer, "slackinstallation")


def test_posting_refresh_without_the_permission_is_forbidden(staff_client, secrets, rotating):
    installation = rotating("T0DUE")
    secrets.add_refresh_token(
        installation.bot_refresh_token, access_token="xoxb-test-new", next_refresh_token="x"
    )
    viewer = staff_client("view_slackbot")

    assert act(viewer, "slackbot", "refresh_tokens", [bot_row("T0DUE")]).status_code == 403
    assert secrets.calls == []
    assert bot_row("T0DUE").bot_token == installation.bot_token


def test_a_user_who_may_not_view_cannot_check(staff_client, install, slack):
    install(team_id="T0ONE")
    nobody = staff_client("view_slackinstallation")
    assert act(nobody, "slackbot", "check_at_slack", [bot_row("T0ONE")]).status_code == 403
    assert slack.calls == []


# -- Refresh tokens now ------------------------------------------------------------------------------------


def test_refreshes_a_due_token_once_reports_and_logs(staff_client, secrets, rotating):
    installation = rotating("T0DUE")
    new_token, next_refresh = "xoxb-test-admin-new-token", "xoxe-test-admin-next-refresh"
    secrets.add_refresh_token(
        installation.bot_refresh_token, access_token=new_token, next_refresh_token=next_refresh
    )
    operator = staff_client("view_slackbot", "change_slackbot")
    row = bot_row("T0DUE")

    response = act(operator, "slackbot", "refresh_tokens", [row])

    assert secrets.refreshes_with(installation.bot_refresh_token) == 1
    refreshed = bot_row("T0DUE")
    assert (refreshed.pk, refreshed.bot_token, refreshed.bot_refresh_token) == (
        row.pk,
        new_token,
        next_refresh,
    )
    assert reported(response) == [
        (messages.SUCCESS, f"Slack bot “{row}”: its bot token was refreshed at Slack.")
    ]
    assert [(entry.action_flag, entry.change_message) for entry in LogEntry.objects.all()] == [
        (CHANGE, "Refreshed its bot token at Slack.")
    ]
    html = response.content.decode()
    assert_no_tokens(html, *tokens_of(installation), new_token, next_refresh)

    again = act(operator, "slackbot", "refresh_tokens", [refreshed])
    assert secrets.refreshes_with(next_refresh) == 0
    assert "not due: its bot token expires" in reported(again)[0][1]


def test_user_tokens_from_the_installations_admin(staff_client, secrets, install):
    installation = install(
        team_id="T0USER",
        rotating=True,
        user_token_expires_at=int(time.time()) + 60,
        bot_token_expires_at=None,
    )
    secrets.add_refresh_token(
        installation.user_refresh_token, access_token="xoxp-test-new-user", next_refresh_token="xoxe-u2"
    )
    operator = staff_client("view_slackinstallation", "change_slackinstallation")
    row = SlackInstallation.objects.get(team_id="T0USER")

    response = act(operator, "slackinstallation", "refresh_tokens", [row])

    assert SlackInstallation.objects.get(team_id="T0USER").user_token == "xoxp-test-new-user"
    assert reported(response) == [
        (messages.SUCCESS, f"Slack installation “{row}”: its user token was refreshed at Slack.")
    ]


def test_a_failed_refresh_changes_nothing(admin_client, secrets, rotating):
    installation = rotating("T0BAD")  # its refresh token is unknown at Slack: invalid_refresh_token
    row = bot_row("T0BAD")

    response = act(admin_client, "slackbot", "refresh_tokens", [row])

    assert bot_row("T0BAD").bot_token == installation.bot_token
    assert reported(response) == [
        (
            messages.ERROR,
            f"Slack bot “{row}”: the refresh of its bot token failed (invalid_refresh_token); nothing "
            "changed.",
        ),
        (messages.WARNING, where_hint("oauth.v2.access", secrets.base_url)),
    ]
    assert LogEntry.objects.count() == 0


def test_rows_not_in_use_static_or_without_a_secret_are_not_refreshed(
    admin_client, secrets, rotating, install, settings
):
    first = rotating("T0HIST")
    rotating("T0HIST", installed_at=first.installed_at + 10)  # the served bot now
    install(team_id="T0STATIC")
    history = SlackBot.objects.get(team_id="T0HIST", installed_at__lt=bot_row("T0HIST").installed_at)
    static = bot_row("T0STATIC")

    response = act(admin_client, "slackbot", "refresh_tokens", [history, static])
    assert reported(response) == [
        (
            messages.INFO,
            f"Slack bot “{history}”: not refreshed: the store does not serve it (an older install); its "
            "token is not in use.",
        ),
        (
            messages.INFO,
            f"Slack bot “{static}”: nothing to refresh: its bot token does not rotate (no refresh token).",
        ),
    ]

    settings.DJANGO_SLACK_STORE = {**settings.DJANGO_SLACK_STORE, "CLIENT_SECRETS": {}}
    served = bot_row("T0HIST")
    response = act(admin_client, "slackbot", "refresh_tokens", [served])
    assert reported(response) == [
        (
            messages.ERROR,
            f"Slack bot “{served}”: not refreshed: no client secret for app {CLIENT_ID} in "
            'DJANGO_SLACK_STORE["CLIENT_SECRETS"].',
        )
    ]
    assert secrets.calls == []


def test_a_refresh_started_ends_and_none_starts_after_the_deadline(admin_client, secrets, rotating, settings):
    settings.DJANGO_SLACK_STORE = {**settings.DJANGO_SLACK_STORE, "REVOKE_DEADLINE": 1}
    first, second = rotating("T0FIRST"), rotating("T0SECOND")
    for installation, new in ((first, "xoxb-test-first-new"), (second, "xoxb-test-second-new")):
        secrets.add_refresh_token(installation.bot_refresh_token, access_token=new, next_refresh_token=None)
    secrets.add_delay("oauth.v2.access", 1.2)
    rows = sorted([bot_row("T0FIRST"), bot_row("T0SECOND")], key=lambda row: row.pk)

    response = act(admin_client, "slackbot", "refresh_tokens", rows)

    assert bot_row("T0FIRST").bot_token == "xoxb-test-first-new"  # finished, past the deadline
    assert bot_row("T0SECOND").bot_token == second.bot_token
    assert secrets.refreshes_with(second.bot_refresh_token) == 0
    assert reported(response)[-1] == (
        messages.ERROR,
        f"Not attempted, as this request's time for Slack (1 s) ran out: Slack bot “{rows[1]}”. Refresh them "
        "again.",
    )


# -- Check at Slack -----------------------------------------------------------------------------------------


def test_check_reports_each_row_and_deletes_nothing(staff_client, install, slack):
    ok, dead, gone = install(team_id="T0OK"), install(team_id="T0DEAD"), install(team_id="T0GONE")
    register(slack, ok, dead, gone)
    slack.add_error("auth.test", dead.bot_token, "token_revoked")
    slack.add_error("auth.test", gone.bot_token, "account_inactive")
    viewer = staff_client("view_slackbot")
    rows = [bot_row("T0OK"), bot_row("T0DEAD"), bot_row("T0GONE")]

    response = act(viewer, "slackbot", "check_at_slack", rows)

    hint = (
        "Slack proves it dead: someone with the revoke permission can delete it with “Revoke”, or run "
        "manage.py slack_store_check --delete-dead."
    )
    assert reported(response) == [
        (messages.SUCCESS, f"Slack bot “{rows[0]}”: bot token: ok."),
        (messages.WARNING, f"Slack bot “{rows[1]}”: bot token: revoked (token_revoked). {hint}"),
        (messages.WARNING, f"Slack bot “{rows[2]}”: bot token: account inactive (account_inactive). {hint}"),
    ]
    assert SlackBot.objects.count() == 3
    assert sorted(call.token for call in slack.calls_to("auth.test")) == sorted(
        [ok.bot_token, dead.bot_token, gone.bot_token]
    )
    assert_no_tokens(response.content.decode(), *tokens_of(ok, dead, gone))


def test_check_offers_revoke_to_who_may_revoke(staff_client, install, slack):
    dead = install(team_id="T0DEAD")
    slack.add_error("auth.test", dead.user_token, "token_revoked")
    operator = staff_client("view_slackinstallation", "revoke_slackinstallation")
    row = SlackInstallation.objects.get(team_id="T0DEAD")

    response = act(operator, "slackinstallation", "check_at_slack", [row])

    assert reported(response) == [
        (
            messages.WARNING,
            f"Slack installation “{row}”: user token: revoked (token_revoked). Slack proves it dead: "
            "“Revoke” deletes it (Slack confirms it dead), as does manage.py slack_store_check "
            "--delete-dead.",
        )
    ]
    assert SlackInstallation.objects.filter(pk=row.pk).exists()


def test_check_rows_without_a_token_and_the_unreachable(admin_client, install, slack):
    no_user_token = install(team_id="T0NOUSER", user_token=None)
    down = install(team_id="T0DOWN")
    register(slack, no_user_token, down)
    slack.add_error("auth.test", down.user_token, "internal_error", status=500)
    rows = list(SlackInstallation.objects.order_by("pk"))

    response = act(admin_client, "slackinstallation", "check_at_slack", rows)

    assert reported(response) == [
        (messages.INFO, f"Slack installation “{rows[0]}”: no user token to check."),
        (
            messages.ERROR,
            f"Slack installation “{rows[1]}”: user token: unreachable (HTTP 500: internal_error).",
        ),
        (messages.WARNING, where_hint("auth.test", slack.base_url)),
    ]


def test_check_within_the_deadline(admin_client, install, slack, settings):
    settings.DJANGO_SLACK_STORE = {**settings.DJANGO_SLACK_STORE, "REVOKE_DEADLINE": 1}
    installations = [install(team_id=f"T0SLOW{n}", user_token=None) for n in range(6)]
    register(slack, *installations)
    slack.add_delay("auth.test", 3)
    rows = list(SlackBot.objects.order_by("pk"))

    started = time.monotonic()
    response = act(admin_client, "slackbot", "check_at_slack", rows)

    assert time.monotonic() - started < 2.5
    levels = reported(response)
    # Four calls at once (the pool), each given up at the deadline; the two left were never started.
    assert [level for level, _ in levels] == [messages.ERROR] * 5 + [messages.WARNING]
    assert all("unreachable (could not reach Slack: no answer in time)" in text for _, text in levels[:4])
    assert levels[4][1] == (
        "Not checked, as this request's time for Slack (1 s) ran out: "
        f"Slack bot “{rows[4]}”, Slack bot “{rows[5]}”. Check them again."
    )
    assert len(slack.calls_to("auth.test")) == 4


def test_check_a_rotated_bot(admin_client, install, slack):
    """The check uses the row's token as it is now, not as the changelist read it."""
    installation = install(team_id="T0ROT")
    DjangoInstallationStore(client_id=CLIENT_ID).save_bot(
        rotated(installation.to_bot(), bot_token="xoxb-test-rotated-token")
    )
    slack.add_token("xoxb-test-rotated-token", team_id="T0ROT", user_id="UBOT", bot_id="BBOT")

    response = act(admin_client, "slackbot", "check_at_slack", [bot_row("T0ROT")])

    assert [call.token for call in slack.calls_to("auth.test")] == ["xoxb-test-rotated-token"]
    assert reported(response)[0][0] == messages.SUCCESS
