"""The Revoke action: permission, confirmation page, auth.revoke at the fake Slack, deletes and reports."""

import re
import socket
import time
from urllib.error import URLError

import pytest
from django.contrib import messages
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from django_slack_store import revocation, slack_api
from django_slack_store.admin.actions import REVOKE_KEPT
from django_slack_store.masking import mask_token
from django_slack_store.models import SlackBot, SlackInstallation
from tests.support.admin import admin_url, assert_no_tokens, register, tokens_of, where_hint
from tests.support.factories import rotated
from tests.support.store_api import CLIENT_ID

pytestmark = pytest.mark.django_db


def choose(client, model, rows, **extra):
    """Pick "Revoke" for `rows` in the changelist: the confirmation page."""
    data = {"action": "revoke_selected", "_selected_action": [row.pk for row in rows], "index": 0, **extra}
    return client.post(admin_url(model), data)


def confirm(client, model, rows, **extra):
    """Press "Yes, revoke" on the confirmation page; follows the redirect back to the changelist."""
    data = {"action": "revoke_selected", "_selected_action": [row.pk for row in rows], "post": "yes", **extra}
    return client.post(admin_url(model), data, follow=True)


def reported(response) -> list[tuple[int, str]]:
    return [(message.level, message.message) for message in response.context["messages"]]


def logged(row) -> list[tuple[int, str]]:
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(row), object_id=str(row.pk)
    ).order_by("pk")
    return [(entry.action_flag, entry.change_message) for entry in entries]


def revoked_tokens(slack) -> list[str]:
    return [call.token for call in slack.calls_to("auth.revoke")]


@pytest.fixture
def two_workspaces(install, slack):
    """Two workspaces, each installed once with a bot token and a user token, all valid at the fake Slack."""
    installations = [install(team_id="T0ONE"), install(team_id="T0TWO")]
    register(slack, *installations)
    return installations


def installation_row(team_id):
    return SlackInstallation.objects.get(team_id=team_id)


def bot_row(team_id):
    return SlackBot.objects.get(team_id=team_id)


# -- who may revoke ---------------------------------------------------------------------------------------


def action_choices(client, model):
    response = client.get(admin_url(model))
    assert response.status_code == 200
    form = response.context["action_form"]  # None when the user may run no action at all
    return dict(form.fields["action"].choices) if form else {}


def selected_pks(html) -> set[int]:
    return {int(pk) for pk in re.findall(r'name="_selected_action" value="(\d+)"', html)}


def test_the_action_is_offered_only_with_the_revoke_permission(staff_client, admin_client, two_workspaces):
    assert "revoke_selected" in action_choices(admin_client, "slackinstallation")
    assert "revoke_selected" in action_choices(admin_client, "slackbot")

    viewer = staff_client("view_slackinstallation", "view_slackbot", "revoke_slackbot")
    assert "revoke_selected" not in action_choices(viewer, "slackinstallation")
    assert "revoke_selected" not in viewer.get(admin_url("slackinstallation")).content.decode()
    assert "revoke_selected" in action_choices(viewer, "slackbot")


def test_posting_revoke_without_the_permission_is_forbidden(staff_client, two_workspaces, slack):
    # Revoking bots does not allow revoking installations: each model has its own permission.
    viewer = staff_client("view_slackinstallation", "view_slackbot", "revoke_slackbot")
    rows = [installation_row("T0ONE")]
    assert choose(viewer, "slackinstallation", rows).status_code == 403
    assert confirm(viewer, "slackinstallation", rows).status_code == 403
    assert SlackInstallation.objects.count() == 2
    assert slack.calls_to("auth.revoke") == []


def test_a_user_with_both_permissions_revokes_installations_and_their_bots(
    staff_client, two_workspaces, slack
):
    operator = staff_client("view_slackinstallation", "revoke_slackinstallation", "revoke_slackbot")
    response = confirm(operator, "slackinstallation", [installation_row("T0ONE")], revoke_bots="yes")
    assert response.status_code == 200
    assert not SlackInstallation.objects.filter(team_id="T0ONE").exists()
    assert not SlackBot.objects.filter(team_id="T0ONE").exists()


