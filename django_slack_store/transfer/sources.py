"""Where an import reads from: slack_sdk's SQLAlchemy, SQLite3 and File stores, and our own JSON Lines.

Each source yields `Row`s holding slack_sdk `Installation` and `Bot` objects built from the source's fields as
they are: the importer validates them with the store's own rules, so a source never decides what is valid.

Naive timestamps (slack_sdk's SQL stores have no time zone in their columns) are read in `zone`, UTC by
default: every slack_sdk release wrote UTC there (`utcfromtimestamp()`, or aware UTC values with the zone
dropped), and SQLite's CURRENT_TIMESTAMP is UTC. Only rows written by slack_sdk 3.40.0 to a database session
in another zone, or by other code, need another `zone` (`--source-tz`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import reprlib
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from slack_sdk.oauth.installation_store import Bot, Installation

from ..arguments import is_int
from ..fields import UTC
from ..masking import is_masked
from ..models import SlackBot, SlackInstallation, slack_fields

if TYPE_CHECKING:
    import sqlalchemy

__all__ = [
    "DEFAULT_BOTS_TABLE",
    "DEFAULT_INSTALLATIONS_TABLE",
    "EXPIRY_FIELDS",
    "FileSource",
    "Identity",
    "Item",
    "JSONLinesSource",
    "Row",
    "SQLAlchemySource",
    "SQLite3Source",
    "Source",
    "SourceError",
    "model_for",
]

# slack_sdk's objects and their classes.
Item: TypeAlias = "Installation | Bot"
ItemClass: TypeAlias = "type[Installation] | type[Bot]"
# The identity of a row: the values of INSTALLATION_IDENTITY or BOT_IDENTITY.
Identity: TypeAlias = "tuple[Any, ...]"

TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
# What an export without --include-tokens masks.
CREDENTIAL_FIELDS = (*TOKEN_FIELDS, "incoming_webhook_url")
EXPIRY_FIELDS = ("bot_token_expires_at", "user_token_expires_at")
TIME_FIELDS = ("installed_at", *EXPIRY_FIELDS)
DEFAULT_INSTALLATIONS_TABLE = "slack_installations"
DEFAULT_BOTS_TABLE = "slack_bots"


class SourceError(Exception):
    """A source that cannot be read, or a row in it that cannot be imported; the message says which."""


@dataclasses.dataclass
class Row:
    """One installation or bot of a source, with where it came from (for messages)."""

    client_id: str
    item: Item
    origin: str


class Source:
    """Where an import reads from. `installations()` yields rows in the order to write them (oldest first);
    `bots()` in the order the source serves them: the last of a workspace is the one its `find_bot` returns.
    """

    description = "source"

    def installations(self) -> Iterator[Row]:
        raise NotImplementedError

    def bots(self) -> Iterator[Row]:
        raise NotImplementedError

    def client_ids(self) -> list[str]:
        """The client ids the source holds (to say what there is when --client-id matches nothing)."""
        return []

    def close(self) -> None:
        pass


class SQLAlchemySource(Source):
    """slack_sdk's `SQLAlchemyInstallationStore` tables, in any database SQLAlchemy reaches.

    Tables are reflected rather than taken from slack_sdk's definition, so stores created by older releases
    (without the token rotation columns) are read too; columns it lacks are None.
    """

    def __init__(
        self,
        url: str,
        *,
        client_id: str | None = None,
        zone: datetime.tzinfo = UTC,
        installations_table: str = DEFAULT_INSTALLATIONS_TABLE,
        bots_table: str = DEFAULT_BOTS_TABLE,
    ) -> None:
        try:
            import sqlalchemy
        except ImportError:
            raise SourceError(
                "Reading a SQLAlchemy store needs SQLAlchemy: pip install 'django-slack-store[import]'."
            ) from None
        self.sqlalchemy, self.client_id, self.zone = sqlalchemy, client_id, zone
        try:
            self.engine = sqlalchemy.create_engine(url)
        except (sqlalchemy.exc.ArgumentError, ImportError) as error:
            raise SourceError(f"Cannot use the SQLAlchemy URL: {error}") from None
        where = self.engine.url.render_as_string(hide_password=True)
        self.description = f"slack_sdk's SQLAlchemy store at {where}"
        try:
            names = set(sqlalchemy.inspect(self.engine).get_table_names())
            self.tables: dict[str, sqlalchemy.Table] = {}
            for kind, name in (("installations", installations_table), ("bots", bots_table)):
                if name not in names:
                    raise SourceError(
                        f"{where} has no table {name!r} (it has: {', '.join(sorted(names)) or 'none'}). "
                        "Give --installations-table and --bots-table if the store was made with other names."
                    )
                self.tables[kind] = sqlalchemy.Table(name, sqlalchemy.MetaData(), autoload_with=self.engine)
            for kind, required in (("installations", ("client_id", "user_id")), ("bots", ("client_id",))):
                table = self.tables[kind]
                missing = [name for name in (*required, "installed_at") if name not in table.c]
                if missing:
                    raise SourceError(
                        f"Table {table.name!r} is not an installation store's: no {', '.join(missing)}"
                    )
        except sqlalchemy.exc.SQLAlchemyError as error:
            self.close()
            raise SourceError(f"Cannot read {where}: {error}") from None
        except SourceError:
            self.close()
            raise

    def installations(self) -> Iterator[Row]:
        return self._rows("installations", Installation)

    def bots(self) -> Iterator[Row]:
        return self._rows("bots", Bot)

    def client_ids(self) -> list[str]:
        table = self.tables["installations"]
        with self.engine.connect() as connection:
            return sorted(connection.execute(self.sqlalchemy.select(table.c.client_id).distinct()).scalars())

    def close(self) -> None:
        self.engine.dispose()

    def _rows(self, kind: str, cls: ItemClass) -> Iterator[Row]:
        sqlalchemy, table = self.sqlalchemy, self.tables[kind]
        query = sqlalchemy.select(table)
        if self.client_id is not None:
            query = query.where(table.c.client_id == self.client_id)
        # Oldest first; among equal instants, in the order written.
        query = query.order_by(table.c.installed_at, *([table.c.id] if "id" in table.c else []))
        try:
            with self.engine.connect() as connection:
                result = connection.execution_options(yield_per=1000).execute(query)
                for number, columns in enumerate(result.mappings(), start=1):
                    origin = f"{table.name} id {columns.get('id', f'#{number}')}"
                    yield _row_from_columns(cls, dict(columns), origin, self.zone)
        except (sqlalchemy.exc.SQLAlchemyError, ValueError, TypeError) as error:
            raise SourceError(f"Cannot read table {table.name!r}: {error}") from None


class SQLite3Source(Source):
    """slack_sdk's `SQLite3InstallationStore` file, read with Python's sqlite3 module, read-only."""

    def __init__(self, path: str, *, client_id: str | None = None, zone: datetime.tzinfo = UTC) -> None:
        self.path, self.client_id, self.zone = Path(path), client_id, zone
        self.description = f"slack_sdk's SQLite3 store {self.path}"
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such file")
        try:
            self.connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            names = {name for (name,) in self.connection.execute("select name from sqlite_master")}
        except sqlite3.Error as error:
            raise SourceError(f"{self.path} cannot be read as an SQLite database: {error}") from None
        missing = [name for name in (DEFAULT_INSTALLATIONS_TABLE, DEFAULT_BOTS_TABLE) if name not in names]
        if missing:
            self.close()
            raise SourceError(f"{self.path} is not an SQLite3InstallationStore file: no table {missing[0]!r}")
        self.connection.row_factory = sqlite3.Row

    def installations(self) -> Iterator[Row]:
        return self._rows(DEFAULT_INSTALLATIONS_TABLE, Installation)

    def bots(self) -> Iterator[Row]:
        return self._rows(DEFAULT_BOTS_TABLE, Bot)

    def client_ids(self) -> list[str]:
        query = f"select distinct client_id from {DEFAULT_INSTALLATIONS_TABLE} order by 1"
        return [client_id for (client_id,) in self.connection.execute(query)]

    def close(self) -> None:
        self.connection.close()

    def _rows(self, table: str, cls: ItemClass) -> Iterator[Row]:
        # installed_at is SQLite's CURRENT_TIMESTAMP text: it sorts as it reads.
        where, parameters = (
            ("where client_id = ?", [self.client_id]) if self.client_id is not None else ("", [])
        )
        query = f"select * from {table} {where} order by installed_at, id"
        try:
            for columns in self.connection.execute(query, parameters):
                columns = dict(columns)
                yield _row_from_columns(cls, columns, f"{table} id {columns['id']}", self.zone)
        except (sqlite3.Error, ValueError, TypeError) as error:
            raise SourceError(f"Cannot read table {table!r} of {self.path}: {error}") from None


class FileSource(Source):
    """slack_sdk's `FileInstallationStore` directory, with or without historical data.

    The store writes one folder per workspace (`<enterprise>-<team>`) of JSON files: `installer-latest`,
    `installer-<user>-latest`, `bot-latest` and, with historical data, a copy of each per `installed_at`. The
    copies of one identity hold the same data (a save rewrites them together); a `-latest` file wins if they
    differ. Its `find_bot` serves `bot-latest`, the bot saved last: it is written last here too.
    """

    def __init__(self, directory: str, *, client_id: str | None, zone: datetime.tzinfo = UTC) -> None:
        if not client_id:
            raise SourceError(
                "--client-id is required with --file-dir: FileInstallationStore files do not record the "
                "Slack app's client id."
            )
        root = Path(directory)
        # FileInstallationStore(base_dir=..., client_id=...) writes into base_dir/<client_id>.
        if (root / client_id).is_dir():
            root = root / client_id
        if not root.is_dir():
            raise SourceError(f"{root}: no such directory")
        self.root, self.client_id, self.zone = root, client_id, zone
        self.description = f"slack_sdk's File store {root}"
        try:
            self.folders = sorted(path for path in root.iterdir() if path.is_dir() and "-" in path.name)
        except OSError as error:
            raise SourceError(f"Cannot read {root}: {error}") from None
        if not self.folders:
            raise SourceError(
                f"{root} holds no workspace folders (<enterprise>-<team>, as FileInstallationStore writes)"
            )

    def installations(self) -> Iterator[Row]:
        rows: dict[Identity, Row] = {}
        for path, _ in self._files("installer-"):
            row = self._read(path, Installation)
            item = cast(Installation, row.item)  # read as an Installation just above
            rows[(item.enterprise_id, item.team_id, item.user_id, item.installed_at)] = row
        return iter(sorted(rows.values(), key=lambda row: row.item.installed_at))

    def bots(self) -> Iterator[Row]:
        rows: dict[Identity, Row] = {}
        served: set[Identity] = set()
        for path, is_latest in self._files("bot-"):
            row = self._read(path, Bot)
            identity = (row.item.enterprise_id, row.item.team_id, row.item.installed_at)
            rows[identity] = row
            if is_latest:
                served.add(identity)
        ordered = sorted(rows.items(), key=lambda pair: (pair[0] in served, pair[0][2]))
        return iter([row for _, row in ordered])

    def _files(self, prefix: str) -> Iterator[tuple[Path, bool]]:
        """(path, is a -latest file) of each file starting with `prefix`; -latest files last, so they win."""
        for folder in self.folders:
            try:
                names = sorted(path.name for path in folder.iterdir() if path.name.startswith(prefix))
            except OSError as error:
                raise SourceError(f"Cannot read {folder}: {error}") from None
            names.sort(key=lambda name: name.endswith("-latest"))
            for name in names:
                yield folder / name, name.endswith("-latest")

    def _read(self, path: Path, cls: ItemClass) -> Row:
        try:
            data = _json(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise SourceError(f"{path}: cannot be read as JSON: {error}") from None
        if not isinstance(data, dict):
            raise SourceError(f"{path}: not a JSON object")
        return _row_from_fields(cls, data, self.client_id, str(path), self.zone)


class JSONLinesSource(Source):
    """JSON Lines as `slack_store_export` writes them (or any tool: one object per line with "type"
    "installation" or "bot", "client_id", and the slack_sdk object's fields). Read whole before anything
    is written, so a masked token or a bad line anywhere stops the import before it starts."""

    def __init__(
        self,
        path: str,
        *,
        client_id: str | None = None,
        zone: datetime.tzinfo = UTC,
        stdin: Iterable[str] | None = None,
    ) -> None:
        self.description = "JSON Lines from standard input" if path == "-" else f"JSON Lines {path}"
        self.found_client_ids: set[str | None] = set()
        self._installations: list[Row] = []
        bots: list[tuple[float, int, Row]] = []
        try:
            with contextlib.ExitStack() as stack:
                if path == "-":
                    lines: Iterable[str] = stdin or sys.stdin
                else:
                    lines = stack.enter_context(open(path, encoding="utf-8"))
                for number, line in enumerate(lines, start=1):
                    if line.strip():
                        self._parse(line, f"line {number}", client_id, zone, bots)
        except (OSError, UnicodeDecodeError) as error:
            raise SourceError(f"Cannot read {path}: {error}") from None
        self._installations.sort(key=lambda row: row.item.installed_at)
        # The store that wrote the export served the bot it wrote last: its updated_at order.
        self._bots = [row for _, _, row in sorted(bots, key=lambda entry: entry[:2])]

    def installations(self) -> Iterator[Row]:
        return iter(self._installations)

    def bots(self) -> Iterator[Row]:
        return iter(self._bots)

    def client_ids(self) -> list[str]:
        return sorted(client_id for client_id in self.found_client_ids if client_id)

    def _parse(
        self,
        line: str,
        origin: str,
        client_id: str | None,
        zone: datetime.tzinfo,
        bots: list[tuple[float, int, Row]],
    ) -> None:
        try:
            record = _json(line)
        except ValueError as error:
            raise SourceError(f"{origin}: not JSON: {error}") from None
        if not isinstance(record, dict):
            raise SourceError(f"{origin}: not a JSON object")
        kind = record.pop("type", None)
        if kind not in ("installation", "bot"):
            raise SourceError(f'{origin}: "type" must be "installation" or "bot", not {reprlib.repr(kind)}')
        record_client_id = record.pop("client_id", None)
        if not isinstance(record_client_id, str | None):
            raise SourceError(f"{origin}: client_id must be a str, not {type(record_client_id).__name__}")
        written_at = record.pop("updated_at", None)
        self.found_client_ids.add(record_client_id)
        if client_id is not None and record_client_id not in (None, client_id):
            return
        if not (record_client_id or client_id):
            raise SourceError(f"{origin}: no client_id (give --client-id to import lines without one)")
        for name in CREDENTIAL_FIELDS:
            if isinstance(record.get(name), str) and is_masked(record[name]):
                raise SourceError(
                    f"{origin}: {name} is masked: the export was made without --include-tokens, and a masked "
                    "credential is not one. Nothing was imported; export again with --include-tokens."
                )
        cls = Installation if kind == "installation" else Bot
        row = _row_from_fields(cls, record, record_client_id or client_id, origin, zone)
        if cls is Installation:
            self._installations.append(row)
        else:
            order = row.item.installed_at
            if written_at is not None:
                with _naming(origin):
                    order = _instant("updated_at", written_at, zone)
            bots.append((order, len(bots), row))


def _row_from_columns(cls: ItemClass, columns: Mapping[str, Any], origin: str, zone: datetime.tzinfo) -> Row:
    """A Row from a slack_sdk SQL store's columns: scopes are "a,b" text, absent ids NULL or ""."""
    fields = {field.name: columns.get(field.name) for field in slack_fields(model_for(cls))}
    fields["is_enterprise_install"] = bool(fields["is_enterprise_install"])
    fields["custom_values"] = None  # slack_sdk's SQL stores have no column for them
    return _row_from_fields(cls, fields, columns.get("client_id"), origin, zone)


def _row_from_fields(
    cls: ItemClass, fields: Mapping[str, Any], client_id: Any, origin: str, zone: datetime.tzinfo
) -> Row:
    """A Row of the source's `fields` and `client_id`, as they are: the store validates them on import."""
    fields = dict(fields)
    if fields.get("installed_at") is None:
        # slack_sdk's Installation() would take "now": a second run would import the row again.
        raise SourceError(f"{origin}: no installed_at")
    with _naming(origin):
        for name in TIME_FIELDS:
            if fields.get(name) is not None:
                unix_time = _instant(name, fields[name], zone)
                fields[name] = unix_time if name == "installed_at" else int(unix_time)
        for name in ("enterprise_id", "team_id"):
            fields[name] = fields.get(name) or None
        return Row(client_id, cls(**fields), origin)


def _instant(name: str, value: Any, zone: datetime.tzinfo) -> float:
    """The Unix time of the source's timestamp `name`: a datetime or ISO 8601 text (naive: in `zone`), or a
    Unix time (as text too). TypeError for another type, ValueError for a time no datetime holds (Slack never
    sent it), naming the field and the value (shortened)."""
    given = value
    try:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                value = datetime.datetime.fromisoformat(value)
        if isinstance(value, datetime.datetime):
            return (value if value.tzinfo else value.replace(tzinfo=zone)).timestamp()
        if isinstance(value, float) or is_int(value):
            return datetime.datetime.fromtimestamp(value, UTC).timestamp()
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{name}: {reprlib.repr(given)} is not a timestamp Slack could have sent") from None
    raise TypeError(f"{name} must be a timestamp (Unix time or ISO 8601), not {type(value).__name__}")


@contextlib.contextmanager
def _naming(origin: str) -> Iterator[None]:
    """A row's TypeError or ValueError as a SourceError naming the row."""
    try:
        yield
    except (TypeError, ValueError) as error:
        raise SourceError(f"{origin}: {error}") from None


def _json(text: str) -> Any:
    """The JSON value in `text`; nesting too deep to read is a ValueError too (json raises RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def model_for(cls: ItemClass) -> type[SlackInstallation] | type[SlackBot]:
    """The model whose rows hold objects of `cls`."""
    return SlackInstallation if cls is Installation else SlackBot
