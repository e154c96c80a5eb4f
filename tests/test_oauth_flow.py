"""A whole install through Bolt's OAuth flow, sync `App` and `AsyncApp`, on both of our stores.

Bolt, slack_sdk's clients and the stores are real; only the Slack Web API is fake
(tests/support/fake_slack.py).
The browser's two GETs reach the app's OAuth flow the way every Bolt adapter sends them (Django's, ASGI's):
by path, to `oauth_flow.handle_installation` and `oauth_flow.handle_callback`. `App.dispatch` is not the
way in: it takes Slack's signed POSTs only, and a `BoltRequest` carries neither a path nor a method.
"""

import hashlib
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from asgiref.sync import async_to_sync
from slack_bolt import App, BoltRequest
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from django_slack_store.models import SlackBot, SlackInstallation, SlackOAuthState
from django_slack_store.oauth_state import DjangoOAuthStateStore
from django_slack_store.stores import DjangoInstallationStore
from tests.support.fake_slack import OAuthGrant

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "test-client-secret"
SIGNING_SECRET = "test-signing-secret"
COOKIE = "slack-app-oauth-state"  # Bolt's default state cookie
BOT_SCOPES = ["app_mentions:read", "chat:write"]
USER_SCOPES = ["search:read"]
CODE = "test-authorization-code-1"

GRANT = OAuthGrant(
    client_id=CLIENT_ID,
    team_id="T0TEAM",
    team_name="Test Team",
    user_id="U0INSTALLER",
    bot_token="xoxb-test-oauth-bot-token",
    bot_id="B0BOT",
    bot_user_id="U0BOT",
    bot_scopes=tuple(BOT_SCOPES),
    user_token="xoxp-test-oauth-installer-token",
    user_scopes=tuple(USER_SCOPES),
)

pytestmark = [
    pytest.mark.django_db,
    # slack_sdk's AsyncWebClient sends oauth.v2.access credentials with aiohttp's BasicAuth, deprecated in
    # aiohttp 3.14; this suite makes deprecation warnings errors, which Bolt reports as a failed install.
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
]


class InstallingApp:
    """A Bolt app of one kind ("App" or "AsyncApp") whose OAuth flow uses our two stores and the fake Slack,
    and the browser that installs it: `get()` sends a GET to the flow and returns Bolt's response."""

    def __init__(self, kind, fake_slack):
        self.kind = kind
        self.installation_store = DjangoInstallationStore(CLIENT_ID)
        self.state_store = DjangoOAuthStateStore(600)
        oauth = dict(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            scopes=BOT_SCOPES,
            user_scopes=USER_SCOPES,
            installation_store=self.installation_store,
            state_store=self.state_store,
            # /slack/install redirects to Slack straight away, rather than showing an "Add to Slack" page.
            install_page_rendering_enabled=False,
        )
        if kind == "App":
            self.app = App(
                client=WebClient(base_url=fake_slack.base_url),
                signing_secret=SIGNING_SECRET,
                oauth_settings=OAuthSettings(**oauth),
            )
        else:
            self.app = AsyncApp(
                client=AsyncWebClient(base_url=fake_slack.base_url),
                signing_secret=SIGNING_SECRET,
                oauth_settings=AsyncOAuthSettings(**oauth),
            )

    def get(self, path, query=None, *, state_cookie=None):
        flow = self.app.oauth_flow
        handle = {flow.install_path: flow.handle_installation, flow.redirect_uri_path: flow.handle_callback}
        headers = {"cookie": f"{COOKIE}={state_cookie}"} if state_cookie else {}
        query = urlencode(query or {})
        if self.kind == "App":
            return handle[path](BoltRequest(body="", query=query, headers=headers))
        return async_to_sync(handle[path])(AsyncBoltRequest(body="", query=query, headers=headers))

    def start_install(self):
        """GET /slack/install: Bolt issues a state, sets it as a cookie and sends the browser to Slack."""
        response = self.get("/slack/install")
        assert response.status == 302
        authorize = urlsplit(response.headers["location"][0])
        assert (authorize.netloc, authorize.path) == ("slack.com", "/oauth/v2/authorize")
        query = parse_qs(authorize.query)
        assert (query["client_id"], query["scope"], query["user_scope"]) == (
            [CLIENT_ID],
            [",".join(BOT_SCOPES)],
            [",".join(USER_SCOPES)],
        )
        [state] = query["state"]
        [set_cookie] = response.headers["set-cookie"]
        assert set_cookie.startswith(f"{COOKIE}={state}; ")
        return state

    def come_back(self, state, *, code=CODE):
        """GET /slack/oauth_redirect, as Slack sends the browser back, with the state cookie."""
        return self.get("/slack/oauth_redirect", {"code": code, "state": state}, state_cookie=state)


