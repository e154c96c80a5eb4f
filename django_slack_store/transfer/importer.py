"""Installations and bots of a source into the store: `import_from()`, then a check that the store answers
as the source did.

They go in through the store's own `save()` and `save_bot()`: validated like any save (rows.py), upserted by
identity, encrypted, signalled unless asked not to. Rows the store already holds with the same values are
left alone (no write, no signal, `updated_at` unchanged), so a second run writes nothing, and a run after the
source rotated a token updates just that row. Two rules make the store answer as the source did:

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
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import datetime
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, TypeAlias, TypeVar, cast

from django.db import models, router, transaction
from slack_sdk.oauth.installation_store import Bot, Installation

from ..arguments import check_int
from ..models import BOT_IDENTITY, INSTALLATION_IDENTITY, SlackBot, SlackInstallation, slack_fields
from ..rows import BOT_FIELDS, bot_from_row, keeps_stored, row_values
from ..stores import DjangoInstallationStore
from .sources import EXPIRY_FIELDS, Identity, Item, Row, Source, SourceError, model_for

__all__ = ["ImportResult", "Progress", "import_from"]

_T = TypeVar("_T")
# A workspace of the store: (client_id, enterprise_id, team_id), absent ids as NO_ID.
Workspace: TypeAlias = "tuple[str, str, str]"


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
    committed, and running again resumes (rows already here are unchanged). A `batch_size` that is not an
    int raises TypeError, one below 1 ValueError."""
    check_int("batch_size", batch_size, 1)
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
        # the latest installed_at of the source's bots
        self.latest_bot: dict[Workspace, datetime.datetime] = {}
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
            return row, store, item, row_values(model_for(type(row.item)), item, store.client_id)
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
                        bot = bot_from_row(bot_row)
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
            .latest_first()
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
            .latest_first()
            .values_list("client_id", "enterprise_id", "team_id", "installed_at", "user_id")
        )
        served_here = _first_per_workspace(
            SlackBot.objects.filter(client_id__in=client_ids)
            .freshest_first()
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
        if values[name] != value and not keeps_stored(name, values[name])
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
        name: value if keeps_stored(name, values[name]) else values[name] for name, value in stored.items()
    }


def _first_per_workspace(rows: models.QuerySet[Any, tuple[Any, ...]]) -> dict[Workspace, tuple[Any, ...]]:
    """{(client_id, enterprise_id, team_id): the rest of the first row of each workspace} of ordered rows
    (in any order of workspaces: each keeps its first)."""
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
