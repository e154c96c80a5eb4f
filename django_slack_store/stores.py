"""slack_sdk's installation store interfaces, sync and async, on Django's ORM.

The store is a translation between slack_sdk's `Installation`/`Bot` and model rows: `_row_values()` turns
an object into validated column values, `_slack_kwargs()` turns a row back. The hot path's SQL is in
statements.py; the other queries live on the models' QuerySets. On PostgreSQL with psycopg 3 the async
methods run the same statements on the event loop (native.py); elsewhere they run the sync method in a
thread with `sync_to_async` (as Django's database session backend does). They never block the loop.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import functools
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, NamedTuple, TypeVar, cast

from asgiref.sync import sync_to_async
from django.db import connections, models, router, transaction
from django.db.models.deletion import Collector
from django.dispatch import Signal
from django.views.decorators.debug import sensitive_variables
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore

from . import native, signals, statements
from .cache import KEY_PREFIX, MISS, FindCache, find_cache
from .conf import store_settings
from .fields import UTC, InstantField, SlackIdField, TokenField, UndecryptableToken
from .models import (
    BOT_IDENTITY,
    INSTALLATION_IDENTITY,
    NO_ID,
    SlackBot,
    SlackBotQuerySet,
    SlackInstallation,
    SlackInstallationQuerySet,
    slack_fields,
)
from .oauth_state import DjangoOAuthStateStore  # noqa: F401  (public API: django_slack_store.stores)

# The key columns of each table's rows, as the deletion signals carry them.
INSTALLATION_KEY = ("enterprise_id", "team_id", "user_id")
BOT_KEY = ("enterprise_id", "team_id")
# find_installation() takes these from the bot find_bot() serves, never from a stale copy.
BOT_FIELDS = ("bot_id", "bot_user_id", "bot_token", "bot_scopes", "bot_refresh_token", "bot_token_expires_at")
# Bolt saves rotated copies with these blanked when the acting user is not the installer: an empty value
# in a save never overwrites a stored one. Only a delete removes a user token.
USER_FIELDS = ("user_token", "user_refresh_token", "user_token_expires_at", "user_scopes")

SLACK_ID = re.compile(r"[A-Za-z0-9._-]*\Z")
SLACK_ID_MAX_LENGTH = 32  # the enterprise, team and user id columns
TOKEN_MAX_LENGTH = 4096  # Slack tokens are a few hundred characters; anything longer is not a token.
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z, the last second every backend can hold.
BIGINT = range(-(2**63), 2**63)
JSON_MAX_DEPTH = 31  # MariaDB's JSON_VALID (the JSON column's check) refuses 32 levels of arrays/objects
# PostgreSQL's jsonb keeps numbers as decimals and prints them without exponent: a float from 1e16 up
# (repr "1e+16") reads back as an int, and unequal unless its shortest repr is exact (1e23 is not).
JSON_MAX_FLOAT = 1e16

_T = TypeVar("_T")
_Row = TypeVar("_Row", SlackInstallation, SlackBot)
_QuerySet = TypeVar("_QuerySet", bound="models.QuerySet[Any]")


class PrunedHistory(NamedTuple):
    """What `prune_history()` deleted (or, in a dry run, would delete): rows of each table."""

    installations: int
    bots: int


class DjangoInstallationStore(InstallationStore, AsyncInstallationStore):
    """slack_sdk's `InstallationStore` and `AsyncInstallationStore` for one Slack app, on Django's ORM.

    Every row it reads or writes is scoped by `client_id`. To use other models (say, with extra columns),
    subclass it and set `installation_model` / `bot_model`.
    """

    installation_model = SlackInstallation
    bot_model = SlackBot

    def __init__(self, client_id: str, *, logger: logging.Logger | None = None) -> None:
        cleaned = _clean_text(SlackInstallation._meta.get_field("client_id"), client_id)
        if not cleaned:
            raise ValueError("client_id is required")
        self.client_id = cleaned
        self._logger = logger

    @property
    def logger(self) -> logging.Logger:
        return self._logger or logging.getLogger(__name__)

    # -- writes ------------------------------------------------------------------------------------------
    #
    # Each write is a sync method holding its transaction on Django's connection. Its async twin runs the
    # same statements on the native path (native.py), in one psycopg transaction, or else runs the sync
    # method in a thread. Either way the cache versions and signals follow the commit (`_Effects`).
    #
    # Every method that holds a plaintext token is marked with `sensitive_variables`, so Django's error
    # reports hide its variables (and, for sync ones, those of everything it calls).

    @sensitive_variables()
    def save(self, installation: Installation) -> None:
        self._save(*self._installation_upserts(installation))

    @sensitive_variables()
    async def async_save(self, installation: Installation) -> None:
        database = await native.database(self.installation_model)
        if database is None:
            return await sync_to_async(self.save)(installation)
        await self._async_save(database, *self._installation_upserts(installation))

    @sensitive_variables()
    def save_bot(self, bot: Bot) -> None:
        self._save(*self._bot_upserts(bot))

    @sensitive_variables()
    async def async_save_bot(self, bot: Bot) -> None:
        database = await native.database(self.bot_model)
        if database is None:
            return await sync_to_async(self.save_bot)(bot)
        await self._async_save(database, *self._bot_upserts(bot))

    @sensitive_variables()
    def _installation_upserts(self, installation: Installation) -> tuple[list[_Upsert], _Effects]:
        """The rows a save writes, validated before any write, and what it does once committed."""
        if not isinstance(installation, Installation):
            raise TypeError(
                f"installation must be a slack_sdk Installation, not {type(installation).__name__}"
            )
        row = self._row_values(self.installation_model, installation)
        upserts = [_Upsert(self.installation_model, INSTALLATION_IDENTITY, row, USER_FIELDS)]
        effects = _Effects()
        effects.written(row["enterprise_id"], row["team_id"])  # the bot row has the same key
        effects.send(signals.installation_saved, installation=installation)
        if installation.bot_token:
            bot_row = self._row_values(self.bot_model, installation)
            bot = installation.to_bot()  # before any write: slack_sdk may refuse it
            upserts.append(_Upsert(self.bot_model, BOT_IDENTITY, bot_row))
            effects.send(signals.bot_saved, bot=bot)
        return upserts, effects

    @sensitive_variables()
    def _bot_upserts(self, bot: Bot) -> tuple[list[_Upsert], _Effects]:
        if not isinstance(bot, Bot):
            raise TypeError(f"bot must be a slack_sdk Bot, not {type(bot).__name__}")
        row = self._row_values(self.bot_model, bot)
        effects = _Effects()
        effects.written(row["enterprise_id"], row["team_id"])
        effects.send(signals.bot_saved, bot=bot)
        return [_Upsert(self.bot_model, BOT_IDENTITY, row)], effects

    @sensitive_variables()
    def _save(self, upserts: list[_Upsert], effects: _Effects) -> None:
        using = self._db()
        with transaction.atomic(using=using):
            for upsert in upserts:
                upsert.statement(using).execute(using, upsert.values)
            self._on_commit(effects)
        self.logger.debug("Saved the %s of %s", _noun(upserts[0].model), _describe(upserts[0].values))

    @sensitive_variables()
    async def _async_save(self, database: native.Database, upserts: list[_Upsert], effects: _Effects) -> None:
        async with database.transaction() as tx:
            for upsert in upserts:
                statement = upsert.statement(database.using)
                await tx.execute(statement.sql, statement.params(upsert.values, database.wrapper))
        self.logger.debug("Saved the %s of %s", _noun(upserts[0].model), _describe(upserts[0].values))
        await self._committed(database, effects)

    # Deletes match the key exactly. `written_before` (Unix time, an extension of slack_sdk's signature)
    # spares rows written at or after it: the lifecycle handlers below use it for late events. On the
    # native path a delete is one DELETE statement, which is what Django's own "fast delete" runs; for a
    # model that Django would not delete that way (delete signal receivers, relations to cascade) the async
    # twins take the thread hop instead.

    def delete_bot(
        self, *, enterprise_id: str | None, team_id: str | None, written_before: float | None = None
    ) -> None:
        rows = _written_before(self._bots(enterprise_id, team_id), written_before)
        self._deleted(self.bot_model, rows.delete()[0], enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_bot(
        self, *, enterprise_id: str | None, team_id: str | None, written_before: float | None = None
    ) -> None:
        database = await self._native_deletes()
        if database is None:
            return await sync_to_async(self.delete_bot)(
                enterprise_id=enterprise_id, team_id=team_id, written_before=written_before
            )
        effects = _Effects()
        async with database.connection() as tx:
            await self._async_delete(
                tx, effects, self.bot_model, enterprise_id, team_id, None, written_before
            )
        await self._committed(database, effects)

    def delete_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        written_before: float | None = None,
    ) -> None:
        rows = _written_before(self._installations(enterprise_id, team_id, user_id), written_before)
        self._deleted(
            self.installation_model,
            rows.delete()[0],
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
        )

    async def async_delete_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        written_before: float | None = None,
    ) -> None:
        database = await self._native_deletes()
        if database is None:
            return await sync_to_async(self.delete_installation)(
                enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, written_before=written_before
            )
        effects, model = _Effects(), self.installation_model
        async with database.connection() as tx:
            await self._async_delete(tx, effects, model, enterprise_id, team_id, user_id, written_before)
        await self._committed(database, effects)

    def delete_all(
        self, *, enterprise_id: str | None, team_id: str | None, written_before: float | None = None
    ) -> None:
        with transaction.atomic(using=self._db()):
            self.delete_bot(enterprise_id=enterprise_id, team_id=team_id, written_before=written_before)
            self.delete_installation(
                enterprise_id=enterprise_id, team_id=team_id, written_before=written_before
            )

    async def async_delete_all(
        self, *, enterprise_id: str | None, team_id: str | None, written_before: float | None = None
    ) -> None:
        database = await self._native_deletes()
        if database is None:
            return await sync_to_async(self.delete_all)(
                enterprise_id=enterprise_id, team_id=team_id, written_before=written_before
            )
        effects = _Effects()
        async with database.transaction() as tx:
            await self._async_delete_all(tx, effects, enterprise_id, team_id, written_before)
        await self._committed(database, effects)

    async def _async_delete_all(
        self,
        tx: native.Transaction,
        effects: _Effects,
        enterprise_id: str | None,
        team_id: str | None,
        written_before: float | None,
    ) -> None:
        """delete_all() on the native path, in the caller's transaction `tx`: bots first, as there."""
        for model in (self.bot_model, self.installation_model):
            await self._async_delete(tx, effects, model, enterprise_id, team_id, None, written_before)

    async def _async_delete(
        self,
        tx: native.Transaction,
        effects: _Effects,
        model: type[SlackInstallation] | type[SlackBot],
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        written_before: float | None,
    ) -> None:
        """delete_bot() (`model` is the bot model) or delete_installation() on the native path."""
        ids = {"enterprise_id": enterprise_id, "team_id": team_id}
        if model is self.installation_model:
            ids["user_id"] = user_id
        key = self._lookup_key(**ids)
        params: list[Any] = [] if key is None else key
        if key is not None and written_before is not None:
            instant = _clean_instant("written_before", written_before)
            params.append(_updated_at(model).get_db_prep_value(instant, tx.wrapper))
        sql = statements.delete_statement(model, self._db(), bool(user_id), written_before is not None)
        # A key no save accepts has no rows: nothing to run.
        count = 0 if key is None else await tx.execute(sql, params)
        self._deletion(effects, count, model, **ids)

    async def _async_exists(
        self,
        tx: native.Transaction,
        model: type[SlackInstallation] | type[SlackBot],
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> bool:
        key = self._lookup_key(enterprise_id, team_id, user_id)
        sql = statements.exists_statement(model, self._db(), bool(user_id))
        return key is not None and await tx.fetch_one(sql, key) is not None

    async def _native_deletes(self) -> native.Database | None:
        """The native path, when Django would delete the rows of both models with one DELETE each."""
        database = await native.database(self.installation_model)
        if database is None:
            return None
        collector = Collector(database.using)
        # can_fast_delete() takes a model class as well as instances (it reads `_meta`); its stubs say not.
        models_ = (self.installation_model, self.bot_model)
        if not all(collector.can_fast_delete(cast(Any, model)) for model in models_):
            return None
        return database

    # Row deletes (beyond slack_sdk's API): exactly the rows given, as model instances read earlier (say, the
    # admin's selection), rather than every row of a key. A row rewritten since it was read (a token
    # rotation saved in place) is kept: it no longer holds what the caller checked or revoked. One
    # transaction; the deletion signal is sent once per key that lost rows. Rows of another client_id are
    # left alone. Returns how many rows were deleted. A QuerySet given to an async twin is read through the
    # ORM's async iteration.

    def delete_installation_rows(self, rows: Iterable[SlackInstallation]) -> int:
        return self._delete_rows(self.installation_model, rows, INSTALLATION_KEY)

    async def async_delete_installation_rows(self, rows: Iterable[SlackInstallation]) -> int:
        return await self._async_delete_rows(self.installation_model, rows, INSTALLATION_KEY)

    def delete_bot_rows(self, rows: Iterable[SlackBot]) -> int:
        return self._delete_rows(self.bot_model, rows, BOT_KEY)

    async def async_delete_bot_rows(self, rows: Iterable[SlackBot]) -> int:
        return await self._async_delete_rows(self.bot_model, rows, BOT_KEY)

    def _delete_rows(self, model: type[_Row], rows: Iterable[_Row], key_names: tuple[str, ...]) -> int:
        read_at = _read_at(model, rows)
        if not read_at:
            return 0
        effects = _Effects()
        with transaction.atomic(using=self._db()):
            # Locked (where the database can) so that no save slips in between this check and the delete.
            current = model.objects.filter(client_id=self.client_id, pk__in=read_at).select_for_update()
            unchanged = _unchanged(current.values_list("pk", "updated_at", *key_names), read_at)
            if unchanged:
                model.objects.filter(pk__in=unchanged).delete()
            self._rows_deleted(effects, model, key_names, unchanged)
            self._on_commit(effects)
        return len(unchanged)

    async def _async_delete_rows(
        self, model: type[_Row], rows: Iterable[_Row], key_names: tuple[str, ...]
    ) -> int:
        if isinstance(rows, models.QuerySet):
            rows = [row async for row in rows]
        database = await self._native_deletes()
        if database is None:
            return await sync_to_async(self._delete_rows)(model, rows, key_names)
        read_at = _read_at(model, rows)
        if not read_at:
            return 0
        effects, using, updated_at = _Effects(), database.using, _updated_at(model)
        async with database.transaction() as tx:
            locked = await tx.fetch_all(
                statements.lock_rows_statement(model, using, key_names), [self.client_id, list(read_at)]
            )
            current = [(pk, updated_at.from_db_value(at, None, tx.wrapper), *key) for pk, at, *key in locked]
            unchanged = _unchanged(current, read_at)
            if unchanged:
                await tx.execute(statements.delete_rows_statement(model, using), [list(unchanged)])
            self._rows_deleted(effects, model, key_names, unchanged)
        await self._committed(database, effects)
        return len(unchanged)

    def _rows_deleted(
        self,
        effects: _Effects,
        model: type[_Row],
        key_names: tuple[str, ...],
        deleted: dict[Any, tuple[Any, ...]],
    ) -> None:
        """The effects of a row delete: one deletion per key that lost rows (`deleted`: pk -> key)."""
        for key, count in collections.Counter(deleted.values()).items():
            self._deletion(effects, count, model, **dict(zip(key_names, key, strict=True)))

    # -- Slack's lifecycle events (wired to Bolt by django_slack_store.bolt) ----------------------------
    #
    # Slack can deliver app_uninstalled and tokens_revoked late, after the workspace reinstalled. So an event
    # deletes only rows written before its event_time, and its signal is sent only for what is still revoked
    # afterwards: nothing of that key (or that user, or bot) written since the event remains. Each handler is
    # one transaction.

    def handle_app_uninstalled(
        self, *, enterprise_id: str | None, team_id: str | None, event_time: float | None = None
    ) -> None:
        with transaction.atomic(using=self._db()):
            self.delete_all(enterprise_id=enterprise_id, team_id=team_id, written_before=event_time)
            if not (
                self._bots(enterprise_id, team_id).exists()
                or self._installations(enterprise_id, team_id).exists()
            ):
                self._send_on_commit(
                    signals.app_uninstalled, **_ids(enterprise_id=enterprise_id, team_id=team_id)
                )

    async def async_handle_app_uninstalled(
        self, *, enterprise_id: str | None, team_id: str | None, event_time: float | None = None
    ) -> None:
        database = await self._native_deletes()
        if database is None:
            return await sync_to_async(self.handle_app_uninstalled)(
                enterprise_id=enterprise_id, team_id=team_id, event_time=event_time
            )
        effects = _Effects()
        async with database.transaction() as tx:
            await self._async_delete_all(tx, effects, enterprise_id, team_id, event_time)
            if not (
                await self._async_exists(tx, self.bot_model, enterprise_id, team_id)
                or await self._async_exists(tx, self.installation_model, enterprise_id, team_id)
            ):
                effects.send(signals.app_uninstalled, **_ids(enterprise_id=enterprise_id, team_id=team_id))
        await self._committed(database, effects)

    def handle_tokens_revoked(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_ids: Sequence[str] = (),
        bot: bool = False,
        event_time: float | None = None,
    ) -> None:
        revoked_user_ids: list[str] = []
        with transaction.atomic(using=self._db()):
            for user_id in user_ids:
                self.delete_installation(
                    enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, written_before=event_time
                )
                if not self._installations(enterprise_id, team_id, user_id).exists():
                    revoked_user_ids.append(user_id)
            if bot:
                self.delete_bot(enterprise_id=enterprise_id, team_id=team_id, written_before=event_time)
                bot = not self._bots(enterprise_id, team_id).exists()
            if revoked_user_ids or bot:
                self._send_on_commit(
                    signals.tokens_revoked,
                    **_ids(enterprise_id=enterprise_id, team_id=team_id),
                    user_ids=revoked_user_ids,
                    bot=bot,
                )

    async def async_handle_tokens_revoked(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_ids: Sequence[str] = (),
        bot: bool = False,
        event_time: float | None = None,
    ) -> None:
        database = await self._native_deletes()
        if database is None:
            return await sync_to_async(self.handle_tokens_revoked)(
                enterprise_id=enterprise_id,
                team_id=team_id,
                user_ids=user_ids,
                bot=bot,
                event_time=event_time,
            )
        effects, revoked_user_ids = _Effects(), []
        installations, bots = self.installation_model, self.bot_model
        async with database.transaction() as tx:
            for user_id in user_ids:
                await self._async_delete(
                    tx, effects, installations, enterprise_id, team_id, user_id, event_time
                )
                if not await self._async_exists(tx, installations, enterprise_id, team_id, user_id):
                    revoked_user_ids.append(user_id)
            if bot:
                await self._async_delete(tx, effects, bots, enterprise_id, team_id, None, event_time)
                bot = not await self._async_exists(tx, bots, enterprise_id, team_id)
        if revoked_user_ids or bot:
            effects.send(
                signals.tokens_revoked,
                **_ids(enterprise_id=enterprise_id, team_id=team_id),
                user_ids=revoked_user_ids,
                bot=bot,
            )
        await self._committed(database, effects)

    # -- housekeeping (manage.py slack_store_cleanup) ---------------------------------------------------

    def prune_history(
        self, keep: int | None = None, *, batch_size: int = 1000, dry_run: bool = False
    ) -> PrunedHistory:
        """Delete this app's installation and bot history beyond the `keep` latest rows: each user's
        installations, each workspace's bots (default DJANGO_SLACK_STORE["HISTORY_KEEP"]; None keeps all).

        The rows finds return are never deleted, so no answer of the store changes, and no signal is sent
        (the deletion signals mean a key lost its installation). At most `batch_size` rows per transaction;
        with `dry_run`, counts what would go and deletes nothing. Returns the counts.
        """
        keep = store_settings.HISTORY_KEEP if keep is None else keep
        if keep is None:
            return PrunedHistory(0, 0)
        pruned = [
            sum(
                model.objects.filter(client_id=self.client_id).prune_history(
                    keep, batch_size=batch_size, dry_run=dry_run
                )
            )
            for model in (self.installation_model, self.bot_model)
        ]
        return PrunedHistory(*pruned)

    async def async_prune_history(
        self, keep: int | None = None, *, batch_size: int = 1000, dry_run: bool = False
    ) -> PrunedHistory:
        # Batched ORM work for a cron job: in a thread.
        return await sync_to_async(self.prune_history)(keep, batch_size=batch_size, dry_run=dry_run)

    # -- after a commit: cache versions, then signals -------------------------------------------------

    def _deletion(self, effects: _Effects, count: int, model: type[models.Model], **key: str | None) -> None:
        """Log a delete of `count` rows of `model` in the key, and when it deleted any, add its effects."""
        self.logger.debug("Deleted %d %s row(s) of %s", count, _noun(model), _describe(key))
        if count:
            effects.written(key["enterprise_id"], key["team_id"])
            signal = signals.bot_deleted if issubclass(model, SlackBot) else signals.installation_deleted
            effects.send(signal, **_ids(**key))

    def _deleted(self, model: type[models.Model], count: int, **key: str | None) -> None:
        """The sync path's `_deletion()`: its effects once the current transaction commits."""
        effects = _Effects()
        self._deletion(effects, count, model, **key)
        self._on_commit(effects)

    def _on_commit(self, effects: _Effects) -> None:
        """The sync path: `effects` once the current transaction commits (at once outside one)."""
        self._written(effects.workspaces)
        for signal, kwargs in effects.signals:
            self._send_on_commit(signal, **kwargs)

    def _send_on_commit(self, signal: Signal, **kwargs: Any) -> None:
        """Send `signal` once the current transaction commits (at once outside one); a rollback cancels it.

        A receiver that raises is logged: the change is committed, so it must not look failed to the caller,
        nor keep the other receivers from hearing of it.
        """

        def send() -> None:
            self._log_failures(signal.send_robust(sender=type(self), client_id=self.client_id, **kwargs))

        transaction.on_commit(send, using=self._db())

    @sensitive_variables()  # the saved signals' objects hold tokens
    async def _committed(self, database: native.Database, effects: _Effects) -> None:
        """The native path: `effects`, now that the write's transaction has committed."""
        cache = find_cache()
        if cache is not None and effects.workspaces:
            await _cache_call(cache, cache.written, self._workspaces(database.using, effects.workspaces))
        for signal, kwargs in effects.signals:
            results = await signal.asend_robust(sender=type(self), client_id=self.client_id, **kwargs)
            self._log_failures(results)

    def _log_failures(self, results: list[tuple[Any, Any]]) -> None:
        for receiver, result in results:
            if isinstance(result, Exception):
                self.logger.error("Signal receiver %r failed", receiver, exc_info=result)

    # -- reads: the hot path, one precompiled statement each (statements.py) ---------------------------------
    #
    # Reads go to the router's database for writes, as the writes do: a replica lagging behind would serve
    # a token that a rotation has already replaced. Tokens are decrypted as the row is read, so only the one
    # row returned is decrypted; one that no configured key decrypts raises TokenDecryptionError naming the
    # row. The async twins run the statement on the native path, or else the sync method in a thread (as
    # `afirst()` would run `first()`); Django's error reports hide that thread's variables too.

    def find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        return self._find(self._bot_lookup(enterprise_id, team_id, is_enterprise_install))

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        return await self._async_find(self._bot_lookup(enterprise_id, team_id, is_enterprise_install))

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        return self._find(self._installation_lookup(enterprise_id, team_id, user_id, is_enterprise_install))

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        return await self._async_find(
            self._installation_lookup(enterprise_id, team_id, user_id, is_enterprise_install)
        )

    def _bot_lookup(
        self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
    ) -> _Lookup[Bot]:
        key = self._lookup_key(enterprise_id, _lookup_team_id(team_id, is_enterprise_install))
        return _Lookup(key, "bot", self._bot_statement, self._bot)

    def _installation_lookup(
        self,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        is_enterprise_install: bool | None,
    ) -> _Lookup[Installation]:
        key = self._lookup_key(enterprise_id, _lookup_team_id(team_id, is_enterprise_install), user_id)
        name = f"installation:{user_id}" if user_id else "installation"
        statement = functools.partial(self._installation_statement, by_user=bool(user_id))
        return _Lookup(key, name, statement, self._installation)

    def _lookup_key(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> list[str] | None:
        """Query parameters of a key: the client id, then the ids (the user's only when given), None as
        NO_ID. None when an id is not one a save accepts: nothing stored can match it."""
        ids = [enterprise_id, team_id, user_id] if user_id else [enterprise_id, team_id]
        if any(value and not _is_slack_id(value) for value in _lookup_ids(*ids)):
            return None
        return [self.client_id, *(value or NO_ID for value in ids)]

    @sensitive_variables()
    def _find(self, lookup: _Lookup[_T]) -> _T | None:
        """The lookup's object, read through the cache when there is one to use here."""
        key = lookup.key
        if key is None:
            return None
        using = self._db()

        def read() -> _T | None:
            return lookup.build(lookup.statement(using).fetch_one(using, key))

        cache = find_cache()
        # Inside a transaction of the store's database, a find must see its own writes, and must publish
        # nothing that may roll back: no cache.
        if cache is None or connections[using].in_atomic_block:
            return read()
        workspace = self._cache_key(using, key[:3])
        result: _T | None  # a hit is what `read` returned when the entry was cached
        result, version = cache.get(workspace, lookup.name)
        if result is MISS:
            result = read()
            if version is not None:
                cache.put(workspace, lookup.name, version, result)
        return result

    @sensitive_variables()
    async def _async_find(self, lookup: _Lookup[_T]) -> _T | None:
        """`_find()` on the native path, else in a thread."""
        key = lookup.key
        if key is None:
            return None
        database = await native.database(self.installation_model)
        if database is None:
            return await sync_to_async(self._find)(lookup)

        async def read() -> _T | None:
            return lookup.build(await lookup.statement(database.using).afetch_one(database, key))

        cache = find_cache()
        if cache is None:
            return await read()
        workspace = self._cache_key(database.using, key[:3])
        result: _T | None
        result, version = await _cache_call(cache, cache.get, workspace, lookup.name)
        if result is MISS:
            result = await read()
            if version is not None:
                await _cache_call(cache, cache.put, workspace, lookup.name, version, result)
        return result

    def _bot_statement(self, using: str) -> statements.Statement:
        return statements.bot_statement(self.bot_model, using)

    def _installation_statement(self, using: str, by_user: bool) -> statements.Statement:
        return statements.installation_statement(
            self.installation_model, self.bot_model, BOT_FIELDS, using, by_user=by_user
        )

    @sensitive_variables()
    def _bot(self, values: dict[str, Any] | None) -> Bot | None:
        return None if values is None else Bot(**_slack_kwargs(self.bot_model, values))

    @sensitive_variables()
    def _installation(self, values: dict[str, Any] | None) -> Installation | None:
        if values is None:
            return None
        kwargs = _slack_kwargs(self.installation_model, values)
        if values["bot.id"] is None:  # no live bot: no bot credentials, and scopes stay a list
            kwargs.update(dict.fromkeys(BOT_FIELDS), bot_scopes=[])
        else:
            kwargs.update(_slack_kwargs(self.bot_model, values, BOT_FIELDS, prefix="bot."))
        return Installation(**kwargs)

    def bot_from_row(self, row: SlackBot) -> Bot:
        """A row of `bot_model`, read through the ORM, as slack_sdk's Bot."""
        values = {field.name: getattr(row, field.name) for field in slack_fields(self.bot_model)}
        return Bot(**_slack_kwargs(self.bot_model, values))

    # -- the find cache (cache.py): a write to a workspace key starts new versions of it once committed --

    def _cache_key(self, using: str, key: Sequence[str]) -> str:
        """The cache key of a workspace key `[client_id, enterprise_id, team_id]` (no ':' in Slack ids)."""
        return ":".join([KEY_PREFIX, using, self.installation_model._meta.db_table, *key])

    def _workspaces(self, using: str, keys: Iterable[tuple[str | None, str | None]]) -> set[str]:
        """The cache keys of `(enterprise_id, team_id)` workspace keys."""
        return {self._cache_key(using, [self.client_id, e or NO_ID, t or NO_ID]) for e, t in keys}

    def _written(self, keys: Iterable[tuple[str | None, str | None]]) -> None:
        """After the current transaction commits, make cached finds of these `(enterprise_id, team_id)`
        keys misses in every process."""
        cache = find_cache()
        if cache is not None and keys:
            using = self._db()
            transaction.on_commit(
                functools.partial(cache.written, self._workspaces(using, keys)), using=using
            )

    # -- queries --------------------------------------------------------------------------------------

    def _bots(self, enterprise_id: str | None, team_id: str | None) -> SlackBotQuerySet:
        return self.bot_model.objects.for_workspace(self.client_id, *_lookup_ids(enterprise_id, team_id))

    def _installations(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> SlackInstallationQuerySet:
        enterprise_id, team_id, user_id = _lookup_ids(enterprise_id, team_id, user_id)
        return self.installation_model.objects.for_workspace(self.client_id, enterprise_id, team_id, user_id)

    def _db(self) -> str:
        return router.db_for_write(self.installation_model)

    # -- translation ----------------------------------------------------------------------------------

    @sensitive_variables()
    def _row_values(self, model: type[models.Model], obj: Installation | Bot) -> dict[str, Any]:
        """Column values for `obj`, validated before any write; bad input raises naming the field."""
        values = {field.name: _clean(field, getattr(obj, field.name, None)) for field in slack_fields(model)}
        if values["is_enterprise_install"]:
            if not values["enterprise_id"]:
                raise ValueError(
                    "enterprise_id is required for an org-wide install (is_enterprise_install=True)"
                )
            values["team_id"] = NO_ID  # org-wide installs are keyed by the enterprise alone
        elif not values["enterprise_id"] and not values["team_id"]:
            raise ValueError("team_id is required (or enterprise_id, for an org)")
        values["client_id"] = self.client_id
        values["updated_at"] = datetime.datetime.now(UTC)
        return values


@dataclasses.dataclass(frozen=True)
class _Lookup(Generic[_T]):
    """A find: the key's query parameters (None: nothing can match), its name in the cache, its statement
    for a database alias, and what makes the result of the statement's row."""

    key: list[str] | None
    name: str
    statement: Callable[[str], statements.Statement]
    build: Callable[[dict[str, Any] | None], _T | None]


class _Upsert(NamedTuple):
    """A row to insert, or to update in place when a row of the same identity exists: one statement, so
    concurrent saves of one identity leave one row instead of racing a select against an insert. Values of
    `keep_when_empty` that are empty do not overwrite the stored ones."""

    model: type[models.Model]
    identity: tuple[str, ...]
    values: dict[str, Any]
    keep_when_empty: tuple[str, ...] = ()

    def statement(self, using: str) -> statements.Upsert:
        update_names = tuple(
            name
            for name, value in self.values.items()
            if name not in self.identity and not (name in self.keep_when_empty and value in (None, "", []))
        )
        return statements.upsert_statement(self.model, using, tuple(self.values), self.identity, update_names)


class _Effects:
    """What a write does once its transaction has committed, gathered while it runs: new cache versions
    for the `(enterprise_id, team_id)` workspaces it wrote, then its signals, in order. The sync path hands
    them to `transaction.on_commit()`; the native path runs them after its psycopg transaction."""

    def __init__(self) -> None:
        self.workspaces: list[tuple[str | None, str | None]] = []
        self.signals: list[tuple[Signal, dict[str, Any]]] = []

    def written(self, enterprise_id: str | None, team_id: str | None) -> None:
        self.workspaces.append((enterprise_id, team_id))

    def send(self, signal: Signal, **kwargs: Any) -> None:
        self.signals.append((signal, kwargs))


async def _cache_call(cache: FindCache, method: Callable[..., _T], *args: Any) -> _T:
    """A call of the find cache from the event loop: at once for a process-local cache, else in a thread
    of the loop's default executor (a network cache client blocks)."""
    if cache.in_process:
        return method(*args)
    return await sync_to_async(method, thread_sensitive=False)(*args)


def _read_at(model: type[_Row], rows: Iterable[_Row]) -> dict[Any, datetime.datetime]:
    """When each row given to a row delete was last written, by primary key."""
    read_at: dict[Any, datetime.datetime] = {}
    for row in rows:
        if not isinstance(row, model):
            raise TypeError(f"rows must be {model.__name__} instances, not {type(row).__name__}")
        read_at[row.pk] = row.updated_at
    return read_at


def _unchanged(
    current: Iterable[Sequence[Any]], read_at: dict[Any, datetime.datetime]
) -> dict[Any, tuple[Any, ...]]:
    """Of the rows as they are now (`(pk, updated_at, *key)`), those not written since they were read: their
    keys, by primary key."""
    return {pk: tuple(key) for pk, updated_at, *key in current if updated_at == read_at[pk]}


def _noun(model: type[models.Model]) -> str:
    return "bot" if issubclass(model, SlackBot) else "installation"


def _updated_at(model: type[models.Model]) -> InstantField[Any, Any]:
    return cast("InstantField[Any, Any]", model._meta.get_field("updated_at"))


def _slack_kwargs(
    model: type[models.Model],
    values: Mapping[str, Any],
    names: Sequence[str] | None = None,
    prefix: str = "",
) -> dict[str, Any]:
    """slack_sdk keyword arguments from a row's `values` (a find's statement; names prefixed `prefix`)."""
    names = names or [field.name for field in slack_fields(model)]
    kwargs = {name: values[prefix + name] for name in names}
    for value in kwargs.values():
        if isinstance(value, UndecryptableToken):
            raise value.error(pk=values[prefix + "id"])
    for name in ("enterprise_id", "team_id", "user_id"):
        if name in kwargs:
            kwargs[name] = kwargs[name] or None
    if "installed_at" in kwargs:
        kwargs["installed_at"] = kwargs["installed_at"].timestamp()
    return kwargs


def _lookup_team_id(team_id: str | None, is_enterprise_install: bool | None) -> str | None:
    """slack_sdk's rule: an org-wide lookup (or one without a team) is keyed by the enterprise alone."""
    return None if is_enterprise_install else team_id


def _is_slack_id(value: str) -> bool:
    return len(value) <= SLACK_ID_MAX_LENGTH and SLACK_ID.match(value) is not None


def _lookup_ids(*ids: str | None) -> tuple[str | None, ...]:
    for name, value in zip(("enterprise_id", "team_id", "user_id"), ids, strict=False):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a str or None, not {type(value).__name__}")
    return ids


def _written_before(rows: _QuerySet, timestamp: float | None) -> _QuerySet:
    return (
        rows if timestamp is None else rows.filter(updated_at__lt=_clean_instant("written_before", timestamp))
    )


def _ids(**ids: str | None) -> dict[str, str | None]:
    """Ids as signals carry them: absent is None, never the empty string."""
    return {name: value or None for name, value in ids.items()}


def _describe(values: Mapping[str, Any]) -> str:
    """Ids only, for logs: never a token."""
    return ", ".join(
        f"{name}={values[name] or None}" for name in ("enterprise_id", "team_id", "user_id") if name in values
    )


# -- validation: one function per kind of column --------------------------------------------------------


def _clean(field: models.Field[Any, Any], value: object) -> object:
    if isinstance(field, InstantField):
        if not isinstance(value, float):  # slack_sdk's own type: its Bot() refuses even an int
            raise ValueError(f"{field.name} must be a Unix timestamp (float), not {type(value).__name__}")
        return _clean_instant(field.name, value)
    if isinstance(field, models.BooleanField):
        return _clean_bool(field.name, value)
    if isinstance(field, models.BigIntegerField):
        return _clean_epoch(field.name, value)
    if isinstance(field, models.JSONField):
        return (
            _clean_scopes(field.name, value)
            if field.name.endswith("_scopes")
            else _clean_json(field.name, value)
        )
    return _clean_text(field, value)


def _clean_text(field: models.Field[Any, Any], value: object) -> str | None:
    name = field.name
    if value is None or value == "":
        if isinstance(field, SlackIdField) and not field.null:
            return NO_ID
        if not field.null:
            raise ValueError(f"{name} is required")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, not {type(value).__name__}")
    max_length = TOKEN_MAX_LENGTH if isinstance(field, TokenField) else field.max_length
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{name} is longer than {max_length} characters")
    if isinstance(field, SlackIdField) and not SLACK_ID.match(value):
        raise ValueError(f"{name} must be a Slack id (ASCII letters, digits, '.', '_' or '-')")
    _check_storable(name, value)
    return value


def _check_storable(name: str, text: str) -> None:
    """What no database column takes: NUL (PostgreSQL refuses it) and lone surrogates (not UTF-8)."""
    if "\x00" in text:
        raise ValueError(f"{name} must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Not chained: the codec's message quotes the character and its position.
        raise ValueError(f"{name} must be valid Unicode text (no lone surrogates)") from None


def _clean_bool(name: str, value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _clean_epoch(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in BIGINT:
        raise ValueError(f"{name} must be Unix time as a 64-bit int")
    return value


def _clean_instant(name: str, value: object) -> datetime.datetime:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a Unix timestamp (float), not {type(value).__name__}")
    if not 0 <= value <= MAX_TIMESTAMP:  # also false for NaN
        raise ValueError(f"{name} must be a Unix timestamp between 1970 and 9999")
    return datetime.datetime.fromtimestamp(value, UTC)


def _clean_scopes(name: str, value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = value.split(",")  # slack_sdk accepts "a,b" too
    if not isinstance(value, (list, tuple)) or not all(isinstance(scope, str) for scope in value):
        raise ValueError(f"{name} must be a list of str")
    for scope in value:
        _check_storable(name, scope)
    return list(value)


def _clean_json(name: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict, not {type(value).__name__}")
    _check_json_storable(name, value)
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise TypeError(f"{name} cannot be stored as JSON: {error}") from None
    if json.loads(encoded) != value:
        raise TypeError(f"{name} must read back from JSON unchanged (str keys, lists rather than tuples)")
    return value


def _check_json_storable(name: str, value: dict[str, Any]) -> None:
    """What some database's JSON column refuses or changes, checked without recursion (so at any depth,
    cycles too): strings as in any text column, nesting deeper than MariaDB accepts, big floats."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_storable(name, item)
        elif isinstance(item, (dict, list, tuple)):
            if depth > JSON_MAX_DEPTH:
                raise ValueError(f"{name} is nested more than {JSON_MAX_DEPTH} levels deep")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, float) and abs(item) >= JSON_MAX_FLOAT:
            raise ValueError(f"{name} has a float of 1e16 or more, which PostgreSQL reads back as an int")
