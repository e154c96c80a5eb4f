"""Token rotation, coordinated through the database: `refresh()`, `get_client()` and their async twins.

With token rotation on, an access token lives 12 hours and its refresh token is good for one use: Slack
revokes it when it hands out the next. Two callers that refresh with the same refresh token therefore
cannot both succeed, and the loser's `invalid_refresh_token` fails its request or job. Here a refresh is
one transaction of the store's database that first locks the rows holding the tokens (`SELECT ... FOR
UPDATE` on PostgreSQL and MariaDB; on SQLite, which has one write lock for the whole database, by writing
first), reads them again, calls Slack only for tokens that still expire within the window, and saves them
with the ordinary upsert (cache versions and signals once committed). Every other caller, in any thread,
process or event loop sharing the database, waits on the lock, then reads the tokens the first one saved
and calls nobody.

A refresh Slack refuses (or that cannot reach Slack, or that waits too long for another) changes nothing
and raises `RefreshFailed`. When one token of two refreshes and the other fails, the one that succeeded is
saved before the error is raised: Slack has already revoked the refresh token it replaced.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.views.decorators.debug import sensitive_variables
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.oauth.installation_store import Bot, Installation

from .. import signals
from ..conf import store_settings
from ..exceptions import NoClientSecret, NotInstalled, RefreshFailed
from ..models import INSTALLATION_IDENTITY, SlackBot, SlackInstallation
from ..rows import bot_from_row, installation_from_row, row_values
from ..slack_api import ERROR_CODE, client, error_of, excerpt, reason_of
from .base import Effects
from .finds import Finds
from .saves import Saves, Upsert

if TYPE_CHECKING:  # AsyncWebClient needs aiohttp, which is not a dependency: imported when called
    from slack_sdk.web.async_client import AsyncWebClient

_Item = TypeVar("_Item", Installation, Bot)
_Row = TypeVar("_Row", SlackInstallation, SlackBot)

# Each kind of token: its columns (access token, refresh token, expiry), in the order a refresh returns them.
TOKEN_FIELDS = {
    "user": ("user_token", "user_refresh_token", "user_token_expires_at"),
    "bot": ("bot_token", "bot_refresh_token", "bot_token_expires_at"),
}


def due(
    item: Installation | Bot | SlackInstallation | SlackBot,
    kind: str,
    window: float,
    now: float | None = None,
) -> bool:
    """Whether the token of `kind` of `item` (a slack_sdk object, or a row) rotates and expires within
    `window` seconds from now."""
    _, refresh_token, expires_at = (getattr(item, name, None) for name in TOKEN_FIELDS[kind])
    return bool(refresh_token) and expires_at is not None and expires_at <= (now or time.time()) + window


class Rotation(Saves, Finds):
    def refresh(self, item: _Item, *, within_minutes: float | None = None) -> _Item:
        """`item` (an Installation or Bot a find returned) with each rotating token of it that expires within
        `within_minutes` (default: ROTATION_WINDOW_MINUTES) refreshed at Slack, at most once for all callers
        sharing the database. Returns `item` itself when nothing is due (no query), else a copy with the
        stored tokens. Raises NoClientSecret, RefreshFailed or NotInstalled (the row has gone)."""
        return self.refresh_reporting(item, within_minutes=within_minutes)[0]

    def refresh_reporting(
        self, item: _Item, *, within_minutes: float | None = None
    ) -> tuple[_Item, tuple[str, ...]]:
        """`refresh()`, and the kinds of token ("bot", "user") that this call had Slack refresh: a due token
        missing from them was refreshed by another caller while this one waited for the lock (or is no
        longer due). For reports: `manage.py slack_store_refresh_tokens` and the admin's action."""
        window = _window(within_minutes)
        kinds = _due_kinds(item, window)
        return self._refresh(item, kinds, window) if kinds else (item, ())

    async def async_refresh(self, item: _Item, *, within_minutes: float | None = None) -> _Item:
        """`refresh()` for the event loop: the check on the loop, a refresh (rare) in a thread."""
        window = _window(within_minutes)
        kinds = _due_kinds(item, window)
        return (await sync_to_async(self._refresh)(item, kinds, window))[0] if kinds else item

    def get_client(
        self,
        *,
        enterprise_id: str | None = None,
        team_id: str | None = None,
        user_id: str | None = None,
        is_enterprise_install: bool = False,
    ) -> WebClient:
        """A slack_sdk WebClient holding the workspace's bot token (the user's token, with `user_id`),
        refreshed first when it expires within ROTATION_WINDOW_MINUTES. Raises NotInstalled when there is
        no such token, NoClientSecret or RefreshFailed when a refresh is needed and cannot happen."""
        key = _Key(enterprise_id, team_id, user_id, is_enterprise_install)
        item, kinds = self._for_client(key, self._find_for_client(key))
        if kinds:
            item, _ = self._refresh(item, kinds, _window(None))
        return WebClient(token=key.token_of(item), base_url=store_settings.SLACK_API_URL)

    async def async_get_client(
        self,
        *,
        enterprise_id: str | None = None,
        team_id: str | None = None,
        user_id: str | None = None,
        is_enterprise_install: bool = False,
    ) -> AsyncWebClient:
        """`get_client()` for the event loop: an AsyncWebClient (which needs aiohttp)."""
        from slack_sdk.web.async_client import AsyncWebClient

        key = _Key(enterprise_id, team_id, user_id, is_enterprise_install)
        item, kinds = self._for_client(key, await self._async_find_for_client(key))
        if kinds:
            item, _ = await sync_to_async(self._refresh)(item, kinds, _window(None))
        return AsyncWebClient(token=key.token_of(item), base_url=store_settings.SLACK_API_URL)

    # -- the finds behind a client ------------------------------------------------------------------------

    def _find_for_client(self, key: _Key) -> Installation | Bot | None:
        if key.user_id:
            return self.find_installation(**key.find_kwargs(), user_id=key.user_id)
        return self.find_bot(**key.find_kwargs())

    async def _async_find_for_client(self, key: _Key) -> Installation | Bot | None:
        if key.user_id:
            return await self.async_find_installation(**key.find_kwargs(), user_id=key.user_id)
        return await self.async_find_bot(**key.find_kwargs())

    def _for_client(self, key: _Key, item: Installation | Bot | None) -> tuple[Any, tuple[str, ...]]:
        """The item found, holding a token of the kind asked for (else NotInstalled), and that kind when it
        is due for a refresh."""
        if item is None or not key.token_of(item):
            raise NotInstalled(self.client_id, key.enterprise_id, key.team_id, key.user_id)
        return item, (key.kind,) if due(item, key.kind, _window(None)) else ()

    # -- the refresh --------------------------------------------------------------------------------------

    def client_secret(self) -> str:
        """The app's client secret: the store's own, else DJANGO_SLACK_STORE["CLIENT_SECRETS"][client_id]."""
        secret = self._client_secret or (store_settings.CLIENT_SECRETS or {}).get(self.client_id)
        if not secret:
            raise NoClientSecret(self.client_id)
        return str(secret)

    @sensitive_variables()
    def _refresh(self, item: _Item, kinds: tuple[str, ...], window: float) -> tuple[_Item, tuple[str, ...]]:
        """Lock the rows of `kinds` tokens of `item`, refresh those still due, save them: `item` with the
        stored tokens, and the kinds refreshed at Slack."""
        secret = self.client_secret()
        using = self._db()
        user_id = getattr(item, "user_id", None)  # a Bot has none
        ids = _Key(item.enterprise_id, item.team_id, user_id, item.is_enterprise_install)
        failure: RefreshFailed | None = None
        exchanged: list[str] = []
        with transaction.atomic(using=using):
            rows = self._lock(using, ids, kinds)
            upserts: list[Upsert] = []
            effects = Effects()
            for kind, row in rows.items():
                if not due(row, kind, window):
                    continue  # another caller refreshed it while this one waited: nothing to do
                try:
                    fresh = self._exchange(kind, getattr(row, TOKEN_FIELDS[kind][1]), secret, ids)
                except RefreshFailed as error:
                    failure = failure or error
                    continue
                for name, value in zip(TOKEN_FIELDS[kind], fresh, strict=True):
                    setattr(row, name, value)
                upserts.append(self._upsert_of(kind, row, effects))
                exchanged.append(kind)
            if upserts:
                self._save(upserts, effects)
        if failure is not None:
            raise failure
        refreshed = copy.copy(item)
        for kind, row in rows.items():
            for name in TOKEN_FIELDS[kind]:
                setattr(refreshed, name, getattr(row, name))
        return refreshed, tuple(exchanged)

    def _lock(self, using: str, ids: _Key, kinds: tuple[str, ...]) -> dict[str, Any]:
        """The rows holding `kinds` tokens, read again under a lock held until the transaction ends:
        the installation's row first, then the bot's, in the order saves write them (no deadlock)."""
        rows: dict[str, SlackInstallation | SlackBot] = {}
        connection = connections[using]
        try:
            with _lock_wait(connection, lock_timeout()):
                if "user" in kinds:
                    installations = self._installations(ids.enterprise_id, ids.lookup_team_id, ids.user_id)
                    row = _lock_first(installations.latest_first(), using)
                    if row is None:
                        raise NotInstalled(self.client_id, ids.enterprise_id, ids.team_id, ids.user_id)
                    rows["user"] = row
                if "bot" in kinds:
                    bots = self._bots(ids.enterprise_id, ids.lookup_team_id)
                    bot_row = _lock_first(bots.freshest_first(), using)
                    if bot_row is None:
                        raise NotInstalled(self.client_id, ids.enterprise_id, ids.team_id)
                    rows["bot"] = bot_row
        except OperationalError as error:  # the wait ran out (or a deadlock was broken): nothing changed
            kind = "user" if "user" in kinds and "user" not in rows else "bot"
            detail = f"waited {lock_timeout():g} s for another refresh ({type(error).__name__})"
            raise RefreshFailed("lock_timeout", kind=kind, **ids.error_kwargs(kind), detail=detail) from None
        return rows

    @sensitive_variables()
    def _upsert_of(self, kind: str, row: Any, effects: Effects) -> Upsert:
        """The upsert that saves `row` with its new tokens, and its effects (cache versions, signals)."""
        if kind == "bot":
            [upsert], bot_effects = self._bot_upserts(bot_from_row(row))
            effects.workspaces += bot_effects.workspaces
            effects.signals += bot_effects.signals
            return upsert
        installation = installation_from_row(row)
        values = row_values(self.installation_model, installation, self.client_id)
        effects.written(values["enterprise_id"], values["team_id"])
        effects.send(signals.installation_saved, installation=installation)
        return Upsert(self.installation_model, INSTALLATION_IDENTITY, values)

    @sensitive_variables()
    def _exchange(self, kind: str, refresh_token: str, secret: str, ids: _Key) -> tuple[str, str, int]:
        """Slack's `oauth.v2.access` with grant_type=refresh_token: (access token, refresh token, expiry)."""

        def failed(code: str, detail: str = "") -> RefreshFailed:
            return RefreshFailed(code, kind=kind, **ids.error_kwargs(kind), detail=detail)

        try:
            response = client(store_settings.REFRESH_TIMEOUT).oauth_v2_access(
                client_id=self.client_id,
                client_secret=secret,
                grant_type="refresh_token",
                refresh_token=refresh_token,
            )
        except SlackApiError as error:
            code, status = error_of(error)
            if code and ERROR_CODE.fullmatch(code):
                raise failed(code) from None
            raise failed("unexpected_response", f"HTTP {status}: {excerpt(code or '')}") from None
        except (SlackClientError, OSError) as error:
            raise failed("network", reason_of(error)) from None
        access_token, new_refresh_token = response.get("access_token"), response.get("refresh_token")
        expires_in = response.get("expires_in")
        if not (isinstance(access_token, str) and access_token and isinstance(expires_in, int)):
            raise failed("unexpected_response", "no access_token or expires_in in Slack's answer")
        if not isinstance(new_refresh_token, str) or not new_refresh_token:
            new_refresh_token = refresh_token  # no new one: the one used is still the one to keep
        self.logger.info("Refreshed the %s token of %s", kind, ids.describe(kind))
        return access_token, new_refresh_token, int(time.time()) + expires_in


