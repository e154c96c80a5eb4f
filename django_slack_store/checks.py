"""System checks for the DJANGO_SLACK_STORE setting."""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from .arguments import is_history_keep, is_int
from .conf import DEFAULTS, store_settings
from .crypto import is_valid_key


@checks.register()
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    user_settings = store_settings.user_settings()
    if not isinstance(user_settings, dict):
        return [checks.Error("DJANGO_SLACK_STORE must be a dict.", id="django_slack_store.E001")]
    return [
        checks.Warning(
            f"DJANGO_SLACK_STORE has an unknown key {key!r}.",
            hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
            id="django_slack_store.W001",
        )
        for key in user_settings
        if key not in DEFAULTS
    ]


@checks.register()
def check_history_keep(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    user_settings = store_settings.user_settings()
    keep = user_settings.get("HISTORY_KEEP") if isinstance(user_settings, dict) else None
    if is_history_keep(keep):
        return []
    return [
        checks.Error(
            f"DJANGO_SLACK_STORE['HISTORY_KEEP'] must be None or an int >= 0, not {keep!r}.",
            hint="How many installations per user and bots per workspace slack_store_cleanup keeps; "
            "None keeps all history.",
            id="django_slack_store.E004",
        )
    ]


@checks.register(checks.Tags.security)
def check_encryption_keys(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    user_settings = store_settings.user_settings()
    keys = user_settings.get("ENCRYPTION_KEYS") if isinstance(user_settings, dict) else None
    if keys is None:
        return []
    if not isinstance(keys, (list, tuple)):
        return [
            checks.Error(
                "DJANGO_SLACK_STORE['ENCRYPTION_KEYS'] must be a list of Fernet keys, "
                f"not {type(keys).__name__}.",
                hint="The first key encrypts, every key decrypts: ENCRYPTION_KEYS = [new_key, old_key].",
                id="django_slack_store.E002",
            )
        ]
    # Positions only: a key must not end up in the output.
    return [
        checks.Error(
            f"DJANGO_SLACK_STORE['ENCRYPTION_KEYS'][{index}] is not a Fernet key.",
            hint='A key is 32 url-safe base64-encoded bytes; how to make one: see "Security › Keys" in the '
            "django-slack-store documentation.",
            id="django_slack_store.E003",
        )
        for index, key in enumerate(keys)
        if not is_valid_key(key)
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_explicit_encryption_keys(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    user_settings = store_settings.user_settings()
    if isinstance(user_settings, dict) and user_settings.get("ENCRYPTION_KEYS"):
        return []
    return [
        checks.Warning(
            "Slack tokens are encrypted with a key derived from SECRET_KEY: whoever has SECRET_KEY and a "
            "database dump has the tokens, and changing SECRET_KEY means re-encrypting them.",
            hint="Set DJANGO_SLACK_STORE['ENCRYPTION_KEYS'] to keys of their own, apart from SECRET_KEY, "
            'then run manage.py slack_store_rotate_keys: see "Security › Rotating keys, step by step" in '
            "the django-slack-store documentation.",
            id="django_slack_store.W002",
        )
    ]


@checks.register(checks.Tags.caches)
def check_cache(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    user_settings = store_settings.user_settings()
    if not isinstance(user_settings, dict):
        return []
    errors: list[checks.CheckMessage] = []
    alias = user_settings.get("CACHE_ALIAS")
    if alias is not None and alias not in settings.CACHES:
        errors.append(
            checks.Error(
                f"DJANGO_SLACK_STORE['CACHE_ALIAS'] is {alias!r}, which is not a key of CACHES.",
                hint="Name one of the caches in CACHES, or None for no cache.",
                id="django_slack_store.E005",
            )
        )
    return errors + _int_setting(user_settings, "CACHE_TIMEOUT", 1, "seconds", "django_slack_store.E006")


@checks.register(checks.Tags.caches, deploy=True)
def check_shared_cache(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    user_settings = store_settings.user_settings()
    alias = user_settings.get("CACHE_ALIAS") if isinstance(user_settings, dict) else None
    if alias not in settings.CACHES or not isinstance(caches[alias], LocMemCache):
        return []
    return [
        checks.Warning(
            f"DJANGO_SLACK_STORE['CACHE_ALIAS'] names a local-memory cache ({alias!r}): a token rotation or "
            "uninstall handled by another process is not seen by this one's cached finds.",
            hint="Use a shared cache (Redis, Memcached) when more than one process serves Slack requests.",
            id="django_slack_store.W003",
        )
    ]


@checks.register()
def check_async(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    user_settings = store_settings.user_settings()
    if not isinstance(user_settings, dict):
        return []
    return _bool_setting(user_settings, "ASYNC_NATIVE", "django_slack_store.E007") + _int_setting(
        user_settings,
        "ASYNC_POOL_SIZE",
        1,
        "connections per event loop",
        "django_slack_store.E008",
        hint='How to size it: see "Deployment › Sizing connections under ASGI" in the django-slack-store '
        "documentation.",
    )


@checks.register(checks.Tags.admin)
def check_revoke_deadline(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    user_settings = store_settings.user_settings()
    if not isinstance(user_settings, dict):
        return []
    hint = "How long one admin request may spend revoking at Slack; keep it below your proxy's timeout."
    return _int_setting(user_settings, "REVOKE_DEADLINE", 1, "seconds", "django_slack_store.E009", hint=hint)


@checks.register()
def check_rotation(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    user_settings = store_settings.user_settings()
    if not isinstance(user_settings, dict):
        return []
    hint = "Seconds a token refresh may wait for Slack; other callers wait up to twice this for it."
    errors = _int_setting(
        user_settings, "REFRESH_TIMEOUT", 1, "seconds", "django_slack_store.E011", hint=hint
    )
    secrets = user_settings.get("CLIENT_SECRETS", {})
    if not isinstance(secrets, dict) or not all(
        isinstance(key, str) and isinstance(value, str) and value for key, value in secrets.items()
    ):
        errors.append(
            checks.Error(
                "DJANGO_SLACK_STORE['CLIENT_SECRETS'] must be a dict of client id (str) to client secret (a "
                "non-empty str).",
                hint='The secrets of the Slack apps whose rotating tokens are refreshed; see "Token rotation '
                '› Setup" in the django-slack-store documentation.',
                id="django_slack_store.E012",
            )
        )
    return errors


@checks.register(checks.Tags.security)
def check_unbound_tokens(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    user_settings = store_settings.user_settings()
    if not isinstance(user_settings, dict):
        return []
    return _bool_setting(user_settings, "ACCEPT_UNBOUND_TOKENS", "django_slack_store.E010")


@checks.register(checks.Tags.security, deploy=True)
def check_accept_unbound_tokens(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    user_settings = store_settings.user_settings()
    if not isinstance(user_settings, dict) or user_settings.get("ACCEPT_UNBOUND_TOKENS") is not True:
        return []
    return [
        checks.Warning(
            "DJANGO_SLACK_STORE['ACCEPT_UNBOUND_TOKENS'] is True: a token that someone with write access to "
            "the database planted in plaintext, or moved from another workspace's row, is served.",
            hint="Once no process of an earlier release writes any more, run manage.py "
            'slack_store_rotate_keys and remove the setting; see "Security › Unbound values, and '
            'ACCEPT_UNBOUND_TOKENS" in the django-slack-store documentation.',
            id="django_slack_store.W004",
        )
    ]


def _bool_setting(user_settings: dict[str, Any], name: str, check_id: str) -> list[checks.CheckMessage]:
    """An error when the setting `name`, if given, is not True or False."""
    value = user_settings.get(name, False)
    if isinstance(value, bool):
        return []
    return [checks.Error(f"DJANGO_SLACK_STORE[{name!r}] must be True or False, not {value!r}.", id=check_id)]


def _int_setting(
    user_settings: dict[str, Any], name: str, minimum: int, unit: str, check_id: str, hint: str | None = None
) -> list[checks.CheckMessage]:
    """An error when the setting `name`, if given, is not an int of at least `minimum`."""
    value = user_settings.get(name, minimum)
    if is_int(value) and value >= minimum:
        return []
    message = f"DJANGO_SLACK_STORE[{name!r}] must be an int >= {minimum} ({unit}), not {value!r}."
    return [checks.Error(message, hint=hint, id=check_id)]
