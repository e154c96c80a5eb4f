"""The admin of `SlackInstallation`: one row per install (and reinstall) by a user, with the bot that the
same install wrote, whose health it shares and which Revoke takes along when asked to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Greatest, Length
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..masking import EMPTY
from ..models import SlackBot, SlackInstallation
from .actions import Target, load_target, may_revoke
from .bots import bot_tokens
from .filters import HasBotFilter, HasUserTokenFilter, HealthFilter, LatestFilter, RotationFilter
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
    from django.http import HttpRequest
    from django.template.response import TemplateResponse
    from django_stubs_ext import StrOrPromise, WithAnnotations

    # The rows of the changelist and the detail page: the model's, with what `annotate()` adds.
    AnnotatedInstallation = WithAnnotations[SlackInstallation, "_InstallationAnnotations"]


class _InstallationAnnotations(RecordAnnotations):
    bot_pk: int | None  # the bot the same install wrote
    bot_expires_at: int | None
    bot_scope_list: list[str] | None
    user_token_length: int | None
    user_health: int
    bot_health: int


class SlackInstallationAdmin(SlackRecordAdmin[SlackInstallation, "AnnotatedInstallation"]):
    # Chosen to fit a 1280 px window with the admin's sidebars open (tests/browser/test_demo_admin.py): the
    # enterprise and org-wide flag are in the workspace's cell, the installer under the date, the scopes are
    # counts.
    list_display = ["workspace", "installed", "scopes", "health_badge", "bot_link"]
    list_display_links = ["workspace"]
    list_filter = [
        LatestFilter,
        "is_enterprise_install",
        RotationFilter,
        HealthFilter,
        HasBotFilter,
        HasUserTokenFilter,
    ]
    search_fields = ["team_id", "team_name", "enterprise_id", "enterprise_name", "user_id"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("team_id", "team_name"),
                    ("enterprise_id", "enterprise_name"),
                    "enterprise_url",
                    "is_enterprise_install",
                    "user_id",
                    ("client_id", "app_id"),
                    "installed_at",
                    "updated_at",
                    "health_badge",
                ]
            },
        ),
        (
            _("User token"),
            {
                "fields": [
                    "masked_user_token",
                    "masked_user_refresh_token",
                    "user_token_expiry",
                    "user_scope_list",
                    "token_type",
                ]
            },
        ),
        (_("Bot"), {"fields": ["bot_link", "workspace_link"]}),
        (
            _("Incoming webhook"),
            {
                "fields": [
                    "masked_incoming_webhook_url",
                    ("incoming_webhook_channel", "incoming_webhook_channel_id"),
                    "incoming_webhook_configuration_url",
                ]
            },
        ),
        (_("Custom values"), {"fields": ["pretty_custom_values"]}),
    ]
    token_fields = ("user_token", "user_refresh_token", "incoming_webhook_url")
    health_choices = (Health.STATIC, Health.ROTATING, Health.EXPIRING, Health.EXPIRED, Health.NONE)

    def annotate(self, rows: QuerySet[SlackInstallation], now: int) -> QuerySet[SlackInstallation]:
        bot = _same_install_bot()
        rows = rows.annotate(
            bot_pk=Subquery(bot.values("pk")[:1]),
            bot_expires_at=Subquery(bot.values("bot_token_expires_at")[:1]),
            bot_scope_list=Subquery(bot.values("bot_scopes")[:1]),
            user_token_length=Length("user_token"),
        )
        no_user_token = Q(user_token_length__isnull=True) | Q(user_token_length=0)
        rows = rows.annotate(
            user_health=health_expression("user_token_expires_at", no_user_token, now),
            bot_health=health_expression("bot_expires_at", Q(bot_pk__isnull=True), now),
        )
        return rows.annotate(health=Greatest("user_health", "bot_health", output_field=IntegerField()))

    def health_details(self, row: AnnotatedInstallation) -> StrOrPromise:
        user, bot = Health(row.user_health), Health(row.bot_health)
        return gettext("user token: %(user)s; bot: %(bot)s") % {
            "user": user.label,
            "bot": gettext("none") if bot is Health.NONE else bot.label,
        }

    @admin.display(description=_("installed"), ordering="installed_at")
    def installed(self, row: AnnotatedInstallation) -> str:
        by = gettext("by %(user)s") % {"user": row.user_id} if row.user_id else ""
        return lines(("", when(row.installed_at)), ("dss-id", by))

    @admin.display(description=_("scopes"))
    def scopes(self, row: AnnotatedInstallation) -> str:
        # Counts: the scopes themselves are on the detail page.
        bot = gettext("%(count)d bot") % {"count": len(row.bot_scope_list or [])}
        user = gettext("%(count)d user") % {"count": len(row.user_scopes or [])}
        return lines(("", bot), ("", user))

    # The detail page's fields, in its order (`bot_link` is a list column too).
    masked_user_token = masked_field("user_token", _("user token"))
    masked_user_refresh_token = masked_field("user_refresh_token", _("user refresh token"))

    @admin.display(description=_("user token expires"))
    def user_token_expiry(self, row: AnnotatedInstallation) -> str:
        return describe_expiry(row.user_token_expires_at) if row.user_token_length else EMPTY

    user_scope_list = scopes_field("user_scopes", _("user scopes"))

    @admin.display(description=_("bot"))
    def bot_link(self, row: AnnotatedInstallation) -> str:
        if row.bot_pk is None:
            return EMPTY
        url = self.admin_url(SlackBot, "change", row.bot_pk)
        label = gettext("bot #%(pk)s") % {"pk": row.bot_pk}
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    workspace_link = workspace_link_field(
        SlackBot, _("workspace history"), _("Every bot row of this workspace")
    )

    masked_incoming_webhook_url = masked_field("incoming_webhook_url", _("incoming webhook URL"))

    # -- Revoke: the installer's user token, and (when the box is ticked) the bot the same install wrote.

    def tokens_to_revoke(self, row: SlackInstallation) -> list[tuple[str, str]]:
        return [(gettext("user token"), row.user_token)] if row.user_token else []

    def revoke_targets(self, request: HttpRequest, pks: list[int], confirmed: bool) -> list[Target]:
        targets = super().revoke_targets(request, pks, confirmed)
        # Revoking a bot deactivates the app in its workspace: only with the bots' own permission.
        if not may_revoke(request, SlackBot):
            if confirmed:
                left_alone = gettext(
                    "The bots of these installations were left alone: revoking a bot needs the permission "
                    "“Can revoke Slack bot”."
                )
                self.message_user(request, left_alone, messages.INFO)
            return targets
        if confirmed and not request.POST.get("revoke_bots"):
            return targets
        bot_pks = dict(
            SlackInstallation._default_manager.filter(pk__in=[target.row.pk for target in targets])
            .annotate(bot_pk=Subquery(_same_install_bot().values("pk")[:1]))
            .values_list("pk", "bot_pk")
        )
        # Each bot right after its installation; installations of one install by several users share their
        # bot, which is revoked once.
        with_bots: list[Target] = []
        seen: set[Any] = {None}
        for target in targets:
            with_bots.append(target)
            bot_pk = bot_pks.get(target.row.pk)
            bot = load_target(SlackBot, bot_pk, bot_tokens) if bot_pk not in seen else None
            seen.add(bot_pk)
            if bot is not None:
                bot.part_of = str(target.row)
                with_bots.append(bot)
        return with_bots

    def revoke_confirmation(
        self,
        request: HttpRequest,
        queryset: QuerySet[SlackInstallation],
        targets: list[Target],
        **context: Any,
    ) -> TemplateResponse:
        offer = may_revoke(request, SlackBot)
        return super().revoke_confirmation(
            request, queryset, targets, offer_revoke_bots=offer, bots_left_alone=not offer, **context
        )


def _same_install_bot() -> QuerySet[SlackBot]:
    """The bot row written by the same install as the outer installation row: the same identity but the user
    (served by the bot identity's unique index)."""
    return SlackBot._default_manager.filter(
        client_id=OuterRef("client_id"),
        enterprise_id=OuterRef("enterprise_id"),
        team_id=OuterRef("team_id"),
        installed_at=OuterRef("installed_at"),
    )