def test_without_the_bot_permission_the_bots_are_left_alone(staff_client, two_workspaces, slack):
    # Revoking a bot deactivates the app in its workspace: revoke_slackinstallation alone must not do it.
    one, _ = two_workspaces
    operator = staff_client("view_slackinstallation", "revoke_slackinstallation")
    row = installation_row("T0ONE")
    html = choose(operator, "slackinstallation", [row]).content.decode()
    assert "revoke_bots" not in html and f"Slack bot #{bot_row('T0ONE').pk}" not in html
    assert "The bots of these installations are left alone" in html

    response = confirm(operator, "slackinstallation", [row], revoke_bots="yes")  # the box, forged
    assert revoked_tokens(slack) == [one.user_token]
    assert not SlackInstallation.objects.filter(team_id="T0ONE").exists()
    assert SlackBot.objects.filter(team_id="T0ONE").exists()
    assert reported(response) == [
        (
            messages.INFO,
            "The bots of these installations were left alone: revoking a bot needs the permission “Can "
            "revoke Slack bot”.",
        ),
        (messages.SUCCESS, f"Revoked at Slack and deleted Slack installation “{row}” (user token revoked)."),
    ]


# -- the confirmation page ----------------------------------------------------------------------------------


def test_the_confirmation_page_lists_what_will_be_revoked(admin_client, two_workspaces, slack):
    one, two = two_workspaces
    rows = [installation_row("T0ONE"), installation_row("T0TWO")]
    response = choose(admin_client, "slackinstallation", rows)

    assert response.status_code == 200
    assert "admin/django_slack_store/revoke_selected_confirmation.html" in [
        t.name for t in response.templates
    ]
    html = response.content.decode()
    for installation, row in zip(two_workspaces, rows, strict=True):
        bot = bot_row(installation.team_id)
        for text in (
            f"Slack installation #{row.pk}",
            f"Slack bot #{bot.pk}",
            str(row),
            mask_token(installation.user_token),
            mask_token(installation.bot_token),
        ):
            assert text in html
    assert selected_pks(html) == {row.pk for row in rows}  # the bots go along by the box, not by selection
    assert 'name="revoke_bots" value="yes" checked' in html
    assert 'name="post" value="yes"' in html
    assert_no_tokens(html, *tokens_of(one, two))
    # Nothing happened yet.
    assert slack.calls_to("auth.revoke") == []
    assert SlackInstallation.objects.count() == SlackBot.objects.count() == 2


def test_the_bot_confirmation_page_has_no_bot_box(admin_client, two_workspaces):
    html = choose(admin_client, "slackbot", [bot_row("T0ONE")]).content.decode()
    assert mask_token(two_workspaces[0].bot_token) in html
    assert "revoke_bots" not in html


DEACTIVATES = "Revoking a bot token deactivates the app in that workspace"


@pytest.mark.parametrize("model, row", [("slackbot", bot_row), ("slackinstallation", installation_row)])
def test_the_confirmation_page_says_revoking_a_bot_deactivates_the_app(
    admin_client, two_workspaces, model, row
):
    assert DEACTIVATES in choose(admin_client, model, [row("T0ONE")]).content.decode()


def test_no_bot_no_deactivation_warning(staff_client, two_workspaces):
    operator = staff_client("view_slackinstallation", "revoke_slackinstallation")
    assert (
        DEACTIVATES not in choose(operator, "slackinstallation", [installation_row("T0ONE")]).content.decode()
    )


# -- revoking ----------------------------------------------------------------------------------------------


