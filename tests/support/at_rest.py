"""Tokens as the database holds them: raw SQL around the ORM, and keys for the encryption tests."""

import base64
import os
import re

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import connection

from django_slack_store import crypto
from django_slack_store.crypto import PREFIX, UNBOUND_PREFIX, aes_key
from django_slack_store.fields import BINDING_IDS
from django_slack_store.models import SlackBot, SlackInstallation

OLD_KEY, NEW_KEY, OTHER_KEY = (Fernet.generate_key().decode() for _ in range(3))
# A Slack token's shape. Not bare "xox": that turns up by chance in the base64 of ciphertexts (about once in
# 260,000 characters), and a test that logs every SQL parameter prints thousands of them.
_TOKEN_SHAPE = re.compile(r"xox[a-z]-")


def shows_a_token(text: str | bytes) -> bool:
    """Whether text holds something shaped like a Slack token."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return _TOKEN_SHAPE.search(text) is not None


TOKEN_COLUMNS = {
    SlackInstallation: ("user_token", "user_refresh_token"),
    SlackBot: ("bot_token", "bot_refresh_token"),
}


def raw_rows(model):
    """Every row of the model's table as the database holds it, by pk: {column: value as text}."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {quote(model._meta.db_table)} ORDER BY {quote('id')}")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, map(str, row), strict=True)) for row in cursor.fetchall()]


def raw_tokens(model):
    """{pk: (stored token columns...)} straight from the table, by pk."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in ("id", *TOKEN_COLUMNS[model]))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {quote(model._meta.db_table)} ORDER BY {quote('id')}")
        return {pk: tuple(values) for pk, *values in cursor.fetchall()}


def set_raw_token(model, pk, column, value):
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(model._meta.db_table)} SET {quote(column)} = %s WHERE {quote('id')} = %s",
            [value, pk],
        )


def bound_to(model, pk):
    """The ids a row's secrets are bound to: client, enterprise, team and user id (None for a bot)."""
    names = [name if hasattr(model, name) else None for name in BINDING_IDS]
    row = model.objects.values(*filter(None, names)).get(pk=pk)
    return [row.get(name) for name in names]


def decrypt_with(key, stored, model, column, pk):
    """A secret stored in `column` of the row `pk`, decrypted with `key` alone, by hand: AES-256-GCM, nonce
    first, the row's binding as associated data (crypto.py's format)."""
    assert stored.startswith(PREFIX)
    sealed = base64.urlsafe_b64decode(stored.removeprefix(PREFIX))
    associated = crypto.binding(model._meta.db_table, column, bound_to(model, pk))
    return AESGCM(aes_key(key)).decrypt(sealed[:12], sealed[12:], associated).decode()


def unbound_with(key, token):
    """`token` as the release before bound values stored it (`aesgcm:`, no associated data)."""
    nonce = os.urandom(12)
    return (
        UNBOUND_PREFIX
        + base64.urlsafe_b64encode(nonce + AESGCM(aes_key(key)).encrypt(nonce, token.encode(), None)).decode()
    )


def open_unbound(key, stored):
    """What `unbound_with()` stored."""
    assert stored.startswith(UNBOUND_PREFIX)
    sealed = base64.urlsafe_b64decode(stored.removeprefix(UNBOUND_PREFIX))
    return AESGCM(aes_key(key)).decrypt(sealed[:12], sealed[12:], None).decode()
