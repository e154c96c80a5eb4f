"""Model fields that make the store exact on every database backend."""

import datetime
import functools
import zoneinfo
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.core.exceptions import FieldError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.lookups import Lookup, Transform
from django.db.models.query_utils import DeferredAttribute
from django.views.decorators.debug import sensitive_variables

from . import crypto
from ._typing import Subscriptable

__all__ = ["InstantField", "SlackIdField", "Stored", "TokenField"]

UTC = datetime.timezone.utc

# django-stubs' fields are generic in the types they take and give (the plugin works those out for each
# declared field from the base class and `null`), but Django's are not subscriptable at runtime: there
# `_CharField[...]` is CharField itself, so the classes below have exactly Django's bases.
_ST = TypeVar("_ST", contravariant=True)
_GT = TypeVar("_GT", covariant=True)

if TYPE_CHECKING:
    from django.db.models import CharField as _CharField
    from django.db.models import DateTimeField as _DateTimeField
    from django.db.models import TextField as _TextField
    from django.db.models.expressions import Combinable
else:
    _CharField, _TextField, _DateTimeField = (
        Subscriptable(cls) for cls in (models.CharField, models.TextField, models.DateTimeField)
    )


class SlackIdField(_CharField[_ST, _GT]):
    """A Slack id (team, enterprise, user, app...): short ASCII compared byte for byte on every backend.

    MySQL/MariaDB's default collations ignore case and trailing spaces, which would merge distinct ids in
    the unique identity constraints; there the column gets a binary ASCII collation. The store only lets
    ASCII ids through, so the narrower character set costs nothing and keeps the indexes small.
    """

    if TYPE_CHECKING:
        # What the plugin gives the model attribute (with `| None` when `null=True`); not inherited.
        _pyi_private_set_type: str | int | Combinable
        _pyi_private_get_type: str

    def db_type(self, connection: BaseDatabaseWrapper) -> str | None:
        if connection.vendor == "mysql":
            return f"varchar({self.max_length}) CHARACTER SET ascii COLLATE ascii_bin"
        return super().db_type(connection)


# The ids a stored value is bound to, besides its table and column (crypto.binding()); a model without a
# user_id column (SlackBot) binds an empty one.
BINDING_IDS = ("client_id", "enterprise_id", "team_id", "user_id")


