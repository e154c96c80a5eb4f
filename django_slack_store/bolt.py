"""Slack lifecycle events for Bolt apps whose installation store is a DjangoInstallationStore."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict, cast

from .stores import DjangoInstallationStore

__all__ = ["enable_lifecycle_listeners"]

if TYPE_CHECKING:  # slack_bolt is not a dependency: only apps that use Bolt call this module
    from slack_bolt import App, BoltContext
    from slack_bolt.async_app import AsyncApp, AsyncBoltContext
    from slack_bolt.context.base_context import BaseContext


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
