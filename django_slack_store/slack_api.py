"""Calls of the Slack Web API that the package makes itself: `auth.revoke` (revocation.py), `auth.test`
(health_check.py) and token refreshes (installation_store/rotation.py).

One client factory at `DJANGO_SLACK_STORE["SLACK_API_URL"]`, with no retry of slack_sdk's own (a retried
refresh would spend a refresh token Slack may already have revoked; a retried call would outlast the admin's
deadline), and one reading of what went wrong: Slack's error code and HTTP status, or why Slack was not
reached. Nothing here ever reports a token: slack_sdk's log of the answers is masked too.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urljoin, urlsplit, urlunsplit

from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_variables
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from .conf import store_settings
from .masking import MASK, mask_tokens_in

# Seconds per call, at most, unless told otherwise.
TIMEOUT = 10

# What an error code of Slack looks like; any other "error" is an unexpected answer (a proxy's, say).
ERROR_CODE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
# The most of an unexpected answer shown: enough to recognise a proxy's error page, never a whole page.
EXCERPT_LENGTH = 200


class _MaskTokens(logging.Filter):
    """slack_sdk logs the start of an answer that is not JSON (and, at DEBUG, every answer): mask tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_tokens_in(record.getMessage()), None
        return True


# The clients' own logger, where slack_sdk logs what these calls get.
sdk_logger = logging.getLogger("django_slack_store.slack_sdk")
sdk_logger.addFilter(_MaskTokens())


@sensitive_variables("token")
def client(timeout: float = TIMEOUT, *, token: str | None = None) -> WebClient:
    """A client that waits `timeout` seconds at most per call, holding `token` if given (sent in a header,
    never in the URL)."""
    return WebClient(
        token=token,
        base_url=store_settings.SLACK_API_URL,
        timeout=timeout,  # type: ignore[arg-type]  # typed int by slack_sdk; urllib takes float seconds
        retry_handlers=[],
        logger=sdk_logger,
    )


def method_url(method: str) -> str:
    """Where a call of `method` goes, for messages: `SLACK_API_URL` joined with the method as slack_sdk joins
    them (a base without a trailing "/" loses its last segment), without the user, password, query or
    fragment a proxy's URL may carry."""
    parts = urlsplit(urljoin(store_settings.SLACK_API_URL, method))
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host  # an IPv6 address, as it was written
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def where_hint(method: str) -> str:
    """What an operator reads after calls of `method` failed: where they went, and the setting that says so
    (an admin cannot tell from "could not reach Slack" whether Slack or the address is at fault)."""
    base = method_url("")
    message = gettext(
        'The calls to %(method)s went to %(url)s, from DJANGO_SLACK_STORE["SLACK_API_URL"] in your Django '
        "settings (now %(base)s): set it if your servers reach Slack's Web API at another address (through a "
        "proxy, say)."
    )
    message %= {"method": method, "url": method_url(method), "base": base}
    if not store_settings.SLACK_API_URL.endswith("/"):
        message += " " + gettext(
            "It does not end with “/”, so its last segment is replaced by the method's name: add the “/”."
        )
    return message


def excerpt(text: str) -> str:
    """At most EXCERPT_LENGTH characters of `text` on one line, anything like a token masked."""
    text = mask_tokens_in(" ".join(text.split()))
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1] + MASK


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
