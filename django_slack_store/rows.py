"""Between slack_sdk's `Installation`/`Bot` and model rows: validation on the way in, conversion both ways.

`row_values()` turns an object into the column values a save writes, checked before anything is written;
`installation_from_values()` / `bot_from_values()` turn a find's row back. The store and the importer both
go through here, so that they accept and refuse the same input.

A value of the wrong type raises `TypeError`, a value of the right type that no column can hold raises
`ValueError`, each naming the field and never quoting a token.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import models
from django.views.decorators.debug import sensitive_variables
from slack_sdk.oauth.installation_store import Bot, Installation

from .arguments import is_int
from .fields import UTC, InstantField, SlackIdField, TokenField, UndecryptableToken
from .models import NO_ID, SlackBot, SlackInstallation, slack_fields

__all__ = [
    "BOT_FIELDS",
    "bot_from_row",
    "bot_from_values",
    "clean_client_id",
    "clean_instant",
    "installation_from_row",
    "installation_from_values",
    "is_slack_id",
    "keeps_stored",
    "lookup_ids",
    "row_values",
]

# find_installation() takes these from the bot find_bot() serves, never from a stale copy.
BOT_FIELDS = ("bot_id", "bot_user_id", "bot_token", "bot_scopes", "bot_refresh_token", "bot_token_expires_at")
# An empty value of these in a save never overwrites a stored one (`keeps_stored()`); only a delete removes
# a user token.
USER_FIELDS = ("user_token", "user_refresh_token", "user_token_expires_at", "user_scopes")
ID_FIELDS = ("enterprise_id", "team_id", "user_id")

SLACK_ID = re.compile(r"[A-Za-z0-9._-]*\Z")
SLACK_ID_MAX_LENGTH = 32  # the enterprise, team and user id columns
TOKEN_MAX_LENGTH = 4096  # Slack tokens are a few hundred characters; anything longer is not a token.
# 9999-12-30T23:59:59Z: every backend holds it, and it is a local time in every time zone (the admin shows
# one past 9999-12-31T09:59:59Z in UTC+14 as a year no datetime holds).
MAX_TIMESTAMP = 253402214399
JSON_MAX_DEPTH = 31  # MariaDB's JSON_VALID (the JSON column's check) refuses 32 levels of arrays/objects
# PostgreSQL's jsonb keeps numbers as decimals and prints them without exponent: a float from 1e16 up
# (repr "1e+16") reads back as an int, and unequal unless its shortest repr is exact (1e23 is not).
JSON_MAX_FLOAT = 1e16


# -- slack_sdk object -> row -------------------------------------------------------------------------------


@sensitive_variables()  # holds tokens
def row_values(model: type[models.Model], obj: Installation | Bot, client_id: str) -> dict[str, Any]:
    """The column values of `model` that a save of `obj` for the app `client_id` writes (`updated_at`: now).

    Raises TypeError or ValueError naming the field for anything no column holds exactly as given.
    """
    values = {field.name: _clean(field, getattr(obj, field.name, None)) for field in slack_fields(model)}
    if values["is_enterprise_install"]:
        if not values["enterprise_id"]:
            raise ValueError("enterprise_id is required for an org-wide install (is_enterprise_install=True)")
        values["team_id"] = NO_ID  # org-wide installs are keyed by the enterprise alone
    elif not values["enterprise_id"] and not values["team_id"]:
        raise ValueError("team_id is required (or enterprise_id, for an org)")
    values["client_id"] = client_id
    values["updated_at"] = datetime.datetime.now(UTC)
    return values


def keeps_stored(name: str, value: object) -> bool:
    """Whether a save leaves the stored value of column `name` as it is: an empty user token, expiry or scopes
    (Bolt saves rotated copies with them blanked when the acting user is not the installer)."""
    return name in USER_FIELDS and value in (None, "", [])


def clean_client_id(client_id: object) -> str:
    """The client id a store is scoped by: required, a column value like any other."""
    cleaned = _clean_text(SlackInstallation._meta.get_field("client_id"), client_id)
    if not cleaned:
        raise ValueError("client_id is required")
    return cleaned


def clean_instant(name: str, value: object) -> datetime.datetime:
    """A Unix timestamp (int or float) as an aware datetime, within what every backend holds."""
    if not (is_int(value) or isinstance(value, float)):
        raise TypeError(f"{name} must be a Unix timestamp (float), not {type(value).__name__}")
    if not 0 <= value <= MAX_TIMESTAMP:  # also false for NaN
        raise ValueError(f"{name} must be a Unix timestamp between 1970 and 9999")
    return datetime.datetime.fromtimestamp(value, UTC)


# -- lookups ----------------------------------------------------------------------------------------------


def lookup_ids(*ids: str | None) -> tuple[str | None, ...]:
    """Enterprise, team (and user) ids of a find or delete, each a str or None."""
    for name, value in zip(ID_FIELDS, ids, strict=False):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")
    return ids


def is_slack_id(value: str) -> bool:
    """Whether a save would accept `value` as an id: what is not one matches no stored row."""
    return len(value) <= SLACK_ID_MAX_LENGTH and SLACK_ID.match(value) is not None


# -- row -> slack_sdk object -------------------------------------------------------------------------------
#
# These run on every find. Their callers (the store's finds, `bot_from_row`) are marked with
# `sensitive_variables`, which hides the variables of everything they call: no second wrapper here.


def installation_from_values(
    model: type[models.Model], bot_model: type[models.Model], values: Mapping[str, Any]
) -> Installation:
    """An installation find's row: the installation's columns, and the served bot's prefixed "bot."."""
    kwargs = _slack_kwargs(model, values)
    if values["bot.id"] is None:  # no live bot: no bot credentials, and scopes stay a list
        kwargs.update(dict.fromkeys(BOT_FIELDS), bot_scopes=[])
    else:
        kwargs.update(_slack_kwargs(bot_model, values, BOT_FIELDS, prefix="bot."))
    return Installation(**kwargs)


