"""The store's rows out as JSON-ready records: what `manage.py slack_store_export` writes as JSON Lines, and
what `JSONLinesSource` reads back, so that an export with tokens imports into another database unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..arguments import check_int
from ..fields import InstantField, TokenField
from ..masking import mask_secret
from ..models import NO_ID, SlackBot, SlackInstallation, slack_fields

__all__ = ["export_records"]


def export_records(
    *, client_id: str | None = None, include_tokens: bool = False, chunk_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every installation row, then every bot row, as JSON-ready dicts that `JSONLinesSource` reads back:
    "type", "client_id", the slack_sdk object's fields (timestamps as Unix time, absent ids None), and
    "updated_at" (bots are served in that order). Tokens and the incoming webhook URL are masked as the admin
    shows them (`xoxb-…abcd`, masking.py), so that one seen in either can be matched with the other, unless
    `include_tokens`.
    """
    check_int("chunk_size", chunk_size, 1)  # now, not at the first record
    return _records(client_id, include_tokens, chunk_size)


def _records(client_id: str | None, include_tokens: bool, chunk_size: int) -> Iterator[dict[str, Any]]:
    # Each workspace's rows together, oldest first (the reverse of latest_first() and freshest_first()):
    # the order an import writes them back in.
    for kind, model, order in (
        ("installation", SlackInstallation, ("client_id", "enterprise_id", "team_id", "installed_at", "id")),
        ("bot", SlackBot, ("client_id", "enterprise_id", "team_id", "updated_at", "id")),
    ):
        rows = model.objects.all() if client_id is None else model.objects.filter(client_id=client_id)
        fields = slack_fields(model)
        for row in rows.order_by(*order).iterator(chunk_size=chunk_size):
            record: dict[str, Any] = {"type": kind, "client_id": row.client_id}
            for field in fields:
                value = getattr(row, field.name)
                if isinstance(field, InstantField):
                    value = value.timestamp()
                elif isinstance(field, TokenField) and value and not include_tokens:
                    value = mask_secret(field.name, value)
                elif value == NO_ID and field.name in ("enterprise_id", "team_id", "user_id"):
                    value = None
                record[field.name] = value
            record["updated_at"] = row.updated_at.timestamp()
            yield record
