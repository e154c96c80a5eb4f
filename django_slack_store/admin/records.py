"""`SlackRecordAdmin`: what the installation and bot admins share. Rows are read-only (the store owns them),
tokens are never selected for a list and shown masked on a detail page, and the one way out is Revoke."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import display_for_value, flatten_fieldsets
from django.contrib.admin.views.main import ChangeList
from django.db.models import Case, F, When
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..crypto import TokenDecryptionError
from ..masking import EMPTY, mask_secret
from .actions import RevokeAdmin
from .health import Health, render_health, unusable
from .maintenance import MaintenanceAdmin

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.db.models import Model, QuerySet
    from django.forms import ModelForm
    from django.http import HttpRequest
    from django_stubs_ext import StrOrPromise

    from ..models import SlackBot, SlackInstallation
    from .bots import AnnotatedBot
    from .installations import AnnotatedInstallation

    # A display method made for an admin class, set in its body.
    _Field = Callable[["SlackRecordAdmin[Any, Any]", Any], StrOrPromise]

_Model = TypeVar("_Model", bound="SlackInstallation | SlackBot")
_Row = TypeVar("_Row", bound="AnnotatedInstallation | AnnotatedBot")

# The lookups of the links to a workspace's rows (`workspace_query`).
WORKSPACE_LOOKUPS = ("client_id", "enterprise_id", "team_id")
# The workspace column sorts an org-wide install (no team) by its org's name.
WORKSPACE_ORDER = Case(When(team_id="", then=F("enterprise_name")), default=F("team_name"))


class RecordAnnotations(TypedDict):
    """What `annotate()` adds to the rows of both admins."""

    health: int  # a Health


class SlackRecordAdmin(MaintenanceAdmin[_Model], RevokeAdmin[_Model], Generic[_Model, _Row]):
    """What the installation and bot admins share: read-only rows, masked tokens, the Revoke, "Refresh
    tokens now" and "Check at Slack" actions."""

    actions = ["revoke_selected", "refresh_tokens", "check_at_slack"]

    date_hierarchy = "installed_at"
    show_facets = admin.ShowFacets.ALLOW
    list_per_page = 50
    ordering = ("-installed_at", "-id")
    token_fields: tuple[str, ...] = ()  # never selected for the changelist, shown masked on the detail page
    latest_by = "installed_at"  # what "latest per workspace" means: the row the store serves
    health_choices: tuple[Health, ...] = ()
    # The site's default is "-", while the masks and this app's columns show EMPTY ("—"): one sign for all.
    empty_value_display = EMPTY
    # Fields whose help text explains their empty value (models.py: "Empty: an org-wide install."): shown
    # on the detail page only under an empty value, which it explains; under a filled one it misleads.
    help_when_empty: tuple[str, ...] = ("team_id", "enterprise_id")

    class Media:
        css = {"all": ["django_slack_store/admin.css"]}

    if TYPE_CHECKING:

        def health_details(self, row: _Row) -> StrOrPromise:
            """What the health badge's tooltip says about the row's tokens (each admin has its own)."""
            ...

    def get_queryset(self, request: HttpRequest) -> QuerySet[_Model]:
        rows = super().get_queryset(request).defer(*self.token_fields)
        return self.annotate(rows, int(time.time()))

    def annotate(self, rows: QuerySet[_Model], now: int) -> QuerySet[_Model]:
        raise NotImplementedError

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # Django allows any lookup on the model's own fields, so `?incoming_webhook_url__startswith=...`
        # would tell, row count by row count, a secret's characters one at a time. Anything the admin does not
        # offer is refused: Django answers 400 Bad Request, whatever the value.
        return lookup in self.offered_lookups(request)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return BoundedChangeList

    def offered_lookups(self, request: HttpRequest) -> set[str]:
        """The query parameters the changelist's links filter by: the list filters', the date hierarchy's and
        the workspace links'."""
        offered = set(WORKSPACE_LOOKUPS)
        if self.date_hierarchy:
            offered.update(f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day"))
        for item in self.get_list_filter(request):
            if isinstance(item, str):
                # A field's own filter, on a BooleanField in these admins: `<field>__exact` and `__isnull`. A
                # subclass that filters another kind of field overrides this to offer its lookups.
                offered.update({f"{item}__exact", f"{item}__isnull"})
            elif isinstance(item, type) and issubclass(item, admin.SimpleListFilter):
                offered.add(str(item.parameter_name))
        return offered

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[_Model], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term != search_term.upper():
            # Slack ids are upper case, and MariaDB compares the id columns case-sensitively (SlackIdField).
            upper = super().get_search_results(request, queryset, search_term.upper())[0]
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

    def get_readonly_fields(self, request: HttpRequest, obj: _Model | None = None) -> list[str]:
        return flatten_fieldsets(self.get_fieldsets(request, obj))

    def get_form(
        self, request: HttpRequest, obj: _Model | None = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm[_Model]]:
        # A read-only field's help text is the form's `help_texts` entry when there is one, else the model's.
        filled = {name: "" for name in self.help_when_empty if obj is not None and getattr(obj, name)}
        kwargs["help_texts"] = {**filled, **kwargs.get("help_texts", {})}
        return super().get_form(request, obj, change, **kwargs)

    # -- columns and fields shared by both -------------------------------------------------------------------

    # The workspace's name over its id, then the org it belongs to (a laptop's window has no room for a
    # column each); an org-wide install shows the org's name and id, marked org-wide.
    @admin.display(description=_("workspace"), ordering=WORKSPACE_ORDER)
    def workspace(self, row: _Row) -> str:
        if row.team_id:
            name, slack_id = row.team_name, row.team_id
        else:
            name, slack_id = row.enterprise_name, row.enterprise_id
        if row.is_enterprise_install:
            note = gettext("org-wide install")
        elif row.team_id and row.enterprise_id:
            note = gettext("in %(org)s") % {"org": row.enterprise_name or row.enterprise_id}
        else:
            note = ""
        return lines(("", name or ("" if slack_id else EMPTY)), ("dss-id", slack_id), ("dss-note", note))

    @admin.display(description=_("token health"), ordering="health")
    def health_badge(self, row: _Row) -> str:
        return render_health(Health(row.health), self.health_details(row))

    @admin.display(description=_("custom values"))
    def pretty_custom_values(self, row: _Row) -> str:
        text = json.dumps(row.custom_values, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre class="dss-json">{}</pre>', text)

    def workspace_query(self, row: _Row) -> str:
        return urlencode({name: getattr(row, name) for name in WORKSPACE_LOOKUPS})


class BoundedChangeList(ChangeList):
    """Django's changelist, for which a date hierarchy drill-down it cannot bound (`?installed_at__year=9999`:
    the next year is past what a datetime holds) is a bad parameter, as a malformed one is, not a 500."""

    def get_filters(self, request: HttpRequest) -> Any:
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as error:
            raise IncorrectLookupParameters(error) from error


# -- fields each admin makes for its own columns: `masked_bot_token = masked_field("bot_token", ...)`


def masked_field(name: str, description: StrOrPromise) -> _Field:
    """The secret in the column `name`, masked; a value that cannot be served (no configured key decrypts it,
    or it is unbound) does not break the page."""

    @admin.display(description=description)
    def field(model_admin: SlackRecordAdmin[Any, Any], row: Any) -> StrOrPromise:
        try:
            return format_html('<span class="dss-token">{}</span>', mask_secret(name, getattr(row, name)))
        except TokenDecryptionError as error:
            return unusable(error)

    return field


def scopes_field(name: str, description: StrOrPromise) -> _Field:
    """The scopes in the column `name`, comma-separated."""

    @admin.display(description=description)
    def field(model_admin: SlackRecordAdmin[Any, Any], row: Any) -> str:
        return ", ".join(getattr(row, name) or []) or EMPTY

    return field


def workspace_link_field(model: type[Model], description: StrOrPromise, text: StrOrPromise) -> _Field:
    """A link to the rows of `model` of the row's workspace (when `model` is registered on the same site)."""

    @admin.display(description=description)
    def field(model_admin: SlackRecordAdmin[Any, Any], row: Any) -> str:
        url = model_admin.admin_url(model, "changelist", query=model_admin.workspace_query(row))
        return format_html('<a href="{}">{}</a>', url, text) if url else EMPTY

    return field


# -- list columns: what a cell holds is stacked (`dss-line`), so that every column fits a laptop's window.


def lines(*texts: tuple[str, str | None]) -> str:
    """`(css class, text)` pairs as a cell's stacked lines; those without text are left out."""
    return format_html_join(
        "", '<span class="{}">{}</span>', ((f"dss-line {css}".strip(), text) for css, text in texts if text)
    )


def when(value: Any) -> str:
    """A time as the admin shows times; a list cell lets it wrap."""
    return str(display_for_value(value, EMPTY))
