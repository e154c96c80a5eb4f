"""The Django admin for Slack installations and bots: browse them, read them with tokens masked, revoke them.

Rows are read-only (the store owns them): no add, no edit, and no plain delete, which would leave the tokens
working at Slack and send none of the store's signals. The one way out is the "Revoke" action: `auth.revoke`
at Slack for each token, then a delete through the store, gated by the `revoke_<model>` permission.
Operator's guide: docs/admin.md.

Registered on the default admin site when the admin autodiscovers this module, unless
`DJANGO_SLACK_STORE["ADMIN_ENABLED"]` is False (read then: a change takes effect at the next start).
`register_admin(site)` registers the same admins on a site of your own.
"""

from __future__ import annotations

import datetime
import enum
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar, cast
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.admin.utils import flatten_fieldsets, model_ngettext
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Greatest, Length
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil
from django.views.decorators.debug import sensitive_variables

from . import revocation
from ._typing import Subscriptable
from .conf import store_settings
from .crypto import TokenDecryptionError
from .fields import UTC
from .masking import EMPTY, mask_token, mask_url
from .models import SlackBot, SlackInstallation
from .stores import DjangoInstallationStore

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin as _ModelAdmin
    from django.contrib.admin.sites import AdminSite
    from django.db.models import Model, QuerySet
    from django.http import HttpRequest, HttpResponse
    from django_stubs_ext import StrOrPromise, WithAnnotations
    from slack_sdk import WebClient

    # The rows of the changelist and the detail page: the model's, with what `annotate()` adds.
    AnnotatedInstallation = WithAnnotations[SlackInstallation, "_InstallationAnnotations"]
    AnnotatedBot = WithAnnotations[SlackBot, "_RecordAnnotations"]
else:
    _ModelAdmin = Subscriptable(admin.ModelAdmin)

_Model = TypeVar("_Model", bound="SlackInstallation | SlackBot")
_Row = TypeVar("_Row", bound="AnnotatedInstallation | AnnotatedBot")


class _RecordAnnotations(TypedDict):
    health: int  # a Health


class _InstallationAnnotations(_RecordAnnotations):
    bot_pk: int | None  # the bot the same install wrote
    bot_expires_at: int | None
    bot_scope_list: list[str] | None
    user_token_length: int | None
    user_health: int
    bot_health: int


UNDECRYPTABLE = "cannot be decrypted with the configured keys (docs/security.md)"


# -- token health --------------------------------------------------------------------------------------------


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


# -- list filters --------------------------------------------------------------------------------------------


