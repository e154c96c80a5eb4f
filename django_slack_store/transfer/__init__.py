"""Moving installations into the store from slack_sdk's stores, and out of it as JSON Lines.

`manage.py slack_store_import` and `slack_store_export` are thin wrappers around `import_from()` and
`export_records()`; docs/migrating.md is the operator's guide. One module per concern: `sources` reads
slack_sdk's stores and JSON Lines, `importer` writes what they hold through the store and verifies it,
`export` writes the store's rows out.
"""

from __future__ import annotations

from .export import export_records
from .importer import ImportResult, import_from
from .sources import (
    FileSource,
    JSONLinesSource,
    Source,
    SourceError,
    SQLAlchemySource,
    SQLite3Source,
)

__all__ = [
    "FileSource",
    "ImportResult",
    "JSONLinesSource",
    "SQLAlchemySource",
    "SQLite3Source",
    "Source",
    "SourceError",
    "export_records",
    "import_from",
]
