"""The changelists' filters. Each filters on what `SlackRecordAdmin.annotate()` adds to the rows, so that a
filter, its facet counts and the column it stands for agree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..conf import store_settings
from .health import Health

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin
    from django.db.models import Model, QuerySet
    from django.http import HttpRequest
    from django_stubs_ext import StrOrPromise

    from .records import SlackRecordAdmin


class _RecordFilter(admin.SimpleListFilter):
    """A filter of a `SlackRecordAdmin`'s changelist, which keeps that admin for `queryset()`."""

    def __init__(
        self,
        request: HttpRequest,
        params: dict[str, list[str]],
        model: type[Model],
        model_admin: ModelAdmin[Any],
    ) -> None:
        # Typed as any ModelAdmin: always a SlackRecordAdmin. Set first: the base class calls `lookups()`.
        self.record_admin = cast("SlackRecordAdmin[Any, Any]", model_admin)
        super().__init__(request, params, model, model_admin)


class HealthFilter(_RecordFilter):
    title = _("token health")
    parameter_name = "health"

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, StrOrPromise]]:
        window = store_settings.ROTATION_WINDOW_MINUTES
        labels = {Health.EXPIRING: gettext("expiring (within %(minutes)s min)") % {"minutes": window}}
        return [
            (health.slug, labels.get(health, health.label)) for health in self.record_admin.health_choices
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value in {health.slug for health in self.record_admin.health_choices}:
            return queryset.filter(health=Health[value.upper()])
        return queryset


class _YesNoFilter(admin.SimpleListFilter):
    """Two choices, "yes" and "no", each a condition on the annotated rows."""

    yes_label: StrOrPromise = _("Yes")
    no_label: StrOrPromise = _("No")
    yes: Q
    no: Q

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, StrOrPromise]]:
        return [("yes", self.yes_label), ("no", self.no_label)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(self.yes)
        if self.value() == "no":
            return queryset.filter(self.no)
        return queryset


class RotationFilter(_YesNoFilter):
    title = _("token rotation")
    parameter_name = "rotation"
    yes_label = _("On (tokens expire)")
    no_label = _("Off (static tokens)")
    yes = Q(health__gte=Health.ROTATING)
    no = Q(health__lte=Health.STATIC)


class HasBotFilter(_YesNoFilter):
    title = _("has bot")
    parameter_name = "has_bot"
    yes = Q(bot_pk__isnull=False)
    no = Q(bot_pk__isnull=True)


class HasUserTokenFilter(_YesNoFilter):
    title = _("has user token")
    parameter_name = "has_user_token"
    yes = Q(user_token_length__gt=0)
    no = Q(user_token_length__isnull=True) | Q(user_token_length=0)


class LatestFilter(_RecordFilter):
    """The full history (every install and reinstall), or only the row per workspace that the store serves."""

    title = _("history")
    parameter_name = "latest"

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, StrOrPromise]]:
        return [("yes", _("Latest per workspace"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() != "yes":
            return queryset
        order = self.record_admin.latest_by
        newer = queryset.model._default_manager.filter(
            client_id=OuterRef("client_id"),
            enterprise_id=OuterRef("enterprise_id"),
            team_id=OuterRef("team_id"),
        ).filter(
            Q(**{f"{order}__gt": OuterRef(order)}) | Q(**{order: OuterRef(order), "pk__gt": OuterRef("pk")})
        )
        return queryset.filter(~Exists(newer))
