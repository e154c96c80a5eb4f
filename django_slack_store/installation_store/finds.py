"""The hot path: `find_bot()` and `find_installation()`, one precompiled statement each (statements.py),
through the find cache when one is configured.

Reads go to the router's database for writes, as the writes do: a replica lagging behind would serve a token
that a rotation has already replaced. Tokens are decrypted as the row is read, so only the one row returned
is decrypted; one that no configured key decrypts raises TokenDecryptionError naming the row. The async twins
run the statement on the native path, or else the sync method in a thread (as `afirst()` would run
`first()`); Django's error reports hide that thread's variables too.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections
from django.views.decorators.debug import sensitive_variables
from slack_sdk.oauth.installation_store import Bot, Installation

from .. import native, statements
from ..cache import MISS, find_cache
from ..models import SlackBot
from ..rows import BOT_FIELDS, bot_from_row, bot_from_values, installation_from_values
from .base import StoreBase, cache_call

_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True)
class Lookup(Generic[_T]):
    """A find: the key's query parameters (None: nothing can match), its name in the cache, its statement
    for a database alias, and what makes the result of the statement's row."""

    key: list[str] | None
    name: str
    statement: Callable[[str], statements.Statement]
    build: Callable[[dict[str, Any] | None], _T | None]


class Finds(StoreBase):
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
    ) -> Lookup[Bot]:
        key = self._lookup_key(enterprise_id, _lookup_team_id(team_id, is_enterprise_install))
        return Lookup(key, "bot", self._bot_statement, self._bot)

    def _installation_lookup(
        self,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        is_enterprise_install: bool | None,
    ) -> Lookup[Installation]:
        key = self._lookup_key(enterprise_id, _lookup_team_id(team_id, is_enterprise_install), user_id)
        name = f"installation:{user_id}" if user_id else "installation"
        statement = functools.partial(self._installation_statement, by_user=bool(user_id))
        return Lookup(key, name, statement, self._installation)

    @sensitive_variables()
    def _find(self, lookup: Lookup[_T]) -> _T | None:
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
    async def _async_find(self, lookup: Lookup[_T]) -> _T | None:
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
        result, version = await cache_call(cache, cache.get, workspace, lookup.name)
        if result is MISS:
            result = await read()
            if version is not None:
                await cache_call(cache, cache.put, workspace, lookup.name, version, result)
        return result

    def _bot_statement(self, using: str) -> statements.Statement:
        return statements.bot_statement(self.bot_model, using)

    def _installation_statement(self, using: str, by_user: bool) -> statements.Statement:
        return statements.installation_statement(
            self.installation_model, self.bot_model, BOT_FIELDS, using, by_user=by_user
        )

    def bot_from_row(self, row: SlackBot) -> Bot:
        """A row of `bot_model`, read through the ORM, as slack_sdk's Bot."""
        return bot_from_row(row)

    @sensitive_variables()
    def _bot(self, values: dict[str, Any] | None) -> Bot | None:
        return None if values is None else bot_from_values(self.bot_model, values)

    @sensitive_variables()
    def _installation(self, values: dict[str, Any] | None) -> Installation | None:
        return (
            None
            if values is None
            else installation_from_values(self.installation_model, self.bot_model, values)
        )


def _lookup_team_id(team_id: str | None, is_enterprise_install: bool | None) -> str | None:
    """slack_sdk's rule: an org-wide lookup (or one without a team) is keyed by the enterprise alone."""
    return None if is_enterprise_install else team_id
