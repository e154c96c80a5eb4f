"""Token health: the state of a token from its expiry, as SQL (for filters, facets and ordering) and as the
badge the admin shows."""

from __future__ import annotations

import datetime
import enum

from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from ..conf import store_settings
from ..fields import UTC

UNDECRYPTABLE = "cannot be decrypted with the configured keys (docs/security.md)"


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
    def label(self) -> str:
        return "no token" if self is Health.NONE else self.slug

    @property
    def help(self) -> str:
        return {
            Health.NONE: "no token",
            Health.STATIC: "never expires (token rotation is off)",
            Health.ROTATING: "expires after the rotation window",
            Health.EXPIRING: "expires within the rotation window: Bolt refreshes it on the next request",
            Health.EXPIRED: "expired: Bolt refreshes it on the next request if its refresh token works",
        }[self]


def rotation_window() -> int:
    """Seconds before its expiry from which a token counts as expiring (Bolt refreshes it from then on)."""
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


def render_health(health: Health, details: str = "") -> str:
    return format_html(
        '<span class="dss-badge dss-{}" title="{}">{}</span>',
        health.slug,
        details or health.help,
        health.label,
    )


def describe_expiry(expires_at: int | None) -> str:
    if expires_at is None:
        return "never (token rotation is off)"
    when = datetime.datetime.fromtimestamp(expires_at, UTC)
    now = timezone.now()
    relative = f"in {timeuntil(when, now)}" if when > now else f"{timesince(when, now)} ago"
    return f"{timezone.localtime(when):%Y-%m-%d %H:%M:%S %Z} ({relative})"
