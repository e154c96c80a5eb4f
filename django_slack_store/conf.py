"""The one setting, `DJANGO_SLACK_STORE`: a dict whose keys are documented in docs/settings.md.

Read lazily through `store_settings` (never at import time) and reloaded when Django's `setting_changed`
fires, so `override_settings` and pytest-django's `settings` fixture work in tests.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # Base URL of the Slack Web API, for every call the store makes (auth.revoke, auth.test, token refreshes)
    # and the clients get_client() returns; point it at a proxy or a fake.
    "SLACK_API_URL": "https://slack.com/api/",
    # False leaves SlackInstallation and SlackBot out of the Django admin. Read when the admin autodiscovers
    # django_slack_store.admin, so a change takes effect at the next start.
    "ADMIN_ENABLED": True,
    # The admin marks a rotating token "expiring" this many minutes before its expiry: Bolt's token rotator
    # refreshes it then (its token_rotation_expiration_minutes, 120 by default); keep the two equal.
    "ROTATION_WINDOW_MINUTES": 120,
    # {client_id: client secret} of the Slack apps whose rotating tokens the store refreshes: for stores made
    # without client_secret=, and for `slack_store_refresh_tokens`, `slack_store_check` and the admin's
    # actions, which have no store of yours to ask (docs/rotation.md). Read it from the environment.
    "CLIENT_SECRETS": {},
    # Seconds a token refresh's call to Slack's oauth.v2.access may take. Other callers wait up to twice
    # this for the refresh of the same token, then fail with RefreshFailed("lock_timeout").
    "REFRESH_TIMEOUT": 10,
    # Seconds one admin request may spend calling Slack's auth.revoke (each call 10 s at most, and no longer
    # than the time left): the rows left when it runs out are not attempted, and kept. Keep it below the
    # timeout of the proxies in front of Django.
    "REVOKE_DEADLINE": 20,
    # Fernet keys for tokens at rest (docs/security.md): the first encrypts, all decrypt. Empty: a key
    # derived from SECRET_KEY (`check --deploy` recommends explicit keys). After adding a key in front,
    # `manage.py slack_store_rotate_keys` re-encrypts the stored tokens with it.
    "ENCRYPTION_KEYS": [],
    # Whether values written before tokens were bound to their rows (`aesgcm:`, `fernet:`, plaintext) are
    # still read. False refuses them (TokenDecryptionError): a database writer could have planted or moved
    # them. Migration 0005 and `slack_store_rotate_keys` rewrite them; True only for a rolling upgrade, while
    # processes of an earlier release still write.
    "ACCEPT_UNBOUND_TOKENS": False,
    # How much history `manage.py slack_store_cleanup` keeps (its --keep default): the latest N installations
    # of each user and bots of each workspace. The rows finds return are kept whatever N is; None keeps all.
    # Old rows keep old tokens at rest, and reinstalls are rare, so 10 bounds both and still shows a history.
    "HISTORY_KEEP": 10,
    # A Django cache alias (a key of CACHES) that finds go through; None: no cache. Shared caches (Redis,
    # Memcached, database) are never stale across processes; a local-memory cache only within one process.
    "CACHE_ALIAS": None,
    # Seconds a cached find (and a workspace's cache version) lives. Writes make cached finds misses at
    # once, so this only bounds memory and the one failure case (docs/performance.md).
    "CACHE_TIMEOUT": 300,
    # On PostgreSQL with psycopg 3, the async methods run the store's statements on the event loop through
    # connections of their own (docs/performance.md#async); False: they run the sync methods in a thread.
    "ASYNC_NATIVE": True,
    # The most connections the native async path opens per event loop (per process, with one loop each),
    # per database alias. Opened as concurrent calls need them, kept open for reuse.
    "ASYNC_POOL_SIZE": 4,
}


class StoreSettings:
    """`store_settings.SLACK_API_URL` and so on: the user's value, else the default."""

    if TYPE_CHECKING:
        # The settings' types as documented; `checks.py` reports a value of another type.
        SLACK_API_URL: str
        ADMIN_ENABLED: bool
        ROTATION_WINDOW_MINUTES: int
        REVOKE_DEADLINE: int
        CLIENT_SECRETS: dict[str, str]
        REFRESH_TIMEOUT: int
        ENCRYPTION_KEYS: Sequence[str | bytes] | None
        ACCEPT_UNBOUND_TOKENS: bool
        HISTORY_KEEP: int | None
        CACHE_ALIAS: str | None
        CACHE_TIMEOUT: int
        ASYNC_NATIVE: bool
        ASYNC_POOL_SIZE: int

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"DJANGO_SLACK_STORE has no setting {name!r}")
        if name not in self._cache:
            self._cache[name] = self.user_settings().get(name, DEFAULTS[name])
        return self._cache[name]

    @staticmethod
    def user_settings() -> dict[str, Any]:
        return getattr(settings, "DJANGO_SLACK_STORE", None) or {}

    def reload(self) -> None:
        self._cache.clear()


store_settings = StoreSettings()


@receiver(setting_changed)
def _reload(setting: str, **kwargs: Any) -> None:
    if setting == "DJANGO_SLACK_STORE":
        store_settings.reload()
