"""The admin of `SlackBot`: one row per bot row, the one the store serves for a workspace being the one whose
credentials were written last."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..masking import EMPTY
from ..models import SlackBot, SlackInstallation
from .filters import HealthFilter, LatestFilter, RotationFilter
from .health import Health, describe_expiry, health_expression
from .records import (
    RecordAnnotations,
    SlackRecordAdmin,
    lines,
    masked_field,
    scopes_field,
    when,
    workspace_link_field,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django_stubs_ext import StrOrPromise, WithAnnotations

    # The rows of the changelist and the detail page: the model's, with what `annotate()` adds.
    AnnotatedBot = WithAnnotations[SlackBot, RecordAnnotations]


class SlackBotAdmin(SlackRecordAdmin[SlackBot, "AnnotatedBot"]):
    # Chosen to fit a 1280 px window with the admin's sidebars open (tests/browser/test_demo_admin.py): the
    # enterprise and org-wide flag are in the workspace's cell, the bot id under the bot user's, the time the
    # row was last written under the install's.
    list_display = ["workspace", "bot", "installed", "scopes", "health_badge"]
    list_display_links = ["workspace"]
    list_filter = [LatestFilter, "is_enterprise_install", RotationFilter, HealthFilter]
    search_fields = ["team_id", "team_name", "enterprise_id", "enterprise_name", "bot_id", "bot_user_id"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("team_id", "team_name"),
                    ("enterprise_id", "enterprise_name"),
                    "is_enterprise_install",
                    ("bot_id", "bot_user_id"),
                    ("client_id", "app_id"),
                    "installed_at",
                    "updated_at",
                    "health_badge",
                    "workspace_link",
                ]
            },
        ),
        (
            _("Bot token"),
            {
                "fields": [
                    "masked_bot_token",
                    "masked_bot_refresh_token",
                    "bot_token_expiry",
                    "bot_scope_list",
                ]
            },
        ),
        (_("Custom values"), {"fields": ["pretty_custom_values"]}),
    ]
    token_fields = ("bot_token", "bot_refresh_token")
    # The bot served for a workspace is the one whose credentials were written last (find_bot).
    latest_by = "updated_at"
    health_choices = (Health.STATIC, Health.ROTATING, Health.EXPIRING, Health.EXPIRED)

    def annotate(self, rows: QuerySet[SlackBot], now: int) -> QuerySet[SlackBot]:
        return rows.annotate(health=health_expression("bot_token_expires_at", None, now))

    def health_details(self, row: AnnotatedBot) -> StrOrPromise:
        return Health(row.health).help

    @admin.display(description=_("bot"), ordering="bot_user_id")
    def bot(self, row: AnnotatedBot) -> str:
        return lines(("", row.bot_user_id or EMPTY), ("dss-id", row.bot_id))

    @admin.display(description=_("installed"), ordering="installed_at")
    def installed(self, row: AnnotatedBot) -> str:
        # A token rotation rewrites the row in place: "written" is when its credentials last changed.
        written = gettext("written %(time)s") % {"time": when(row.updated_at)}
        return lines(("", when(row.installed_at)), ("dss-note", written))

    @admin.display(description=_("scopes"))
    def scopes(self, row: AnnotatedBot) -> int:
        return len(row.bot_scopes or [])  # a count: the scopes themselves are on the detail page

    # The detail page's fields, in its order.
    workspace_link = workspace_link_field(
        SlackInstallation, _("installations"), _("Every installation of this workspace")
    )
    masked_bot_token = masked_field("bot_token", _("bot token"))
    masked_bot_refresh_token = masked_field("bot_refresh_token", _("bot refresh token"))

    @admin.display(description=_("bot token expires"))
    def bot_token_expiry(self, row: AnnotatedBot) -> str:
        return describe_expiry(row.bot_token_expires_at)

    bot_scope_list = scopes_field("bot_scopes", _("bot scopes"))

    def tokens_to_revoke(self, row: SlackBot) -> list[tuple[str, str]]:
        return bot_tokens(row)


def bot_tokens(row: SlackBot) -> list[tuple[str, str]]:
    """A bot row's tokens to revoke: its bot token (the refresh token goes with the row)."""
    return [(gettext("bot token"), row.bot_token)]