class _Key:
    """The key a client or refresh is for, with the team an org-wide install is looked up without."""

    def __init__(
        self,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        is_enterprise_install: bool | None,
    ) -> None:
        self.enterprise_id, self.team_id, self.user_id = enterprise_id, team_id, user_id
        self.is_enterprise_install = bool(is_enterprise_install)
        self.lookup_team_id = None if self.is_enterprise_install else team_id
        self.kind = "user" if user_id else "bot"  # the token a client of this key holds

    def token_of(self, item: Installation | Bot) -> str | None:
        """The access token of `item` that a client of this key holds."""
        token: str | None = getattr(item, TOKEN_FIELDS[self.kind][0], None)
        return token

    def find_kwargs(self) -> dict[str, Any]:
        return {
            "enterprise_id": self.enterprise_id,
            "team_id": self.team_id,
            "is_enterprise_install": self.is_enterprise_install,
        }

    def error_kwargs(self, kind: str) -> dict[str, str | None]:
        user_id = self.user_id if kind == "user" else None
        return {"enterprise_id": self.enterprise_id, "team_id": self.lookup_team_id, "user_id": user_id}

    def describe(self, kind: str) -> str:
        kwargs = self.error_kwargs(kind)
        return ", ".join(f"{name}={value}" for name, value in kwargs.items() if value)


