"""The Django admin for Slack installations and bots: browse them, read them with tokens masked, revoke them.

Rows are read-only (the store owns them): no add, no edit, and no plain delete, which would leave the tokens
working at Slack and send none of the store's signals. The one way out is the "Revoke" action: `auth.revoke`
at Slack for each token, then a delete through the store, gated by the `revoke_<model>` permission.
Operator's guide: docs/admin.md.

Registered on the default admin site when the admin autodiscovers this package, unless
`DJANGO_SLACK_STORE["ADMIN_ENABLED"]` is False (read then: a change takes effect at the next start).
`register_admin(site)` registers the same admins on a site of your own.

The modules: `health` (token health), `filters`, `actions` (Revoke), `records` (what both admins share),
`installations` and `bots` (the two admins).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin

from ..conf import store_settings
from ..models import SlackBot, SlackInstallation
from .bots import SlackBotAdmin
from .installations import SlackInstallationAdmin

if TYPE_CHECKING:
    from django.contrib.admin.sites import AdminSite

__all__ = ["SlackBotAdmin", "SlackInstallationAdmin", "register_admin"]


def register_admin(site: AdminSite | None = None) -> bool:
    """Register the installation and bot admins on `site` (the default admin site when None), unless
    `DJANGO_SLACK_STORE["ADMIN_ENABLED"]` is False. Returns whether it registered them."""
    if not store_settings.ADMIN_ENABLED:
        return False
    site = admin.site if site is None else site
    site.register(SlackInstallation, SlackInstallationAdmin)
    site.register(SlackBot, SlackBotAdmin)
    return True


register_admin()
