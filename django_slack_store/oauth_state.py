"""slack_sdk's OAuth state store, sync and async, on Django's ORM.

Bolt issues a state when a browser starts an install (`/slack/install`) and consumes it when Slack sends the
browser back (`/slack/oauth_redirect`): the state ties the redirect to the install this app began, so
nobody can plant their own authorization code on an installer (CSRF). Hence the rules:

- a state is 256 random bits, and the table keeps only its SHA-256 digest and when it expires;
- `consume()` says True at most once, and only strictly before expiry, in one DELETE whose row count is
  the answer (statements.py: plain SQL, not `QuerySet.delete()`, which turns into a SELECT and a DELETE as
  soon as a project connects a pre_delete or post_delete receiver); anything else, malformed input
  included, is False, never an exception (database errors do propagate: an outage is not "invalid state");
- time is Python's (`clock`, `time.time` by default) on both sides, so tests can set it to the
  microsecond; the database clock is never asked. App servers must keep their clocks in sync (NTP); skew
  between them shifts expiry by that much, which a validity of minutes tolerates;
- on PostgreSQL the async methods run natively on the event loop (native.py), like the installation
  store's;
- expired rows are purged by `issue()`: a bounded batch, oldest first, through the expiry index. Each
  issue adds one row and may remove up to `purge_batch_size` expired ones, so expired rows never pile
  up while installs happen, and a backlog (say, after a long outage) drains in a few installs.
"""

import datetime
import hashlib
import logging
import re
import secrets
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.db import router
from slack_sdk.oauth.state_store import OAuthStateStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from . import native, statements
from .arguments import check_int
from .fields import UTC
from .models import SlackOAuthState

__all__ = ["DjangoOAuthStateStore"]

STATE_BYTES = 32
# What token_urlsafe(STATE_BYTES) returns: 43 characters of URL-safe base64. Nothing else is a state of
# ours, so anything else is refused before hashing (non-ASCII, NUL, megabytes) and without a query.
STATE = re.compile(r"[A-Za-z0-9_-]{43}")
# Far beyond any sensible state lifetime (minutes), and keeps `expires_at` well inside what columns hold.
MAX_EXPIRATION_SECONDS = 365 * 24 * 3600


class DjangoOAuthStateStore(OAuthStateStore, AsyncOAuthStateStore):
    """slack_sdk's `OAuthStateStore` and `AsyncOAuthStateStore` on Django's ORM: single-use states that
    expire `expiration_seconds` after they are issued.

    Subclass to change `state_model`, `purge_batch_size` or `clock` (a callable returning the Unix time as
    a float; tests set it on an instance).
    """

    state_model = SlackOAuthState
    purge_batch_size = 100
    clock = staticmethod(time.time)

    def __init__(self, expiration_seconds: int, *, logger: logging.Logger | None = None):
        self.expiration_seconds = check_int(
            "expiration_seconds", expiration_seconds, 1, MAX_EXPIRATION_SECONDS
        )
        self._logger = logger

    @property
    def logger(self) -> logging.Logger:
        return self._logger or logging.getLogger(__name__)

    def issue(self, *args: Any, **kwargs: Any) -> str:
        state, now = secrets.token_urlsafe(STATE_BYTES), self._now()
        self.state_model.objects.create(**self._row(state, now))
        self._log_purged(self.state_model.objects.purge_expired(now, limit=self.purge_batch_size))
        return state

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        database = await native.database(self.state_model)
        if database is None:
            return await sync_to_async(self.issue)(*args, **kwargs)
        state, now, model, using = (
            secrets.token_urlsafe(STATE_BYTES),
            self._now(),
            self.state_model,
            database.using,
        )
        async with database.connection() as tx:
            await statements.issue_state_statement(model, using).aexecute(tx, self._row(state, now))
            purge = statements.purge_states_statement(model, using)
            self._log_purged(await purge.aexecute(tx, {"expires_at": now}, self.purge_batch_size))
        return state

    def consume(self, state: str) -> bool:
        digest = _digest(state)
        if digest is None:
            return self._refused("malformed")
        using = router.db_for_write(self.state_model)
        consumed = statements.consume_state_statement(self.state_model, using).execute(
            using, self._valid(digest)
        )
        return consumed > 0 or self._refused("unknown, expired or already used")

    async def async_consume(self, state: str) -> bool:
        database = await native.database(self.state_model)
        if database is None:
            return await sync_to_async(self.consume)(state)
        digest = _digest(state)
        if digest is None:
            return self._refused("malformed")
        statement = statements.consume_state_statement(self.state_model, database.using)
        async with database.connection() as tx:
            consumed = await statement.aexecute(tx, self._valid(digest))
        return consumed > 0 or self._refused("unknown, expired or already used")

    def _valid(self, digest: str) -> dict[str, Any]:
        """What a consume matches: the digest, still valid now."""
        return {"digest": digest, "expires_at": self._now()}

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.clock(), UTC)

    def _row(self, state: str, now: datetime.datetime) -> dict[str, Any]:
        expires_at = now + datetime.timedelta(seconds=self.expiration_seconds)
        return {"digest": _digest(state), "expires_at": expires_at}

    def _refused(self, why: str) -> bool:
        self.logger.debug("Refused an OAuth state: %s", why)  # never the state itself
        return False

    def _log_purged(self, count: int) -> None:
        if count:
            self.logger.debug("Purged %d expired OAuth state(s)", count)


def _digest(state: object) -> str | None:
    """The stored form of a state, or None when `state` cannot be one we issued."""
    if not isinstance(state, str) or not STATE.fullmatch(state):
        return None
    return hashlib.sha256(state.encode("ascii")).hexdigest()