def test_revoking_installations_and_their_bots(
    admin_client, two_workspaces, slack, received, django_capture_on_commit_callbacks
):
    # In the changelist's order, newest first, each installation followed by its bot.
    one, two = two_workspaces
    rows = [installation_row("T0TWO"), installation_row("T0ONE")]
    bots = [bot_row("T0TWO"), bot_row("T0ONE")]
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(admin_client, "slackinstallation", rows, revoke_bots="yes")

    assert response.redirect_chain == [(admin_url("slackinstallation"), 302)]
    assert not SlackInstallation.objects.exists() and not SlackBot.objects.exists()
    assert revoked_tokens(slack) == [two.user_token, two.bot_token, one.user_token, one.bot_token]
    assert all(slack.is_revoked(token) for token in revoked_tokens(slack))
    # Deleted through the store: its signals, once per key.
    key = {"client_id": CLIENT_ID, "enterprise_id": None}
    assert received == [
        ("installation_deleted", key | {"team_id": "T0TWO", "user_id": two.user_id}),
        ("bot_deleted", key | {"team_id": "T0TWO"}),
        ("installation_deleted", key | {"team_id": "T0ONE", "user_id": one.user_id}),
        ("bot_deleted", key | {"team_id": "T0ONE"}),
    ]
    for row in rows:
        assert logged(row) == [(DELETION, "Revoked at Slack and deleted (user token revoked).")]
    for bot in bots:
        assert logged(bot) == [(DELETION, "Revoked at Slack and deleted (bot token revoked).")]
    done = "Revoked at Slack and deleted"
    assert reported(response) == [
        (messages.SUCCESS, f"{done} Slack installation “{rows[0]}” (user token revoked)."),
        (messages.SUCCESS, f"{done} Slack bot “{bots[0]}” (bot token revoked)."),
        (messages.SUCCESS, f"{done} Slack installation “{rows[1]}” (user token revoked)."),
        (messages.SUCCESS, f"{done} Slack bot “{bots[1]}” (bot token revoked)."),
    ]
    assert_no_tokens(response.content.decode(), *tokens_of(one, two))
    assert_no_tokens(repr(list(LogEntry.objects.values())), *tokens_of(one, two))


def test_without_the_box_the_bot_is_kept(admin_client, two_workspaces, slack):
    one, _ = two_workspaces
    confirm(admin_client, "slackinstallation", [installation_row("T0ONE")])
    assert revoked_tokens(slack) == [one.user_token]
    assert not SlackInstallation.objects.filter(team_id="T0ONE").exists()
    assert SlackBot.objects.filter(team_id="T0ONE").exists()


def test_a_bot_shared_by_installations_of_one_install_is_revoked_once(admin_client, install, slack):
    alice = install(team_id="T0SHARED", user_id="U0ALICE")
    bob = install(
        team_id="T0SHARED", user_id="U0BOB", installed_at=alice.installed_at, bot_token=alice.bot_token
    )
    register(slack, alice, bob)
    confirm(admin_client, "slackinstallation", SlackInstallation.objects.all(), revoke_bots="yes")
    assert sorted(revoked_tokens(slack)) == sorted([alice.user_token, bob.user_token, alice.bot_token])
    assert not SlackInstallation.objects.exists() and not SlackBot.objects.exists()


def test_revoking_bots(admin_client, two_workspaces, slack, received, django_capture_on_commit_callbacks):
    one, two = two_workspaces
    bot = bot_row("T0TWO")
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(admin_client, "slackbot", [bot])
    assert revoked_tokens(slack) == [two.bot_token]
    assert list(SlackBot.objects.values_list("team_id", flat=True)) == ["T0ONE"]
    assert SlackInstallation.objects.count() == 2
    assert received == [("bot_deleted", {"client_id": CLIENT_ID, "enterprise_id": None, "team_id": "T0TWO"})]
    assert reported(response) == [
        (messages.SUCCESS, f"Revoked at Slack and deleted Slack bot “{bot}” (bot token revoked).")
    ]
    assert logged(bot) == [(DELETION, "Revoked at Slack and deleted (bot token revoked).")]


# -- failures: the row is kept unless Slack says the token is dead -------------------------------------------


def test_a_slack_error_keeps_that_row_only(
    admin_client, install, slack, received, django_capture_on_commit_callbacks
):
    installations = [install(team_id=f"T0BOT{n}") for n in range(3)][::-1]  # newest first, as listed
    register(slack, *installations)
    bots = [bot_row(f"T0BOT{n}") for n in (2, 1, 0)]
    slack.add_error("auth.revoke", installations[1].bot_token, "ratelimited", status=429)

    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(admin_client, "slackbot", bots)

    assert list(SlackBot.objects.values_list("team_id", flat=True)) == ["T0BOT1"]
    assert not slack.is_revoked(installations[1].bot_token)
    assert [kwargs["team_id"] for _, kwargs in received] == ["T0BOT2", "T0BOT0"]
    failure = f"Slack bot “{bots[1]}” was kept: could not revoke its bot token: Slack answered ratelimited."
    assert reported(response) == [
        (messages.SUCCESS, f"Revoked at Slack and deleted Slack bot “{bots[0]}” (bot token revoked)."),
        (messages.ERROR, failure),
        (messages.SUCCESS, f"Revoked at Slack and deleted Slack bot “{bots[2]}” (bot token revoked)."),
        (messages.WARNING, where_hint("auth.revoke", slack.base_url)),  # once, after every row's message
    ]
    assert logged(bots[1]) == [(REVOKE_KEPT, f"Revoke failed: {failure}")]
    assert_no_tokens(response.content.decode(), *tokens_of(*installations))


