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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from django.core.signals import setting_changed
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.constants import OnConflict
from django.db.models.expressions import Col
from django.db.models.fields.reverse_related import ForeignObjectRel
from django.db.models.options import Options
from django.dispatch import receiver
from django.views.decorators.debug import sensitive_variables

from . import native
from .fields import BINDING_IDS, TokenField
from .models import SlackBot, SlackInstallation, slack_fields

KEY_COLUMNS = ("client_id", "enterprise_id", "team_id")


class Converters(NamedTuple):
    """How Django turns one column of a result row into its Python value."""

    position: int  # the column's position in the row
    functions: tuple[Callable[..., Any], ...]  # the backend's converters, then the field's from_db_value
    expression: Col  # the column expression they are given


class Secret(NamedTuple):
    """A secret column of a result row, opened with the binding of its row (fields.TokenField.open())."""

    position: int
    field: TokenField[Any, Any]
    user_position: int | None  # where the row's user id is; None: the row has none (a bot)


class Statement(NamedTuple):
    """A SELECT returning at most one row of one key, and how to turn that row into `{field name: Python
    value}`."""

    sql: str
    names: tuple[str, ...]
    converters: tuple[Converters, ...]
    secrets: tuple[Secret, ...]
    # The installation statement picks the served bot of the same key first: it takes the key twice.
    bot_key_first: bool = False

    def params(self, key: Sequence[Any]) -> list[Any]:
        """The statement's parameters for a lookup key: client id, enterprise id, team id (and user id)."""
        return [*key[:3], *key] if self.bot_key_first else list(key)

    def fetch_one(self, using: str, key: Sequence[Any]) -> dict[str, Any] | None:
        connection = connections[using]
        with native.sync_cursor(connection) as cursor:
            cursor.execute(self.sql, self.params(key))
            row = cursor.fetchone()
        return None if row is None else self.values(row, connection, key)

    async def afetch_one(self, database: native.Database, key: Sequence[Any]) -> dict[str, Any] | None:
        """`fetch_one()` on the native async path."""
        row = await database.fetch_one(self.sql, self.params(key))
        return None if row is None else self.values(row, database.wrapper, key)

    # The row's tokens are decrypted here: error reports must not show them, whichever path called.
    @sensitive_variables()
    def values(
        self, row: Sequence[Any], connection: BaseDatabaseWrapper, key: Sequence[Any]
    ) -> dict[str, Any]:
        values = list(row)
        for index, functions, expression in self.converters:
            value = values[index]
            for convert in functions:
                value = convert(value, expression, connection)
            values[index] = value
        # Every row has the key's client, enterprise and team ids (the WHERE clause): bound to them.
        for index, field, user_index in self.secrets:
            if values[index]:
                user_id = None if user_index is None else values[user_index]
                values[index] = field.open(values[index], (*key[:3], user_id))
        return dict(zip(self.names, values, strict=True))


def _columns(
    connection: BaseDatabaseWrapper, alias: str, fields: Iterable[Field[Any, Any]], prefix: str = ""
) -> tuple[list[str], list[str], list[Converters], list[Secret]]:
    """`alias.column` SQL for each field, its result name, the converters Django applies to it, and the
    secret columns to open (with the row's user id, when it is among the fields)."""
    quote, fields = connection.ops.quote_name, list(fields)
    sql: list[str] = []
    names: list[str] = []
    converters: list[Converters] = []
    for field in fields:
        sql.append(f"{alias}.{quote(_column(field))}")
        names.append(prefix + field.name)
        column = field.get_col(alias)
        functions = (*connection.ops.get_db_converters(column), *column.get_db_converters(connection))
        if functions:
            converters.append(Converters(len(names) - 1, functions, column))
    user_position = names.index(prefix + "user_id") if prefix + "user_id" in names else None
    secrets = [
        Secret(position, field, user_position)
        for position, field in enumerate(fields)
        if isinstance(field, TokenField)
    ]
    return sql, names, converters, secrets


def _selected(model: type[Model]) -> list[Field[Any, Any]]:
    """The columns a find reads: the primary key (to name a row in errors) and those slack_sdk's objects
    mirror."""
    return [model._meta.pk, *slack_fields(model)]


