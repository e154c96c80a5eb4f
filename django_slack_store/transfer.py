"""Moving installations into the store from slack_sdk's stores, and out of it as JSON Lines.

`manage.py slack_store_import` and `slack_store_export` are thin wrappers around `import_from()` and
`export_records()`; docs/migrating.md is the operator's guide.

Import. A source (slack_sdk's SQLAlchemy store, its SQLite3 store, its File store, or our own JSON Lines)
yields slack_sdk `Installation` and `Bot` objects, and they go in through the store's own `save()` and
`save_bot()`: validated like any save, upserted by identity, encrypted, signalled. Rows the store already
holds with the same values are left alone (no write, no signal, `updated_at` unchanged), so a second run
writes nothing, and a run after the source rotated a token updates just that row. Two rules make the store
answer as the source did:

- Bots come from the source's bot table (or bot files) alone; installations are saved without their copy of
  the bot's credentials. slack_sdk's stores keep those twice, and the bot table is what their `find_bot`
  reads and the only place a `delete_bot` shows: importing the installation's copy would bring a deleted
  bot token back. (Our installation rows hold no bot credentials anyway: `find_installation` takes them from
  the bot `find_bot` serves.)
- The store serves the bot written last; slack_sdk's SQL stores serve the one installed last. So bots are
  written in the order the source serves them (by `installed_at`; the File store's `bot-latest` last; our
  export's by `updated_at`), and when a run rewrites an older bot of a workspace but not the one the source
  serves, that one is written again after it.

And a run after switching to this store (to catch up with what the old app wrote meanwhile) never goes
backwards: a row whose token was rotated here since (its token expires later than the source's) is kept,
and a bot installed here after every bot the source has for its workspace stays the one served.

Naive timestamps (slack_sdk's SQL stores have no time zone in their columns) are read in `zone`, UTC by
default: every slack_sdk release wrote UTC there (`utcfromtimestamp()`, or aware UTC values with the zone
dropped), and SQLite's CURRENT_TIMESTAMP is UTC. Only rows written by slack_sdk 3.40.0 to a database session
in another zone, or by other code, need another `zone` (`--source-tz`).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import datetime
import itertools
import json
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

from django.db import models, router, transaction
from slack_sdk.oauth.installation_store import Bot, Installation

from .fields import UTC, InstantField, TokenField
from .models import BOT_IDENTITY, INSTALLATION_IDENTITY, NO_ID, SlackBot, SlackInstallation, slack_fields
from .rows import BOT_FIELDS, USER_FIELDS, row_values
from .stores import DjangoInstallationStore

if TYPE_CHECKING:
    import sqlalchemy

_T = TypeVar("_T")
# slack_sdk's objects and their classes.
Item: TypeAlias = "Installation | Bot"
ItemClass: TypeAlias = "type[Installation] | type[Bot]"
# A workspace of the store: (client_id, enterprise_id, team_id), absent ids as NO_ID.
Workspace: TypeAlias = "tuple[str, str, str]"
# The identity of a row: the values of INSTALLATION_IDENTITY or BOT_IDENTITY.
Identity: TypeAlias = "tuple[Any, ...]"

TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
# A masked token is "xoxb-…abcd". No Slack token contains "…", so a masked one is never taken for a token.
MASK = "…"
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


@dataclasses.dataclass
class ImportResult:
    """What an import did (or, in a dry run, would do)."""

    # "new", "updated", "unchanged", "kept" (rotated here since); bots also "rewritten" (written again so that
    # the right bot is served).
    installations: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    bots: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    skipped: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    # Filled by the verification after a real run: {"installations"/"bots": (in the source, found here)}.
    verified: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    workspaces: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


# -- sources ----------------------------------------------------------------------------------------------


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
            data = json.loads(path.read_text(encoding="utf-8"))
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
            record = json.loads(line)
        except ValueError as error:
            raise SourceError(f"{origin}: not JSON: {error}") from None
        if not isinstance(record, dict):
            raise SourceError(f"{origin}: not a JSON object")
        kind = record.pop("type", None)
        if kind not in ("installation", "bot"):
            raise SourceError(f'{origin}: "type" must be "installation" or "bot", not {kind!r}')
        record_client_id = record.pop("client_id", None)
        written_at = record.pop("updated_at", None)
        self.found_client_ids.add(record_client_id)
        if client_id is not None and record_client_id not in (None, client_id):
            return
        if not (record_client_id or client_id):
            raise SourceError(f"{origin}: no client_id (give --client-id to import lines without one)")
        for name in TOKEN_FIELDS:
            if isinstance(record.get(name), str) and MASK in record[name]:
                raise SourceError(
                    f"{origin}: {name} is masked: the export was made without --include-tokens, and a masked "
                    "token is not a token. Nothing was imported; export again with --include-tokens."
                )
        cls = Installation if kind == "installation" else Bot
        row = _row_from_fields(cls, record, record_client_id or client_id, origin, zone)
        if cls is Installation:
            self._installations.append(row)
        else:
            order = row.item.installed_at if written_at is None else _instant(written_at, zone).timestamp()
            bots.append((order, len(bots), row))


def _row_from_columns(cls: ItemClass, columns: Mapping[str, Any], origin: str, zone: datetime.tzinfo) -> Row:
    """A Row from a slack_sdk SQL store's columns: scopes are "a,b" text, absent ids NULL or ""."""
    fields = {field.name: columns.get(field.name) for field in slack_fields(_model(cls))}
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
    try:
        for name in TIME_FIELDS:
            if fields.get(name) is not None:
                instant = _instant(fields[name], zone)
                fields[name] = instant.timestamp() if name == "installed_at" else int(instant.timestamp())
        for name in ("enterprise_id", "team_id"):
            fields[name] = fields.get(name) or None
        return Row(client_id, cls(**fields), origin)
    except (TypeError, ValueError) as error:
        raise SourceError(f"{origin}: {error}") from None


