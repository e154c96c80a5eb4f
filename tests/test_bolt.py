"""Bolt for Python, sync `App` and `AsyncApp`, authorizing signed Slack requests through the store.

Only the Slack Web API is fake (tests/support/fake_slack.py, a real HTTP server); Bolt, slack_sdk's clients
and the store are real. Each test runs with both apps. The async app runs under `async_to_sync` from a plain
test function, so the store's thread-sensitive `sync_to_async` work lands on this thread's database
connection, inside the test's transaction.
"""

import time
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from slack_bolt import App
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.state_store import OAuthStateStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support.factories import InstallationFactory
from tests.support.slack_requests import BOT_USER_ID, SIGNING_SECRET, dispatch, event_callback

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "test-client-secret"
# Bolt answers an event it cannot authorize with this text (and status 200); ours, so tests can tell.
NOT_INSTALLED = "test: this app is not installed here"

TEAM_ID = "T0TEAM"
ENTERPRISE_ID = "E0ORG"
INSTALLER_ID = "U0INSTALLER"
MENTIONER_ID = "U0MENTIONER"  # not the installer: Bolt leaves the installer's user token out of the context
BOT_ID = "B0BOT"
BOT_TOKEN = "xoxb-test-bot-token-1"

pytestmark = pytest.mark.django_db


class UnusedStateStore(OAuthStateStore, AsyncOAuthStateStore):
    """OAuthSettings wants a state store; these tests never run the OAuth flow, so it must never be used."""

    def issue(self, *args, **kwargs):
        raise AssertionError("the OAuth flow is not under test")

    def consume(self, state):
        raise AssertionError("the OAuth flow is not under test")

    async def async_issue(self, *args, **kwargs):
        raise AssertionError("the OAuth flow is not under test")

    async def async_consume(self, state):
        raise AssertionError("the OAuth flow is not under test")


class Bolt:
    """A Bolt app of one kind ("App" or "AsyncApp") on our store and the fake Slack, whose `app_mention` and
    `/hello` listeners record the bot token they were given and reply through the Web API."""

    def __init__(self, kind, fake_slack, *, client_id=CLIENT_ID, token_rotation=False):
        self.kind = kind
        self.store = DjangoInstallationStore(client_id=client_id)
        self.bot_tokens_seen = []
        settings = dict(
            installation_store=self.store,
            signing_secret=SIGNING_SECRET,
            process_before_response=True,
            user_facing_authorize_error_message=NOT_INSTALLED,
        )
        if kind == "App":
            if token_rotation:
                settings["oauth_settings"] = OAuthSettings(
                    client_id=client_id, client_secret=CLIENT_SECRET, state_store=UnusedStateStore()
                )
            self.app = App(client=WebClient(base_url=fake_slack.base_url), **settings)

            @self.app.event("app_mention")
            def on_mention(context, say):
                self.bot_tokens_seen.append(context.bot_token)
                say("hello")

            @self.app.command("/hello")
            def on_command(ack, context, say):
                ack()
                self.bot_tokens_seen.append(context.bot_token)
                say("hello")

        else:
            if token_rotation:
                settings["oauth_settings"] = AsyncOAuthSettings(
                    client_id=client_id, client_secret=CLIENT_SECRET, state_store=UnusedStateStore()
                )
            self.app = AsyncApp(client=AsyncWebClient(base_url=fake_slack.base_url), **settings)

            @self.app.event("app_mention")
            async def on_mention(context, say):
                self.bot_tokens_seen.append(context.bot_token)
                await say("hello")

            @self.app.command("/hello")
            async def on_command(ack, context, say):
                await ack()
                self.bot_tokens_seen.append(context.bot_token)
                await say("hello")

    def save(self, installation):
        """Save through the store API this kind of app uses."""
        if self.kind == "App":
            self.store.save(installation)
        else:
            async_to_sync(self.store.async_save)(installation)

    def dispatch(self, request):
        return dispatch(self.app, request)


@pytest.fixture(params=["App", "AsyncApp"])
def app_kind(request):
    return request.param


def app_mention(*, team_id, enterprise_id=None, is_enterprise_install=False):
    """An Events API `event_callback` for a mention of the bot by MENTIONER_ID in `team_id`."""
    now = time.time()
    event = {
        "type": "app_mention",
        "user": MENTIONER_ID,
        "text": f"<@{BOT_USER_ID}> hello",
        "ts": f"{now:.6f}",
        "team": team_id,
        "channel": "C0CHANNEL",
        "event_ts": f"{now:.6f}",
    }
    return event_callback(
        event, team_id=team_id, enterprise_id=enterprise_id, is_enterprise_install=is_enterprise_install
    )


def slash_command(*, team_id, enterprise_id=None, is_enterprise_install=False):
    """`/hello` typed by MENTIONER_ID in `team_id`. Unlike events, commands name the workspace they were
    typed in even for an org-wide install, so Bolt asks the store for that team, flagged org-wide."""
    params = {
        "token": "test-verification-token",
        "team_id": team_id,
        "team_domain": "test-workspace",
        "enterprise_id": enterprise_id or "",
        "channel_id": "C0CHANNEL",
        "user_id": MENTIONER_ID,
        "command": "/hello",
        "text": "",
        "api_app_id": "A0TESTAPP",
        "is_enterprise_install": "true" if is_enterprise_install else "false",
        "response_url": "https://hooks.slack.test/commands/T0TEAM/1/fake",
        "trigger_id": "1.2.fake",
    }
    return urlencode(params), "application/x-www-form-urlencoded"


def tokens(calls):
    """The token each recorded Web API call was made with."""
    return [call.token for call in calls]


def test_workspace_install_authorizes_events(app_kind, fake_slack):
    bolt = Bolt(app_kind, fake_slack)
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
    bolt = Bolt(app_kind, fake_slack)
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
    bolt = Bolt(app_kind, fake_slack)
    # The store is not empty, but its installation is of another workspace or of another Slack app.
    DjangoInstallationStore(client_id=client_id).save(InstallationFactory(team_id=team_id))

    response = bolt.dispatch(app_mention(team_id=TEAM_ID))

    # Bolt acknowledges the event (Slack would retry anything else) with its "not installed" message.
    assert (response.status, response.body) == (200, NOT_INSTALLED)
    assert bolt.bot_tokens_seen == []
    assert fake_slack.calls == []  # with no token there is nothing to check with auth.test


def test_token_slack_revoked_reaches_no_listener(app_kind, fake_slack):
    """Until the `tokens_revoked` event removes it, the store still serves a token Slack refuses."""
    bolt = Bolt(app_kind, fake_slack)
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
    bolt = Bolt(app_kind, fake_slack, token_rotation=True)
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
