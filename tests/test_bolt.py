"""Bolt for Python, sync `App` and `AsyncApp`, authorizing signed Slack requests through the store.

Only the Slack Web API is fake (tests/support/fake_slack.py, a real HTTP server); Bolt, slack_sdk's clients
and the store are real. Each test runs with both apps. The async app runs under `async_to_sync` from a plain
test function, so the store's thread-sensitive `sync_to_async` work lands on this thread's database
connection, inside the test's transaction.
"""

import time

import pytest
from slack_sdk import WebClient

from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support.bolt_apps import APP_KINDS, CLIENT_ID, CLIENT_SECRET, NOT_INSTALLED, Bolt
from tests.support.factories import InstallationFactory
from tests.support.slack_requests import BOT_USER_ID, app_mention, slash_command

TEAM_ID = "T0TEAM"
ENTERPRISE_ID = "E0ORG"
INSTALLER_ID = "U0INSTALLER"
BOT_ID = "B0BOT"
BOT_TOKEN = "xoxb-test-bot-token-1"

pytestmark = pytest.mark.django_db


@pytest.fixture(params=APP_KINDS)
def app_kind(request):
    return request.param


def tokens(calls):
    """The token each recorded Web API call was made with."""
    return [call.token for call in calls]


def test_workspace_install_authorizes_events(app_kind, fake_slack):
    bolt = Bolt(app_kind, fake_slack.base_url)
    bolt.save(
        InstallationFactory(
            team_id=TEAM_ID, user_id=INSTALLER_ID, bot_token=BOT_TOKEN, bot_id=BOT_ID, bot_user_id=BOT_USER_ID
        )
    )
    fake_slack.add_token(BOT_TOKEN, team_id=TEAM_ID, user_id=BOT_USER_ID, bot_id=BOT_ID)

    response = bolt.dispatch(app_mention(team_id=TEAM_ID))

    assert response.status == 200
    assert bolt.bot_tokens_seen == [BOT_TOKEN]
    assert tokens(fake_slack.calls_to("auth.test")) == [BOT_TOKEN]
    assert tokens(fake_slack.calls_to("chat.postMessage")) == [BOT_TOKEN]


@pytest.mark.parametrize("build_request", [app_mention, slash_command], ids=["event", "command"])
def test_org_wide_install_authorizes_requests_from_any_org_workspace(app_kind, fake_slack, build_request):
    bolt = Bolt(app_kind, fake_slack.base_url)
    bolt.save(
        InstallationFactory(
            org_wide=True,
            enterprise_id=ENTERPRISE_ID,
            user_id=INSTALLER_ID,
            bot_token=BOT_TOKEN,
            bot_id=BOT_ID,
            bot_user_id=BOT_USER_ID,
        )
    )
    fake_slack.add_token(
        BOT_TOKEN,
        team_id=None,
        enterprise_id=ENTERPRISE_ID,
        user_id=BOT_USER_ID,
        bot_id=BOT_ID,
        is_enterprise_install=True,
    )

    # From a workspace of the org that the installation never named.
    request = build_request(team_id="T0INORG", enterprise_id=ENTERPRISE_ID, is_enterprise_install=True)
    response = bolt.dispatch(request)

    assert response.status == 200
    assert bolt.bot_tokens_seen == [BOT_TOKEN]
    assert tokens(fake_slack.calls_to("auth.test")) == [BOT_TOKEN]
    assert tokens(fake_slack.calls_to("chat.postMessage")) == [BOT_TOKEN]


@pytest.mark.parametrize(
    "client_id, team_id",
    [(CLIENT_ID, "T0OTHER"), ("9999.8888", TEAM_ID)],
    ids=["installed-in-another-workspace", "another-app-installed-here"],
)
def test_event_for_a_workspace_without_installation_reaches_no_listener(
    app_kind, fake_slack, client_id, team_id
):
    bolt = Bolt(app_kind, fake_slack.base_url)
    # The store is not empty, but its installation is of another workspace or of another Slack app.
    DjangoInstallationStore(client_id=client_id).save(InstallationFactory(team_id=team_id))

    response = bolt.dispatch(app_mention(team_id=TEAM_ID))

    # Bolt acknowledges the event (Slack would retry anything else) with its "not installed" message.
    assert (response.status, response.body) == (200, NOT_INSTALLED)
    assert bolt.bot_tokens_seen == []
    assert fake_slack.calls == []  # with no token there is nothing to check with auth.test


