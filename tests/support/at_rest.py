"""Tokens as the database holds them: raw SQL around the ORM, and keys for the encryption tests."""

import base64

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import connection

from django_slack_store.crypto import PREFIX, aes_key
from django_slack_store.models import SlackBot, SlackInstallation

OLD_KEY, NEW_KEY, OTHER_KEY = (Fernet.generate_key().decode() for _ in range(3))
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


def decrypt_with(key, stored):
    """A stored token decrypted with `key` alone, by hand: AES-256-GCM, nonce first (crypto.py's format)."""
    sealed = base64.urlsafe_b64decode(stored.removeprefix(PREFIX))
    return AESGCM(aes_key(key)).decrypt(sealed[:12], sealed[12:], None).decode()
