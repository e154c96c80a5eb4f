"""The "Revoke" action: `auth.revoke` at Slack for each token of the selected rows, then a delete through the
store, behind a confirmation page (like the admin's `delete_selected`) and the `revoke_<model>` permission.
A row's detail page has a Revoke button that leads to the same confirmation for that row (`revoke_view`).
Every row's outcome is reported to the operator and logged as a `LogEntry`: ids and names, never a token."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import django
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.admin.utils import model_ngettext, quote, unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from .. import revocation, slack_api
from .._typing import Subscriptable
from ..conf import store_settings
from ..crypto import TokenDecryptionError
from ..masking import mask_token
from ..models import SlackBot, SlackInstallation
from ..stores import DjangoInstallationStore
from .health import unusable

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin as _ModelAdmin
    from django.db.models import Model, QuerySet
    from django.http import HttpRequest, HttpResponse
    from django.urls import URLPattern
    from django_stubs_ext import StrOrPromise
    from slack_sdk import WebClient
else:
    _ModelAdmin = Subscriptable(admin.ModelAdmin)

_Model = TypeVar("_Model", bound="SlackInstallation | SlackBot")

# The `LogEntry.action_flag` of a revoke that kept its row. Not Django's CHANGE: nothing in the database
# changed, and "Recent actions" would show an edit (the pencil). Neither ADDITION nor DELETION either, so the
# admin shows the entry without an icon; the object's History lists it with its message.
REVOKE_KEPT = 100


@dataclass
class Target:
    """One row the Revoke action works on, with its tokens (label, value) loaded fresh for the call."""

    row: SlackInstallation | SlackBot
    tokens: list[tuple[str, str]] = field(default_factory=list, repr=False)
    error: str = ""  # set when the row's tokens cannot be read: it is then kept
    kept: str = ""  # set when the revoke kept the row: why
    part_of: str = ""  # for a bot revoked with its installation: that installation
    slack_failed: bool = False  # a call to Slack failed: the operator is told where the calls go

    @property
    def verbose_name(self) -> StrOrPromise | None:
        return self.row._meta.verbose_name

    def masked_tokens(self) -> list[tuple[str, str]]:
        return [(label, mask_token(token)) for label, token in self.tokens]


class RevokeAdmin(_ModelAdmin[_Model], Generic[_Model]):
    """A ModelAdmin with the Revoke action; a subclass says which tokens a row has (`tokens_to_revoke`)."""

    actions = ["revoke_selected"]
    revoke_selected_confirmation_template: str | list[str] | None = None
    revoke_selected_kept_template: str | list[str] | None = None
    # Subclass the store to have its signals sent with your class as `sender`.
    store_class: type[DjangoInstallationStore] = DjangoInstallationStore

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return may_revoke(request, self.model)

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

    @admin.action(permissions=["revoke"], description=_("Revoke selected %(verbose_name_plural)s at Slack"))
    @sensitive_variables()
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[_Model]) -> TemplateResponse | None:
        """Like Django's `delete_selected`: a confirmation page, then the work, then back to the list, or to
        the rows that were kept, where the operator may choose rows to delete anyway."""
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        if request.POST.get("delete_anyway"):
            for row in queryset:
                self.delete_anyway(request, row)
            return None
        return self.revoke_rows(request, queryset)

    @sensitive_variables()  # the tokens of every row (and, in an error report, of everything it calls)
    def revoke_rows(
        self, request: HttpRequest, queryset: QuerySet[_Model], **context: Any
    ) -> TemplateResponse | None:
        """The confirmation page (`context` added to it) or, once confirmed, the revoke: None when every row
        was deleted, else the page of the rows kept."""
        confirmed = bool(request.POST.get("post"))
        targets = self.revoke_targets(request, list(queryset.values_list("pk", flat=True)), confirmed)
        if not confirmed:
            return self.revoke_confirmation(request, queryset, targets, **context)
        kept = self.revoke_within_deadline(request, targets)
        return self.revoke_kept(request, kept) if kept else None

    # -- the Revoke button of a row's detail page ---------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts
        revoke = path(
            "<path:object_id>/revoke/",
            self.admin_site.admin_view(self.revoke_view),
            name=f"{opts.app_label}_{opts.model_name}_revoke",
        )
        return [revoke, *super().get_urls()]  # before the catch-all `<path:object_id>/`

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The action for one row, as Django's delete view is for its button: GET shows the confirmation,
        whose form posts back here. The row is the URL's, whatever the form holds."""
        changelist = self.admin_url(self.model, "changelist") or reverse(f"{self.admin_site.name}:index")
        row = self.get_object(request, unquote(object_id))
        if row is None:  # revoked meanwhile, say: Django's own words for a missing row
            message = gettext("%(name)s with ID “%(key)s” doesn’t exist. Perhaps it was deleted?")
            values = {"name": self.opts.verbose_name, "key": unquote(object_id)}
            self.message_user(request, message % values, messages.WARNING)
            return HttpResponseRedirect(changelist)
        if not (self.has_view_permission(request, row) and self.has_revoke_permission(request)):
            raise PermissionDenied
        response = self.revoke_rows(request, self.get_queryset(request).filter(pk=row.pk), original=row)
        # None: deleted (with its bot, if asked), so its page is gone: back to the list, with the messages.
        return HttpResponseRedirect(changelist) if response is None else response

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: _Model | None = None,
    ) -> HttpResponse:
        if obj is not None and self.has_revoke_permission(request):
            context["revoke_url"] = self.admin_url(self.model, "revoke", quote(obj.pk))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def revoke_within_deadline(self, request: HttpRequest, targets: list[Target]) -> list[Target]:
        """Revoke the targets in turn, within `REVOKE_DEADLINE` seconds all told (a request that outlives a
        proxy's timeout would leave the operator with no answer): each row's calls end by then, and the rows
        left once it has passed are not attempted, and kept. Returns the rows kept."""
        seconds = store_settings.REVOKE_DEADLINE
        deadline = time.monotonic() + seconds
        kept, not_attempted = [], []
        for target in targets:
            left = deadline - time.monotonic()
            if left <= 0:
                target.kept = gettext("not attempted: this request's time for Slack ran out")
                not_attempted.append(target)
            elif not self.revoke_target(request, target, slack_api.client(min(slack_api.TIMEOUT, left))):
                kept.append(target)
        if not_attempted:
            message = gettext(
                "Not attempted, as this request's time for Slack (%(seconds)s s) ran out, and kept: "
                "%(names)s. Revoke them again."
            )
            names = ", ".join(_name(target.row) for target in not_attempted)
            self.message_user(request, message % {"seconds": seconds, "names": names}, messages.ERROR)
        if any(target.slack_failed for target in targets):
            self.message_user(request, slack_api.where_hint("auth.revoke"), messages.WARNING)
        return kept + not_attempted

    def revoke_targets(self, request: HttpRequest, pks: list[int], confirmed: bool) -> list[Target]:
        targets = (load_target(self.model, pk, self.tokens_to_revoke) for pk in pks)
        return [target for target in targets if target is not None]

    def tokens_to_revoke(self, row: _Model) -> list[tuple[str, str]]:
        raise NotImplementedError

    def revoke_confirmation(
        self, request: HttpRequest, queryset: QuerySet[_Model], targets: list[Target], **context: Any
    ) -> TemplateResponse:
        return self.revoke_page(
            request,
            self.revoke_selected_confirmation_template
            or self.revoke_templates("revoke_selected_confirmation"),
            objects_name=str(model_ngettext(queryset)),
            targets=targets,
            selected_pks=[target.row.pk for target in targets if not target.part_of],
            revokes_bots=any(isinstance(target.row, SlackBot) for target in targets),
            **context,
        )

    def revoke_kept(self, request: HttpRequest, kept: list[Target]) -> TemplateResponse:
        """The rows the revoke kept, each model's in a form of its own that posts to its changelist, where the
        operator may tick rows to delete anyway (with that model's revoke permission)."""
        groups = []
        for model in dict.fromkeys(type(target.row) for target in kept):
            allowed = may_revoke(request, model)
            groups.append(
                {
                    "name": model._meta.verbose_name_plural,
                    "url": self.admin_url(model, "changelist") if allowed else None,
                    "targets": [target for target in kept if type(target.row) is model],
                }
            )
        return self.revoke_page(
            request,
            self.revoke_selected_kept_template or self.revoke_templates("revoke_selected_kept"),
            title=gettext("Rows kept by the revoke"),
            groups=groups,
        )

    def revoke_page(
        self, request: HttpRequest, template: str | list[str], **context: Any
    ) -> TemplateResponse:
        opts = self.opts
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Revoke at Slack"),
            "subtitle": None,
            "opts": opts,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
            # Django 6.1's admin marks breadcrumbs up as a list (revoke_breadcrumbs.html).
            "breadcrumbs_list": django.VERSION >= (6, 1),
            **context,
        }
        return TemplateResponse(request, template, context)

    def revoke_templates(self, name: str) -> list[str]:
        """The template `name` of this model, else of the app, as the admin looks its own up."""
        opts = self.opts
        return [
            f"admin/{opts.app_label}/{opts.model_name}/{name}.html",
            f"admin/{opts.app_label}/{name}.html",
        ]

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

    def revoke_target(self, request: HttpRequest, target: Target, web_client: WebClient) -> bool:
        """Revoke one row's tokens, then delete it if all of them are dead at Slack; report either way.
        Returns whether the row was deleted."""
        row = target.row
        if target.error:
            return self.revoke_failed(request, target, target.error)
        results = [(label, revocation.revoke(token, web_client)) for label, token in target.tokens]
        failed = [
            gettext("%(token)s: %(outcome)s") % {"token": label, "outcome": result.detail}
            for label, result in results
            if not result.dead
        ]
        if failed:
            target.slack_failed = True
            reason = gettext("could not revoke its %(failures)s") % {"failures": "; ".join(failed)}
            return self.revoke_failed(request, target, reason)
        done = "; ".join(
            gettext("%(token)s %(outcome)s") % {"token": label, "outcome": result.detail}
            for label, result in results
        )
        values = {"name": _name(row), "outcomes": done or gettext("no token to revoke")}
        if results:
            logged = gettext("Revoked at Slack and deleted (%(outcomes)s).")
            shown = gettext("Revoked at Slack and deleted %(name)s (%(outcomes)s).")
        else:
            logged = gettext("Deleted (%(outcomes)s).")
            shown = gettext("Deleted %(name)s (%(outcomes)s).")
        if self.delete_row(request, row, logged % values):
            self.message_user(request, shown % values, messages.SUCCESS)
            return True
        reason = gettext(
            "it was rewritten (a token rotation) or deleted after it was read, so what was revoked "
            "(%(outcomes)s) may not be what it holds now. Revoke it again"
        )
        return self.revoke_failed(request, target, reason % values)

    def revoke_failed(self, request: HttpRequest, target: Target, reason: str) -> bool:
        """Report a row kept, and why; returns False (not deleted)."""
        target.kept = reason
        message = gettext("%(name)s was kept: %(reason)s.") % {"name": _name(target.row), "reason": reason}
        _log(request, target.row, REVOKE_KEPT, gettext("Revoke failed: %(message)s") % {"message": message})
        self.message_user(request, message, messages.ERROR)
        return False

    def delete_anyway(self, request: HttpRequest, row: _Model) -> None:
        """Delete a row the operator chose to delete without revoking it (after Slack did not confirm its
        tokens dead): through the store, so that its signals are sent."""
        values = {"name": _name(row)}
        logged = gettext(
            "Deleted without revoking at Slack, as the operator chose: its tokens may still work."
        )
        if self.delete_row(request, row, logged):
            shown = gettext("Deleted %(name)s without revoking it at Slack: its tokens may still work there.")
            self.message_user(request, shown % values, messages.WARNING)
        else:
            kept = gettext(
                "%(name)s was not deleted: it was rewritten or deleted meanwhile. Look at it again."
            )
            self.message_user(request, kept % values, messages.ERROR)

    def delete_row(self, request: HttpRequest, row: SlackInstallation | SlackBot, logged: str) -> bool:
        """Delete `row` through the store, unless it changed since it was read, and log it as `logged`."""
        store = self.store_class(client_id=row.client_id)
        # The one of the row's model.
        delete_rows: Callable[[list[Any]], int] = (
            store.delete_bot_rows if isinstance(row, SlackBot) else store.delete_installation_rows
        )
        with transaction.atomic(using=router.db_for_write(type(row))):
            if not delete_rows([row]):
                return False
            _log(request, row, DELETION, logged)
            return True


def may_revoke(request: HttpRequest, model: type[Model]) -> bool:
    """Whether the user has the `revoke_<model>` permission."""
    codename = get_permission_codename("revoke", model._meta)
    return request.user.has_perm(f"{model._meta.app_label}.{codename}")


def load_target(
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
    except TokenDecryptionError as error:  # raised when the token attribute is read (fields.TokenAttribute)
        return Target(row, error=gettext("its token %(problem)s") % {"problem": unusable(error)})


def _name(row: SlackInstallation | SlackBot) -> str:
    return gettext("%(model)s “%(row)s”") % {"model": row._meta.verbose_name, "row": row}


def _log(request: HttpRequest, row: Model, action_flag: int, message: str) -> None:
    LogEntry.objects.log_actions(
        user_id=cast("int | str", request.user.pk),  # typed as maybe anonymous: admin users are not
        queryset=[row],
        action_flag=action_flag,
        change_message=message,
        single_object=True,
    )
