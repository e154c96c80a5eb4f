"""Deletes: slack_sdk's by key (`delete_bot`, `delete_installation`, `delete_all`), and row deletes of
exactly the rows given (`delete_installation_rows`, `delete_bot_rows`).

Key deletes match the key exactly. `written_before` (Unix time, an extension of slack_sdk's signature)
spares rows written at or after it: the lifecycle handlers use it for late events. On the native path a
delete is one DELETE statement, which is what Django's own "fast delete" runs; for a model that Django would
not delete that way (delete signal receivers, relations to cascade) the async twins take the thread hop.

Row deletes take model instances read earlier (say, the admin's selection). A row rewritten since it was
read (a token rotation saved in place) is kept: it no longer holds what the caller checked or revoked. One
transaction; the deletion signal is sent once per key that lost rows. Rows of another client_id are left
alone. They return how many rows were deleted. A QuerySet given to an async twin is read through the ORM's
async iteration.
"""

from __future__ import annotations

import collections
import datetime
import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

from asgiref.sync import sync_to_async
from django.db import models, transaction
from django.db.models.deletion import Collector

from .. import native, statements
from ..fields import InstantField
from ..models import SlackBot, SlackInstallation
from ..rows import clean_instant
from .base import Effects, StoreBase

# The key columns of each table's rows, as the deletion signals carry them.
INSTALLATION_KEY = ("enterprise_id", "team_id", "user_id")
BOT_KEY = ("enterprise_id", "team_id")

_T = TypeVar("_T")
_Row = TypeVar("_Row", SlackInstallation, SlackBot)
_QuerySet = TypeVar("_QuerySet", bound="models.QuerySet[Any]")


class Deletes(StoreBase):
    def delete_bot(
        self, *, enterprise_id: str | None, team_id: str | None, written_before: float | None = None
    ) -> None:
        rows = _written_before(self._bots(enterprise_id, team_id), written_before)
        self._deleted(self.bot_model, rows.delete()[0], enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_bot(
        self, *, enterprise_id: str | None, team_id: str | None, written_before: float | None = None
    ) -> None:
        await self._native_delete(
            functools.partial(
                self.delete_bot, enterprise_id=enterprise_id, team_id=team_id, written_before=written_before
            ),
            lambda tx, effects: self._async_delete(
                tx, effects, self.bot_model, enterprise_id, team_id, None, written_before
            ),
            atomic=False,  # one statement
        )

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
        await self._native_delete(
            functools.partial(
                self.delete_installation,
                enterprise_id=enterprise_id,
                team_id=team_id,
                user_id=user_id,
                written_before=written_before,
            ),
            lambda tx, effects: self._async_delete(
                tx, effects, self.installation_model, enterprise_id, team_id, user_id, written_before
            ),
            atomic=False,  # one statement
        )

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
        await self._native_delete(
            functools.partial(
                self.delete_all, enterprise_id=enterprise_id, team_id=team_id, written_before=written_before
            ),
            lambda tx, effects: self._async_delete_all(tx, effects, enterprise_id, team_id, written_before),
        )

    def _deleted(self, model: type[models.Model], count: int, **key: str | None) -> None:
        """The sync path's `_deletion()`: its effects once the current transaction commits."""
        effects = Effects()
        self._deletion(effects, count, model, **key)
        self._on_commit(effects)

    async def _async_delete_all(
        self,
        tx: native.Transaction,
        effects: Effects,
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
        effects: Effects,
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
        values = {}
        if written_before is not None:
            values["updated_at"] = clean_instant("written_before", written_before)
        statement = statements.delete_statement(model, self._db(), bool(user_id), written_before is not None)
        # A key no save accepts has no rows: nothing to run.
        count = 0 if key is None else await statement.aexecute(tx, values, *key)
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

    async def _native_delete(
        self,
        sync: Callable[[], _T],
        delete: Callable[[native.Transaction, Effects], Awaitable[_T]],
        *,
        atomic: bool = True,
    ) -> _T:
        """An async delete: `delete(tx, effects)` on the native path, in one transaction unless it is one
        statement (`atomic=False`), then its effects; or else its sync twin, `sync()`, in a thread."""
        database = await self._native_deletes()
        if database is None:
            return await sync_to_async(sync)()
        effects = Effects()
        async with database.transaction() if atomic else database.connection() as tx:
            result = await delete(tx, effects)
        await self._committed(database, effects)
        return result

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

    # -- row deletes -------------------------------------------------------------------------------------

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
        effects = Effects()
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
        read_at = _read_at(model, rows)

        async def delete(tx: native.Transaction, effects: Effects) -> int:
            using, updated_at = self._db(), _updated_at(model)
            locked = await tx.fetch_all(
                statements.lock_rows_statement(model, using, key_names), [self.client_id, list(read_at)]
            )
            current = [(pk, updated_at.from_db_value(at, None, tx.wrapper), *key) for pk, at, *key in locked]
            unchanged = _unchanged(current, read_at)
            if unchanged:
                await tx.execute(statements.delete_rows_statement(model, using), [list(unchanged)])
            self._rows_deleted(effects, model, key_names, unchanged)
            return len(unchanged)

        if not read_at:
            return 0
        return await self._native_delete(functools.partial(self._delete_rows, model, rows, key_names), delete)

    def _rows_deleted(
        self,
        effects: Effects,
        model: type[_Row],
        key_names: tuple[str, ...],
        deleted: dict[Any, tuple[Any, ...]],
    ) -> None:
        """The effects of a row delete: one deletion per key that lost rows (`deleted`: pk -> key)."""
        for key, count in collections.Counter(deleted.values()).items():
            self._deletion(effects, count, model, **dict(zip(key_names, key, strict=True)))


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


def _updated_at(model: type[models.Model]) -> InstantField[Any, Any]:
    return cast("InstantField[Any, Any]", model._meta.get_field("updated_at"))


def _written_before(rows: _QuerySet, timestamp: float | None) -> _QuerySet:
    return (
        rows if timestamp is None else rows.filter(updated_at__lt=clean_instant("written_before", timestamp))
    )