def _window(within_minutes: float | None) -> float:
    minutes = store_settings.ROTATION_WINDOW_MINUTES if within_minutes is None else within_minutes
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise TypeError(f"within_minutes must be a number, not {type(minutes).__name__}")
    if not 0 <= minutes < math.inf:
        raise ValueError("within_minutes must be 0 or more")
    return minutes * 60


def _due_kinds(item: Installation | Bot, window: float) -> tuple[str, ...]:
    if not isinstance(item, Installation | Bot):
        raise TypeError(f"item must be a slack_sdk Installation or Bot, not {type(item).__name__}")
    kinds = ("user", "bot") if isinstance(item, Installation) else ("bot",)
    now = time.time()
    return tuple(kind for kind in kinds if due(item, kind, window, now))


def _lock_first(ordered: QuerySet[_Row], using: str) -> _Row | None:
    """The first row of `ordered`, read again under a lock, which is taken by primary key: a locking read
    in the order of a column that the holder's save changes (the bot's `updated_at`) waits on an index entry
    that the save moves, and on MariaDB (InnoDB) it finds no row at all once the wait ends."""
    pk = ordered.using(using).values_list("pk", flat=True).first()
    if pk is None:
        return None
    return ordered.model._default_manager.using(using).select_for_update().filter(pk=pk).first()


