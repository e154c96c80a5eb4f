"""slack_sdk's installation store interfaces, sync and async, on Django's ORM.

The store is a translation between slack_sdk's `Installation`/`Bot` and model rows: `_row_values()` turns
an object into validated column values, `_slack_kwargs()` turns a row back. Queries live on the models'
QuerySets. Async methods use the ORM's `a`-methods, or run the one sync method that holds a transaction
in a thread with `sync_to_async` (as Django's database session backend does), so they never block the loop.
"""

import datetime
import functools
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections, models, router, transaction
from django.db.models import Subquery
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore

from . import signals
from .fields import UTC, InstantField, SlackIdField, TokenField
from .models import BOT_IDENTITY, INSTALLATION_IDENTITY, NO_ID, SlackBot, SlackInstallation

# find_installation() takes these from the bot find_bot() serves, never from a stale copy.
BOT_FIELDS = ("bot_id", "bot_user_id", "bot_token", "bot_scopes", "bot_refresh_token", "bot_token_expires_at")
# Bolt saves rotated copies with these blanked when the acting user is not the installer: an empty value
# in a save never overwrites a stored one. Only a delete removes a user token.
USER_FIELDS = ("user_token", "user_refresh_token", "user_token_expires_at", "user_scopes")
# Columns the store fills itself rather than from the slack_sdk object.
STORE_COLUMNS = ("id", "client_id", "updated_at")

SLACK_ID = re.compile(r"[A-Za-z0-9._-]*\Z")
TOKEN_MAX_LENGTH = 4096  # Slack tokens are a few hundred characters; anything longer is not a token.
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z, the last second every backend can hold.
BIGINT = range(-(2**63), 2**63)


