"""How a credential is shown wherever it is shown (the admin, the export, the revoke confirmation): masked.

One rule for all of them, so that an operator can match a token seen in the admin against one in an export,
and so that the importer can tell a masked value from a token.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["EMPTY", "HIDDEN", "MASK", "is_masked", "mask_secret", "mask_token", "mask_tokens_in", "mask_url"]

EMPTY = "—"  # no value
HIDDEN = "••••••••"  # a value too short to show any of
MASK = "…"  # stands for what is left out: no Slack token or URL contains it
# Anything like a Slack token in free text (a proxy's error page may echo the request's header).
TOKEN_LIKE = re.compile(r"\b(?:xox|xapp-)\S*")
# A value shorter than this is hidden whole: four characters of a short secret are too large a part of it.
MIN_MASKED_LENGTH = 20
# The type prefix of a Slack token, shown unmasked: xoxb, xoxp, xoxe, xoxe.xoxb...
TOKEN_PREFIX = re.compile(r"[a-z]{2,5}(?:\.[a-z]{2,5})?")


def mask_token(token: str | None) -> str:
    """`xoxb-…abcd`: the token's type prefix and its last 4 characters, never more; "—" when absent."""
    if not token:
        return EMPTY
    if len(token) < MIN_MASKED_LENGTH:
        return HIDDEN
    prefix, dash, _ = token.partition("-")
    shown = f"{prefix}-" if dash and TOKEN_PREFIX.fullmatch(prefix) else ""
    return f"{shown}{MASK}{token[-4:]}"


def mask_url(url: str | None) -> str:
    """An incoming webhook URL is a credential too: its scheme, host and last 4 characters only."""
    if not url:
        return EMPTY
    parts = urlsplit(url)
    if len(url) < MIN_MASKED_LENGTH or not parts.netloc:
        return HIDDEN
    return f"{parts.scheme}://{parts.netloc}/{MASK}{url[-4:]}"


def is_masked(value: str) -> bool:
    """Whether `value` is what `mask_token()` or `mask_url()` shows rather than a credential."""
    return MASK in value or value == HIDDEN


def mask_secret(name: str, value: str | None) -> str:
    """The value of the secret column `name` as the admin and the export show it."""
    return mask_url(value) if name == "incoming_webhook_url" else mask_token(value)


def mask_tokens_in(text: str) -> str:
    """`text` with anything like a Slack token in it replaced by MASK, whole (nothing of it is shown)."""
    return TOKEN_LIKE.sub(MASK, text)