@pytest.fixture(params=["App", "AsyncApp"])
def app_kind(request):
    return request.param


def test_an_install_saves_the_installation_and_its_state_is_single_use(app_kind, fake_slack):
    fake_slack.add_oauth_code(CODE, GRANT)
    app = InstallingApp(app_kind, fake_slack)

    state = app.start_install()

    stored = SlackOAuthState.objects.get()
    assert stored.digest == hashlib.sha256(state.encode()).hexdigest()

    response = app.come_back(state)

    assert response.status == 200 and "Thank you!" in response.body
    [exchange] = fake_slack.calls_to("oauth.v2.access")
    assert exchange.params == {"code": CODE, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    # Bolt asks who the new bot token is, for the bot id that oauth.v2.access leaves out.
    assert [call.token for call in fake_slack.calls_to("auth.test")] == [GRANT.bot_token]
    assert not SlackOAuthState.objects.exists()
    installation = app.installation_store.find_installation(enterprise_id=None, team_id=GRANT.team_id)
    assert {
        name: getattr(installation, name)
        for name in (
            "app_id",
            "team_name",
            "user_id",
            "user_token",
            "user_scopes",
            "bot_token",
            "bot_id",
            "bot_user_id",
            "bot_scopes",
            "is_enterprise_install",
            "token_type",
        )
    } == {
        "app_id": GRANT.app_id,
        "team_name": GRANT.team_name,
        "user_id": GRANT.user_id,
        "user_token": GRANT.user_token,
        "user_scopes": USER_SCOPES,
        "bot_token": GRANT.bot_token,
        "bot_id": GRANT.bot_id,
        "bot_user_id": GRANT.bot_user_id,
        "bot_scopes": BOT_SCOPES,
        "is_enterprise_install": False,
        "token_type": "bot",
    }
    bot = app.installation_store.find_bot(enterprise_id=None, team_id=GRANT.team_id)
    assert (bot.bot_token, bot.bot_id) == (GRANT.bot_token, GRANT.bot_id)

    # The same redirect again (a reload, or someone replaying it): Bolt's failure page, nothing exchanged.
    replay = app.come_back(state)

    assert replay.status == 401 and "invalid_state" in replay.body
    assert len(fake_slack.calls_to("oauth.v2.access")) == 1
    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (1, 1)


@pytest.mark.parametrize("how", ["never-issued", "expired"])
def test_a_state_the_store_refuses_stops_the_install_before_the_code_is_exchanged(app_kind, fake_slack, how):
    fake_slack.add_oauth_code(CODE, GRANT)
    app = InstallingApp(app_kind, fake_slack)
    state = app.start_install()
    if how == "never-issued":
        # Well formed, and set as both the cookie and the state, so Bolt's browser check passes: the store
        # must refuse it.
        state = "forged-state-forged-state-forged-state-1234"
    else:
        app.state_store.clock = lambda: time.time() + 600

    response = app.come_back(state)

    assert response.status == 401 and "invalid_state" in response.body
    assert fake_slack.calls_to("oauth.v2.access") == []
    assert not SlackInstallation.objects.exists()