class DjangoInstallationStore(InstallationStore, AsyncInstallationStore):
    """slack_sdk's `InstallationStore` and `AsyncInstallationStore` for one Slack app, on Django's ORM.

    Every row it reads or writes is scoped by `client_id`. To use other models (say, with extra columns),
    subclass it and set `installation_model` / `bot_model`.
    """

    installation_model = SlackInstallation
    bot_model = SlackBot

    def __init__(self, client_id: str, *, logger: logging.Logger | None = None):
        self.client_id = _clean_text(SlackInstallation._meta.get_field("client_id"), client_id)
        if not self.client_id:
            raise ValueError("client_id is required")
        self._logger = logger

    @property
    def logger(self) -> logging.Logger:
        return self._logger or logging.getLogger(__name__)

    # -- writes: each is one sync method holding its transaction; the async twins run it in a thread --------

    def save(self, installation: Installation) -> None:
        if not isinstance(installation, Installation):
            raise TypeError(
                f"installation must be a slack_sdk Installation, not {type(installation).__name__}"
            )
        row = self._row_values(self.installation_model, installation)
        bot_row = self._row_values(self.bot_model, installation) if installation.bot_token else None
        with transaction.atomic(using=self._db()):
            self._upsert(self.installation_model, INSTALLATION_IDENTITY, row, keep_when_empty=USER_FIELDS)
            self._send_on_commit(signals.installation_saved, installation=installation)
            if bot_row:
                self._upsert(self.bot_model, BOT_IDENTITY, bot_row)
                self._send_on_commit(signals.bot_saved, bot=installation.to_bot())
        self.logger.debug("Saved the installation of %s", _describe(row))

    async def async_save(self, installation: Installation) -> None:
        await sync_to_async(self.save)(installation)

    def save_bot(self, bot: Bot) -> None:
        if not isinstance(bot, Bot):
            raise TypeError(f"bot must be a slack_sdk Bot, not {type(bot).__name__}")
        row = self._row_values(self.bot_model, bot)
        with transaction.atomic(using=self._db()):
            self._upsert(self.bot_model, BOT_IDENTITY, row)
            self._send_on_commit(signals.bot_saved, bot=bot)
        self.logger.debug("Saved the bot of %s", _describe(row))

    async def async_save_bot(self, bot: Bot) -> None:
        await sync_to_async(self.save_bot)(bot)

    # Deletes match the key exactly. `written_before` (Unix time, an extension of slack_sdk's signature)
    # spares rows written at or after it: the lifecycle handlers below use it for late events.

    def delete_bot(
        self, *, enterprise_id: str | None, team_id: str | None, written_before: float | None = None
    ) -> None:
        rows = _written_before(self._bots(enterprise_id, team_id), written_before)
        self._deleted(signals.bot_deleted, rows.delete()[0], enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_bot(
        self, *, enterprise_id: str | None, team_id: str | None, written_before: float | None = None
    ) -> None:
        await sync_to_async(self.delete_bot)(
            enterprise_id=enterprise_id, team_id=team_id, written_before=written_before
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
            signals.installation_deleted,
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
        await sync_to_async(self.delete_installation)(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, written_before=written_before
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
        await sync_to_async(self.delete_all)(
            enterprise_id=enterprise_id, team_id=team_id, written_before=written_before
        )

    # -- Slack's lifecycle events (wired to Bolt by django_slack_store.bolt) ----------------------------
    #
    # Slack can deliver app_uninstalled and tokens_revoked late, after the workspace reinstalled. So an event
    # deletes only rows written before its event_time, and its signal is sent only for what is still revoked
    # afterwards: nothing of that key (or that user, or bot) written since the event remains.

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
        await sync_to_async(self.handle_app_uninstalled)(
            enterprise_id=enterprise_id, team_id=team_id, event_time=event_time
        )

    def handle_tokens_revoked(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_ids: Sequence[str] = (),
        bot: bool = False,
        event_time: float | None = None,
    ) -> None:
        revoked_user_ids = []
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
        await sync_to_async(self.handle_tokens_revoked)(
            enterprise_id=enterprise_id, team_id=team_id, user_ids=user_ids, bot=bot, event_time=event_time
        )

    # -- signals --------------------------------------------------------------------------------------

    def _deleted(self, signal, count, **key):
        what = "bot" if signal is signals.bot_deleted else "installation"
        self.logger.debug("Deleted %d %s row(s) of %s", count, what, _describe(key))
        if count:
            self._send_on_commit(signal, **_ids(**key))

    def _send_on_commit(self, signal, **kwargs):
        """Send `signal` once the current transaction commits (at once outside one); a rollback cancels it.

        A receiver that raises is logged: the change is committed, so it must not look failed to the caller,
        nor keep the other receivers from hearing of it.
        """

        def send():
            for receiver, result in signal.send_robust(sender=type(self), client_id=self.client_id, **kwargs):
                if isinstance(result, Exception):
                    self.logger.error("Signal receiver %r failed", receiver, exc_info=result)

        transaction.on_commit(send, using=self._db())

    # -- reads: the hot path, one query each ----------------------------------------------------------

    def find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        return self._bot_from_row(self._live_bots(enterprise_id, team_id, is_enterprise_install).first())

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        return self._bot_from_row(
            await self._live_bots(enterprise_id, team_id, is_enterprise_install).afirst()
        )

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        rows = self._latest_installations(enterprise_id, team_id, user_id, is_enterprise_install)
        return self._installation_from_row(rows.first())

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        rows = self._latest_installations(enterprise_id, team_id, user_id, is_enterprise_install)
        return self._installation_from_row(await rows.afirst())

    # -- queries --------------------------------------------------------------------------------------

    def _bots(self, enterprise_id, team_id):
        return self.bot_model.objects.for_workspace(self.client_id, *_lookup_ids(enterprise_id, team_id))

    def _installations(self, enterprise_id, team_id, user_id=None):
        enterprise_id, team_id, user_id = _lookup_ids(enterprise_id, team_id, user_id)
        return self.installation_model.objects.for_workspace(self.client_id, enterprise_id, team_id, user_id)

    def _live_bots(self, enterprise_id, team_id, is_enterprise_install):
        return self._bots(enterprise_id, _lookup_team_id(team_id, is_enterprise_install)).freshest_first()

    def _latest_installations(self, enterprise_id, team_id, user_id, is_enterprise_install):
        # The bot's columns come from the bot find_bot() serves, in the same round trip.
        live_bot = self._live_bots(enterprise_id, team_id, is_enterprise_install)
        live_bot_columns = {name: Subquery(live_bot.values(name)[:1]) for name in BOT_FIELDS}
        team_id = _lookup_team_id(team_id, is_enterprise_install)
        return (
            self._installations(enterprise_id, team_id, user_id).latest_first().annotate(**live_bot_columns)
        )

    def _db(self) -> str:
        return router.db_for_write(self.installation_model)

    def _upsert(self, model, identity, values, keep_when_empty=()):
        """Insert the row, or update the row of the same identity in place: one statement, so concurrent
        saves of one identity leave one row instead of racing a select against an insert."""
        update_fields = [
            name
            for name, value in values.items()
            if name not in identity and not (name in keep_when_empty and value in (None, "", []))
        ]
        db = self._db()
        model.objects.using(db).bulk_create(
            [model(**values)],
            update_conflicts=True,
            update_fields=update_fields,
            # MySQL/MariaDB's ON DUPLICATE KEY UPDATE takes no target: it is the (only) unique constraint.
            unique_fields=identity
            if connections[db].features.supports_update_conflicts_with_target
            else None,
        )

    # -- translation ----------------------------------------------------------------------------------

    def _row_values(self, model, obj) -> dict[str, Any]:
        """Column values for `obj`, validated before any write; bad input raises naming the field."""
        values = {field.name: _clean(field, getattr(obj, field.name, None)) for field in _slack_fields(model)}
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

    def _bot_from_row(self, row) -> Bot | None:
        return None if row is None else Bot(**_slack_kwargs(self.bot_model, row))

    def _installation_from_row(self, row) -> Installation | None:
        if row is None:
            return None
        kwargs = _slack_kwargs(self.installation_model, row, BOT_FIELDS)
        kwargs["bot_scopes"] = kwargs["bot_scopes"] or []  # no live bot: scopes stay a list
        return Installation(**kwargs)


@functools.cache
def _slack_fields(model) -> tuple[models.Field, ...]:
    """The model's columns that mirror attributes of slack_sdk's Installation/Bot."""
    return tuple(field for field in model._meta.concrete_fields if field.name not in STORE_COLUMNS)


def _slack_kwargs(model, row, extra_names=()) -> dict[str, Any]:
    kwargs = {field.name: getattr(row, field.name) for field in _slack_fields(model)}
    kwargs.update((name, getattr(row, name)) for name in extra_names)
    for name in ("enterprise_id", "team_id", "user_id"):
        if name in kwargs:
            kwargs[name] = kwargs[name] or None
    kwargs["installed_at"] = row.installed_at.timestamp()
    return kwargs


def _lookup_team_id(team_id, is_enterprise_install):
    """slack_sdk's rule: an org-wide lookup (or one without a team) is keyed by the enterprise alone."""
    return None if is_enterprise_install else team_id


def _lookup_ids(*ids):
    for name, value in zip(("enterprise_id", "team_id", "user_id"), ids, strict=False):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a str or None, not {type(value).__name__}")
    return ids


def _written_before(rows, timestamp):
    return (
        rows if timestamp is None else rows.filter(updated_at__lt=_clean_instant("written_before", timestamp))
    )


def _ids(**ids):
    """Ids as signals carry them: absent is None, never the empty string."""
    return {name: value or None for name, value in ids.items()}


def _describe(values) -> str:
    """Ids only, for logs: never a token."""
    return ", ".join(
        f"{name}={values[name] or None}" for name in ("enterprise_id", "team_id", "user_id") if name in values
    )


# -- validation: one function per kind of column --------------------------------------------------------


def _clean(field, value):
    if isinstance(field, InstantField):
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


def _clean_text(field, value) -> str | None:
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
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL characters")
    return value


def _clean_bool(name, value) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _clean_epoch(name, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in BIGINT:
        raise ValueError(f"{name} must be Unix time as a 64-bit int")
    return value


def _clean_instant(name, value) -> datetime.datetime:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a Unix timestamp (float), not {type(value).__name__}")
    if not 0 <= value <= MAX_TIMESTAMP:  # also false for NaN
        raise ValueError(f"{name} must be a Unix timestamp between 1970 and 9999")
    return datetime.datetime.fromtimestamp(value, UTC)


def _clean_scopes(name, value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = value.split(",")  # slack_sdk accepts "a,b" too
    if not isinstance(value, (list, tuple)) or not all(isinstance(scope, str) for scope in value):
        raise ValueError(f"{name} must be a list of str")
    if any("\x00" in scope for scope in value):
        raise ValueError(f"{name} must not contain NUL characters")
    return list(value)


def _clean_json(name, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict, not {type(value).__name__}")
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise TypeError(f"{name} cannot be stored as JSON: {error}") from None
    if json.loads(encoded) != value:
        raise TypeError(f"{name} must read back from JSON unchanged (str keys, lists rather than tuples)")
    if any("\x00" in text for text in _strings(value)):
        raise ValueError(f"{name} must not contain NUL characters")  # PostgreSQL's jsonb refuses them
    return value


def _strings(value):
    """Every str in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
