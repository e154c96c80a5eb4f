"""The "Refresh tokens now" and "Check at Slack" actions: what `manage.py slack_store_refresh_tokens` and
`slack_store_check` do, for the selected rows, within one request's time for Slack (REVOKE_DEADLINE).

"Refresh tokens now" changes the rows (new tokens), so it needs the model's "change" permission. The admin
edits nothing itself (`has_change_permission()` is False: the store owns the rows), so Django's
`change_<model>` permission is otherwise unused here and needs no migration; a refresh is the one change an
operator may ask for. "Check at Slack" only reads, so viewing is enough. It deletes nothing: a row Slack
proves dead is reported, with the two ways to delete it (Revoke, which needs `revoke_<model>`, or
`manage.py slack_store_check --delete-dead`). Every message names rows by ids and names, never a token.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from .. import health_check, slack_api, token_refresh
from .._typing import Subscriptable
from ..conf import store_settings
from ..crypto import TokenDecryptionError
from ..health_check import Outcome as CheckOutcome
from ..installation_store.rotation import TOKEN_FIELDS, due
from ..token_refresh import Outcome as RefreshOutcome
from .actions import _log, _name, may_revoke
from .health import describe_expiry, unusable

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin as _ModelAdmin
    from django.db.models import QuerySet
    from django.http import HttpRequest, HttpResponse

    from ..models import SlackBot, SlackInstallation
    from ..stores import DjangoInstallationStore
else:
    _ModelAdmin = Subscriptable(admin.ModelAdmin)

_Model = TypeVar("_Model", bound="SlackInstallation | SlackBot")

# The level each outcome of a check is reported at.
CHECK_LEVELS = {
    CheckOutcome.OK: messages.SUCCESS,
    CheckOutcome.REFRESHABLE: messages.INFO,
    CheckOutcome.REVOKED: messages.WARNING,
    CheckOutcome.INACTIVE: messages.WARNING,
    CheckOutcome.UNREACHABLE: messages.ERROR,
    CheckOutcome.OTHER: messages.ERROR,
}


class MaintenanceAdmin(_ModelAdmin[_Model], Generic[_Model]):
    """A ModelAdmin with the "Refresh tokens now" and "Check at Slack" actions."""

    if TYPE_CHECKING:
        store_class: type[DjangoInstallationStore]  # RevokeAdmin's

    def has_refresh_permission(self, request: HttpRequest) -> bool:
        """The model's "change" permission: a refresh rewrites the row's tokens (see the module's doc)."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # For an action the user may not run Django only answers "No action selected": refuse instead.
        if request.method == "POST":
            chosen = request.POST.getlist("action")
            if "refresh_tokens" in chosen and not self.has_refresh_permission(request):
                raise PermissionDenied
            if "check_at_slack" in chosen and not self.has_view_permission(request):
                raise PermissionDenied
        return super().changelist_view(request, extra_context)

    def selected_rows(self, pks: list[Any]) -> list[_Model]:
        """The selected rows as they are now, tokens included (the changelist's defer them)."""
        # The plugin types the manager of `type[_Model]` by the TypeVar's bound; the rows are `_Model`s.
        return cast("list[_Model]", list(self.model._default_manager.filter(pk__in=pks).order_by("pk")))

    # -- Refresh tokens now ------------------------------------------------------------------------------

    @admin.action(permissions=["refresh"], description=_("Refresh tokens now"))
    @sensitive_variables()
    def refresh_tokens(self, request: HttpRequest, queryset: QuerySet[_Model]) -> None:
        """Refresh the rotating token of each selected row in use that expires within the rotation window,
        through the store's coordinated refresh. A refresh once started runs to its end (stopping it halfway
        could lose the refresh token Slack has just replaced); none starts after the deadline."""
        if not self.has_refresh_permission(request):
            raise PermissionDenied
        seconds = store_settings.REVOKE_DEADLINE
        deadline = time.monotonic() + seconds
        window = float(store_settings.ROTATION_WINDOW_MINUTES)
        pks = list(queryset.values_list("pk", flat=True))
        rows = self.selected_rows(pks)
        model = cast("type[SlackInstallation] | type[SlackBot]", self.model)  # _Model's bound, as a class
        in_use = set(token_refresh.served(model).filter(pk__in=pks).values_list("pk", flat=True))
        not_attempted, slack_failed = [], False
        for row in rows:
            if time.monotonic() >= deadline:
                not_attempted.append(row)
            else:
                slack_failed |= self.refresh_row(request, row, row.pk in in_use, window)
        message = gettext(
            "Not attempted, as this request's time for Slack (%(seconds)s s) ran out: %(names)s. Refresh "
            "them again."
        )
        self.report_left(request, message, seconds, not_attempted)
        if slack_failed:
            self.message_user(request, slack_api.where_hint("oauth.v2.access"), messages.WARNING)

    def refresh_row(self, request: HttpRequest, row: _Model, in_use: bool, window: float) -> bool:
        """Refresh one row's token if it is in use, rotates and is due; report what came of it. Returns
        whether a call to Slack failed."""
        values = {"name": _name(row), "token": _token_label(row)}
        if not in_use:
            message = gettext(
                "%(name)s: not refreshed: the store does not serve it (an older install); its token is not "
                "in use."
            )
            self.message_user(request, message % values, messages.INFO)
            return False
        try:
            rotates = token_refresh.rotates(row)
        except TokenDecryptionError as error:
            message = gettext("%(name)s: not refreshed: its token %(problem)s.")
            self.message_user(request, message % {**values, "problem": unusable(error)}, messages.ERROR)
            return False
        expires_at = getattr(row, TOKEN_FIELDS[token_refresh.kind_of(row)][2])
        if not rotates:
            message = gettext(
                "%(name)s: nothing to refresh: its %(token)s does not rotate (no refresh token)."
            )
            self.message_user(request, message % values, messages.INFO)
            return False
        if not due(row, token_refresh.kind_of(row), window * 60):
            message = gettext(
                "%(name)s: not due: its %(token)s expires %(expiry)s; it is refreshed from %(minutes)s "
                "minutes before."
            )
            values.update(expiry=describe_expiry(expires_at), minutes=f"{window:g}")
            self.message_user(request, message % values, messages.INFO)
            return False
        store = self.store_class(client_id=row.client_id)
        result = token_refresh.refresh_row(store, row, window)
        if result.outcome is RefreshOutcome.REFRESHED:
            _log(request, row, CHANGE, gettext("Refreshed its %(token)s at Slack.") % values)
            message, level = gettext("%(name)s: its %(token)s was refreshed at Slack."), messages.SUCCESS
        elif result.outcome is RefreshOutcome.FRESH:
            message = gettext("%(name)s: its %(token)s had just been refreshed by another process.")
            level = messages.INFO
        elif result.outcome is RefreshOutcome.NO_SECRET:
            message = gettext(
                "%(name)s: not refreshed: no client secret for app %(client_id)s in "
                'DJANGO_SLACK_STORE["CLIENT_SECRETS"].'
            )
            values["client_id"], level = row.client_id, messages.ERROR
        elif result.outcome is RefreshOutcome.GONE:
            message, level = gettext("%(name)s: not refreshed: it was deleted meanwhile."), messages.WARNING
        else:
            message = gettext("%(name)s: the refresh of its %(token)s failed (%(code)s); nothing changed.")
            values["code"], level = result.code, messages.ERROR
        self.message_user(request, message % values, level)
        return result.failed_at_slack

    # -- Check at Slack -----------------------------------------------------------------------------------

    @admin.action(permissions=["view"], description=_("Check at Slack"))
    @sensitive_variables()
    def check_at_slack(self, request: HttpRequest, queryset: QuerySet[_Model]) -> None:
        """`auth.test` with the token of each selected row, a few at a time, within the request's deadline."""
        seconds = store_settings.REVOKE_DEADLINE
        deadline = time.monotonic() + seconds
        pks = list(queryset.values_list("pk", flat=True))
        rows = self.selected_rows(pks)
        subjects = []
        for row in rows:
            subject = health_check.subject_of(row)
            if subject is None:
                message = gettext("%(name)s: no %(token)s to check.")
                self.message_user(
                    request, message % {"name": _name(row), "token": _token_label(row)}, messages.INFO
                )
            else:
                subjects.append(subject)
        results = dict(health_check.check_all(subjects, deadline=deadline))
        not_attempted, slack_failed = [], False
        for subject in subjects:
            checked = results[subject]
            if checked.outcome is CheckOutcome.NOT_ATTEMPTED:
                not_attempted.append(subject.row)
                continue
            # An unreadable token was not sent (subject.error); any other failure came from Slack's address.
            failed = checked.outcome in (CheckOutcome.UNREACHABLE, CheckOutcome.OTHER)
            slack_failed |= failed and not subject.error
            values = {
                "name": _name(subject.row),
                "token": _token_label(subject.row),
                "outcome": checked.describe(),
            }
            message = gettext("%(name)s: %(token)s: %(outcome)s.") % values
            if checked.outcome.dead:
                message += " " + self.dead_hint(request, subject.row)
            self.message_user(request, message, CHECK_LEVELS[checked.outcome])
        message = gettext(
            "Not checked, as this request's time for Slack (%(seconds)s s) ran out: %(names)s. Check them "
            "again."
        )
        self.report_left(request, message, seconds, not_attempted)
        if slack_failed:
            self.message_user(request, slack_api.where_hint("auth.test"), messages.WARNING)

    def report_left(self, request: HttpRequest, message: str, seconds: int, rows: list[Any]) -> None:
        """Name the rows the deadline of `seconds` left unattempted, if any, with `message`."""
        if rows:
            names = ", ".join(_name(row) for row in rows)
            self.message_user(request, message % {"seconds": seconds, "names": names}, messages.ERROR)

    def dead_hint(self, request: HttpRequest, row: SlackInstallation | SlackBot) -> str:
        """How the operator may delete a row Slack proves dead: the check deletes nothing itself."""
        if may_revoke(request, type(row)):
            return gettext(
                "Slack proves it dead: “Revoke” deletes it (Slack confirms it dead), as does "
                "manage.py slack_store_check --delete-dead."
            )
        return gettext(
            "Slack proves it dead: someone with the revoke permission can delete it with “Revoke”, or run "
            "manage.py slack_store_check --delete-dead."
        )


def _token_label(row: SlackInstallation | SlackBot) -> str:
    return gettext("bot token") if token_refresh.kind_of(row) == "bot" else gettext("user token")