def test_an_installation_is_kept_when_its_user_token_fails_while_its_bot_goes(
    admin_client, two_workspaces, slack
):
    one, _ = two_workspaces
    slack.add_error("auth.revoke", one.user_token, "fatal_error")
    response = confirm(admin_client, "slackinstallation", [installation_row("T0ONE")], revoke_bots="yes")
    assert SlackInstallation.objects.filter(team_id="T0ONE").exists()
    assert not SlackBot.objects.filter(team_id="T0ONE").exists()
    assert [level for level, _ in reported(response)] == [messages.ERROR, messages.SUCCESS, messages.WARNING]
    assert "Slack answered fatal_error" in reported(response)[0][1]


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


def test_slack_out_of_reach_keeps_every_row(admin_client, two_workspaces, settings, closed_port, received):
    url = f"http://127.0.0.1:{closed_port}/api/"
    settings.DJANGO_SLACK_STORE = {"SLACK_API_URL": url}
    bots = [bot_row("T0TWO"), bot_row("T0ONE")]
    response = confirm(admin_client, "slackbot", bots)
    assert SlackBot.objects.count() == 2
    failure = "was kept: could not revoke its bot token: could not reach Slack: Connection refused."
    assert reported(response) == [
        *[(messages.ERROR, f"Slack bot “{bot}” {failure}") for bot in bots],
        (messages.WARNING, where_hint("auth.revoke", url)),
    ]
    assert [flag for bot in bots for flag, _ in logged(bot)] == [REVOKE_KEPT, REVOKE_KEPT]
    assert received == []


def test_a_hung_slack_is_given_up_at_the_request_deadline(admin_client, install, slack, settings, received):
    settings.DJANGO_SLACK_STORE = {"SLACK_API_URL": slack.base_url, "REVOKE_DEADLINE": 1}
    installations = [install(team_id=f"T0HUNG{n}") for n in range(3)]
    register(slack, *installations)
    slack.add_delay("auth.revoke", 60)
    bots = [bot_row(f"T0HUNG{n}") for n in (2, 1, 0)]  # newest first, as listed

    started = time.monotonic()
    response = confirm(admin_client, "slackbot", bots)
    elapsed = time.monotonic() - started

    # One call, cut at the 1 s deadline; the other rows are not attempted (3 calls × 10 s before).
    assert 1 <= elapsed < 4
    assert len(slack.calls_to("auth.revoke")) == 1
    assert SlackBot.objects.count() == 3 and received == []
    timed_out = "could not revoke its bot token: could not reach Slack: no answer in time"
    assert reported(response) == [
        (messages.ERROR, f"Slack bot “{bots[0]}” was kept: {timed_out}."),
        (
            messages.ERROR,
            "Not attempted, as this request's time for Slack (1 s) ran out, and kept: "
            f"Slack bot “{bots[1]}”, Slack bot “{bots[2]}”. Revoke them again.",
        ),
        (messages.WARNING, where_hint("auth.revoke", slack.base_url)),
    ]
    not_attempted = "not attempted: this request's time for Slack ran out"
    assert kept_page(response) == [
        (
            admin_url("slackbot"),
            [(bots[0].pk, timed_out), (bots[1].pk, not_attempted), (bots[2].pk, not_attempted)],
        )
    ]
    assert logged(bots[1]) == []  # nothing was done to it


