"""Model fields that make the store exact on every database backend."""

import datetime
import zoneinfo

from django.conf import settings
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.query_utils import DeferredAttribute
from django.views.decorators.debug import sensitive_variables

from . import crypto

UTC = datetime.timezone.utc


class SlackIdField(models.CharField):
    """A Slack id (team, enterprise, user, app...): short ASCII compared byte for byte on every backend.

    MySQL/MariaDB's default collations ignore case and trailing spaces, which would merge distinct ids in
    the unique identity constraints; there the column gets a binary ASCII collation. The store only lets
    ASCII ids through, so the narrower character set costs nothing and keeps the indexes small.
    """

    def db_type(self, connection):
        if connection.vendor == "mysql":
            return f"varchar({self.max_length}) CHARACTER SET ascii COLLATE ascii_bin"
        return super().db_type(connection)


class UndecryptableToken:
    """What a token column reads as when no configured key decrypts it (its key was removed, or the value
    is damaged): a marker that holds no part of the value and cannot pass for a token.

    On a model instance, reading the attribute raises TokenDecryptionError naming the row (see
    TokenField). `values()`/`values_list()` return the marker itself; `str()` of it raises the error.
    """

    __slots__ = ("model", "field_name")

    def __init__(self, model, field_name):
        self.model, self.field_name = model, field_name

    def error(self, pk=None) -> crypto.TokenDecryptionError:
        return crypto.TokenDecryptionError(model=self.model, field_name=self.field_name, pk=pk)

    def __str__(self):
        raise self.error()

    def __repr__(self):
        return f"<undecryptable {self.model.__name__}.{self.field_name}>"


class TokenAttribute(DeferredAttribute):
    """The model attribute of a TokenField: raises TokenDecryptionError, with the row's primary key, where an
    undecryptable value would be read.

    Decryption failures surface here rather than in `from_db_value`, in the middle of reading the row:
    there the other columns, already decrypted, sit in the locals of the ORM's generators, which
    `sensitive_variables` cannot reach, and the primary key is unknown. A data descriptor (it defines
    `__set__`), so it is consulted even though the value lives in the instance's `__dict__`.
    """

    def __get__(self, instance, cls=None):
        value = super().__get__(instance, cls)  # loads a deferred field
        if isinstance(value, UndecryptableToken):
            raise value.error(pk=instance.pk)
        return value

    def __set__(self, instance, value):
        instance.__dict__[self.field.attname] = value


class TokenField(models.TextField):
    """A token or refresh token column: the one place where tokens are encoded for storage.

    Python values are plaintext tokens; the column holds them encrypted (`crypto.py`). None and the empty
    string are stored as they are: they are not secrets. A value no configured key decrypts reads as an
    UndecryptableToken, and as TokenDecryptionError naming the row on a model instance. Lookups other than
    `isnull` are refused: the ciphertext differs on each write, so a filter on a token value could only ever
    match nothing.
    """

    descriptor_class = TokenAttribute

    @sensitive_variables()
    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        return crypto.encrypt(value) if value else value

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        try:
            return crypto.decrypt(value)
        except crypto.TokenDecryptionError:
            return UndecryptableToken(self.model, self.name)

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise FieldError(
                f"{self.model.__name__}.{self.name} cannot be filtered by value ({lookup_name!r}): tokens "
                "are encrypted afresh on every write. Only `isnull` is supported."
            )
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name):
        return None


class InstantField(models.DateTimeField):
    """A DateTimeField that keeps the exact instant whatever `USE_TZ`, `TIME_ZONE` or the process zone.

    Python values are aware datetimes; they come back from the database as aware UTC. Django's plain
    DateTimeField with `USE_TZ = False` stores local wall-clock time, which shifts values by the local
    offset and is ambiguous around daylight-saving changes. Here the database always receives UTC.
    """

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if value is not None and not settings.USE_TZ and not connection.features.supports_timezones:
            # A zone-less column (MySQL, SQLite) without USE_TZ: Django refuses aware values, so store UTC.
            value = value.astimezone(UTC).replace(tzinfo=None)
        return connection.ops.adapt_datetimefield_value(value)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        if value.tzinfo is None:
            # Naive from PostgreSQL without USE_TZ: the session's zone (`fold` tells repeated hours apart).
            # Naive from MySQL or SQLite: the UTC written above.
            zone = (
                zoneinfo.ZoneInfo(connection.timezone_name) if connection.features.supports_timezones else UTC
            )
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
