"""Real Bolt apps, sync `App` and `AsyncApp`, on the store and the fake Slack, for the tests that drive them
with signed requests (tests/support/slack_requests.py)."""

from asgiref.sync import async_to_sync
from slack_bolt import App
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.state_store import OAuthStateStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from django_slack_store.bolt import AsyncDjangoAuthorize, DjangoAuthorize
from django_slack_store.stores import DjangoInstallationStore
from tests.support.slack_requests import SIGNING_SECRET, dispatch

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "test-client-secret"
# Bolt answers an event it cannot authorize with this text (and status 200); ours, so tests can tell.
NOT_INSTALLED = "test: this app is not installed here"
APP_KINDS = ("App", "AsyncApp")


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
    """A Bolt app of one kind ("App" or "AsyncApp") on our store and the fake Slack at `base_url`, whose
    `app_mention` and `/hello` listeners record the bot and user tokens they were given (`bot_tokens_seen`,
    `user_tokens_seen`) and reply through the Web API with the bot token.

    `authorize="bolt"` (the default) leaves authorization to Bolt's own, from the installation store, with
    token rotation when `token_rotation`; `authorize="django"` gives the app the store's DjangoAuthorize (or
    AsyncDjangoAuthorize), with OAuth settings as an app that installs itself has."""

    def __init__(self, kind, base_url, *, client_id=CLIENT_ID, token_rotation=False, authorize="bolt"):
        self.kind = kind
        secret = CLIENT_SECRET if authorize == "django" else None
        self.store = DjangoInstallationStore(client_id=client_id, client_secret=secret)
        self.bot_tokens_seen, self.user_tokens_seen = [], []
        settings = dict(
            installation_store=self.store,
            signing_secret=SIGNING_SECRET,
            process_before_response=True,
            user_facing_authorize_error_message=NOT_INSTALLED,
        )
        with_oauth = token_rotation or authorize == "django"
        oauth = dict(client_id=client_id, client_secret=CLIENT_SECRET, state_store=UnusedStateStore())
        if kind == "App":
            if with_oauth:
                settings["oauth_settings"] = OAuthSettings(**oauth)
            if authorize == "django":
                settings["authorize"] = DjangoAuthorize(self.store)
            self.app = App(client=WebClient(base_url=base_url), **settings)

            @self.app.event("app_mention")
            def on_mention(context, say):
                self._seen(context)
                say("hello")

            @self.app.command("/hello")
            def on_command(ack, context, say):
                ack()
                self._seen(context)
                say("hello")

        else:
            if with_oauth:
                settings["oauth_settings"] = AsyncOAuthSettings(**oauth)
            if authorize == "django":
                settings["authorize"] = AsyncDjangoAuthorize(self.store)
            self.app = AsyncApp(client=AsyncWebClient(base_url=base_url), **settings)

            @self.app.event("app_mention")
            async def on_mention(context, say):
                self._seen(context)
                await say("hello")

            @self.app.command("/hello")
            async def on_command(ack, context, say):
                await ack()
                self._seen(context)
                await say("hello")

    def _seen(self, context):
        self.bot_tokens_seen.append(context.bot_token)
        self.user_tokens_seen.append(context.user_token)

    def save(self, installation):
        """Save through the store API this kind of app uses."""
        if self.kind == "App":
            self.store.save(installation)
        else:
            async_to_sync(self.store.async_save)(installation)

    def dispatch(self, request):
        return dispatch(self.app, request)