def test_a_proxy_error_page_is_reported_short_and_without_the_token(
    admin_client, two_workspaces, slack, caplog
):
    one, two = two_workspaces
    bot = bot_row("T0ONE")
    # A 2 KB page that echoes the request's Authorization header.
    page = (
        f"<html><body><h1>502 Bad Gateway</h1><p>Bearer {one.bot_token}</p>" + "<p>upstream hung</p>\n" * 100
    )
    slack.add_page("auth.revoke", one.bot_token, page, status=502)
    response = confirm(admin_client, "slackbot", [bot])

    [(level, message), hint] = reported(response)
    kept = f"Slack bot “{bot}” was kept: could not revoke its bot token: "
    kept += "unexpected answer from Slack (HTTP 502): "
    assert level == messages.ERROR and message.startswith(kept)
    assert "502 Bad Gateway" in message and len(message) <= len(kept) + slack_api.EXCERPT_LENGTH + 1
    assert hint == (messages.WARNING, where_hint("auth.revoke", slack.base_url))
    assert logged(bot) == [(REVOKE_KEPT, f"Revoke failed: {message}")]
    assert SlackBot.objects.filter(pk=bot.pk).exists()
    for text in (response.content.decode(), repr(list(LogEntry.objects.values())), caplog.text):
        assert_no_tokens(text, *tokens_of(one, two))


def test_tokens_proven_dead_at_slack_are_deleted(admin_client, install, slack):
    revoked, inactive = install(team_id="T0REVOKED"), install(team_id="T0INACTIVE")
    register(slack, revoked, inactive)
    WebClient(base_url=slack.base_url).auth_revoke(token=revoked.bot_token)  # token_revoked from now on
    slack.add_error("auth.revoke", inactive.bot_token, "account_inactive")
    bots = [bot_row("T0INACTIVE"), bot_row("T0REVOKED")]
    response = confirm(admin_client, "slackbot", bots)
    assert not SlackBot.objects.exists()
    deleted = "Revoked at Slack and deleted Slack bot"
    assert reported(response) == [
        (messages.SUCCESS, f"{deleted} “{bots[0]}” (bot token already invalid at Slack: account_inactive)."),
        (messages.SUCCESS, f"{deleted} “{bots[1]}” (bot token already invalid at Slack: token_revoked)."),
    ]
    assert_no_tokens(response.content.decode(), *tokens_of(revoked, inactive))


NOT_PROOF = [
    (
        "token_expired",
        "the access token has expired, but with token rotation its refresh token may still get new ones",
    ),
    (
        "invalid_auth",
        "Slack refused the token, as it refuses one restricted to other IP addresses: it may still work from "
        "your app's servers",
    ),
    ("not_authed", "no token reached Slack: a proxy on the way may have dropped it"),
]


def kept_page(response) -> list[tuple[str | None, list[tuple[int, str]]]]:
    """The page of kept rows: per model, where its form posts, and each row's pk and why it was kept."""
    assert "admin/django_slack_store/revoke_selected_kept.html" in [t.name for t in response.templates]
    assert "django_slack_store/admin.css" in response.content.decode()  # its tables are styled like the rest
    groups = response.context["groups"]
    return [(group["url"], [(t.row.pk, t.kept) for t in group["targets"]]) for group in groups]


@pytest.mark.parametrize("code, why", NOT_PROOF, ids=[code for code, _ in NOT_PROOF])
def test_answers_that_do_not_prove_the_token_dead_keep_the_row(
    admin_client, install, slack, received, code, why
):
    installation = install(team_id="T0KEPT", rotating=True)
    register(slack, installation)
    slack.add_error("auth.revoke", installation.bot_token, code)
    bot = bot_row("T0KEPT")
    response = confirm(admin_client, "slackbot", [bot])

    # The row, and the refresh token that may still mint access tokens, are kept; the operator is told why.
    assert SlackBot.objects.get().bot_refresh_token == installation.bot_refresh_token
    assert received == []
    reason = f"could not revoke its bot token: Slack answered {code}: {why}"
    assert reported(response) == [
        (messages.ERROR, f"Slack bot “{bot}” was kept: {reason}."),
        (messages.WARNING, where_hint("auth.revoke", slack.base_url)),
    ]
    assert logged(bot) == [(REVOKE_KEPT, f"Revoke failed: Slack bot “{bot}” was kept: {reason}.")]
    assert kept_page(response) == [(admin_url("slackbot"), [(bot.pk, reason)])]
    html = response.content.decode()
    assert f'<input type="checkbox" name="_selected_action" value="{bot.pk}">' in html  # not ticked
    assert_no_tokens(html, *tokens_of(installation))


def delete_anyway(client, model, rows):
    """Tick `rows` on the page of kept rows and press "Delete the ticked … without revoking"."""
    data = {
        "action": "revoke_selected",
        "index": 0,
        "delete_anyway": "yes",
        "_selected_action": [row.pk for row in rows],
    }
    return client.post(admin_url(model), data, follow=True)


