"""The errors the store raises for what a caller can act on, all `SlackStoreError`s.

`NotInstalled`: no installation (or no token of the kind asked for) for the key. `NoClientSecret`: a token
needs a refresh and the store was given no client secret. `RefreshFailed`: Slack (or the network, or the
wait for another process's refresh) refused a refresh; nothing stored changed. `TokenDecryptionError`
is one too: a stored token no configured key decrypts. None of them ever holds a token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from django.db.models import Model

__all__ = [
    "NoClientSecret",
    "NotInstalled",
    "RefreshFailed",
    "SlackStoreError",
    "TokenDecryptionError",
]


class SlackStoreError(Exception):
    """Base class of the errors below."""


def where(enterprise_id: str | None, team_id: str | None, user_id: str | None = None) -> str:
    """The ids of a key, for a message: "team T0123", "enterprise E0123", "user U0123 of team T0123"."""
    place = f"team {team_id}" if team_id else f"enterprise {enterprise_id}"
    if team_id and enterprise_id:
        place += f" (enterprise {enterprise_id})"
    return f"user {user_id} of {place}" if user_id else place


class NotInstalled(SlackStoreError, LookupError):
    """No installation for the key, or none holding the token asked for (a bot token; a user's token)."""

    def __init__(
        self, client_id: str, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        self.client_id = client_id
        self.enterprise_id, self.team_id, self.user_id = enterprise_id, team_id, user_id
        kind = "user token" if user_id else "bot token"
        super().__init__(f"app {client_id} has no {kind} for {where(enterprise_id, team_id, user_id)}")


class NoClientSecret(SlackStoreError, ImproperlyConfigured):
    """A rotating token needs a refresh, and the store has no client secret to ask Slack for one with."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        super().__init__(
            f"a token of app {client_id} needs a refresh: give DjangoInstallationStore(client_id, "
            f'client_secret=...) or DJANGO_SLACK_STORE["CLIENT_SECRETS"] the app\'s client secret'
        )


class RefreshFailed(SlackStoreError):
    """A refresh of one token did not happen; the stored tokens are as they were.

    `code` is Slack's error code (`invalid_refresh_token`, `token_revoked`, ...), or `network` (Slack not
    reached, or no answer in time), `unexpected_response` (an answer that is not Slack's), or `lock_timeout`
    (another caller's refresh of the same token held it longer than the wait allows). `kind` is "bot" or
    "user".
    """

    def __init__(
        self,
        code: str,
        *,
        kind: str,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        detail: str = "",
    ) -> None:
        self.code, self.kind = code, kind
        self.enterprise_id, self.team_id, self.user_id = enterprise_id, team_id, user_id
        message = f"refreshing the {kind} token of {where(enterprise_id, team_id, user_id)} failed: {code}"
        super().__init__(f"{message} ({detail})" if detail else message)


class TokenDecryptionError(SlackStoreError):
    """A stored value the store will not serve: no configured key opens it for its row (its key was removed,
    the value is damaged, or it was copied from another row or column), or it is unbound (written before
    values were bound to their rows, or planted as plaintext) while unbound values are refused.

    Names the row (model and primary key, when known) and the column; never holds the value. Deliberately not
    a `ValueError`: that means bad input in the store's API, and this is a configuration or data problem that
    must never be mistaken for one (nor for "not installed").
    """

    def __init__(
        self,
        *,
        model: type[Model] | None = None,
        field_name: str | None = None,
        pk: object = None,
        unbound: bool = False,
    ) -> None:
        super().__init__()
        self.model, self.field_name, self.pk, self.unbound = model, field_name, pk, unbound

    def __str__(self) -> str:
        column = f"{self.model.__name__ if self.model else '?'}.{self.field_name or '?'}"
        row = f"row pk={self.pk}" if self.pk is not None else "a row"
        if self.unbound:
            return (
                f"{column} of {row} is not bound to its row (written by an earlier release, or planted) and "
                "DJANGO_SLACK_STORE['ACCEPT_UNBOUND_TOKENS'] is off: run `manage.py slack_store_rotate_keys` "
                "to rewrite such values, after checking that nobody wrote them into your database."
            )
        return (
            f"Cannot decrypt {column} of {row} with any key in DJANGO_SLACK_STORE['ENCRYPTION_KEYS'] "
            "(or derived from SECRET_KEY / SECRET_KEY_FALLBACKS): the key it was encrypted with is no longer "
            "configured, the stored value is damaged, or it was copied from another row or column."
        )
