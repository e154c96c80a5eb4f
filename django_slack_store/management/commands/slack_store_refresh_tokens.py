"""`manage.py slack_store_refresh_tokens`: refresh the rotating tokens in use that expire soon, for cron."""

import collections
import math
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ...conf import store_settings
from ...crypto import TokenDecryptionError
from ...exceptions import NoClientSecret
from ...stores import DjangoInstallationStore
from ...token_refresh import Outcome, describe, due_rows, refresh_row, rotates


class Command(BaseCommand):
    help = (
        "Refresh every rotating token in use (the bot token of each workspace's served bot, the user token "
        "of "
        "each user's latest installation) that expires within --within minutes, through the store's "
        "coordinated refresh: a Bolt request refreshing the same token at the same moment never makes Slack "
        "see its refresh token twice. Client secrets come from DJANGO_SLACK_STORE['CLIENT_SECRETS']. Exits "
        "non-zero when a refresh failed or was skipped, after doing all the others."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--within",
            type=_minutes,
            metavar="MINUTES",
            help="Refresh the tokens that expire within this many minutes (default: "
            "DJANGO_SLACK_STORE['ROTATION_WINDOW_MINUTES'], 120 unless set).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List the tokens that would be refreshed; call nobody."
        )
        parser.add_argument("--client-id", help="Refresh only this Slack app's tokens.")

    def handle(
        self,
        *,
        within: float | str | None,
        dry_run: bool,
        client_id: str | None,
        verbosity: int,
        **options: Any,
    ) -> None:
        minutes = _within(within)
        counts: collections.Counter[Outcome] = collections.Counter()
        failed: list[str] = []
        skipped_apps: dict[str, int] = {}
        would = 0
        rows_by_app = collections.defaultdict(list)
        for row in due_rows(minutes, client_id):
            rows_by_app[row.client_id].append(row)
        for app, rows in rows_by_app.items():
            store = DjangoInstallationStore(client_id=app)
            try:
                store.client_secret()
            except NoClientSecret:
                skipped_apps[app] = len(rows)
                self.stderr.write(
                    f"App {app}: {len(rows)} token(s) expire within {minutes:g} min, skipped: no client "
                    f"secret for client {app} in DJANGO_SLACK_STORE['CLIENT_SECRETS']."
                )
                continue
            for row in rows:
                name = describe(row)
                try:
                    if not rotates(row):
                        continue  # expires, but holds no refresh token: nothing to refresh it with
                except TokenDecryptionError:
                    counts[Outcome.FAILED] += 1
                    failed.append(f"{name}: undecryptable")
                    self.stdout.write(f"{name}: failed: undecryptable (see slack_store_rotate_keys)")
                    continue
                if dry_run:
                    would += 1
                    self.stdout.write(f"{name}: would be refreshed")
                    continue
                result = refresh_row(store, row, minutes)
                counts[result.outcome] += 1
                if result.outcome is Outcome.FAILED:
                    failed.append(f"{name}: {result.code}")
                if verbosity >= 1 or result.outcome is Outcome.FAILED:
                    self.stdout.write(f"{name}: {result.describe()}")
        skipped = "".join(
            f", {count} skipped: no client secret for client {app}" for app, count in skipped_apps.items()
        )
        if dry_run:
            message = f"Dry run, nobody called: {would} token(s) would be refreshed{skipped}."
            self.stdout.write(self.style.SUCCESS(message))
        else:
            summary = (
                f"{counts[Outcome.REFRESHED]} refreshed, {counts[Outcome.FRESH]} already fresh (refreshed "
                f"by another process), {counts[Outcome.FAILED]} failed{skipped}"
            )
            if counts[Outcome.GONE]:
                summary += f", {counts[Outcome.GONE]} gone (deleted meanwhile)"
            style = self.style.ERROR if failed or skipped_apps else self.style.SUCCESS
            self.stdout.write(style(f"{summary}."))
        problems = failed + [f"no client secret for client {app}" for app in skipped_apps]
        if problems:
            raise CommandError(f"{len(problems)} token refresh(es) failed or skipped: {'; '.join(problems)}.")


def _minutes(text: str) -> float:
    """`--within`: minutes, a finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise ArgumentTypeError(f"must be a number of minutes, not {text!r}") from None
    if not 0 <= value < math.inf:
        raise ArgumentTypeError(f"must be 0 or more minutes, not {text!r}")
    return value


def _within(value: float | str | None) -> float:
    """The window in minutes: --within (given to call_command() as a keyword, it skips the parser's type),
    else ROTATION_WINDOW_MINUTES."""
    if value is None:
        value = store_settings.ROTATION_WINDOW_MINUTES
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            raise CommandError(
                f"DJANGO_SLACK_STORE['ROTATION_WINDOW_MINUTES'] must be minutes >= 0, not {value!r}."
            )
        return float(value)
    if isinstance(value, bool):
        raise CommandError(f"--within must be a number of minutes, not {value!r}.")
    try:
        return _minutes(str(value))
    except ArgumentTypeError as error:
        raise CommandError(f"--within {error}.") from None