def test_kept_rows_the_operator_ticks_are_deleted_anyway(
    admin_client, install, slack, received, django_capture_on_commit_callbacks
):
    installations = [install(team_id="T0EXPIRED1"), install(team_id="T0EXPIRED2")]
    register(slack, *installations)
    for installation in installations:
        slack.add_error("auth.revoke", installation.bot_token, "token_expired")
    bots = [bot_row("T0EXPIRED2"), bot_row("T0EXPIRED1")]
    html = confirm(admin_client, "slackbot", bots).content.decode()
    for field in ('name="csrfmiddlewaretoken"', 'name="delete_anyway" value="yes"', 'name="index" value="0"'):
        assert field in html
    calls = len(slack.calls)

    with django_capture_on_commit_callbacks(execute=True):
        response = delete_anyway(admin_client, "slackbot", [bots[0]])

    assert response.redirect_chain == [(admin_url("slackbot"), 302)]
    assert list(SlackBot.objects.values_list("team_id", flat=True)) == ["T0EXPIRED1"]
    assert len(slack.calls) == calls  # nothing sent to Slack
    assert received == [
        ("bot_deleted", {"client_id": CLIENT_ID, "enterprise_id": None, "team_id": "T0EXPIRED2"})
    ]
    assert reported(response) == [
        (
            messages.WARNING,
            f"Deleted Slack bot “{bots[0]}” without revoking it at Slack: its tokens may still work there.",
        )
    ]
    assert logged(bots[0])[-1] == (
        DELETION,
        "Deleted without revoking at Slack, as the operator chose: its tokens may still work.",
    )
    assert_no_tokens(response.content.decode(), *tokens_of(*installations))


def test_kept_installations_and_bots_are_each_deleted_anyway_on_their_own_list(admin_client, install, slack):
    installation = install(team_id="T0KEPT")
    register(slack, installation)
    slack.add_error("auth.revoke", installation.user_token, "token_expired")
    slack.add_error("auth.revoke", installation.bot_token, "not_authed")
    row, bot = installation_row("T0KEPT"), bot_row("T0KEPT")
    response = confirm(admin_client, "slackinstallation", [row], revoke_bots="yes")
    why = dict(NOT_PROOF)
    assert kept_page(response) == [
        (
            admin_url("slackinstallation"),
            [
                (
                    row.pk,
                    f"could not revoke its user token: Slack answered token_expired: {why['token_expired']}",
                )
            ],
        ),
        (
            admin_url("slackbot"),
            [(bot.pk, f"could not revoke its bot token: Slack answered not_authed: {why['not_authed']}")],
        ),
    ]
    delete_anyway(admin_client, "slackbot", [bot])
    assert SlackInstallation.objects.exists() and not SlackBot.objects.exists()
    delete_anyway(admin_client, "slackinstallation", [row])
    assert not SlackInstallation.objects.exists()


def test_deleting_anyway_needs_the_revoke_permission(staff_client, two_workspaces, slack):
    viewer = staff_client("view_slackinstallation", "view_slackbot", "revoke_slackinstallation")
    assert delete_anyway(viewer, "slackbot", [bot_row("T0ONE")]).status_code == 403
    assert SlackBot.objects.count() == 2


def test_deleting_anyway_needs_the_csrf_token(admin_user, two_workspaces, slack):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert delete_anyway(client, "slackbot", [bot_row("T0ONE")]).status_code == 403
    assert SlackBot.objects.count() == 2


def test_an_installation_without_tokens_is_just_deleted(admin_client, install, slack):
    install(team_id="T0BARE", bot_token=None, user_token=None)
    row = installation_row("T0BARE")
    response = confirm(admin_client, "slackinstallation", [row], revoke_bots="yes")
    assert not SlackInstallation.objects.exists()
    assert slack.calls_to("auth.revoke") == []
    assert reported(response) == [
        (messages.SUCCESS, f"Deleted Slack installation “{row}” (no token to revoke).")
    ]


