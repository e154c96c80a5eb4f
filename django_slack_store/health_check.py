"""Checking tokens at Slack with `auth.test`: `manage.py slack_store_check` and the admin's "Check at Slack".

Each token is one `auth.test` call through slack_sdk's `WebClient` at `DJANGO_SLACK_STORE["SLACK_API_URL"]`,
several at once in a small thread pool (the threads call Slack only: the rows are read before). Every outcome
is a `Checked`, never an exception, so that one token's failure does not stop the others. What proves a
token dead is revocation.py's rule (`DEAD`: `token_revoked`, `account_inactive`); every other answer keeps
the row. A rate-limited call (HTTP 429) is tried again after Slack's `Retry-After`, a few times at most and
never past the caller's deadline. Nothing here ever holds a token in what it reports.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from slack_sdk.errors import SlackApiError, SlackClientError

from .crypto import TokenDecryptionError
from .installation_store.rotation import TOKEN_FIELDS
from .models import SlackBot, SlackInstallation
from .revocation import DEAD
from .slack_api import ERROR_CODE, TIMEOUT, client, error_of, excerpt, reason_of
from .token_refresh import describe, kind_of, rows_in_use

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

logger = logging.getLogger(__name__)

# Calls in flight at once, unless told otherwise: Slack limits auth.test per workspace, not per app, but a
# small pool is kind to the network and to Slack all the same.
CONCURRENCY = 4
# A rate-limited call is tried again at most this often, and not when Slack asks to wait longer than this.
RATE_LIMIT_RETRIES = 3
MAX_RETRY_AFTER = 60


class Outcome(enum.Enum):
    """What `auth.test` says of a token. Only REVOKED and INACTIVE prove it dead (revocation.DEAD)."""

    OK = "ok"
    REVOKED = "revoked"
    INACTIVE = "account_inactive"
    REFRESHABLE = "refreshable"
    UNREACHABLE = "unreachable"
    OTHER = "other"
    NOT_ATTEMPTED = "not_attempted"

    @property
    def dead(self) -> bool:
        return self in (Outcome.REVOKED, Outcome.INACTIVE)

    @property
    def label(self) -> StrOrPromise:
        return _LABELS[self]


_LABELS = {
    Outcome.OK: _("ok"),
    Outcome.REVOKED: _("revoked"),
    Outcome.INACTIVE: _("account inactive"),
    Outcome.REFRESHABLE: _("expired but refreshable"),
    Outcome.UNREACHABLE: _("unreachable"),
    Outcome.OTHER: _("other answer"),
    Outcome.NOT_ATTEMPTED: _("not attempted"),
}


@dataclass(frozen=True)
class Checked:
    """The outcome of one check, with what Slack (or the network) answered: a code, an HTTP status, a
    reason. Never a token."""

    outcome: Outcome
    detail: str = ""

    def describe(self) -> str:
        return f"{self.outcome.label} ({self.detail})" if self.detail else str(self.outcome.label)


@dataclass(eq=False)  # each is its own: a key of the results
class Subject:
    """One token to check: the row holding it and which of its tokens (`kind`, "bot" or "user"). `error`
    is set when the row's token cannot be read (it is then not checked)."""

    row: SlackInstallation | SlackBot
    kind: str
    token: str = field(default="", repr=False)
    has_refresh_token: bool = False
    expires_at: int | None = None
    error: str = ""

    def describe(self) -> str:
        """ "bot token of team T0123 (app 1234.5678)", ids only."""
        return describe(self.row)

    def workspace(self) -> tuple[str, str, str]:
        """The key the report groups by: (client_id, enterprise_id, team_id)."""
        return (self.row.client_id, self.row.enterprise_id, self.row.team_id)


@sensitive_variables()
def subject_of(row: SlackInstallation | SlackBot) -> Subject | None:
    """The token of `row` to check: a bot row's bot token, an installation's user token (None: none)."""
    kind = kind_of(row)
    try:
        token, refresh_token, expires_at = (getattr(row, name) for name in TOKEN_FIELDS[kind])
    except TokenDecryptionError as error:  # names the row and column, never the value
        return Subject(row, kind, error=gettext("its token cannot be read: %(error)s") % {"error": error})
    if not token:
        return None
    return Subject(row, kind, token, bool(refresh_token), expires_at)