class HealthFilter(admin.SimpleListFilter):
    title = "token health"
    parameter_name = "health"

    def __init__(
        self,
        request: HttpRequest,
        params: dict[str, list[str]],
        model: type[Model],
        model_admin: _ModelAdmin[Any],
    ) -> None:
        self.model_admin = _record_admin(model_admin)
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: _ModelAdmin[Any]) -> list[tuple[str, str]]:
        window = store_settings.ROTATION_WINDOW_MINUTES
        labels = {Health.EXPIRING: f"expiring (within {window} min)"}
        return [
            (health.slug, labels.get(health, health.label))
            for health in _record_admin(model_admin).health_choices
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value in {health.slug for health in self.model_admin.health_choices}:
            return queryset.filter(health=Health[value.upper()])
        return queryset


class RotationFilter(admin.SimpleListFilter):
    title = "token rotation"
    parameter_name = "rotation"

    def lookups(self, request: HttpRequest, model_admin: _ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("yes", "On (tokens expire)"), ("no", "Off (static tokens)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(health__gte=Health.ROTATING)
        if self.value() == "no":
            return queryset.filter(health__lte=Health.STATIC)
        return queryset


class HasBotFilter(admin.SimpleListFilter):
    title = "has bot"
    parameter_name = "has_bot"

    def lookups(self, request: HttpRequest, model_admin: _ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(bot_pk__isnull=self.value() == "no")
        return queryset


class HasUserTokenFilter(admin.SimpleListFilter):
    title = "has user token"
    parameter_name = "has_user_token"

    def lookups(self, request: HttpRequest, model_admin: _ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(user_token_length__gt=0)
        if self.value() == "no":
            return queryset.filter(Q(user_token_length__isnull=True) | Q(user_token_length=0))
        return queryset


class LatestFilter(admin.SimpleListFilter):
    """The full history (every install and reinstall), or only the row per workspace that the store serves."""

    title = "history"
    parameter_name = "latest"

    def __init__(
        self,
        request: HttpRequest,
        params: dict[str, list[str]],
        model: type[Model],
        model_admin: _ModelAdmin[Any],
    ) -> None:
        self.order = _record_admin(model_admin).latest_by
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: _ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("yes", "Latest per workspace")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() != "yes":
            return queryset
        order = self.order
        newer = queryset.model._default_manager.filter(
            client_id=OuterRef("client_id"),
            enterprise_id=OuterRef("enterprise_id"),
            team_id=OuterRef("team_id"),
        ).filter(
            Q(**{f"{order}__gt": OuterRef(order)}) | Q(**{order: OuterRef(order), "pk__gt": OuterRef("pk")})
        )
        return queryset.filter(~Exists(newer))


# -- the admins ----------------------------------------------------------------------------------------------


@dataclass
class Target:
    """One row the Revoke action works on, with its tokens (label, value) loaded fresh for the call."""

    row: SlackInstallation | SlackBot
    tokens: list[tuple[str, str]] = field(default_factory=list, repr=False)
    error: str = ""  # set when the row's tokens cannot be read: it is then kept
    part_of: str = ""  # for a bot revoked with its installation: that installation

    @property
    def verbose_name(self) -> StrOrPromise | None:
        return self.row._meta.verbose_name

    def masked_tokens(self) -> list[tuple[str, str]]:
        return [(label, mask_token(token)) for label, token in self.tokens]


class SlackRecordAdmin(_ModelAdmin[_Model], Generic[_Model, _Row]):
    """What the installation and bot admins share: read-only rows, masked tokens, the Revoke action."""

    actions = ["revoke_selected"]
    date_hierarchy = "installed_at"
    show_facets = admin.ShowFacets.ALLOW
    list_per_page = 50
    ordering = ("-installed_at", "-id")
    revoke_selected_confirmation_template: str | list[str] | None = None
    # Subclass the store to have its signals sent with your class as `sender`.
    store_class: type[DjangoInstallationStore] = DjangoInstallationStore
    token_fields: tuple[str, ...] = ()  # never selected for the changelist, shown masked on the detail page
    latest_by = "installed_at"  # what "latest per workspace" means: the row the store serves
    health_choices: tuple[Health, ...] = ()

    class Media:
        css = {"all": ["django_slack_store/admin.css"]}

    if TYPE_CHECKING:

        def health_details(self, row: _Row) -> str:
            """What the health badge's tooltip says about the row's tokens (each admin has its own)."""
            ...

    def get_queryset(self, request: HttpRequest) -> QuerySet[_Model]:
        rows = super().get_queryset(request).defer(*self.token_fields)
        return self.annotate(rows, int(time.time()))

    def annotate(self, rows: QuerySet[_Model], now: int) -> QuerySet[_Model]:
        raise NotImplementedError

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[_Model], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term != search_term.upper():
            # Slack ids are upper case, and MariaDB compares the id columns case-sensitively (SlackIdField).
            upper, _ = super().get_search_results(request, queryset, search_term.upper())
            results = results | upper
        return results, may_have_duplicates

    # -- read-only: no add, no edit, no plain delete ----------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _Model | None = None) -> bool:
        return False  # the detail page is Django's view-only page

    def has_delete_permission(self, request: HttpRequest, obj: _Model | None = None) -> bool:
        # A plain delete would leave the tokens working at Slack and bypass the store's signals: revoke.
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        codename = get_permission_codename("revoke", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def get_readonly_fields(self, request: HttpRequest, obj: _Model | None = None) -> list[str]:
        return flatten_fieldsets(self.get_fieldsets(request, obj))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # For an action the user may not run Django only answers "No action selected"; a revoke is refused.
        if (
            request.method == "POST"
            and "revoke_selected" in request.POST.getlist("action")
            and not self.has_revoke_permission(request)
        ):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    # -- columns and fields shared by both -------------------------------------------------------------------

    @admin.display(description="workspace", ordering="team_name")
    def workspace(self, row: _Row) -> str:
        return _named(row.team_name, row.team_id)

    @admin.display(description="enterprise", ordering="enterprise_name")
    def enterprise(self, row: _Row) -> str:
        return _named(row.enterprise_name, row.enterprise_id)

    @admin.display(description="token health", ordering="health")
    def health_badge(self, row: _Row) -> str:
        return render_health(Health(row.health), self.health_details(row))

    @admin.display(description="custom values")
    def pretty_custom_values(self, row: _Row) -> str:
        text = json.dumps(row.custom_values, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre class="dss-json">{}</pre>', text)

    def masked(self, row: _Row, name: str) -> str:
        try:
            return format_html('<span class="dss-token">{}</span>', mask_token(getattr(row, name)))
        except TokenDecryptionError:
            return UNDECRYPTABLE

    def admin_url(self, model: type[Model], view: str, *args: object, query: str = "") -> str | None:
        """A link into this admin site, or None when `model` is not registered on it."""
        if not self.admin_site.is_registered(model):
            return None
        opts = model._meta
        try:
            url = reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_{view}", args=args)
        except NoReverseMatch:
            return None
        return f"{url}?{query}" if query else url

    def workspace_query(self, row: _Row) -> str:
        return urlencode(
            {"client_id": row.client_id, "enterprise_id": row.enterprise_id, "team_id": row.team_id}
        )

    # -- the Revoke action ----------------------------------------------------------------------------------

    @admin.action(permissions=["revoke"], description="Revoke selected %(verbose_name_plural)s at Slack")
    @sensitive_variables()  # the tokens of every row (and, in an error report, of everything it calls)
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[_Model]) -> TemplateResponse | None:
        """Like Django's `delete_selected`: a confirmation page, then the work, then back to the list."""
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        confirmed = bool(request.POST.get("post"))
        targets = self.revoke_targets(request, list(queryset.values_list("pk", flat=True)), confirmed)
        if confirmed:
            web_client = revocation.client()
            for target in targets:
                self.revoke_target(request, target, web_client)
            return None
        return self.revoke_confirmation(request, queryset, targets)

    def revoke_targets(self, request: HttpRequest, pks: list[int], confirmed: bool) -> list[Target]:
        targets = (_load_target(self.model, pk, self.tokens_to_revoke) for pk in pks)
        return [target for target in targets if target is not None]

    def tokens_to_revoke(self, row: _Model) -> list[tuple[str, str]]:
        raise NotImplementedError

    def revoke_confirmation(
        self, request: HttpRequest, queryset: QuerySet[_Model], targets: list[Target], **context: Any
    ) -> TemplateResponse:
        opts = self.opts
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": "Revoke at Slack",
            "subtitle": None,
            "objects_name": str(model_ngettext(queryset)),
            "targets": targets,
            "selected_pks": [target.row.pk for target in targets if not target.part_of],
            "opts": opts,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
            **context,
        }
        return TemplateResponse(
            request,
            self.revoke_selected_confirmation_template
            or [
                f"admin/{opts.app_label}/{opts.model_name}/revoke_selected_confirmation.html",
                f"admin/{opts.app_label}/revoke_selected_confirmation.html",
            ],
            context,
        )

    def revoke_target(self, request: HttpRequest, target: Target, web_client: WebClient) -> None:
        """Revoke one row's tokens, then delete it if all of them are dead at Slack; report either way."""
        row, name = target.row, f"{target.verbose_name} “{target.row}”"
        if target.error:
            self.revoke_failed(request, row, f"{name} was kept: {target.error}.")
            return
        results = [(label, revocation.revoke(token, web_client)) for label, token in target.tokens]
        failed = [f"{label}: {result.detail}" for label, result in results if not result.dead]
        if failed:
            self.revoke_failed(request, row, f"{name} was kept: could not revoke its {'; '.join(failed)}.")
            return
        done = "; ".join(f"{label} {result.detail}" for label, result in results) or "no token to revoke"
        verb = "Revoked at Slack and deleted" if results else "Deleted"
        store = self.store_class(client_id=row.client_id)
        # The one of the row's model.
        delete_rows: Callable[[list[Any]], int] = (
            store.delete_bot_rows if isinstance(row, SlackBot) else store.delete_installation_rows
        )
        with transaction.atomic(using=router.db_for_write(type(row))):
            if delete_rows([row]):
                _log(request, row, DELETION, f"{verb} ({done}).")
                self.message_user(request, f"{verb} {name} ({done}).", messages.SUCCESS)
                return
        self.revoke_failed(
            request,
            row,
            f"{name} was kept: it was rewritten (a token rotation) or deleted after it was read, so what was "
            f"revoked ({done}) may not be what it holds now. Revoke it again.",
        )

    def revoke_failed(self, request: HttpRequest, row: SlackInstallation | SlackBot, message: str) -> None:
        _log(request, row, CHANGE, f"Revoke failed: {message}")
        self.message_user(request, message, messages.ERROR)


class SlackInstallationAdmin(SlackRecordAdmin[SlackInstallation, "AnnotatedInstallation"]):
    list_display = [
        "workspace",
        "enterprise",
        "installer",
        "is_enterprise_install",
        "installed_at",
        "scopes",
        "health_badge",
        "bot_link",
    ]
    list_display_links = ["workspace", "enterprise"]
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
            "User token",
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
        ("Bot", {"fields": ["bot_link", "workspace_link"]}),
        (
            "Incoming webhook",
            {
                "fields": [
                    "masked_incoming_webhook_url",
                    ("incoming_webhook_channel", "incoming_webhook_channel_id"),
                    "incoming_webhook_configuration_url",
                ]
            },
        ),
        ("Custom values", {"fields": ["pretty_custom_values"]}),
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

    def health_details(self, row: AnnotatedInstallation) -> str:
        user, bot = Health(row.user_health), Health(row.bot_health)
        return f"user token: {user.label}; bot: {'none' if bot is Health.NONE else bot.label}"

    @admin.display(description="installer", ordering="user_id")
    def installer(self, row: AnnotatedInstallation) -> str:
        return row.user_id or EMPTY

    @admin.display(description="scopes")
    def scopes(self, row: AnnotatedInstallation) -> str:
        return f"{len(row.bot_scope_list or [])} bot · {len(row.user_scopes or [])} user"

    @admin.display(description="bot")
    def bot_link(self, row: AnnotatedInstallation) -> str:
        if row.bot_pk is None:
            return EMPTY
        url = self.admin_url(SlackBot, "change", row.bot_pk)
        label = f"bot #{row.bot_pk}"
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(description="workspace history")
    def workspace_link(self, row: AnnotatedInstallation) -> str:
        url = self.admin_url(SlackBot, "changelist", query=self.workspace_query(row))
        return format_html('<a href="{}">Every bot row of this workspace</a>', url) if url else EMPTY

    @admin.display(description="user token")
    def masked_user_token(self, row: AnnotatedInstallation) -> str:
        return self.masked(row, "user_token")

    @admin.display(description="user refresh token")
    def masked_user_refresh_token(self, row: AnnotatedInstallation) -> str:
        return self.masked(row, "user_refresh_token")

    @admin.display(description="user token expires")
    def user_token_expiry(self, row: AnnotatedInstallation) -> str:
        return describe_expiry(row.user_token_expires_at) if row.user_token_length else EMPTY

    @admin.display(description="user scopes")
    def user_scope_list(self, row: AnnotatedInstallation) -> str:
        return ", ".join(row.user_scopes or []) or EMPTY

    @admin.display(description="incoming webhook URL")
    def masked_incoming_webhook_url(self, row: AnnotatedInstallation) -> str:
        return mask_url(row.incoming_webhook_url)

    # -- Revoke: the installer's user token, and (when the box is ticked) the bot the same install wrote.

    def tokens_to_revoke(self, row: SlackInstallation) -> list[tuple[str, str]]:
        return [("user token", row.user_token)] if row.user_token else []

    def revoke_targets(self, request: HttpRequest, pks: list[int], confirmed: bool) -> list[Target]:
        targets = super().revoke_targets(request, pks, confirmed)
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
            bot = _load_target(SlackBot, bot_pk, _bot_tokens) if bot_pk not in seen else None
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
        return super().revoke_confirmation(request, queryset, targets, offer_revoke_bots=True, **context)


class SlackBotAdmin(SlackRecordAdmin[SlackBot, "AnnotatedBot"]):
    list_display = [
        "workspace",
        "enterprise",
        "bot_user_id",
        "bot_id",
        "is_enterprise_install",
        "installed_at",
        "updated_at",
        "scopes",
        "health_badge",
    ]
    list_display_links = ["workspace", "enterprise"]
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
            "Bot token",
            {
                "fields": [
                    "masked_bot_token",
                    "masked_bot_refresh_token",
                    "bot_token_expiry",
                    "bot_scope_list",
                ]
            },
        ),
        ("Custom values", {"fields": ["pretty_custom_values"]}),
    ]
    token_fields = ("bot_token", "bot_refresh_token")
    # The bot served for a workspace is the one whose credentials were written last (find_bot).
    latest_by = "updated_at"
    health_choices = (Health.STATIC, Health.ROTATING, Health.EXPIRING, Health.EXPIRED)

    def annotate(self, rows: QuerySet[SlackBot], now: int) -> QuerySet[SlackBot]:
        return rows.annotate(health=health_expression("bot_token_expires_at", None, now))

    def health_details(self, row: AnnotatedBot) -> str:
        return Health(row.health).help

    @admin.display(description="scopes")
    def scopes(self, row: AnnotatedBot) -> int:
        return len(row.bot_scopes or [])

    @admin.display(description="installations")
    def workspace_link(self, row: AnnotatedBot) -> str:
        url = self.admin_url(SlackInstallation, "changelist", query=self.workspace_query(row))
        return format_html('<a href="{}">Every installation of this workspace</a>', url) if url else EMPTY

    @admin.display(description="bot token")
    def masked_bot_token(self, row: AnnotatedBot) -> str:
        return self.masked(row, "bot_token")

    @admin.display(description="bot refresh token")
    def masked_bot_refresh_token(self, row: AnnotatedBot) -> str:
        return self.masked(row, "bot_refresh_token")

    @admin.display(description="bot token expires")
    def bot_token_expiry(self, row: AnnotatedBot) -> str:
        return describe_expiry(row.bot_token_expires_at)

    @admin.display(description="bot scopes")
    def bot_scope_list(self, row: AnnotatedBot) -> str:
        return ", ".join(row.bot_scopes or []) or EMPTY

    def tokens_to_revoke(self, row: SlackBot) -> list[tuple[str, str]]:
        return _bot_tokens(row)


def _bot_tokens(row: SlackBot) -> list[tuple[str, str]]:
    return [("bot token", row.bot_token)]


def _same_install_bot() -> QuerySet[SlackBot]:
    """The bot row written by the same install as the outer installation row: the same identity but the user
    (served by the bot identity's unique index)."""
    return SlackBot._default_manager.filter(
        client_id=OuterRef("client_id"),
        enterprise_id=OuterRef("enterprise_id"),
        team_id=OuterRef("team_id"),
        installed_at=OuterRef("installed_at"),
    )


def _load_target(
    model: type[_Model], pk: int | None, tokens: Callable[[_Model], list[tuple[str, str]]]
) -> Target | None:
    """The row as it is now, tokens included (None if it is gone). Rows are read one by one so that one whose
    token no configured key decrypts is reported on its own instead of failing the whole action."""
    # The plugin types the manager of `type[_Model]` by the TypeVar's bound; the row is a `model`.
    row = cast("_Model | None", model._default_manager.filter(pk=pk).first())
    if row is None:
        return None
    try:
        return Target(row, tokens(row))
    except TokenDecryptionError:  # raised when the token attribute is read (fields.TokenAttribute)
        return Target(row, error=f"its token {UNDECRYPTABLE}")


def _named(name: str | None, slack_id: str) -> str:
    if not slack_id:
        return name or EMPTY
    if not name:
        return slack_id
    return format_html('{} <span class="dss-id">{}</span>', name, slack_id)


def _log(request: HttpRequest, row: Model, action_flag: int, message: str) -> None:
    LogEntry.objects.log_actions(
        user_id=cast("int | str", request.user.pk),  # typed as maybe anonymous: admin users are not
        queryset=[row],
        action_flag=action_flag,
        change_message=message,
        single_object=True,
    )


def _record_admin(model_admin: _ModelAdmin[Any]) -> SlackRecordAdmin[Any, Any]:
    """The admin a filter of this module is given: always a SlackRecordAdmin (typed as any ModelAdmin)."""
    return cast("SlackRecordAdmin[Any, Any]", model_admin)


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
