"""`manage.py slack_store_check`: ask Slack (`auth.test`) about every token in use, and optionally delete the
rows Slack proves dead."""

import collections
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ...health_check import CONCURRENCY, Outcome, Subject, check_all, served_subjects
from ...models import SlackBot
from ...stores import DjangoInstallationStore

# The most calls in flight that --concurrency allows: Slack rate-limits auth.test per workspace.
MAX_CONCURRENCY = 32
# The outcomes the summary counts, in its order (NOT_ATTEMPTED: the command has no deadline).
SUMMARY = (
    Outcome.OK,
    Outcome.REVOKED,
    Outcome.INACTIVE,
    Outcome.REFRESHABLE,
    Outcome.UNREACHABLE,
    Outcome.OTHER,
)


class Command(BaseCommand):
    help = (
        "Call Slack's auth.test with every token in use (the bot token of each workspace's served bot, the "
        "user token of each user's latest installation) and report per workspace: ok, revoked, account "
        "inactive, expired but refreshable, unreachable, or another answer. With --delete-dead, delete the "
        "rows whose token Slack proves dead (token_revoked, account_inactive) through the store, so that its "
        "deletion signals are sent; no other answer deletes anything."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--delete-dead",
            action="store_true",
            help="Delete the rows whose token Slack answered token_revoked or account_inactive.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="With --delete-dead: say what would be deleted; delete nothing.",
        )
        parser.add_argument(
            "--concurrency",
            type=_concurrency,
            default=CONCURRENCY,
            metavar="N",
            help=f"Calls to Slack at once (default {CONCURRENCY}, at most {MAX_CONCURRENCY}).",
        )
        parser.add_argument("--client-id", help="Check only this Slack app's tokens.")

    def handle(
        self,
        *,
        delete_dead: bool,
        dry_run: bool,
        concurrency: int | str,
        client_id: str | None,
        verbosity: int,
        **options: Any,
    ) -> None:
        if dry_run and not delete_dead:
            raise CommandError("--dry-run only applies with --delete-dead: a check alone deletes nothing.")
        try:
            concurrency = _concurrency(str(concurrency))
        except ArgumentTypeError as error:
            raise CommandError(f"--concurrency {error}.") from None
        subjects = served_subjects(client_id)
        if verbosity >= 1:
            self.stdout.write(f"Checking {len(subjects)} token(s) at Slack, {concurrency} at a time...")
        results = dict(check_all(subjects, concurrency=concurrency))
        by_workspace: dict[tuple[str, str, str], list[Subject]] = collections.defaultdict(list)
        for subject in subjects:
            by_workspace[subject.workspace()].append(subject)
        for (app, enterprise_id, team_id), members in by_workspace.items():
            place = f"team {team_id}" if team_id else f"org {enterprise_id}"
            if team_id and enterprise_id:
                place += f" (enterprise {enterprise_id})"
            self.stdout.write(f"App {app}, {place}:")
            for subject in members:
                self.stdout.write(f"  {_token_name(subject)}: {results[subject].describe()}")

        dead = [subject for subject in subjects if results[subject].outcome.dead]
        deleted = kept = 0
        for subject in dead if delete_dead else []:
            if dry_run:
                self.stdout.write(f"Would delete the row of the {subject.describe()}.")
            elif _delete(subject):
                deleted += 1
                self.stdout.write(f"Deleted the row of the {subject.describe()}.")
            else:
                kept += 1
                self.stdout.write(
                    f"Kept the row of the {subject.describe()}: it was rewritten (a reinstall or a refresh) "
                    "or deleted since it was read."
                )
        counts = collections.Counter(results[subject].outcome for subject in subjects)
        parts = ", ".join(f"{counts[outcome]} {outcome.label}" for outcome in SUMMARY)
        summary = f"Checked {len(subjects)} token(s) in {len(by_workspace)} workspace(s): {parts}."
        if delete_dead and dry_run:
            summary += f" Dry run, nothing deleted: {len(dead)} dead row(s) would be deleted."
        elif delete_dead:
            summary += f" Deleted {deleted} dead row(s)" + (
                f", kept {kept} rewritten meanwhile." if kept else "."
            )
        elif dead:
            summary += " Run with --delete-dead to delete the rows Slack proves dead."
        style = self.style.SUCCESS if counts[Outcome.OK] == len(subjects) else self.style.WARNING
        self.stdout.write(style(summary))


def _token_name(subject: Subject) -> str:
    if subject.kind == "bot":
        return (
            f"bot {getattr(subject.row, 'bot_user_id', None) or getattr(subject.row, 'bot_id', None) or '?'}"
        )
    return f"user {getattr(subject.row, 'user_id', None) or '?'}"


def _delete(subject: Subject) -> bool:
    """Delete the subject's row through its app's store (its deletion signal is sent), unless it was
    rewritten since it was read: then what Slack proved dead may no longer be what it holds."""
    store = DjangoInstallationStore(client_id=subject.row.client_id)
    row = subject.row
    if isinstance(row, SlackBot):
        return store.delete_bot_rows([row]) == 1
    return store.delete_installation_rows([row]) == 1


def _concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"must be an int, not {text!r}") from None
    if not 1 <= value <= MAX_CONCURRENCY:
        raise ArgumentTypeError(f"must be between 1 and {MAX_CONCURRENCY}, not {value}")
    return value