def test_token_slack_revoked_reaches_no_listener(app_kind, fake_slack):
    """Until the `tokens_revoked` event removes it, the store still serves a token Slack refuses."""
    bolt = Bolt(app_kind, fake_slack.base_url)
    bolt.save(InstallationFactory(team_id=TEAM_ID, user_id=INSTALLER_ID, bot_token=BOT_TOKEN))
    fake_slack.add_token(BOT_TOKEN, team_id=TEAM_ID, user_id=BOT_USER_ID, bot_id=BOT_ID)
    WebClient(base_url=fake_slack.base_url).auth_revoke(token=BOT_TOKEN)

    response = bolt.dispatch(app_mention(team_id=TEAM_ID))

    assert (response.status, response.body) == (200, NOT_INSTALLED)
    assert bolt.bot_tokens_seen == []
    assert tokens(fake_slack.calls_to("auth.test")) == [BOT_TOKEN]


# slack_sdk's AsyncWebClient sends oauth.v2.access credentials with aiohttp's BasicAuth, deprecated in
# aiohttp 3.14; this suite makes deprecation warnings errors, which Bolt reports as a failed authorization.
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
def test_expiring_bot_token_is_rotated_and_saved_in_place(app_kind, fake_slack):
    bolt = Bolt(app_kind, fake_slack.base_url, token_rotation=True)
    expiring_token, rotated_token = "xoxb-test-expiring-bot-token", "xoxb-test-rotated-bot-token"
    bolt.save(
        InstallationFactory(
            team_id=TEAM_ID,
            user_id=INSTALLER_ID,
            user_token="xoxp-test-installer-token",
            bot_token=expiring_token,
            bot_id=BOT_ID,
            bot_user_id=BOT_USER_ID,
            bot_refresh_token="xoxe-test-bot-refresh-1",
            # Bolt refreshes a token that expires within two hours.
            bot_token_expires_at=int(time.time()) + 3600,
        )
    )
    for token in (expiring_token, rotated_token):
        fake_slack.add_token(token, team_id=TEAM_ID, user_id=BOT_USER_ID, bot_id=BOT_ID)
    fake_slack.add_refresh_token(
        "xoxe-test-bot-refresh-1",
        access_token=rotated_token,
        next_refresh_token="xoxe-test-bot-refresh-2",
        expires_in=43200,
    )
    started = int(time.time())

    response = bolt.dispatch(app_mention(team_id=TEAM_ID))

    assert response.status == 200
    assert bolt.bot_tokens_seen == [rotated_token]
    [refresh] = fake_slack.calls_to("oauth.v2.access")
    assert refresh.params == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": "xoxe-test-bot-refresh-1",
    }
    assert tokens(fake_slack.calls_to("auth.test")) == [rotated_token]
    # Bolt saved the rotated copy through the store: one row each still, now serving the new token.
    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (1, 1)
    bot = bolt.store.find_bot(enterprise_id=None, team_id=TEAM_ID)
    assert (bot.bot_token, bot.bot_refresh_token) == (rotated_token, "xoxe-test-bot-refresh-2")
    assert started + 43200 <= bot.bot_token_expires_at <= int(time.time()) + 43200
    installation = bolt.store.find_installation(enterprise_id=None, team_id=TEAM_ID)
    assert (installation.bot_token, installation.bot_refresh_token, installation.bot_token_expires_at) == (
        bot.bot_token,
        bot.bot_refresh_token,
        bot.bot_token_expires_at,
    )
    # Bolt's copy had the installer's user token blanked (the event came from someone else): it is kept.
    assert installation.user_token == "xoxp-test-installer-token"

    # The next event gets the rotated token straight from the store, with no second refresh.
    bolt.dispatch(app_mention(team_id=TEAM_ID))

    assert bolt.bot_tokens_seen == [rotated_token, rotated_token]
    assert len(fake_slack.calls_to("oauth.v2.access")) == 1
