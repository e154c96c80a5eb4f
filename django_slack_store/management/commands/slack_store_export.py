"""`manage.py slack_store_export`: installations and bots as JSON Lines, tokens masked unless asked for."""

import json
import os
import tempfile
from argparse import ArgumentParser
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from ...crypto import TokenDecryptionError
from ...transfer import export_records
from .. import options


class Command(BaseCommand):
    help = (
        "Write every installation and bot row as JSON Lines (one object per line: installations first, then "
        "bots). Tokens and incoming webhook URLs are masked as in the admin (xoxb-…abcd; a value shorter "
        "than 20 characters as ••••••••) unless --include-tokens; only an export with tokens can be imported "
        "back with slack_store_import --jsonl."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--output", "-o", metavar="FILE", help="Write here (default: standard output).")
        parser.add_argument(
            "--include-tokens",
            action="store_true",
            help="Write the tokens and incoming webhook URLs in clear text. The file is then as secret as "
            "the tokens: it is created readable by its owner only.",
        )
        parser.add_argument("--client-id", help="Export only this Slack app's rows.")
        parser.add_argument(
            "--batch-size", type=options.batch_size, default=1000, help="Rows read per query (default 1000)."
        )

    def handle(
        self,
        *,
        output: str | None,
        include_tokens: bool,
        client_id: str | None,
        batch_size: int,
        verbosity: int,
        **options: Any,
    ) -> None:
        # Progress goes where it cannot mix with the JSON Lines.
        log = self.stderr if output is None else self.stdout
        records = export_records(client_id=client_id, include_tokens=include_tokens, chunk_size=batch_size)
        try:
            if output is None:
                counts = self._write(self.stdout, records, log, verbosity, batch_size)
            else:
                counts = self._write_file(Path(output), records, log, verbosity, batch_size)
        except TokenDecryptionError as error:
            raise CommandError(f"{error} Nothing usable was written.") from None
        tokens = "with tokens" if include_tokens else "tokens masked"
        where = f" to {output}" if output else ""
        log.write(
            self.style.SUCCESS(
                f"Exported {counts['installation']} installation(s) and {counts['bot']} bot(s){where}, "
                f"{tokens}."
            )
        )

    def _write_file(
        self,
        path: Path,
        records: Iterable[dict[str, Any]],
        log: OutputWrapper,
        verbosity: int,
        batch_size: int,
    ) -> dict[str, int]:
        """Into a temporary file beside `path`, renamed at the end: a failed export leaves no half file."""
        if path.is_dir():
            raise CommandError(f"Cannot write {path}: it is a directory; give a file name in it.")
        try:
            # mkstemp creates the file readable and writable by its owner only.
            descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as error:
            raise CommandError(f"Cannot write {path}: {error}") from None
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                counts = self._write(stream, records, log, verbosity, batch_size)
            os.replace(temporary, path)
        except BaseException as error:
            os.unlink(temporary)
            if isinstance(error, OSError):  # a disk full, or a directory made at `path` meanwhile
                raise CommandError(f"Cannot write {path}: {error}") from None
            raise
        return counts

    def _write(
        self,
        stream: OutputWrapper | IO[str],
        records: Iterable[dict[str, Any]],
        log: OutputWrapper,
        verbosity: int,
        batch_size: int,
    ) -> dict[str, int]:
        counts = {"installation": 0, "bot": 0}
        for record in records:
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            counts[record["type"]] += 1
            if verbosity >= 1 and sum(counts.values()) % batch_size == 0:
                log.write(f"{counts['installation']} installation(s), {counts['bot']} bot(s) written")
        return counts