def bot_from_values(model: type[models.Model], values: Mapping[str, Any]) -> Bot:
    """A bot find's row."""
    return Bot(**_slack_kwargs(model, values))


@sensitive_variables()  # holds tokens
def bot_from_row(row: SlackBot) -> Bot:
    """A bot row read through the ORM."""
    model = type(row)
    return bot_from_values(
        model, {field.name: getattr(row, field.name) for field in [model._meta.pk, *slack_fields(model)]}
    )


@sensitive_variables()  # holds tokens
def installation_from_row(row: SlackInstallation) -> Installation:
    """An installation row read through the ORM, without bot credentials (those live in the bot's row)."""
    model = type(row)
    values = {field.name: getattr(row, field.name) for field in [model._meta.pk, *slack_fields(model)]}
    return installation_from_values(model, SlackBot, {**values, "bot.id": None})


def _slack_kwargs(
    model: type[models.Model],
    values: Mapping[str, Any],
    names: Sequence[str] | None = None,
    prefix: str = "",
) -> dict[str, Any]:
    """slack_sdk keyword arguments from a row's `values` (names prefixed `prefix`)."""
    names = names or [field.name for field in slack_fields(model)]
    kwargs = {name: values[prefix + name] for name in names}
    for value in kwargs.values():
        if isinstance(value, UndecryptableToken):
            raise value.error(pk=values[prefix + "id"])
    for name in ID_FIELDS:
        if name in kwargs:
            kwargs[name] = kwargs[name] or None
    if "installed_at" in kwargs:
        kwargs["installed_at"] = kwargs["installed_at"].timestamp()
    return kwargs


# -- validation: one function per kind of column ----------------------------------------------------------


def _clean(field: models.Field[Any, Any], value: object) -> object:
    if isinstance(field, InstantField):
        if not isinstance(value, float):  # slack_sdk's own type: its Bot() refuses even an int
            raise TypeError(f"{field.name} must be a Unix timestamp (float), not {type(value).__name__}")
        return clean_instant(field.name, value)
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
        return None if value is None else ""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
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
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _clean_epoch(name: str, value: object) -> int | None:
    if value is None:
        return None
    if not is_int(value):
        raise TypeError(f"{name} must be Unix time as an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_TIMESTAMP:  # no datetime holds more, and Slack never sends it
        raise ValueError(f"{name} must be Unix time between 1970 and 9999")
    return value


def _clean_scopes(name: str, value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = value.split(",")  # slack_sdk accepts "a,b" too
    if not isinstance(value, (list, tuple)) or not all(isinstance(scope, str) for scope in value):
        raise TypeError(f"{name} must be a list of str")
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
        raise ValueError(f"{name} cannot be stored as JSON: {error}") from None
    if json.loads(encoded) != value:
        raise ValueError(f"{name} must read back from JSON unchanged (str keys, lists rather than tuples)")
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
