"""What every part of the store shares: its scope (client id, database, lookup keys, QuerySets) and the
effects of a write once its transaction has committed (new find-cache versions, then signals)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import models, router, transaction
from django.dispatch import Signal
from django.views.decorators.debug import sensitive_variables

from .. import native, signals
from ..cache import KEY_PREFIX, FindCache, find_cache
from ..models import NO_ID, SlackBot, SlackBotQuerySet, SlackInstallation, SlackInstallationQuerySet
from ..rows import clean_client_id, is_slack_id, lookup_ids

_T = TypeVar("_T")


class Effects:
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


class StoreBase:
    installation_model: type[SlackInstallation] = SlackInstallation
    bot_model: type[SlackBot] = SlackBot

    @sensitive_variables("client_secret")
    def __init__(
        self,
        client_id: str,
        *,
        client_secret: str | None = None,
        logger: logging.Logger | None = None,
        send_signals: bool = True,
    ) -> None:
        if not isinstance(send_signals, bool):
            raise TypeError(f"send_signals must be a bool, not {type(send_signals).__name__}")
        if client_secret is not None and not isinstance(client_secret, str):
            raise TypeError(f"client_secret must be a str or None, not {type(client_secret).__name__}")
        self.client_id = clean_client_id(client_id)
        self.send_signals = send_signals
        self._logger = logger
        self._client_secret = client_secret or None  # for refreshes (rotation.py); never in a repr or log

    @property
    def logger(self) -> logging.Logger:
        return self._logger or logging.getLogger("django_slack_store.stores")

    def _db(self) -> str:
        return router.db_for_write(self.installation_model)

    def _lookup_key(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> list[str] | None:
        """Query parameters of a key: the client id, then the ids (the user's only when given), None as
        NO_ID. None when an id is not one a save accepts: nothing stored can match it."""
        ids = [enterprise_id, team_id, user_id] if user_id else [enterprise_id, team_id]
        if any(value and not is_slack_id(value) for value in lookup_ids(*ids)):
            return None
        return [self.client_id, *(value or NO_ID for value in ids)]

    def _bots(self, enterprise_id: str | None, team_id: str | None) -> SlackBotQuerySet:
        return self.bot_model.objects.for_workspace(self.client_id, *lookup_ids(enterprise_id, team_id))

    def _installations(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> SlackInstallationQuerySet:
        enterprise_id, team_id, user_id = lookup_ids(enterprise_id, team_id, user_id)
        return self.installation_model.objects.for_workspace(self.client_id, enterprise_id, team_id, user_id)

    # -- after a commit: cache versions, then signals -------------------------------------------------

    def _deletion(self, effects: Effects, count: int, model: type[models.Model], **key: str | None) -> None:
        """Log a delete of `count` rows of `model` in the key, and when it deleted any, add its effects."""
        self.logger.debug("Deleted %d %s row(s) of %s", count, noun(model), describe(key))
        if count:
            effects.written(key["enterprise_id"], key["team_id"])
            signal = signals.bot_deleted if issubclass(model, SlackBot) else signals.installation_deleted
            effects.send(signal, **signal_ids(**key))

    def _on_commit(self, effects: Effects) -> None:
        """The sync path: `effects` once the current transaction commits (at once outside one); a rollback
        cancels them.

        A signal receiver that raises is logged: the change is committed, so it must not look failed to the
        caller, nor keep the other receivers from hearing of it.
        """
        using = self._db()
        cache = find_cache()
        if cache is not None and effects.workspaces:
            workspaces = self._workspaces(using, effects.workspaces)
            transaction.on_commit(functools.partial(cache.written, workspaces), using=using)
        for signal, kwargs in self._signals(effects):
            transaction.on_commit(functools.partial(self._send, signal, kwargs), using=using)

    def _send(self, signal: Signal, kwargs: dict[str, Any]) -> None:
        self._log_failures(signal.send_robust(sender=type(self), client_id=self.client_id, **kwargs))

    @sensitive_variables()  # the saved signals' objects hold tokens
    async def _committed(self, database: native.Database, effects: Effects) -> None:
        """The native path: `effects`, now that the write's transaction has committed."""
        cache = find_cache()
        if cache is not None and effects.workspaces:
            await cache_call(cache, cache.written, self._workspaces(database.using, effects.workspaces))
        for signal, kwargs in self._signals(effects):
            results = await signal.asend_robust(sender=type(self), client_id=self.client_id, **kwargs)
            self._log_failures(results)

    def _signals(self, effects: Effects) -> list[tuple[Signal, dict[str, Any]]]:
        """The signals to send: none when the store was made with `send_signals=False`."""
        return effects.signals if self.send_signals else []

    def _log_failures(self, results: list[tuple[Any, Any]]) -> None:
        for receiver, result in results:
            if isinstance(result, Exception):
                self.logger.error("Signal receiver %r failed", receiver, exc_info=result)

    # -- the find cache (cache.py): a write to a workspace key starts new versions of it once committed --

    def _cache_key(self, using: str, key: Sequence[str]) -> str:
        """The cache key of a workspace key `[client_id, enterprise_id, team_id]` (no ':' in Slack ids)."""
        return ":".join([KEY_PREFIX, using, self.installation_model._meta.db_table, *key])

    def _workspaces(self, using: str, keys: Iterable[tuple[str | None, str | None]]) -> set[str]:
        """The cache keys of `(enterprise_id, team_id)` workspace keys."""
        return {self._cache_key(using, [self.client_id, e or NO_ID, t or NO_ID]) for e, t in keys}


async def cache_call(cache: FindCache, method: Callable[..., _T], *args: Any) -> _T:
    """A call of the find cache from the event loop: at once for a process-local cache, else in a thread
    of the loop's default executor (a network cache client blocks)."""
    if cache.in_process:
        return method(*args)
    return await sync_to_async(method, thread_sensitive=False)(*args)


def noun(model: type[models.Model]) -> str:
    return "bot" if issubclass(model, SlackBot) else "installation"


def signal_ids(**ids: str | None) -> dict[str, str | None]:
    """Ids as signals carry them: absent is None, never the empty string."""
    return {name: value or None for name, value in ids.items()}


def describe(values: Mapping[str, Any]) -> str:
    """Ids only, for logs: never a token."""
    return ", ".join(
        f"{name}={values[name] or None}" for name in ("enterprise_id", "team_id", "user_id") if name in values
    )
