"""`save()` and `save_bot()`: every row validated before any write, one upsert statement per row, in one
transaction.

Each write is a sync method holding its transaction on Django's connection. Its async twin runs the same
statements on the native path (native.py), in one psycopg transaction, or else runs the sync method in a
thread. Either way the cache versions and signals follow the commit (`Effects`).

Every method that holds a plaintext token is marked with `sensitive_variables`, so Django's error reports
hide its variables (and, for sync ones, those of everything it calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from asgiref.sync import sync_to_async
from django.db import models, transaction
from django.views.decorators.debug import sensitive_variables
from slack_sdk.oauth.installation_store import Bot, Installation

from .. import native, signals, statements
from ..models import BOT_IDENTITY, INSTALLATION_IDENTITY
from ..rows import keeps_stored, row_values
from .base import Effects, StoreBase, describe, noun

_Item = TypeVar("_Item", Installation, Bot)


class Upsert(NamedTuple):
    """A row to insert, or to update in place when a row of the same identity exists: one statement, so
    concurrent saves of one identity leave one row instead of racing a select against an insert. An empty
    user field does not overwrite the stored one (`rows.keeps_stored()`)."""

    model: type[models.Model]
    identity: tuple[str, ...]
    values: dict[str, Any]

    def statement(self, using: str) -> statements.Write:
        update_names = tuple(
            name
            for name, value in self.values.items()
            if name not in self.identity and not keeps_stored(name, value)
        )
        return statements.upsert_statement(self.model, using, tuple(self.values), self.identity, update_names)


class Saves(StoreBase):
    @sensitive_variables()
    def save(self, installation: Installation) -> None:
        self._save(*self._installation_upserts(installation))

    @sensitive_variables()
    async def async_save(self, installation: Installation) -> None:
        await self._async_save(self.save, self._installation_upserts, installation)

    @sensitive_variables()
    def save_bot(self, bot: Bot) -> None:
        self._save(*self._bot_upserts(bot))

    @sensitive_variables()
    async def async_save_bot(self, bot: Bot) -> None:
        await self._async_save(self.save_bot, self._bot_upserts, bot)

    @sensitive_variables()
    def _installation_upserts(self, installation: Installation) -> tuple[list[Upsert], Effects]:
        """The rows a save writes, validated before any write, and what it does once committed."""
        if not isinstance(installation, Installation):
            raise TypeError(
                f"installation must be a slack_sdk Installation, not {type(installation).__name__}"
            )
        row = row_values(self.installation_model, installation, self.client_id)
        upserts = [Upsert(self.installation_model, INSTALLATION_IDENTITY, row)]
        effects = Effects()
        effects.written(row["enterprise_id"], row["team_id"])  # the bot row has the same key
        effects.send(signals.installation_saved, installation=installation)
        if installation.bot_token:
            bot_row = row_values(self.bot_model, installation, self.client_id)
            bot = installation.to_bot()  # before any write: slack_sdk may refuse it
            upserts.append(Upsert(self.bot_model, BOT_IDENTITY, bot_row))
            effects.send(signals.bot_saved, bot=bot)
        return upserts, effects

    @sensitive_variables()
    def _bot_upserts(self, bot: Bot) -> tuple[list[Upsert], Effects]:
        if not isinstance(bot, Bot):
            raise TypeError(f"bot must be a slack_sdk Bot, not {type(bot).__name__}")
        row = row_values(self.bot_model, bot, self.client_id)
        effects = Effects()
        effects.written(row["enterprise_id"], row["team_id"])
        effects.send(signals.bot_saved, bot=bot)
        return [Upsert(self.bot_model, BOT_IDENTITY, row)], effects

    @sensitive_variables()
    def _save(self, upserts: list[Upsert], effects: Effects) -> None:
        using = self._db()
        with transaction.atomic(using=using):
            for upsert in upserts:
                upsert.statement(using).execute(using, upsert.values)
            self._on_commit(effects)
        self.logger.debug("Saved the %s of %s", noun(upserts[0].model), describe(upserts[0].values))

    @sensitive_variables()
    async def _async_save(
        self,
        save: Callable[[_Item], None],
        upserts: Callable[[_Item], tuple[list[Upsert], Effects]],
        item: _Item,
    ) -> None:
        """An async save of `item` (`upserts(item)`: its rows) on the native path, or else `save(item)`, its
        sync twin, in a thread."""
        database = await native.database(self.installation_model)
        if database is None:
            return await sync_to_async(save)(item)
        rows, effects = upserts(item)
        async with database.transaction() as tx:
            for upsert in rows:
                await upsert.statement(database.using).aexecute(tx, upsert.values)
        self.logger.debug("Saved the %s of %s", noun(rows[0].model), describe(rows[0].values))
        await self._committed(database, effects)
