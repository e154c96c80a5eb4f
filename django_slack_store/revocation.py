"""Revoking tokens at Slack (`auth.revoke`), for the admin's "Revoke" action.

One call per token through slack_sdk's `WebClient`, at `DJANGO_SLACK_STORE["SLACK_API_URL"]`. Every outcome
is a `Revocation`, never an exception: one token's failure must not stop the others. Whether the token is
dead at Slack afterwards decides whether its row may be deleted (docs/admin.md, "Failure policy"). What Slack
(or a proxy) answered is reported as its error code, or a short excerpt with anything like a token masked.
"""

import logging
import re
from dataclasses import dataclass

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from .conf import store_settings
from .masking import MASK, mask_tokens_in

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

# Seconds per call, at most; each admin request also has its own overall deadline (REVOKE_DEADLINE).
TIMEOUT = 10

# What an error code of Slack looks like; any other "error" is an unexpected answer (a proxy's, say).
ERROR_CODE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
# The most of an unexpected answer shown: enough to recognise a proxy's error page, never a whole page.
EXCERPT_LENGTH = 200


@dataclass(frozen=True)
class Revocation:
    """What became of one token: `dead` when it no longer works at Slack (revoked now, or before), and a
    description for operators (in the active language) that never contains the token."""

    dead: bool
    detail: str


class _MaskTokens(logging.Filter):
    """slack_sdk logs the start of an answer that is not JSON (and, at DEBUG, every answer): mask tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_tokens_in(record.getMessage()), None
        return True


# The client's own logger, where slack_sdk logs what these calls get.
sdk_logger = logging.getLogger(f"{__name__}.slack_sdk")
sdk_logger.addFilter(_MaskTokens())


def client(timeout: float = TIMEOUT) -> WebClient:
    """A client that waits `timeout` seconds at most per call. No retry: slack_sdk's retry of a failed
    connection would double the time a call may take, past the admin request's deadline."""
    return WebClient(
        base_url=store_settings.SLACK_API_URL,
        timeout=timeout,  # type: ignore[arg-type]  # typed int by slack_sdk; urllib takes float seconds
        retry_handlers=[],
        logger=sdk_logger,
    )


def excerpt(text: str) -> str:
    """At most EXCERPT_LENGTH characters of `text` on one line, anything like a token masked."""
    text = mask_tokens_in(" ".join(text.split()))
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1] + MASK


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


def error_of(error: SlackApiError) -> tuple[str | None, int | None]:
    """Slack's error code and the HTTP status. `response` is a SlackResponse, or a plain dict when the
    body was not JSON."""
    response = error.response
    if isinstance(response, dict):
        return None, response.get("status")
    data = getattr(response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    return (code if isinstance(code, str) else None), getattr(response, "status_code", None)


def reason_of(error: Exception) -> str:
    # URLError keeps the OSError behind it in `reason`; neither holds the token (it travels in a header).
    reason = getattr(error, "reason", None) or error
    if isinstance(reason, TimeoutError):
        return gettext("no answer in time")
    if isinstance(reason, str):
        return reason
    return getattr(reason, "strerror", None) or type(reason).__name__
