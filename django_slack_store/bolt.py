"""Bolt apps on a DjangoInstallationStore: their authorization (`DjangoAuthorize`, `AsyncDjangoAuthorize`)
and Slack's lifecycle events (`enable_lifecycle_listeners`).

slack_bolt is not a dependency of the package (the `bolt` extra installs it): this module imports without
it, and the two Authorize classes then refuse to be made, saying what to install.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict, cast

from slack_sdk.oauth.installation_store import Bot, Installation

from .exceptions import NotInstalled, RefreshFailed, where
from .stores import DjangoInstallationStore

__all__ = ["AsyncDjangoAuthorize", "DjangoAuthorize", "enable_lifecycle_listeners"]

if TYPE_CHECKING:
    from slack_bolt import App, BoltContext
    from slack_bolt.async_app import AsyncApp, AsyncBoltContext
    from slack_bolt.context.base_context import BaseContext

try:
    from slack_bolt.authorization import AuthorizeResult
    from slack_bolt.authorization.async_authorize import AsyncAuthorize
    from slack_bolt.authorization.authorize import Authorize
except ImportError:  # no Bolt: enable_lifecycle_listeners() needs none, and the classes below say so
    if not TYPE_CHECKING:

        class _NoBolt:
            def __new__(cls, *args: Any, **kwargs: Any) -> Any:
                raise ImportError(
                    "DjangoAuthorize and AsyncDjangoAuthorize need Bolt for Python: "
                    "pip install 'django-slack-store[bolt]'"
                )

        Authorize = AsyncAuthorize = _NoBolt

logger = logging.getLogger(__name__)


class DjangoAuthorize(Authorize):
    """Bolt `App`'s authorization from the store, with coordinated token rotation:
    `App(authorize=DjangoAuthorize(store), oauth_settings=...)`.

    For each request it reads the workspace's bot token and the requesting user's own user token with one
    find (`find_installation(user_id=...)`; `find_bot()` when that user installed nothing), refreshes each
    token that expires within ROTATION_WINDOW_MINUTES through `store.refresh()` (once for every process
    sharing the database), and answers from the stored data without calling `auth.test`: the store holds
    the ids, names and scopes that `auth.test` would report (all but the workspace's URL, which stays None),
    and a token Slack revoked is deleted by the `tokens_revoked` / `app_uninstalled` events
    (`enable_lifecycle_listeners`). Bolt's `token_rotation_expiration_minutes` is not used: the window is
    ROTATION_WINDOW_MINUTES. A NoClientSecret raised by a refresh (the secret removed from the settings
    since) is not caught: it is a configuration error, not Slack's refusal.

    As Bolt's own authorize does, it gives a user token only to requests of the user it belongs to (Bolt's
    default `user_token_resolution="authed_user"`; "actor" is not supported), and it answers None (Bolt's
    "not installed" response, no listener runs) when nothing is installed or a refresh fails; a failed
    refresh is logged as an error naming the workspace and Slack's error code, and changes nothing stored.

    Made without a client secret (the store's, or DJANGO_SLACK_STORE["CLIENT_SECRETS"]), it raises
    NoClientSecret at once rather than on the first request whose token expires.
    """

    def __init__(self, store: DjangoInstallationStore) -> None:
        self.store = _checked(store)

    def __call__(
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        key = _key(enterprise_id, team_id, context.is_enterprise_install)
        installation = self.store.find_installation(**key, user_id=user_id) if user_id else None
        bot = self.store.find_bot(**key) if installation is None else None
        try:
            if installation is not None:
                installation = self.store.refresh(installation)
            elif bot is not None:
                bot = self.store.refresh(bot)
        except RefreshFailed as error:
            _log_refresh_failure(error)
            return None
        except NotInstalled:  # deleted between the find and the refresh
            installation = bot = None
        return _result(installation or bot, enterprise_id, team_id)


class AsyncDjangoAuthorize(AsyncAuthorize):
    """`DjangoAuthorize` for Bolt's `AsyncApp`: `AsyncApp(authorize=AsyncDjangoAuthorize(store), ...)`.
    The finds run on the event loop where the store's native path allows, a refresh in a thread."""

    def __init__(self, store: DjangoInstallationStore) -> None:
        self.store = _checked(store)

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        key = _key(enterprise_id, team_id, context.is_enterprise_install)
        installation = await self.store.async_find_installation(**key, user_id=user_id) if user_id else None
        bot = await self.store.async_find_bot(**key) if installation is None else None
        try:
            if installation is not None:
                installation = await self.store.async_refresh(installation)
            elif bot is not None:
                bot = await self.store.async_refresh(bot)
        except RefreshFailed as error:
            _log_refresh_failure(error)
            return None
        except NotInstalled:
            installation = bot = None
        return _result(installation or bot, enterprise_id, team_id)


def _checked(store: DjangoInstallationStore) -> DjangoInstallationStore:
    if not isinstance(store, DjangoInstallationStore):
        raise TypeError(f"the store must be a DjangoInstallationStore, not {type(store).__name__}")
    store.client_secret()  # NoClientSecret now, not at the first refresh
    return store


def _key(
    enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
) -> dict[str, Any]:
    return {
        "enterprise_id": enterprise_id,
        "team_id": team_id,
        "is_enterprise_install": bool(is_enterprise_install),
    }


def _result(
    found: Installation | Bot | None, enterprise_id: str | None, team_id: str | None
) -> AuthorizeResult | None:
    """What auth.test would have said, from the stored data; None when there is no token to act with."""
    # A user's installation is found by the request's user id: its user token is that user's own.
    user = found if isinstance(found, Installation) and found.user_token else None
    if found is None or not (found.bot_token or user):
        logger.debug("No installation for %s", where(enterprise_id, team_id))
        return None
    return AuthorizeResult(
        enterprise_id=found.enterprise_id,
        team_id=found.team_id,
        team=found.team_name,
        bot_id=found.bot_id,
        bot_user_id=found.bot_user_id,
        bot_token=found.bot_token,
        bot_scopes=found.bot_scopes if found.bot_token else None,
        # As from auth.test: the user is the user token's owner; none without a user token.
        user_id=user.user_id if user else None,
        user_token=user.user_token if user else None,
        user_scopes=user.user_scopes if user else None,
    )


def _log_refresh_failure(error: RefreshFailed) -> None:
    # Like Bolt's own authorize on SlackTokenRotationError: the request is not served. The error names the
    # key, the token's kind and Slack's code, never a token.
    logger.error("Not authorizing a request: %s", error)


class _EventKey(TypedDict):
    enterprise_id: str | None
    team_id: str | None
    event_time: float | None


class _Revoked(TypedDict):
    user_ids: Sequence[str]
    bot: bool


def enable_lifecycle_listeners(app: App | AsyncApp) -> None:
    """Register `app_uninstalled` and `tokens_revoked` listeners on a Bolt `App` or `AsyncApp`.

    Like Bolt's `enable_token_revocation_listeners()`, they delete the revoked rows through the store, but
    a late event (Slack may deliver one after the workspace reinstalled) deletes only rows written before
    its `event_time`. Then they send django_slack_store's `app_uninstalled` / `tokens_revoked` signals.
    """
    store = app.installation_store
    if not isinstance(store, DjangoInstallationStore):
        raise TypeError(
            "enable_lifecycle_listeners() needs an app whose installation_store is a "
            f"DjangoInstallationStore, not {type(store).__name__}"
        )
    if hasattr(app, "async_dispatch"):  # AsyncApp: its listeners must be coroutines
        _listen_async(cast("AsyncApp", app), store)  # mypy narrows only the other branch by hasattr()
    else:
        _listen_sync(app, store)


def _listen_async(app: AsyncApp, store: DjangoInstallationStore) -> None:
    async def on_app_uninstalled(body: dict[str, Any], context: AsyncBoltContext) -> None:
        await store.async_handle_app_uninstalled(**_event_key(body, context))

    async def on_tokens_revoked(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await store.async_handle_tokens_revoked(**_event_key(body, context), **_revoked(event))

    app.event("app_uninstalled")(on_app_uninstalled)
    app.event("tokens_revoked")(on_tokens_revoked)


def _listen_sync(app: App, store: DjangoInstallationStore) -> None:
    def on_app_uninstalled(body: dict[str, Any], context: BoltContext) -> None:
        store.handle_app_uninstalled(**_event_key(body, context))

    def on_tokens_revoked(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        store.handle_tokens_revoked(**_event_key(body, context), **_revoked(event))

    app.event("app_uninstalled")(on_app_uninstalled)
    app.event("tokens_revoked")(on_tokens_revoked)


def _event_key(body: dict[str, Any], context: BaseContext) -> _EventKey:
    """The installation an event is about, and when it happened."""
    return {
        "enterprise_id": context.enterprise_id,
        # Org-wide installs are stored without a team, whatever team the event names.
        "team_id": None if context.is_enterprise_install else context.team_id,
        "event_time": body.get("event_time"),
    }


def _revoked(event: dict[str, Any]) -> _Revoked:
    tokens = event.get("tokens") or {}
    return {"user_ids": list(tokens.get("oauth") or []), "bot": bool(tokens.get("bot"))}