class Stored(str):
    """A TokenField value in its stored form (encrypted, or an unbound legacy value), not a token.

    `from_db_value` gives it: a column alone cannot be decrypted, its binding needs the row's ids, so the
    model (`SlackRecord.from_db`) and the finds (statements.py) open it with `TokenField.open()`.
    `values()`/`values_list()` return it as it is. `pre_save` gives it too, and `get_db_prep_value` passes
    it through: that is how a value bound to its row reaches the database.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "<stored token>"


class UndecryptableToken:
    """What a token column reads as when it cannot be served (no configured key opens it for its row, or it
    is unbound and refused): a marker that shows no part of the value and cannot pass for a token.

    On a model instance, reading the attribute raises TokenDecryptionError naming the row (see
    TokenField). A save of the instance writes the stored value back as it was: nothing is lost.
    """

    __slots__ = ("model", "field_name", "stored", "unbound")

    def __init__(self, model: type[models.Model], field_name: str, stored: Stored, unbound: bool) -> None:
        self.model, self.field_name, self.stored, self.unbound = model, field_name, stored, unbound

    def error(self, pk: object = None) -> crypto.TokenDecryptionError:
        return crypto.TokenDecryptionError(
            model=self.model, field_name=self.field_name, pk=pk, unbound=self.unbound
        )

    def __str__(self) -> str:
        raise self.error()

    def __repr__(self) -> str:
        return f"<undecryptable {self.model.__name__}.{self.field_name}>"


class TokenAttribute(DeferredAttribute):
    """The model attribute of a TokenField: raises TokenDecryptionError, with the row's primary key, where an
    undecryptable value would be read.

    Decryption failures surface here rather than in `from_db`, in the middle of reading the row: there the
    other columns, already decrypted, sit in the locals of the ORM's generators, which `sensitive_variables`
    cannot reach. A data descriptor (it defines `__set__`), so it is consulted even though the value lives
    in the instance's `__dict__`.
    """

    def __get__(self, instance: models.Model | None, cls: type[models.Model] | None = None) -> Any:
        value = super().__get__(instance, cls)  # loads a deferred field
        # On the class (no instance) the value is the descriptor itself: never a marker.
        if isinstance(value, UndecryptableToken) and instance is not None:
            raise value.error(pk=instance.pk)
        return value

    def __set__(self, instance: models.Model, value: object) -> None:
        instance.__dict__[self.field.attname] = value


class TokenField(_TextField[_ST, _GT]):
    """A secret column (a token, refresh token or webhook URL): the one place where secrets are encoded for
    storage.

    Python values are plaintext; the column holds them encrypted and bound to their row (`crypto.py`):
    table, column, client id, enterprise id, team id and user id. None and the empty string are stored as
    they are: they are not secrets. A value that cannot be served reads as an UndecryptableToken, and as
    TokenDecryptionError naming the row on a model instance. Because a value needs its row to be encrypted,
    it is written through a model instance (`save()`, `bulk_create()`) or the store, never by
    `QuerySet.update()`. Lookups other than `isnull` are refused: the ciphertext differs on each write, so a
    filter on a value could only ever match nothing (and must not become an oracle).
    """

    if TYPE_CHECKING:
        _pyi_private_set_type: str | Combinable
        _pyi_private_get_type: str

    descriptor_class = TokenAttribute

    def binding(self, ids: Sequence[str | None]) -> bytes:
        """The associated data of this column's value in the row of `ids` (BINDING_IDS, in order)."""
        return crypto.binding(self.model._meta.db_table, str(self.column), ids)

    @sensitive_variables()
    def seal(self, value: Any, ids: Sequence[str | None]) -> Any:
        """`value` in its stored form for the row of `ids`; empty and already stored values as they are."""
        if not value or isinstance(value, Stored):
            return value
        if isinstance(value, UndecryptableToken):
            return value.stored  # written back as it was read
        return Stored(crypto.encrypt(value, self.binding(ids)))

    # No plaintext in this frame (crypto.decrypt's is hidden): no sensitive_variables wrapper on the hot path.
    def open(self, stored: Stored, ids: Sequence[str | None]) -> str | UndecryptableToken:
        """The value stored for the row of `ids`, or the marker of one that cannot be served."""
        try:
            return crypto.decrypt(stored, self.binding(ids))
        except crypto.TokenDecryptionError as error:
            return UndecryptableToken(self.model, self.name, stored, error.unbound)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = model_instance.__dict__.get(self.attname)
        return self.seal(value, [getattr(model_instance, name, None) for name in BINDING_IDS])

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if not value:
            return value
        if not isinstance(value, Stored):
            raise ValueError(
                f"{self.model.__name__}.{self.name} is encrypted for its row: set it on a model instance and "
                "save() it, or save through the store (QuerySet.update() and bulk_update() cannot)."
            )
        return str(value)

    def from_db_value(self, value: str | None, expression: object, connection: BaseDatabaseWrapper) -> Any:
        return Stored(value) if value else value

    def get_lookup(self, lookup_name: str) -> "type[Lookup[Any]] | None":
        if lookup_name != "isnull":
            raise FieldError(
                f"{self.model.__name__}.{self.name} cannot be filtered by value ({lookup_name!r}): it is "
                "encrypted afresh on every write. Only `isnull` is supported."
            )
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name: str) -> type[Transform] | None:
        return None


@functools.cache
def secret_fields(model: type[models.Model]) -> "tuple[TokenField[Any, Any], ...]":
    """The model's TokenFields."""
    return tuple(field for field in model._meta.concrete_fields if isinstance(field, TokenField))


def open_tokens(instance: models.Model) -> None:
    """Open the stored values of a model instance just read (`Model.from_db`), with its own ids."""
    ids: list[str | None] | None = None
    for field in secret_fields(type(instance)):
        stored = instance.__dict__.get(field.attname)
        if isinstance(stored, Stored):
            ids = ids or [getattr(instance, name, None) for name in BINDING_IDS]
            instance.__dict__[field.attname] = field.open(stored, ids)


class InstantField(_DateTimeField[_ST, _GT]):
    """A DateTimeField that keeps the exact instant whatever `USE_TZ`, `TIME_ZONE` or the process zone.

    Python values are aware datetimes; they come back from the database as aware UTC. Django's plain
    DateTimeField with `USE_TZ = False` stores local wall-clock time, which shifts values by the local
    offset and is ambiguous around daylight-saving changes. Here the database always receives UTC.
    """

    if TYPE_CHECKING:
        _pyi_private_set_type: str | datetime.datetime | datetime.date | Combinable
        _pyi_private_get_type: datetime.datetime

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is not None and not settings.USE_TZ and not connection.features.supports_timezones:
            # A zone-less column (MySQL, SQLite) without USE_TZ: Django refuses aware values, so store UTC.
            value = value.astimezone(UTC).replace(tzinfo=None)
        return connection.ops.adapt_datetimefield_value(value)

    def from_db_value(
        self, value: datetime.datetime | None, expression: object, connection: BaseDatabaseWrapper
    ) -> datetime.datetime | None:
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
