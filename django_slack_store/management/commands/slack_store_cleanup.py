"""`manage.py slack_store_cleanup`: delete expired OAuth states and old installation and bot history."""

import datetime
from argparse import ArgumentParser, ArgumentTypeError
from typing import TYPE_CHECKING, Any, Literal

from django.core.management.base import BaseCommand, CommandError
from django.db import router, transaction

from ...arguments import is_history_keep
from ...conf import store_settings
from ...fields import UTC
from ...models import SlackBot, SlackInstallation, SlackOAuthState
from .. import options

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class Command(BaseCommand):
    help = (
        "Delete expired OAuth states, and installation and bot history beyond the latest --keep rows of each "
        "user (installations) and workspace (bots). The rows the store's finds return are never deleted, so "
        "no answer of the store changes, and no signal is sent. Works in batches, one transaction each."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--keep",
            type=_keep,
            metavar="N",
            help="History rows to keep per user and per workspace, or 'all' to prune none (default: "
            "DJANGO_SLACK_STORE['HISTORY_KEEP'], 10 unless set). 0 keeps only what finds return.",
        )
        parser.add_argument(
            "--batch-size",
            type=options.batch_size,
            default=1000,
            help="Rows deleted per transaction (default 1000): no big table is locked for long.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument(
            "--client-id", help="Prune only this Slack app's history (OAuth states belong to no app: all go)."
        )

    def handle(
        self,
        *,
        keep: int | Literal["all"] | None,
        batch_size: int,
        dry_run: bool,
        client_id: str | None,
        verbosity: int,
        **options: Any,
    ) -> None:
        if keep is None:
            keep = store_settings.HISTORY_KEEP
            if not is_history_keep(keep):
                raise CommandError(
                    f"DJANGO_SLACK_STORE['HISTORY_KEEP'] must be None or an int >= 0, not {keep!r}."
                )
        elif keep == "all":
            keep = None
        done = "would be deleted" if dry_run else "deleted"

        states = self._purge_states(batch_size, dry_run, done, verbosity)
        pruned: dict[StrOrPromise | None, int] = {}  # by the model's verbose_name_plural
        if keep is None:
            self.stdout.write("History: all kept (--keep all, or HISTORY_KEEP is None).")
        else:
            for model in (SlackInstallation, SlackBot):
                rows = model.objects.all() if client_id is None else model.objects.filter(client_id=client_id)
                name = model._meta.verbose_name_plural
                batches = rows.prune_history(keep, batch_size=batch_size, dry_run=dry_run)
                pruned[name] = 0
                for number, count in enumerate(batches, start=1):
                    pruned[name] += count
                    if verbosity >= 1:
                        self.stdout.write(f"{name}: batch {number}: {count} {done} ({pruned[name]} so far)")
        summary = f"{states} expired OAuth state(s)" + "".join(
            f", {count} old {name}" for name, count in pruned.items()
        )
        kept = "" if keep is None else f" (kept the latest {keep} per user / workspace, and every served row)"
        message = f"{summary} {done}{kept}."
        self.stdout.write(self.style.SUCCESS(f"Dry run, nothing deleted: {message}" if dry_run else message))

    def _purge_states(self, batch_size: int, dry_run: bool, done: str, verbosity: int) -> int:
        now = datetime.datetime.now(UTC)
        if dry_run:
            return SlackOAuthState.objects.filter(expires_at__lte=now).count()
        total = number = 0
        while True:
            with transaction.atomic(using=router.db_for_write(SlackOAuthState)):
                count = SlackOAuthState.objects.purge_expired(now, limit=batch_size)
            if not count:
                return total
            total, number = total + count, number + 1
            if verbosity >= 1:
                self.stdout.write(f"OAuth states: batch {number}: {count} {done} ({total} so far)")
            if count < batch_size:
                return total


def _keep(value: str) -> int | Literal["all"]:
    if value == "all":
        return "all"
    try:
        keep = int(value)
    except ValueError:
        keep = None
    if keep is None or not is_history_keep(keep):
        raise ArgumentTypeError(f"must be an int >= 0 or 'all', not {value!r}")
    return keep
