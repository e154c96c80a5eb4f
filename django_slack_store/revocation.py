"""Revoking tokens at Slack (`auth.revoke`), for the admin's "Revoke" action.

One call per token through slack_sdk's `WebClient`, at `DJANGO_SLACK_STORE["SLACK_API_URL"]`. Every outcome
is a `Revocation`, never an exception: one token's failure must not stop the others. Whether the token is
dead at Slack afterwards decides whether its row may be deleted (docs/admin.md, "Failure policy"). What Slack
(or a proxy) answered is reported as its error code, or a short excerpt with anything like a token masked.
"""

import logging
from dataclasses import dataclass

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from .slack_api import ERROR_CODE, client, error_of, excerpt, reason_of

logger = logging.getLogger(__name__)

# Slack's answers that prove the token dead: revoked (or uninstalled) before, or its user or workspace
# deactivated. Revoking it again cannot succeed, and there is nothing left to revoke.
DEAD = frozenset({"token_revoked", "account_inactive"})

# Answers that look as final but prove nothing, and why: the row, with the refresh token it may hold, is kept.
NOT_PROOF = {
    "token_expired": _(
        "the access token has expired, but with token rotation its refresh token may still get new ones"
    ),
    "invalid_auth": _(
        "Slack refused the token, as it refuses one restricted to other IP addresses: it may still work from "
        "your app's servers"
    ),
    "not_authed": _("no token reached Slack: a proxy on the way may have dropped it"),
}


@dataclass(frozen=True)
class Revocation:
    """What became of one token: `dead` when it no longer works at Slack (revoked now, or before), and a
    description for operators (in the active language) that never contains the token."""

    dead: bool
    detail: str


@sensitive_variables("token")
def revoke(token: str, web_client: WebClient | None = None) -> Revocation:
    """Call `auth.revoke` with `token`; a missing token is reported as nothing to revoke (dead)."""
    if not token:
        return Revocation(True, gettext("no token to revoke"))
    web_client = web_client or client()
    try:
        response = web_client.auth_revoke(token=token)
    except SlackApiError as error:
        code, status = error_of(error)
        if code in DEAD:
            return Revocation(True, gettext("already invalid at Slack: %(code)s") % {"code": code})
        if code in NOT_PROOF:
            why = gettext("Slack answered %(code)s: %(why)s") % {"code": code, "why": NOT_PROOF[code]}
            return Revocation(False, why)
        if code and ERROR_CODE.fullmatch(code):
            return Revocation(False, gettext("Slack answered %(code)s") % {"code": code})
        detail = gettext("unexpected answer from Slack (HTTP %(status)s)") % {"status": status}
        return Revocation(False, f"{detail}: {excerpt(code)}" if code else detail)
    except (SlackClientError, OSError) as error:  # OSError: urllib's URLError, timeouts, refused connections
        return Revocation(False, gettext("could not reach Slack: %(reason)s") % {"reason": reason_of(error)})
    except Exception:
        # Whatever else breaks, the other tokens of the selection still get their turn.
        logger.exception("auth.revoke failed unexpectedly")
        return Revocation(False, gettext("unexpected error (logged)"))
    if response.get("revoked") is not True:
        # ok without revoked=true: Slack's dry run, or a proxy that did not pass the call on.
        return Revocation(False, gettext("Slack did not confirm the revocation"))
    return Revocation(True, gettext("revoked"))
