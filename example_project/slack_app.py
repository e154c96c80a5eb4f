"""The example's Slack app: Bolt's AsyncApp with its installations and OAuth states in Django's database.

It answers mentions, and deletes what Slack reports uninstalled or revoked. `AsyncDjangoAuthorize` authorizes
each request from the store: one find for the bot token and the requesting user's token, and a rotating token
about to expire is refreshed first, once for all the server's processes sharing the database, and updated in
place (no auth.test call). example_project/views.py routes Django's requests to it.
"""

import logging

from django.conf import settings
from django.dispatch import receiver
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.web.async_client import AsyncWebClient

from django_slack_store.bolt import AsyncDjangoAuthorize, enable_lifecycle_listeners
from django_slack_store.conf import store_settings
from django_slack_store.signals import app_uninstalled, tokens_revoked
from django_slack_store.stores import DjangoInstallationStore, DjangoOAuthStateStore

logger = logging.getLogger(__name__)

# With the client secret, the store refreshes rotating tokens itself (AsyncDjangoAuthorize below).
installation_store = DjangoInstallationStore(
    client_id=settings.SLACK_CLIENT_ID, client_secret=settings.SLACK_CLIENT_SECRET
)

app = AsyncApp(
    signing_secret=settings.SLACK_SIGNING_SECRET,
    # One client for the Web API calls Bolt makes: the OAuth flow's and the listeners'. (The store's token
    # refreshes use DJANGO_SLACK_STORE["SLACK_API_URL"] too.)
    client=AsyncWebClient(base_url=store_settings.SLACK_API_URL),
    installation_store=installation_store,
    # Tokens from the store, refreshed once across processes, without Bolt's auth.test per request.
    authorize=AsyncDjangoAuthorize(installation_store),
    oauth_settings=AsyncOAuthSettings(
        client_id=settings.SLACK_CLIENT_ID,
        client_secret=settings.SLACK_CLIENT_SECRET,
        scopes=settings.SLACK_SCOPES,
        user_scopes=settings.SLACK_USER_SCOPES,
        installation_store=installation_store,
        state_store=DjangoOAuthStateStore(expiration_seconds=600),
    ),
    # Run the listeners before answering Slack, inside the request: Django then opens and closes their
    # database connections as for any view. Keep listeners well under Slack's 3-second limit.
    process_before_response=True,
)

# app_uninstalled and tokens_revoked delete the rows through the store, then send our signals.
enable_lifecycle_listeners(app)


@app.event("app_mention")
async def reply_to_mention(event, say):
    await say(f"Hello <@{event['user']}>! My token came from Django's database.")


@receiver(app_uninstalled)
def log_uninstall(sender, client_id, enterprise_id, team_id, **kwargs):
    logger.info("app_uninstalled: enterprise %s, team %s (client %s)", enterprise_id, team_id, client_id)


@receiver(tokens_revoked)
def log_revocation(sender, client_id, enterprise_id, team_id, user_ids, bot, **kwargs):
    logger.info(
        "tokens_revoked: enterprise %s, team %s, users %s, bot %s", enterprise_id, team_id, user_ids, bot
    )
