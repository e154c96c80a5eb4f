"""Slack lifecycle events for Bolt apps whose installation store is a DjangoInstallationStore."""

from typing import Any

from .stores import DjangoInstallationStore


def enable_lifecycle_listeners(app: Any) -> None:
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

        async def on_app_uninstalled(body, context):
            await store.async_handle_app_uninstalled(**_event_key(body, context))

        async def on_tokens_revoked(body, event, context):
            await store.async_handle_tokens_revoked(**_event_key(body, context), **_revoked(event))

    else:

        def on_app_uninstalled(body, context):
            store.handle_app_uninstalled(**_event_key(body, context))

        def on_tokens_revoked(body, event, context):
            store.handle_tokens_revoked(**_event_key(body, context), **_revoked(event))

    app.event("app_uninstalled")(on_app_uninstalled)
    app.event("tokens_revoked")(on_tokens_revoked)


def _event_key(body, context) -> dict:
    """The installation an event is about, and when it happened."""
    return {
        "enterprise_id": context.enterprise_id,
        # Org-wide installs are stored without a team, whatever team the event names.
        "team_id": None if context.is_enterprise_install else context.team_id,
        "event_time": body.get("event_time"),
    }


def _revoked(event) -> dict:
    tokens = event.get("tokens") or {}
    return {"user_ids": list(tokens.get("oauth") or []), "bot": bool(tokens.get("bot"))}
