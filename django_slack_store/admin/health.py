"""Token health: the state of a token from its expiry, as SQL (for filters, facets and ordering) and as the
badge the admin shows."""

from __future__ import annotations

import datetime
import enum
from typing import TYPE_CHECKING

from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..conf import store_settings
from ..crypto import TokenDecryptionError
from ..fields import UTC

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

UNDECRYPTABLE = _(
    'cannot be decrypted with the configured keys (see "Security › When a token cannot be decrypted" in the '
    "django-slack-store documentation)"
)
UNBOUND = _(
    'refused: not bound to this row; see manage.py slack_store_rotate_keys and "Security › Unbound values, '
    'and ACCEPT_UNBOUND_TOKENS" in the django-slack-store documentation'
)


def unusable(error: TokenDecryptionError) -> StrOrPromise:
    """Why a secret that raised `error` is not shown (nor revoked)."""
    return UNBOUND if error.unbound else UNDECRYPTABLE


class Health(enum.IntEnum):
    """The state of a token, from its expiry; the larger, the more it needs attention. A row with several
    tokens (an installation and its bot) shows the worst of them."""

    NONE = 0
    STATIC = 1
    ROTATING = 2
    EXPIRING = 3
    EXPIRED = 4

    @property
    def slug(self) -> str:
        return self.name.lower()

    @property
    def label(self) -> StrOrPromise:
        return _LABELS[self]

    @property
    def help(self) -> StrOrPromise:
        return _HELP[self]


_LABELS = {
    Health.NONE: _("no token"),
    Health.STATIC: _("static"),
    Health.ROTATING: _("rotating"),
    Health.EXPIRING: _("expiring"),
    Health.EXPIRED: _("expired"),
}
_HELP = {
    Health.NONE: _("no token"),
    Health.STATIC: _("never expires (token rotation is off)"),
    Health.ROTATING: _("expires after the rotation window"),
    Health.EXPIRING: _(
        "expires within the rotation window: refreshed by manage.py slack_store_refresh_tokens, the "
        "“Refresh tokens now” action, or the next store.get_client() (or Bolt request) that uses it"
    ),
    Health.EXPIRED: _(
        "expired: refreshed, if its refresh token still works, by manage.py slack_store_refresh_tokens, the "
        "“Refresh tokens now” action, or the next store.get_client() (or Bolt request) that uses it"
    ),
}


def rotation_window() -> int:
    """Seconds before its expiry from which a token counts as expiring (and is refreshed from then on)."""
    return int(store_settings.ROTATION_WINDOW_MINUTES) * 60


def health_expression(expires_at: str, absent: Q | None, now: int) -> Case:
    """The health of a token at Unix time `now`, as SQL (so that filters, facets and ordering agree with the
    badge): `expires_at` names the expiry column (Unix time), `absent` is true where there is no token."""
    whens = [When(absent, then=Value(Health.NONE))] if absent is not None else []
    whens += [
        When(**{f"{expires_at}__isnull": True}, then=Value(Health.STATIC)),
        When(**{f"{expires_at}__lte": now}, then=Value(Health.EXPIRED)),
        When(**{f"{expires_at}__lte": now + rotation_window()}, then=Value(Health.EXPIRING)),
    ]
    return Case(*whens, default=Value(Health.ROTATING), output_field=IntegerField())


def render_health(health: Health, details: StrOrPromise = "") -> str:
    return format_html(
        '<span class="dss-badge dss-{}" title="{}">{}</span>',
        health.slug,
        details or health.help,
        health.label,
    )


def describe_expiry(expires_at: int | None) -> str:
    if expires_at is None:
        return gettext("never (token rotation is off)")
    try:
        when = timezone.localtime(datetime.datetime.fromtimestamp(expires_at, UTC))
    except (OverflowError, OSError, ValueError):  # stored before saves refused what no datetime holds
        return gettext("%(value)s (not a valid time)") % {"value": expires_at}
    now = timezone.now()
    if when > now:
        relative = gettext("in %(time)s") % {"time": timeuntil(when, now)}
    else:
        relative = gettext("%(time)s ago") % {"time": timesince(when, now)}
    return f"{when:%Y-%m-%d %H:%M:%S %Z} ({relative})"
