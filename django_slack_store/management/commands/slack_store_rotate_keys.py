"""`manage.py slack_store_rotate_keys`: re-encrypt every stored secret with the first encryption key, bound to
its row."""

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.views.decorators.debug import sensitive_variables

from ...crypto import TokenDecryptionError, check_keys
from ...models import SlackBot, SlackInstallation
from .. import options


class Command(BaseCommand):
    help = (
        "Re-encrypt the tokens and webhook URLs of every installation and bot with the first key of "
        "DJANGO_SLACK_STORE['ENCRYPTION_KEYS'], bound to their rows (values of earlier releases, unbound or "
        "in plaintext, get bound: check first that nobody planted any). Rows already bound with that key are "
        "skipped, so an interrupted run is resumed by running it again. Deploy the new key list to every "
        "process first: a process that does not know the first key cannot read what this writes."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=options.batch_size,
            default=500,
            help="Rows per transaction (default 500); each batch is committed before the next is read.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count and check the rows to re-encrypt; write nothing."
        )
        parser.add_argument(
            "--database", help="The database alias to work on (default: where the models are written)."
        )

    # The rows are decrypted in the frames below this one: error reports must not show them.
    @sensitive_variables()
    def handle(
        self, *, batch_size: int, dry_run: bool, database: str | None, verbosity: int, **options: Any
    ) -> None:
        try:
            check_keys()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        done = "would be re-encrypted" if dry_run else "re-encrypted"
        total = 0
        for model in (SlackInstallation, SlackBot):
            rows = model.objects.using(database) if database else model.objects.all()
            name = model._meta.object_name
            try:
                for number, (checked, changed) in enumerate(
                    rows.reencrypt_tokens(batch_size=batch_size, dry_run=dry_run), start=1
                ):
                    total += changed
                    if verbosity >= 1:
                        self.stdout.write(
                            f"{name}: batch {number}: {checked} row(s) checked, {changed} {done}"
                        )
            except TokenDecryptionError as error:
                raise CommandError(
                    f"{error} Earlier batches are committed; add the missing key back to ENCRYPTION_KEYS "
                    "(after the first) and run the command again."
                ) from None
        summary = f"{total} row(s) {done}."
        self.stdout.write(self.style.SUCCESS(f"Dry run, nothing written: {summary}" if dry_run else summary))
