"""`manage.py slack_store_import`: move installations and bots from slack_sdk's stores into this one."""

import collections
import datetime
import zoneinfo
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ... import transfer
from ...transfer.sources import DEFAULT_BOTS_TABLE, DEFAULT_INSTALLATIONS_TABLE
from .. import options

# Where to import from, one of them required: (option, metavar, help).
SOURCE_OPTIONS = (
    (
        "--sqlalchemy-url",
        "URL",
        "The database of a slack_sdk SQLAlchemyInstallationStore (needs SQLAlchemy: the [import] extra).",
    ),
    ("--sqlite3-path", "FILE", "A slack_sdk SQLite3InstallationStore file."),
    (
        "--file-dir",
        "DIR",
        "A slack_sdk FileInstallationStore base_dir (needs --client-id: the files do not record it).",
    ),
    ("--jsonl", "FILE", "JSON Lines from slack_store_export --include-tokens ('-': stdin)."),
)


class Command(BaseCommand):
    help = (
        "Import installations and bots from slack_sdk's SQLAlchemy, SQLite3 or File installation store, "
        "or from slack_store_export's JSON Lines, keeping every field and installed_at exactly; then verify "
        "counts and each workspace's latest installation and served bot. Rows already here with the same "
        'values are left alone, so running it again imports only what changed. See "Migrating from '
        "slack_sdk's installation stores\" in the django-slack-store documentation."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        for option, metavar, help_text in SOURCE_OPTIONS:
            source.add_argument(option, metavar=metavar, help=help_text)
        parser.add_argument(
            "--installations-table",
            help=f"With --sqlalchemy-url: the installations table (default {DEFAULT_INSTALLATIONS_TABLE}).",
        )
        parser.add_argument(
            "--bots-table",
            help=f"With --sqlalchemy-url: the bots table (default {DEFAULT_BOTS_TABLE}).",
        )
        parser.add_argument(
            "--client-id",
            help="Import only this Slack app's rows (default: every client id of the source); with "
            "--file-dir, the client id the rows get.",
        )
        parser.add_argument(
            "--source-tz",
            default="UTC",
            metavar="ZONE",
            help="How to read the source's naive timestamps (default UTC, what slack_sdk writes); an "
            "IANA zone name such as Europe/Paris. See \"Migrating from slack_sdk's installation stores › "
            'Timestamps" in the django-slack-store documentation.',
        )
        parser.add_argument(
            "--batch-size", type=options.batch_size, default=500, help="Rows per transaction (default 500)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Read and validate everything, report, write nothing."
        )
        parser.add_argument(
            "--no-signals",
            action="store_true",
            help="Do not send installation_saved / bot_saved for the rows written (they are sent by default, "
            "as for any save).",
        )

    def handle(self, **options: Any) -> None:
        if not options["sqlalchemy_url"] and (options["installations_table"] or options["bots_table"]):
            raise CommandError("--installations-table and --bots-table go with --sqlalchemy-url.")
        try:
            zone = zoneinfo.ZoneInfo(options["source_tz"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CommandError(
                f"--source-tz {options['source_tz']!r} is not a time zone (an IANA name such as UTC or "
                "Europe/Paris)."
            ) from None
        try:
            source = self._source(options, zone)
        except transfer.SourceError as error:
            raise CommandError(str(error)) from None
        try:
            self._import(source, options)
        finally:
            source.close()

    def _source(self, options: dict[str, Any], zone: datetime.tzinfo) -> transfer.Source:
        client_id = options["client_id"]
        if options["sqlalchemy_url"]:
            return transfer.SQLAlchemySource(
                options["sqlalchemy_url"],
                client_id=client_id,
                zone=zone,
                installations_table=options["installations_table"] or DEFAULT_INSTALLATIONS_TABLE,
                bots_table=options["bots_table"] or DEFAULT_BOTS_TABLE,
            )
        if options["sqlite3_path"]:
            return transfer.SQLite3Source(options["sqlite3_path"], client_id=client_id, zone=zone)
        if options["file_dir"]:
            return transfer.FileSource(options["file_dir"], client_id=client_id, zone=zone)
        return transfer.JSONLinesSource(
            options["jsonl"], client_id=client_id, zone=zone, stdin=options.get("stdin")
        )

    def _import(self, source: transfer.Source, options: dict[str, Any]) -> None:
        dry_run, verbosity = options["dry_run"], options["verbosity"]
        self.stdout.write(
            f"Importing from {source.description}, naive timestamps read as {options['source_tz']}."
        )

        def progress(kind: str, counts: collections.Counter[str]) -> None:
            if verbosity >= 1:
                self.stdout.write(f"  {kind}: {_counts(counts)}")

        try:
            result = transfer.import_from(
                source,
                batch_size=options["batch_size"],
                dry_run=dry_run,
                send_signals=not options["no_signals"],
                progress=progress,
            )
        except transfer.SourceError as error:
            raise CommandError(
                f"{error}\nThe import stopped there. Batches before it are committed; rows already imported "
                "are left alone when it runs again."
                if not dry_run
                else f"{error}\nDry run: nothing was written."
            ) from None
        for reason, count in result.skipped.items():
            self.stdout.write(f"Skipped {count} {reason} (slack_sdk's find_bot ignores them too).")
        if not (sum(result.installations.values()) or sum(result.bots.values())):
            client_ids = source.client_ids()
            self.stdout.write(
                self.style.WARNING(
                    "Nothing to import"
                    + (f" for client_id {options['client_id']!r}" if options["client_id"] else "")
                    + (f"; the source's client ids: {', '.join(client_ids)}." if client_ids else ".")
                )
            )
        summary = f"installations {_counts(result.installations)}; bots {_counts(result.bots)}"
        if dry_run:
            self.stdout.write(self.style.SUCCESS(f"Dry run, nothing written. Would import: {summary}."))
            return
        self.stdout.write(self.style.SUCCESS(f"Imported: {summary}."))
        for kind, (in_source, here) in result.verified.items():
            self.stdout.write(f"Verified: {here} of the source's {in_source} {kind} are here.")
        for note in result.notes:
            self.stdout.write(f"Verified: {note}")
        if result.problems:
            raise CommandError("Verification failed:\n" + "\n".join(result.problems))
        self.stdout.write(
            self.style.SUCCESS(
                f"Verified: the latest installation and the served bot of each of {result.workspaces} "
                "workspace(s) are the source's."
            )
        )


def _counts(counts: collections.Counter[str]) -> str:
    states = ["new", "updated", "unchanged"] + [state for state in ("kept", "rewritten") if counts[state]]
    text = ", ".join(f"{counts[state]} {state}" for state in states)
    return text.replace(" kept", " kept (rotated here since: newer than the source's)")
