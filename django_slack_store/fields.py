"""Model fields that make the store exact on every database backend."""

import datetime
import zoneinfo

from django.conf import settings
from django.db import models

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


class TokenField(models.TextField):
    """A token or refresh token column: the one place where tokens are encoded for storage."""


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
