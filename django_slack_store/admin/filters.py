"""The changelists' filters. Each filters on what `SlackRecordAdmin.annotate()` adds to the rows, so that a
filter, its facet counts and the column it stands for agree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q

from ..conf import store_settings
from .health import Health

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin
    from django.db.models import Model, QuerySet
    from django.http import HttpRequest

    from .records import SlackRecordAdmin


class HealthFilter(admin.SimpleListFilter):
    title = "token health"
    parameter_name = "health"

    def __init__(
        self,
        request: HttpRequest,
        params: dict[str, list[str]],
        model: type[Model],
        model_admin: ModelAdmin[Any],
    ) -> None:
        self.model_admin = _record_admin(model_admin)
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, str]]:
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

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, str]]:
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

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(bot_pk__isnull=self.value() == "no")
        return queryset


class HasUserTokenFilter(admin.SimpleListFilter):
    title = "has user token"
    parameter_name = "has_user_token"

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, str]]:
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
        model_admin: ModelAdmin[Any],
    ) -> None:
        self.order = _record_admin(model_admin).latest_by
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, str]]:
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


def _record_admin(model_admin: ModelAdmin[Any]) -> SlackRecordAdmin[Any, Any]:
    """The admin a filter of this module is given: always a SlackRecordAdmin (typed as any ModelAdmin)."""
    return cast("SlackRecordAdmin[Any, Any]", model_admin)