def test_a_row_rotated_during_the_revoke_is_kept(admin_client, install, slack, store, monkeypatch):
    installation = install(team_id="T0RACE", rotating=True)
    register(slack, installation)
    real_revoke = revocation.revoke

    def revoke_while_bolt_rotates(token, web_client=None):
        result = real_revoke(token, web_client)
        store.save(rotated(installation, bot_token="xoxb-rotated-meanwhile-0001"))
        return result

    monkeypatch.setattr(revocation, "revoke", revoke_while_bolt_rotates)
    bot = bot_row("T0RACE")
    response = confirm(admin_client, "slackbot", [bot])
    assert SlackBot.objects.get().bot_token == "xoxb-rotated-meanwhile-0001"
    [(level, message)] = reported(response)
    assert (
        level == messages.ERROR
        and "was rewritten (a token rotation)" in message
        and "Revoke it again" in message
    )


def test_a_row_whose_token_cannot_be_decrypted_is_kept(admin_client, install, slack, settings):
    from django_slack_store.crypto import generate_key

    settings.DJANGO_SLACK_STORE = {"SLACK_API_URL": slack.base_url, "ENCRYPTION_KEYS": [generate_key()]}
    install(team_id="T0LOCKED")
    settings.DJANGO_SLACK_STORE = {"SLACK_API_URL": slack.base_url, "ENCRYPTION_KEYS": [generate_key()]}
    bot = SlackBot.objects.defer("bot_token", "bot_refresh_token").get()
    assert "cannot be decrypted" in choose(admin_client, "slackbot", [bot]).content.decode()
    response = confirm(admin_client, "slackbot", [bot])
    assert SlackBot.objects.filter(pk=bot.pk).exists()
    [(level, message)] = reported(response)
    assert level == messages.ERROR and "cannot be decrypted" in message
    assert slack.calls_to("auth.revoke") == []


def test_select_all_across_pages(admin_client, two_workspaces, slack):
    data = {
        "action": "revoke_selected",
        "select_across": "1",
        "index": 0,
        "_selected_action": [bot_row("T0ONE").pk],
    }
    html = admin_client.post(admin_url("slackbot"), data).content.decode()
    for bot in SlackBot.objects.all():
        assert f'name="_selected_action" value="{bot.pk}"' in html


# -- revocation.revoke: every outcome is a Revocation, never an exception ------------------------------------


class StubClient:
    """A WebClient whose auth_revoke raises or answers what it is given."""

    def __init__(self, outcome):
        self.outcome = outcome

    def auth_revoke(self, token):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def slack_response(data):
    return SlackResponse(
        client=None, http_verb="GET", api_url="", req_args={}, data=data, headers={}, status_code=200
    )


@pytest.mark.parametrize(
    "outcome, dead, detail",
    [
        ({"ok": True, "revoked": True}, True, "revoked"),
        ({"ok": True, "revoked": False}, False, "Slack did not confirm the revocation"),
        (SlackApiError("bad gateway", {"status": 502, "headers": {}, "body": "<html>"}), False,
         "unexpected answer from Slack (HTTP 502)"),
        (SlackApiError("no", slack_response({"ok": False, "error": "account_inactive"})), True,
         "already invalid at Slack: account_inactive"),
        (SlackApiError("no", slack_response({"ok": False, "error": "token_revoked"})), True,
         "already invalid at Slack: token_revoked"),
        *[(SlackApiError("no", slack_response({"ok": False, "error": code})), False,
           f"Slack answered {code}: {why}") for code, why in NOT_PROOF],
        (URLError(TimeoutError("timed out")), False, "could not reach Slack: no answer in time"),
        (TimeoutError("timed out"), False, "could not reach Slack: no answer in time"),  # reading the answer
        (SlackApiError("no", slack_response({"ok": False, "error": "<p>" + "x" * 2000})), False,
         "unexpected answer from Slack (HTTP 200): <p>" + "x" * 196 + "…"),
        (URLError("unknown url type: gopher"), False, "could not reach Slack: unknown url type: gopher"),
        (RuntimeError("a bug"), False, "unexpected error (logged)"),
    ],
)  # fmt: skip
def test_every_outcome_of_auth_revoke(outcome, dead, detail, caplog):
    result = revocation.revoke("xoxb-1234567890-secret-token-value", StubClient(outcome))
    assert (result.dead, result.detail) == (dead, detail)
    assert "secret-token" not in caplog.text


def test_no_token_is_nothing_to_revoke():
    assert revocation.revoke("", StubClient(RuntimeError("not called"))) == revocation.Revocation(
        True, "no token to revoke"
    )