def served_subjects(client_id: str | None = None) -> list[Subject]:
    """The tokens in use: the bot token of each workspace's served bot, and the user token of each user's
    latest installation, of every app (or of `client_id`'s)."""
    subjects = (subject_of(row) for row in rows_in_use(client_id))
    return [subject for subject in subjects if subject is not None]


def check_all(
    subjects: Iterable[Subject], *, concurrency: int = CONCURRENCY, deadline: float | None = None
) -> Iterator[tuple[Subject, Checked]]:
    """Check each subject, `concurrency` at a time; yields (subject, outcome) as each check ends. With a
    `deadline` (time.monotonic()), no call starts after it, and none outlasts it: those are NOT_ATTEMPTED."""
    subjects = list(subjects)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="slack-store-check") as pool:
        futures = {pool.submit(check, subject, deadline=deadline): subject for subject in subjects}
        for future in as_completed(futures):
            yield futures[future], future.result()


def check(subject: Subject, *, deadline: float | None = None) -> Checked:
    """`auth.test` with the subject's token, and what it proves."""
    if subject.error:
        return Checked(Outcome.OTHER, subject.error)
    try:
        checked = _auth_test(subject.token, deadline)
    except Exception:
        # Whatever else breaks, the other tokens still get their turn.
        logger.exception("auth.test failed unexpectedly")
        return Checked(Outcome.UNREACHABLE, gettext("unexpected error (logged)"))
    return _expired(subject, checked)


def _expired(subject: Subject, checked: Checked) -> Checked:
    """A token that expired (Slack says token_expired, or its expiry has passed) with a refresh token stored
    is not lost: a refresh gets a new one. Unless Slack proves it dead."""
    if not subject.has_refresh_token or checked.outcome in (Outcome.OK, Outcome.NOT_ATTEMPTED):
        return checked
    if checked.outcome.dead:
        return checked
    past_expiry = subject.expires_at is not None and subject.expires_at <= time.time()
    if checked.detail == "token_expired" or past_expiry:
        return Checked(Outcome.REFRESHABLE, checked.detail)
    return checked


@sensitive_variables("token")
def _auth_test(token: str, deadline: float | None) -> Checked:
    retries = 0
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            if retries:
                return Checked(Outcome.UNREACHABLE, gettext("rate limited by Slack, and out of time"))
            return Checked(Outcome.NOT_ATTEMPTED, gettext("this run's time for Slack ran out"))
        try:
            client(TIMEOUT if left is None else min(TIMEOUT, left), token=token).auth_test()
        except SlackApiError as error:
            code, status = error_of(error)
            if status != 429 and code != "ratelimited":
                return _refused(code, status)
            wait = _retry_after(error)
            fits = deadline is None or time.monotonic() + wait < deadline
            if retries < RATE_LIMIT_RETRIES and wait <= MAX_RETRY_AFTER and fits:
                retries += 1
                time.sleep(wait)
                continue
            detail = gettext("rate limited by Slack (Retry-After: %(seconds)s s)") % {"seconds": wait}
            return Checked(Outcome.UNREACHABLE, detail)
        except (SlackClientError, OSError) as error:  # OSError: urllib's URLError, timeouts, refusals
            detail = gettext("could not reach Slack: %(reason)s") % {"reason": reason_of(error)}
            return Checked(Outcome.UNREACHABLE, detail)
        return Checked(Outcome.OK)


def _refused(code: str | None, status: int | None) -> Checked:
    """What an error answer of auth.test proves: death only for revocation.DEAD's codes."""
    if code in DEAD:
        return Checked(Outcome.REVOKED if code == "token_revoked" else Outcome.INACTIVE, code)
    if code and ERROR_CODE.fullmatch(code) and (status is None or status < 500):
        return Checked(Outcome.OTHER, code)
    detail = gettext("HTTP %(status)s") % {"status": status}
    return Checked(Outcome.UNREACHABLE, f"{detail}: {excerpt(code)}" if code else detail)


def _retry_after(error: SlackApiError) -> int:
    """Seconds Slack asks to wait before the next call (its Retry-After header); 1 when it does not say."""
    headers = getattr(error.response, "headers", None) or {}
    value = next((value for name, value in headers.items() if name.lower() == "retry-after"), None)
    if isinstance(value, list):  # slack_sdk keeps some headers as lists
        value = value[0] if value else None
    try:
        return max(0, int(str(value))) if value is not None else 1
    except ValueError:
        return 1
