"""The store's SQL on the hot path, written once per database alias and shape, then only executed.

Bolt calls a find on every Slack request, and saves on every install and token rotation. Building and
compiling a QuerySet (or `bulk_create`'s upsert) costs several times what the database spends on the
statement, so each shape is written as SQL once per database alias (from the models' table and column names,
with the backend's own quoting and upsert syntax) and executed through Django's cursor: transactions,
query logging and `django_assert_num_queries` see it as any other query. Values go through the same field
methods Django would apply: `get_db_prep_save` on the way in (token encryption, exact instants, JSON), and
the backend's converters then the field's `from_db_value` on the way out. No model instance is created.

Statements are built on first use and rebuilt when the settings they depend on change (in tests): some
backends choose their converters by `USE_TZ`.

The bot a find serves is the row of the key whose credentials were written last (`freshest_first()`); the
installation statement joins it through a scalar subquery in the same round trip.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, TypeAlias, cast

from django.core.signals import setting_changed
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.constants import OnConflict
from django.db.models.expressions import Col
from django.db.models.fields.reverse_related import ForeignObjectRel
from django.db.models.options import Options
from django.dispatch import receiver

from .models import SlackBot, SlackInstallation, slack_fields

KEY_COLUMNS = ("client_id", "enterprise_id", "team_id")

# (column index, the converter functions Django applies to it, the column expression they are given)
Converters: TypeAlias = "tuple[int, tuple[Callable[..., Any], ...], Col]"


class Statement(NamedTuple):
    """A SELECT returning at most one row, and how to turn that row into `{field name: Python value}`."""

    sql: str
    names: tuple[str, ...]
    converters: tuple[Converters, ...]

    def fetch_one(self, using: str, params: Sequence[Any]) -> dict[str, Any] | None:
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row)
        for index, functions, expression in self.converters:
            value = values[index]
            for convert in functions:
                value = convert(value, expression, connection)
            values[index] = value
        return dict(zip(self.names, values, strict=True))


def _columns(
    connection: BaseDatabaseWrapper, alias: str, fields: Iterable[Field[Any, Any]], prefix: str = ""
) -> tuple[list[str], list[str], list[Converters]]:
    """`alias.column` SQL for each field, its result name, and the converters Django applies to it."""
    quote = connection.ops.quote_name
    sql: list[str] = []
    names: list[str] = []
    converters: list[Converters] = []
    for field in fields:
        sql.append(f"{alias}.{quote(_column(field))}")
        names.append(prefix + field.name)
        column = field.get_col(alias)
        functions = (*connection.ops.get_db_converters(column), *column.get_db_converters(connection))
        if functions:
            converters.append((len(names) - 1, functions, column))
    return sql, names, converters


def _selected(model: type[Model]) -> list[Field[Any, Any]]:
    """The columns a find reads: the primary key (to name a row in errors) and those slack_sdk's objects
    mirror."""
    return [model._meta.pk, *slack_fields(model)]


def _served_bot(connection: BaseDatabaseWrapper, bot_model: type[SlackBot], alias: str, select: str) -> str:
    """SELECT `select` of the bot a key serves: its most recently written row. Parameters: the key."""
    quote, opts = connection.ops.quote_name, bot_model._meta
    column = {
        name: f"{alias}.{quote(_column(opts.get_field(name)))}" for name in (*KEY_COLUMNS, "updated_at")
    }
    key = " AND ".join(f"{column[name]} = %s" for name in KEY_COLUMNS)
    return (
        f"SELECT {select} FROM {quote(opts.db_table)} {alias} WHERE {key} "
        f"ORDER BY {column['updated_at']} DESC, {alias}.{quote(_column(opts.pk))} DESC LIMIT 1"
    )


@functools.cache
def bot_statement(bot_model: type[SlackBot], using: str) -> Statement:
    """The bot `find_bot` serves. Parameters: the key."""
    connection = connections[using]
    columns, names, converters = _columns(connection, "b", _selected(bot_model))
    sql = _served_bot(connection, bot_model, "b", ", ".join(columns))
    return Statement(sql, tuple(names), tuple(converters))


@functools.cache
def installation_statement(
    installation_model: type[SlackInstallation],
    bot_model: type[SlackBot],
    bot_fields_served: tuple[str, ...],
    using: str,
    by_user: bool,
) -> Statement:
    """The latest installation of a key (of one user, with `by_user`) with the served bot's id and
    `bot_fields_served`, prefixed `bot.`. Parameters: the key for the bot, then the key (and user id) for
    the installation."""
    connection = connections[using]
    quote, opts, bot_opts = connection.ops.quote_name, installation_model._meta, bot_model._meta
    columns, names, converters = _columns(connection, "i", _selected(installation_model))
    bot_fields = [bot_opts.pk, *(_field(bot_opts, name) for name in bot_fields_served)]
    bot_columns, bot_names, bot_converters = _columns(connection, "b", bot_fields, "bot.")
    offset = len(names)
    converters += [(index + offset, functions, column) for index, functions, column in bot_converters]
    where = [f"i.{quote(_column(opts.get_field(name)))} = %s" for name in KEY_COLUMNS]
    if by_user:
        where.append(f"i.{quote(_column(opts.get_field('user_id')))} = %s")
    # A user's installed_at is unique (the identity constraint, whose index then serves the find); a
    # workspace's installs need the id as tie-break, which their index (dss_installation_latest) has.
    order = [f"i.{quote(_column(opts.get_field('installed_at')))} DESC"]
    if not by_user:
        order.append(f"i.{quote(_column(opts.pk))} DESC")
    served_bot_id = _served_bot(connection, bot_model, "sb", f"sb.{quote(_column(bot_opts.pk))}")
    sql = (
        f"SELECT {', '.join(columns + bot_columns)} FROM {quote(opts.db_table)} i "
        f"LEFT JOIN {quote(bot_opts.db_table)} b "
        f"ON b.{quote(_column(bot_opts.pk))} = ({served_bot_id}) "
        f"WHERE {' AND '.join(where)} "
        f"ORDER BY {', '.join(order)} LIMIT 1"
    )
    return Statement(sql, tuple(names + bot_names), tuple(converters))


class Upsert(NamedTuple):
    """An INSERT of one row that updates the row of the same identity instead, when there is one."""

    sql: str
    fields: tuple[Field[Any, Any], ...]

    def execute(self, using: str, values: dict[str, Any]) -> None:
        connection = connections[using]
        params = [field.get_db_prep_save(values[field.name], connection) for field in self.fields]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)


@functools.cache
def upsert_statement(
    model: type[Model],
    using: str,
    names: tuple[str, ...],
    identity: tuple[str, ...],
    update_names: tuple[str, ...],
) -> Upsert:
    """Insert the columns `names`; on a conflict with the `identity` constraint, update `update_names`.
    Parameters: `Upsert.execute()`'s values, by field name."""
    connection = connections[using]
    quote, opts = connection.ops.quote_name, model._meta
    fields = tuple(_field(opts, name) for name in names)
    update_columns = [_column(opts.get_field(name)) for name in update_names]
    identity_columns = [_column(opts.get_field(name)) for name in identity]
    suffix = connection.ops.on_conflict_suffix_sql(
        fields, OnConflict.UPDATE, update_columns, identity_columns
    )
    sql = (
        f"INSERT INTO {quote(opts.db_table)} ({', '.join(quote(_column(field)) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) {suffix}"
    )
    return Upsert(sql, fields)


@receiver(setting_changed)
def _rebuild_statements(setting: str, **kwargs: Any) -> None:
    if setting in ("DATABASES", "USE_TZ", "TIME_ZONE"):
        for statement in (bot_statement, installation_statement, upsert_statement):
            statement.cache_clear()


# django-stubs types `get_field()` as any field or relation, and `column` as unset until the model is ready:
# every field the statements name is a concrete column of a ready model.


def _field(opts: Options[Any], name: str) -> Field[Any, Any]:
    return cast("Field[Any, Any]", opts.get_field(name))


def _column(field: Field[Any, Any] | ForeignObjectRel) -> str:
    return cast(str, cast("Field[Any, Any]", field).column)
