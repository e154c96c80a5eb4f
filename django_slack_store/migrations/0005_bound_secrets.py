"""Secrets bound to their rows (docs/security.md): `incoming_webhook_url` becomes encrypted, and every stored
secret is rewritten in the bound scheme (`aesgcm2:`), so that unbound values can be refused on read.

The reverse writes tokens back in the unbound scheme of the release before (`aesgcm:`) and webhook URLs in
plaintext: that release reads both. A value no configured key decrypts is left as it is, either way: it was
unreadable before, and `manage.py slack_store_rotate_keys` names its row.

The rows are read and written with plain SQL, in batches, with the keys configured when the migration runs
(`crypto` as it is today: a later change of the codec must keep reading what this wrote).
"""

from collections.abc import Callable

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

import django_slack_store.fields
from django_slack_store import crypto
from django_slack_store.fields import BINDING_IDS

BATCH_SIZE = 500
SECRETS = {
    "SlackInstallation": ("user_token", "user_refresh_token", "incoming_webhook_url"),
    "SlackBot": ("bot_token", "bot_refresh_token"),
}
Convert = Callable[[str, bytes, str], str]
# The release before stored webhook URLs in plaintext, the tokens encrypted.
PLAINTEXT_BEFORE = ("incoming_webhook_url",)


def bind(value: str, associated: bytes, column: str) -> str:
    """Any stored form (bound, unbound, plaintext) stored bound to `associated`."""
    return value if value.startswith(crypto.PREFIX) else crypto.rebind(value, associated)


def unbind(value: str, associated: bytes, column: str) -> str:
    """A bound value in the release before's form: plaintext webhook URLs, unbound tokens."""
    if not value.startswith(crypto.PREFIX):
        return value
    plaintext = crypto.decrypt(value, associated)
    return plaintext if column in PLAINTEXT_BEFORE else crypto.encrypt(plaintext, None)


def rewrite(convert: Convert) -> Callable[[StateApps, BaseDatabaseSchemaEditor], None]:
    def migrate(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        connection = schema_editor.connection
        quote = connection.ops.quote_name
        for model_name, columns in SECRETS.items():
            model = apps.get_model("django_slack_store", model_name)
            table = model._meta.db_table
            # A bot has no user id: its secrets are bound to an empty one.
            ids = [quote(name) if hasattr(model, name) else "NULL" for name in BINDING_IDS]
            select = (
                f"SELECT {', '.join([quote('id'), *ids, *map(quote, columns)])} FROM {quote(table)} "
                f"WHERE {quote('id')} > %s ORDER BY {quote('id')} LIMIT {BATCH_SIZE}"
            )
            update = (
                f"UPDATE {quote(table)} SET {', '.join(f'{quote(column)} = %s' for column in columns)} "
                f"WHERE {quote('id')} = %s"
            )
            last_pk = 0
            while True:
                with connection.cursor() as cursor:
                    cursor.execute(select, [last_pk])
                    rows = cursor.fetchall()
                if not rows:
                    break
                changed = []
                for pk, *values in rows:
                    bound_to, stored = values[: len(ids)], values[len(ids) :]
                    new = [
                        _converted(convert, value, crypto.binding(table, column, bound_to), column)
                        for column, value in zip(columns, stored, strict=True)
                    ]
                    if new != stored:
                        changed.append([*new, pk])
                if changed:
                    with connection.cursor() as cursor:
                        cursor.executemany(update, changed)
                last_pk = rows[-1][0]

    return migrate


def _converted(convert: Convert, value: str | None, associated: bytes, column: str) -> str | None:
    if not value:
        return value
    try:
        return convert(value, associated, column)
    except crypto.TokenDecryptionError:
        return value  # no key opens it: left as it was


class Migration(migrations.Migration):
    dependencies = [
        ("django_slack_store", "0004_translatable_labels"),
    ]

    operations = [
        migrations.AlterField(
            model_name="slackinstallation",
            name="incoming_webhook_url",
            field=django_slack_store.fields.TokenField(
                blank=True, null=True, verbose_name="incoming webhook url"
            ),
        ),
        migrations.RunPython(rewrite(bind), rewrite(unbind)),
    ]