class _Names:
    """A model's table and columns as SQL on one database, quoted by the backend: `names.table`, `names.pk`,
    `names("field")`, the columns prefixed with the table's `alias` when one is given."""

    def __init__(self, model: type[Model], using: str, alias: str = "") -> None:
        self._quote, self._opts = connections[using].ops.quote_name, model._meta
        self._prefix = f"{alias}." if alias else ""
        self.table = self._quote(self._opts.db_table)
        self.pk = self._prefix + self._quote(_column(self._opts.pk))

    def __call__(self, name: str) -> str:
        return self._prefix + self._quote(_column(self._opts.get_field(name)))

    def equal(self, names: Iterable[str]) -> str:
        """A condition on these columns, each equal to a parameter, in order."""
        return " AND ".join(f"{self(name)} = %s" for name in names)

    def key(self, by_user: bool = False) -> str:
        """The condition on a key: client id, enterprise id, team id (and user id). Parameters: the key."""
        return self.equal((*KEY_COLUMNS, "user_id") if by_user else KEY_COLUMNS)


def _served_bot(bot_model: type[SlackBot], using: str, alias: str, select: str) -> str:
    """SELECT `select` of the bot a key serves: its most recently written row. Parameters: the key."""
    bot = _Names(bot_model, using, alias)
    return (
        f"SELECT {select} FROM {bot.table} {alias} WHERE {bot.key()} "
        f"ORDER BY {bot('updated_at')} DESC, {bot.pk} DESC LIMIT 1"
    )


@functools.cache
def bot_statement(bot_model: type[SlackBot], using: str) -> Statement:
    """The bot `find_bot` serves. Parameters: the key."""
    connection = connections[using]
    columns, names, converters, secrets = _columns(connection, "b", _selected(bot_model))
    sql = _served_bot(bot_model, using, "b", ", ".join(columns))
    return Statement(sql, tuple(names), tuple(converters), tuple(secrets))


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
    connection, bot_opts = connections[using], bot_model._meta
    columns, names, converters, secrets = _columns(connection, "i", _selected(installation_model))
    bot_fields = [bot_opts.pk, *(_field(bot_opts, name) for name in bot_fields_served)]
    bot_columns, bot_names, bot_converters, bot_secrets = _columns(connection, "b", bot_fields, "bot.")
    offset = len(names)
    converters += [converter._replace(position=converter.position + offset) for converter in bot_converters]
    secrets += [secret._replace(position=secret.position + offset) for secret in bot_secrets]
    installation, bot = _Names(installation_model, using, "i"), _Names(bot_model, using, "b")
    # A user's installed_at is unique (the identity constraint, whose index then serves the find); a
    # workspace's installs need the id as tie-break, which their index (dss_installation_latest) has.
    order = [f"{installation('installed_at')} DESC"]
    if not by_user:
        order.append(f"{installation.pk} DESC")
    served_bot_id = _served_bot(bot_model, using, "sb", _Names(bot_model, using, "sb").pk)
    sql = (
        f"SELECT {', '.join(columns + bot_columns)} FROM {installation.table} i "
        f"LEFT JOIN {bot.table} b ON {bot.pk} = ({served_bot_id}) "
        f"WHERE {installation.key(by_user)} "
        f"ORDER BY {', '.join(order)} LIMIT 1"
    )
    return Statement(sql, tuple(names + bot_names), tuple(converters), tuple(secrets), bot_key_first=True)


class Write(NamedTuple):
    """A statement whose parameters are column values, by field name, prepared as Django saves them (secrets
    encrypted for their row, exact instants, JSON), then `extra` parameters as given."""

    sql: str
    fields: tuple[Field[Any, Any], ...]

    @sensitive_variables()
    def params(self, values: Mapping[str, Any], connection: BaseDatabaseWrapper, *extra: Any) -> list[Any]:
        return [
            *(field.get_db_prep_save(_sealed(field, values), connection) for field in self.fields),
            *extra,
        ]

    # `values` hold tokens: error reports must not show them, whichever path called.
    @sensitive_variables()
    def execute(self, using: str, values: Mapping[str, Any], *extra: Any) -> int:
        """Run on Django's connection `using`; returns the row count."""
        connection = connections[using]
        with native.sync_cursor(connection) as cursor:
            cursor.execute(self.sql, self.params(values, connection, *extra))
            count: int = cursor.rowcount  # the DB-API cursor is untyped
        return count

    @sensitive_variables()
    async def aexecute(self, tx: native.Transaction, values: Mapping[str, Any], *extra: Any) -> int:
        """`execute()` on the native async path."""
        return await tx.execute(self.sql, self.params(values, tx.wrapper, *extra))


def _sealed(field: Field[Any, Any], values: Mapping[str, Any]) -> Any:
    """The value of `field` among a row's `values`, a secret sealed for that row."""
    if isinstance(field, TokenField):
        return field.seal(values[field.name], [values.get(name) for name in BINDING_IDS])
    return values[field.name]


@functools.cache
def upsert_statement(
    model: type[Model],
    using: str,
    names: tuple[str, ...],
    identity: tuple[str, ...],
    update_names: tuple[str, ...],
) -> Write:
    """Insert the columns `names`; on a conflict with the `identity` constraint, update `update_names`.
    Values: the columns `names`."""
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
    return Write(sql, fields)


