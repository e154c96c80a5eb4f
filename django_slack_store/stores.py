"""slack_sdk's installation and OAuth state store interfaces, sync and async, on Django's ORM.

`DjangoInstallationStore` is assembled from the parts in `installation_store/` (finds, saves, deletes,
lifecycle events), each a concern of its own; rows.py validates and converts between slack_sdk's objects and
rows, and statements.py holds the hot path's SQL. On PostgreSQL with psycopg 3 the async methods run the same
statements on the event loop (native.py); elsewhere they run the sync method in a thread with `sync_to_async`
(as Django's database session backend does). They never block the loop.
"""

from __future__ import annotations

from slack_sdk.oauth.installation_store import InstallationStore
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore

from .installation_store.lifecycle import Lifecycle, PrunedHistory
from .installation_store.rotation import Rotation
from .oauth_state import DjangoOAuthStateStore

__all__ = ["DjangoInstallationStore", "DjangoOAuthStateStore", "PrunedHistory"]


class DjangoInstallationStore(Rotation, Lifecycle, InstallationStore, AsyncInstallationStore):
    """slack_sdk's `InstallationStore` and `AsyncInstallationStore` for one Slack app, on Django's ORM.

    `DjangoInstallationStore(client_id, *, client_secret=None, logger=None, send_signals=True)`. Every row
    it reads or writes is scoped by `client_id`. `client_secret` (else
    DJANGO_SLACK_STORE["CLIENT_SECRETS"]) lets it refresh rotating tokens: `refresh()`, `get_client()`
    (docs/rotation.md). With `send_signals=False` its writes send no signal (imports and other bulk work);
    the find cache still follows them. To use other models (say, with extra columns), subclass it and set
    `installation_model` / `bot_model`.
    """