def _instant(value: Any, zone: datetime.tzinfo) -> datetime.datetime:
    """An aware datetime from a source's timestamp: a datetime or ISO 8601 text (naive: in `zone`), or a
    Unix time."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            value = datetime.datetime.fromisoformat(value)
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, UTC)
    raise ValueError(f"not a timestamp: {type(value).__name__}")


def _model(cls: ItemClass) -> type[SlackInstallation] | type[SlackBot]:
    return SlackInstallation if cls is Installation else SlackBot


# -- import -----------------------------------------------------------------------------------------------


# Called after each batch with the kind of rows ("installations" or "bots") and their counts so far.
Progress: TypeAlias = "Callable[[str, collections.Counter[str]], None]"


def import_from(
    source: Source,
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    send_signals: bool = True,
    progress: Progress | None = None,
) -> ImportResult:
    """Import `source` into the store (see the module's docstring), `batch_size` rows per transaction, and
    verify the result. Raises SourceError naming the row that cannot be imported; batches before it are
    committed, and running again resumes (rows already here are unchanged)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, not {batch_size!r}")
    return _Importer(source, batch_size, dry_run, send_signals, progress or (lambda kind, counts: None)).run()


class _Importer:
    def __init__(
        self, source: Source, batch_size: int, dry_run: bool, send_signals: bool, progress: Progress
    ) -> None:
        self.source, self.batch_size, self.dry_run, self.progress = source, batch_size, dry_run, progress
        self.send_signals = send_signals
        self.stores: dict[str, DjangoInstallationStore] = {}
        self.result = ImportResult()
        # For the served-bot rule and the verification, per workspace (client_id, enterprise_id, team_id):
        # every identity the source holds
        self.identities: dict[str, set[Identity]] = {"installations": set(), "bots": set()}
        # the source's latest installation: (installed_at, user_id)
        self.latest: dict[Workspace, tuple[datetime.datetime, str]] = {}
        self.served: dict[Workspace, tuple[Identity, Row]] = {}  # the source's served bot: (identity, Row)
        self.latest_bot: dict[
            Workspace, datetime.datetime
        ] = {}  # the latest installed_at of the source's bots
        self.last_written: dict[Workspace, Identity] = {}  # identity of the bot this run wrote last

    def run(self) -> ImportResult:
        self._import("installations", self.source.installations())
        self._import("bots", self.source.bots())
        self._rewrite_served_bots()
        if not self.dry_run:
            self._verify()
        return self.result

    def _import(self, kind: str, rows: Iterable[Row]) -> None:
        model, identity = (
            (SlackInstallation, INSTALLATION_IDENTITY)
            if kind == "installations"
            else (SlackBot, BOT_IDENTITY)
        )
        counts = getattr(self.result, kind)
        for batch in _batches(rows, self.batch_size):
            with self._transaction():
                prepared = [entry for entry in map(self._prepare, batch) if entry is not None]
                stored = self._stored(model, identity, [values for *_, values in prepared])
                for row, store, item, values in prepared:
                    key = tuple(values[name] for name in identity)
                    state = _compare(stored.get(key), values)
                    counts[state] += 1
                    written = state in ("new", "updated")
                    if written:
                        if not self.dry_run:
                            # Installation rows hold Installations, bot rows Bots.
                            save: Callable[[Any], None] = (
                                store.save if kind == "installations" else store.save_bot
                            )
                            save(item)
                        stored[key] = _merged(stored.get(key), values)
                    self._note(kind, key, values, row, item, written)
            self.progress(kind, counts)

    def _prepare(self, row: Row) -> tuple[Row, DjangoInstallationStore, Item, dict[str, Any]] | None:
        """(row, store, object to save, validated column values), or None for a row to skip."""
        if isinstance(row.item, Bot) and not row.item.bot_token:
            # slack_sdk's SQLAlchemy store writes one for a user-only install; its find_bot ignores it too.
            self.result.skipped["bot rows without a bot token"] += 1
            return None
        store = self._store(row.client_id, row.origin)
        item = _without_bot(row.item) if isinstance(row.item, Installation) else row.item
        try:
            return row, store, item, row_values(_model(type(row.item)), item, store.client_id)
        except (TypeError, ValueError) as error:
            raise SourceError(f"{row.origin}: {error}") from None

    def _store(self, client_id: str, origin: str) -> DjangoInstallationStore:
        """The store of `client_id`; `origin` names the row that needs it, if it cannot be made."""
        if client_id not in self.stores:
            try:
                self.stores[client_id] = DjangoInstallationStore(client_id, send_signals=self.send_signals)
            except (TypeError, ValueError) as error:
                raise SourceError(f"{origin}: {error}") from None
        return self.stores[client_id]

    def _transaction(self) -> AbstractContextManager[object]:
        return contextlib.nullcontext() if self.dry_run else transaction.atomic(using=self._db())

    @staticmethod
    def _db() -> str:
        return router.db_for_write(SlackInstallation)

    def _stored(
        self,
        model: type[SlackInstallation] | type[SlackBot],
        identity: tuple[str, ...],
        values_list: list[dict[str, Any]],
    ) -> dict[Identity, dict[str, Any]]:
        """Column values of the stored rows with the identities of `values_list`, by identity."""
        if not values_list:
            return {}
        rows = model.objects.filter(
            client_id__in={values["client_id"] for values in values_list},
            installed_at__in={values["installed_at"] for values in values_list},
        )
        names = [field.name for field in slack_fields(model)]
        return {
            tuple(getattr(row, name) for name in identity): {name: getattr(row, name) for name in names}
            for row in rows
        }

    def _note(
        self, kind: str, key: Identity, values: dict[str, Any], row: Row, item: Item, written: bool
    ) -> None:
        self.identities[kind].add(key)
        workspace = (values["client_id"], values["enterprise_id"], values["team_id"])
        installed_at = values["installed_at"]
        if kind == "installations":
            # Rows come oldest first: a later one of the same instant was written later, and wins here too.
            if workspace not in self.latest or installed_at >= self.latest[workspace][0]:
                self.latest[workspace] = (installed_at, values["user_id"])
            return
        self.served[workspace] = (key, Row(row.client_id, item, row.origin))
        self.latest_bot[workspace] = max(installed_at, self.latest_bot.get(workspace, installed_at))
        if written:
            self.last_written[workspace] = key

    def _rewrite_served_bots(self) -> None:
        """Make the bot the source serves the one served here, where this run wrote another bot of its
        workspace after it (or instead of it): write it again, so it is the one written last. Unless this
        store has a bot of its own installed after every bot of the source (an install here, after switching
        to this store): that one is written again, and stays served."""
        newer = self._bots_installed_here_since(self.last_written)
        stale = [
            workspace
            for workspace, key in self.last_written.items()
            if workspace in newer or key != self.served[workspace][0]
        ]
        for batch in _batches(stale, self.batch_size):
            with self._transaction():
                for workspace in batch:
                    if workspace in newer:
                        bot_row = SlackBot.objects.get(pk=newer[workspace][1])
                        store = self._store(bot_row.client_id, f"bot id {bot_row.pk}")
                        bot = store.bot_from_row(bot_row)
                    else:
                        row = self.served[workspace][1]
                        store, bot = self.stores[row.client_id], cast(Bot, row.item)  # a bot row
                    if not self.dry_run:
                        store.save_bot(bot)
                    self.result.bots["rewritten"] += 1
        if stale:
            self.progress("bots", self.result.bots)

    def _bots_installed_here_since(
        self, workspaces: Mapping[Workspace, object]
    ) -> dict[Workspace, tuple[datetime.datetime, Any]]:
        """{workspace: (installed_at, pk)} of this store's latest bot that the source does not have, for the
        `workspaces` where it was installed after every bot of the source."""
        if not workspaces:
            return {}
        rows = (
            SlackBot.objects.filter(client_id__in={workspace[0] for workspace in workspaces})
            .order_by("client_id", "enterprise_id", "team_id", "-installed_at", "-id")
            .values_list("client_id", "enterprise_id", "team_id", "installed_at", "pk")
        )
        newer: dict[Workspace, tuple[datetime.datetime, Any]] = {}
        for client_id, enterprise_id, team_id, installed_at, pk in rows.iterator(chunk_size=2000):
            workspace = (client_id, enterprise_id, team_id)
            if (
                workspace in workspaces
                and workspace not in newer
                and installed_at > self.latest_bot[workspace]
                and (*workspace, installed_at) not in self.identities["bots"]
            ):
                newer[workspace] = (installed_at, pk)
        return newer

    def _verify(self) -> None:
        """Compare the store with the source: every identity of the source is here, and each workspace's
        latest installation and served bot are the source's, or were installed here after it."""
        result, problems = self.result, self.result.problems
        client_ids = {workspace[0] for workspace in (*self.latest, *self.served)}
        for kind, model, identity in (
            ("installations", SlackInstallation, INSTALLATION_IDENTITY),
            ("bots", SlackBot, BOT_IDENTITY),
        ):
            here = model.objects.filter(client_id__in=client_ids).values_list(*identity)
            source = self.identities[kind]
            found = len(source.intersection(here.iterator(chunk_size=2000)))
            result.verified[kind] = (len(source), found)
            if found != len(source):
                problems.append(f"{len(source) - found} of the source's {len(source)} {kind} are not here")
        latest_here = _first_per_workspace(
            SlackInstallation.objects.filter(client_id__in=client_ids)
            .order_by("client_id", "enterprise_id", "team_id", "-installed_at", "-id")
            .values_list("client_id", "enterprise_id", "team_id", "installed_at", "user_id")
        )
        served_here = _first_per_workspace(
            SlackBot.objects.filter(client_id__in=client_ids)
            .order_by("client_id", "enterprise_id", "team_id", "-updated_at", "-id")
            .values_list("client_id", "enterprise_id", "team_id", "installed_at")
        )
        differ, newer_here = [], 0
        comparisons = [
            ("the latest installation", latest_here, workspace, expected, self.identities["installations"])
            for workspace, expected in self.latest.items()
        ] + [
            ("the bot served", served_here, workspace, key[-1:], self.identities["bots"])
            for workspace, (key, _) in self.served.items()
        ]
        for what, here, workspace, expected, source in comparisons:
            found = here.get(workspace)
            if found == expected:
                continue
            if found and found[0] > expected[0] and (*workspace, *found[1:], found[0]) not in source:
                newer_here += 1  # installed here after the source's: rightly kept
                continue
            differ.append(
                f"{_where(workspace)}: {what} here was installed {_installed(found)}, "
                f"in the source {_installed(expected)}"
            )
        result.workspaces = len(set(self.latest) | set(self.served))
        if newer_here:
            result.notes.append(
                f"{newer_here} time(s) a workspace's latest installation or served bot here was installed "
                "here after the source's: kept."
            )
        if differ:
            shown = differ[:10] + ([f"... and {len(differ) - 10} more"] if len(differ) > 10 else [])
            problems.append(f"{len(differ)} workspace(s) differ:\n  " + "\n  ".join(shown))


def _without_bot(installation: Installation) -> Installation:
    """A copy without the bot's credentials: the bot is imported from the bot table alone."""
    stripped = copy.copy(installation)
    for name in BOT_FIELDS:
        setattr(stripped, name, None)
    stripped.bot_scopes = []
    return stripped


def _compare(stored: dict[str, Any] | None, values: dict[str, Any]) -> str:
    """ "new", "updated" or "unchanged"; or "kept" for a row whose token was rotated here since: the source's
    token expires earlier, and writing it would put back a token Slack already replaced."""
    if stored is None:
        return "new"
    changed = [
        name
        for name, value in stored.items()
        # A save keeps a stored user token over an empty one: see DjangoInstallationStore.save().
        if values[name] != value and not (name in USER_FIELDS and values[name] in (None, "", []))
    ]
    if not changed:
        return "unchanged"
    for name in EXPIRY_FIELDS:
        if stored.get(name) is not None and values[name] is not None and stored[name] > values[name]:
            return "kept"
    return "updated"


def _merged(stored: dict[str, Any] | None, values: dict[str, Any]) -> dict[str, Any]:
    if stored is None:
        return {name: values[name] for name in values if name not in ("client_id", "updated_at")}
    return {
        name: value if name in USER_FIELDS and values[name] in (None, "", []) else values[name]
        for name, value in stored.items()
    }


def _first_per_workspace(rows: models.QuerySet[Any, tuple[Any, ...]]) -> dict[Workspace, tuple[Any, ...]]:
    """{(client_id, enterprise_id, team_id): the rest of the first row of each workspace} of ordered rows."""
    first: dict[Workspace, tuple[Any, ...]] = {}
    for client_id, enterprise_id, team_id, *rest in rows.iterator(chunk_size=2000):
        first.setdefault((client_id, enterprise_id, team_id), tuple(rest))
    return first


def _where(workspace: Workspace) -> str:
    client_id, enterprise_id, team_id = workspace
    return f"client_id {client_id}, enterprise {enterprise_id or None}, team {team_id or None}"


def _installed(found: tuple[Any, ...] | None) -> str:
    if not found:
        return "none"
    text = f"at {found[0].isoformat()}"
    return f"{text} by {found[1] or None}" if len(found) > 1 else text


def _batches(iterable: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


# -- export -----------------------------------------------------------------------------------------------


def export_records(
    *, client_id: str | None = None, include_tokens: bool = False, chunk_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every installation row, then every bot row, as JSON-ready dicts that `JSONLinesSource` reads back:
    "type", "client_id", the slack_sdk object's fields (timestamps as Unix time, absent ids None), and
    "updated_at" (bots are served in that order). Tokens are masked (`xoxb-…abcd`) unless `include_tokens`.
    """
    for kind, model, order in (
        ("installation", SlackInstallation, ("client_id", "enterprise_id", "team_id", "installed_at", "id")),
        ("bot", SlackBot, ("client_id", "enterprise_id", "team_id", "updated_at", "id")),
    ):
        rows = model.objects.all() if client_id is None else model.objects.filter(client_id=client_id)
        fields = slack_fields(model)
        for row in rows.order_by(*order).iterator(chunk_size=chunk_size):
            record: dict[str, Any] = {"type": kind, "client_id": row.client_id}
            for field in fields:
                value = getattr(row, field.name)
                if isinstance(field, InstantField):
                    value = value.timestamp()
                elif isinstance(field, TokenField) and value and not include_tokens:
                    value = mask_token(value)
                elif value == NO_ID and field.name in ("enterprise_id", "team_id", "user_id"):
                    value = None
                record[field.name] = value
            record["updated_at"] = row.updated_at.timestamp()
            yield record


def mask_token(token: str) -> str:
    """`xoxb-…abcd`: the kind of token and its last four characters, enough to tell tokens apart."""
    kind, _, rest = token.partition("-")
    if not rest or len(token) < 16:
        return MASK
    return f"{kind}-{MASK}{token[-4:]}"
