"""The optional cache of finds: `DJANGO_SLACK_STORE["CACHE_ALIAS"]` names one of Django's caches.

Never stale, in any process sharing the cache. Each workspace key (app, enterprise, team) has a version in
the cache: a random token that every write to the key replaces once its transaction has committed. A find's
result is cached with the version read before the database was, and served only while that version is still
the key's current one. So an entry can only be stamped with a version older than what it holds, and after a
save, rotation or delete in any process, every process's next find of that key misses and reads the
database. Random tokens rather than counters: a version that was evicted and started afresh can never
match an entry stamped before.

When the cache fails (down, timing out), finds read the database and writes still commit; the failure is
logged. The one way to serve a stale entry is a write whose version replacement failed while the entries
survived (a partition rather than a restart): that is logged as an error, and `CACHE_TIMEOUT` bounds it.

Entries hold slack_sdk objects. A process-local cache (LocMemCache) pickles what it stores, so each hit is a
fresh copy. Anywhere else the entry is the pickled object sealed (`crypto.seal`: AES-GCM with a key of its
own, derived from the first encryption key) with the entry's key and version as associated data: tokens never
reach a shared cache in plaintext, nothing that this app did not seal is ever unpickled, and an entry copied
under another key or version does not open there. Whatever cannot be opened or loaded (sealed with an
earlier key, damaged, not an entry at all, pickled by a release whose classes differ) is a miss.
"""

import logging
import pickle
import secrets
import time
from collections.abc import Iterable
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache

from . import crypto
from .conf import store_settings

logger = logging.getLogger(__name__)

# In every key; change it when the entries' format changes, so a new release never reads an old entry.
KEY_PREFIX = "django_slack_store:2"
OUTAGE_WARNING_INTERVAL = 60  # seconds: a cache outage is logged at most this often per process

MISS = object()
_last_outage_warning = 0.0


class FindCache:
    """The cache a store's finds go through, with the entry format of its backend."""

    def __init__(self, cache: BaseCache, timeout: int) -> None:
        self.cache = cache
        self.timeout = timeout
        self.in_process = isinstance(cache, LocMemCache)

    def get(self, workspace: str, lookup: str) -> tuple[Any, str | None]:
        """`(result, version)`: the cached result of `lookup` or MISS, and the version to store a database
        read under (None: do not store it)."""
        entry_key = f"{workspace}:{lookup}"
        try:
            found = self.cache.get_many([workspace, entry_key])
            version = found.get(workspace)
            if version is None:
                # The key's first find (or its version was evicted): start a version, unless a write or
                # another find just did.
                version = secrets.token_hex(8)
                return MISS, version if self.cache.add(workspace, version, self.timeout) else None
        except Exception:
            _outage("read")
            return MISS, None
        entry = found.get(entry_key)
        return (MISS if entry is None else self._load(entry_key, version, entry)), version

    def put(self, workspace: str, lookup: str, version: str, result: object) -> None:
        entry_key = f"{workspace}:{lookup}"
        try:
            self.cache.set(entry_key, (version, self._dump(entry_key, version, result)), self.timeout)
        except Exception:
            _outage("write")

    def written(self, workspaces: Iterable[str]) -> None:
        """Start new versions of `workspaces`: every cached find of them becomes a miss, everywhere."""
        versions = {workspace: secrets.token_hex(8) for workspace in workspaces}
        try:
            failed = self.cache.set_many(versions, self.timeout)
        except Exception:
            failed = list(versions)
        if failed:
            logger.error(
                "Could not replace the cache versions of %d Slack workspace key(s) after a write: other "
                "processes may serve their cached finds for up to CACHE_TIMEOUT (%s s).",
                len(failed),
                self.timeout,
            )

    def _dump(self, entry_key: str, version: str, result: object) -> object:
        if self.in_process:
            return result
        return crypto.seal(pickle.dumps(result, pickle.HIGHEST_PROTOCOL), _bound_to(entry_key, version))

    def _load(self, entry_key: str, version: str, entry: Any) -> Any:
        """The result `entry` holds if it was stored under `entry_key` for `version`, else MISS."""
        try:
            stamped, stored = entry
            if stamped != version:
                return MISS
            if self.in_process:
                return stored
            data = crypto.unseal(stored, _bound_to(entry_key, version))
            return MISS if data is None else pickle.loads(data)
        except Exception as error:
            # Not an entry this release wrote: the database answers, and the refill replaces it.
            logger.warning(
                "A find cache entry could not be read (%s): it counts as a miss.", type(error).__name__
            )
            return MISS


def _bound_to(entry_key: str, version: str) -> bytes:
    """A sealed entry's associated data. No NUL in a cache key (client ids hold none): unambiguous."""
    return f"{entry_key}\0{version}".encode()


def find_cache() -> FindCache | None:
    """The configured cache, or None when `CACHE_ALIAS` is unset (the default)."""
    alias = store_settings.CACHE_ALIAS
    return None if alias is None else FindCache(caches[alias], store_settings.CACHE_TIMEOUT)


def _outage(what: str) -> None:
    global _last_outage_warning
    now = time.monotonic()
    if now - _last_outage_warning >= OUTAGE_WARNING_INTERVAL:
        _last_outage_warning = now
        logger.warning(
            "The find cache (%r) failed on a %s; finds use the database meanwhile.",
            store_settings.CACHE_ALIAS,
            what,
            exc_info=True,
        )