@functools.cache
def delete_statement(model: type[Model], using: str, by_user: bool, written_before: bool) -> Write:
    """DELETE every row of a key (of one user, with `by_user`), or only those written before an instant.
    Values: `updated_at` (the instant, with `written_before`); extra parameters: the key. The native path's
    delete: the sync one is the ORM's."""
    rows = _Names(model, using)
    if not written_before:
        return Write(f"DELETE FROM {rows.table} WHERE {rows.key(by_user)}", ())
    sql = f"DELETE FROM {rows.table} WHERE {rows('updated_at')} < %s AND {rows.key(by_user)}"
    return Write(sql, (_field(model._meta, "updated_at"),))


@functools.cache
def exists_statement(model: type[Model], using: str, by_user: bool) -> str:
    """SELECT a row when the key (of one user, with `by_user`) has any. Parameters: the key."""
    rows = _Names(model, using)
    return f"SELECT 1 FROM {rows.table} WHERE {rows.key(by_user)} LIMIT 1"


@functools.cache
def lock_rows_statement(model: type[Model], using: str, key_names: tuple[str, ...]) -> str:
    """SELECT and lock the rows of these primary keys that belong to the app: primary key, updated_at, then
    `key_names`. Parameters: the client id, the list of primary keys. PostgreSQL only (the native path)."""
    rows = _Names(model, using)
    columns = ", ".join([rows.pk, *map(rows, ("updated_at", *key_names))])
    where = f"{rows('client_id')} = %s AND {rows.pk} = ANY(%s)"
    return f"SELECT {columns} FROM {rows.table} WHERE {where} FOR UPDATE"


@functools.cache
def delete_rows_statement(model: type[Model], using: str) -> str:
    """DELETE the rows of these primary keys. Parameters: the list of primary keys. PostgreSQL only."""
    rows = _Names(model, using)
    return f"DELETE FROM {rows.table} WHERE {rows.pk} = ANY(%s)"


# -- the OAuth state store's statements ---------------------------------------------------------------


@functools.cache
def consume_state_statement(model: type[Model], using: str) -> Write:
    """DELETE the state of a digest if it is still valid: one statement, whose row count is the answer, so
    of two concurrent consumes the database lets one succeed. Values: `digest`, `expires_at` (now)."""
    states = _Names(model, using)
    sql = f"DELETE FROM {states.table} WHERE {states('digest')} = %s AND {states('expires_at')} > %s"
    return Write(sql, _fields(model, "digest", "expires_at"))


@functools.cache
def issue_state_statement(model: type[Model], using: str) -> Write:
    """INSERT a state. Values: `digest`, `expires_at`."""
    states = _Names(model, using)
    sql = f"INSERT INTO {states.table} ({states('digest')}, {states('expires_at')}) VALUES (%s, %s)"
    return Write(sql, _fields(model, "digest", "expires_at"))


@functools.cache
def purge_states_statement(model: type[Model], using: str) -> Write:
    """DELETE a batch of expired states, oldest first, through the expiry index. Values: `expires_at` (now);
    extra parameter: the batch size. PostgreSQL only (the native path): MariaDB refuses LIMIT in an IN
    subquery."""
    states = _Names(model, using)
    expires_at = states("expires_at")
    sql = (
        f"DELETE FROM {states.table} WHERE {states.pk} IN "
        f"(SELECT {states.pk} FROM {states.table} WHERE {expires_at} <= %s ORDER BY {expires_at} LIMIT %s)"
    )
    return Write(sql, _fields(model, "expires_at"))


STATEMENTS = (
    bot_statement,
    installation_statement,
    upsert_statement,
    delete_statement,
    exists_statement,
    lock_rows_statement,
    delete_rows_statement,
    consume_state_statement,
    issue_state_statement,
    purge_states_statement,
)


@receiver(setting_changed)
def _rebuild_statements(setting: str, **kwargs: Any) -> None:
    if setting in ("DATABASES", "USE_TZ", "TIME_ZONE"):
        for statement in STATEMENTS:
            statement.cache_clear()


# django-stubs types `get_field()` as any field or relation, and `column` as unset until the model is ready:
# every field the statements name is a concrete column of a ready model.


def _field(opts: Options[Any], name: str) -> Field[Any, Any]:
    return cast("Field[Any, Any]", opts.get_field(name))


def _fields(model: type[Model], *names: str) -> tuple[Field[Any, Any], ...]:
    return tuple(_field(model._meta, name) for name in names)


def _column(field: Field[Any, Any] | ForeignObjectRel) -> str:
    return cast(str, cast("Field[Any, Any]", field).column)