def lock_timeout() -> float:
    """Seconds a caller waits for another's refresh of the same token: that refresh's Slack call, at most
    REFRESH_TIMEOUT, and its save."""
    return 2 * store_settings.REFRESH_TIMEOUT


@contextlib.contextmanager
def _lock_wait(connection: BaseDatabaseWrapper, seconds: float) -> Iterator[None]:
    """Wait at most `seconds` for row locks in this transaction. On SQLite, take the database's write lock
    now: a transaction that has read cannot wait for it later (SQLite refuses at once: a deadlock)."""
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(f"SET LOCAL lock_timeout = {max(1, int(seconds * 1000))}")
            yield
        elif vendor == "mysql":
            cursor.execute("SELECT @@SESSION.innodb_lock_wait_timeout")
            (previous,) = cursor.fetchone()
            cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {max(1, math.ceil(seconds))}")
            try:
                yield
            finally:
                cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {int(previous)}")
        elif vendor == "sqlite":
            cursor.execute("PRAGMA busy_timeout")
            (previous,) = cursor.fetchone()
            cursor.execute(f"PRAGMA busy_timeout = {max(1, int(seconds * 1000))}")
            try:
                table = connection.ops.quote_name(SlackInstallation._meta.db_table)
                cursor.execute(f"UPDATE {table} SET id = id WHERE id = -1")  # takes the write lock
                yield
            finally:
                cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")
        else:
            yield
