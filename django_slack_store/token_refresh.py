"""Refreshing the rotating tokens in use ahead of their expiry: `manage.py slack_store_refresh_tokens` and the
admin's "Refresh tokens now".

Both go through the store's `refresh_reporting()` (the coordinated refresh of rotation.py), so that a Bolt
request, a `get_client()` or another run refreshing the same token at the same moment never spends its
refresh token twice: whoever comes second finds it fresh and calls nobody. Every outcome is a `Refreshed`,
never an exception, so that one token's failure does not stop the others. Ids only, never a token.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from .crypto import TokenDecryptionError
from .exceptions import NoClientSecret, NotInstalled, RefreshFailed, where
from .installation_store.rotation import TOKEN_FIELDS
from .models import SlackBot, SlackInstallation
from .rows import bot_from_row, installation_from_row

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django_stubs_ext import StrOrPromise

    from .stores import DjangoInstallationStore

logger = logging.getLogger(__name__)


class Outcome(enum.Enum):
    REFRESHED = "refreshed"
    FRESH = "fresh"  # another caller refreshed it first (or it is no longer due)
    FAILED = "failed"
    NO_SECRET = "no_secret"
    GONE = "gone"

    @property
    def label(self) -> StrOrPromise:
        return _LABELS[self]


_LABELS = {
    Outcome.REFRESHED: _("refreshed"),
    Outcome.FRESH: _("already fresh (refreshed by another process meanwhile)"),
    Outcome.FAILED: _("failed"),
    Outcome.NO_SECRET: _("skipped: no client secret for its app"),
    Outcome.GONE: _("gone: deleted meanwhile"),
}


# Codes of a failed refresh that no call to Slack gave: the row's token unreadable, a bug (refresh_row), the
# wait for another process's refresh (RefreshFailed).
NOT_FROM_SLACK = frozenset({"undecryptable", "unexpected_error", "lock_timeout"})


@dataclass(frozen=True)
class Refreshed:
    """What became of one token's refresh; `code` is RefreshFailed's, or "undecryptable" or
    "unexpected_error"."""

    outcome: Outcome
    code: str = ""

    @property
    def failed_at_slack(self) -> bool:
        """Whether a call to Slack failed, rather than something here (NOT_FROM_SLACK)."""
        return self.outcome is Outcome.FAILED and self.code not in NOT_FROM_SLACK

    def describe(self) -> str:
        return f"{self.outcome.label}: {self.code}" if self.code else str(self.outcome.label)


def kind_of(row: SlackInstallation | SlackBot) -> str:
    """The token a row's refresh is about: a bot row's bot token, an installation's user token."""
    return "bot" if isinstance(row, SlackBot) else "user"


def describe(row: SlackInstallation | SlackBot) -> str:
    """ "bot token of team T0123 (app 1234.5678)": ids only."""
    kind = kind_of(row)
    user_id = getattr(row, "user_id", None) or None if kind == "user" else None
    label = gettext("bot token") if kind == "bot" else gettext("user token")
    return gettext("%(kind)s of %(place)s (app %(client_id)s)") % {
        "kind": label,
        "place": where(row.enterprise_id or None, row.team_id or None, user_id),
        "client_id": row.client_id,
    }


def served(model: type[SlackInstallation] | type[SlackBot]) -> QuerySet[Any]:
    """The rows of `model` whose tokens are in use: each workspace's served bot, each user's latest
    installation."""
    if issubclass(model, SlackBot):
        return model.objects.served()
    return model.objects.latest_per_user()


def rows_in_use(
    client_id: str | None = None, *, expiring_by: int | None = None
) -> list[SlackInstallation | SlackBot]:
    """The rows whose tokens are in use (each workspace's served bot, each user's latest installation) of
    every app (or of `client_id`'s), each app's bots then its users; with `expiring_by` (Unix time), only
    those whose token expires by then."""
    bots, installations = served(SlackBot), served(SlackInstallation)
    if expiring_by is not None:
        bots = bots.filter(bot_token_expires_at__lte=expiring_by)
        installations = installations.filter(user_token_expires_at__lte=expiring_by)
    if client_id is not None:
        bots, installations = bots.filter(client_id=client_id), installations.filter(client_id=client_id)
    order = ("client_id", "enterprise_id", "team_id")
    rows: list[SlackInstallation | SlackBot] = [*bots.order_by(*order, "pk")]
    rows += installations.order_by(*order, "user_id", "pk")
    return sorted(rows, key=lambda row: row.client_id)  # stable: each app's bots, then its users


def due_rows(window_minutes: float, client_id: str | None = None) -> list[SlackInstallation | SlackBot]:
    """The rows in use whose token expires within `window_minutes`. Rotating or not is told once their
    tokens are read (`rotates()`): the refresh tokens are encrypted."""
    return rows_in_use(client_id, expiring_by=int(time.time() + window_minutes * 60))


@sensitive_variables()
def rotates(row: SlackInstallation | SlackBot) -> bool:
    """Whether the row's token of its kind has a refresh token (raises TokenDecryptionError)."""
    token, refresh_token, _ = (getattr(row, name) for name in TOKEN_FIELDS[kind_of(row)])
    return bool(token and refresh_token)


@sensitive_variables()
def refresh_row(
    store: DjangoInstallationStore, row: SlackInstallation | SlackBot, within_minutes: float
) -> Refreshed:
    """Refresh the token of `row` (a served row of `store`'s app) if it still expires within
    `within_minutes` once the lock is held; what came of it."""
    kind = kind_of(row)
    try:
        if isinstance(row, SlackBot):
            _, exchanged = store.refresh_reporting(bot_from_row(row), within_minutes=within_minutes)
        else:
            _, exchanged = store.refresh_reporting(installation_from_row(row), within_minutes=within_minutes)
    except NoClientSecret:
        return Refreshed(Outcome.NO_SECRET)
    except RefreshFailed as error:
        return Refreshed(Outcome.FAILED, error.code)
    except NotInstalled:
        return Refreshed(Outcome.GONE)
    except TokenDecryptionError:
        return Refreshed(Outcome.FAILED, "undecryptable")
    except Exception:
        # Whatever else breaks (the database, say), the other tokens still get their turn.
        logger.exception("Refreshing the %s failed unexpectedly", describe(row))
        return Refreshed(Outcome.FAILED, "unexpected_error")
    return Refreshed(Outcome.REFRESHED if kind in exchanged else Outcome.FRESH)
