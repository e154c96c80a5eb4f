"""Typing helpers: nothing here changes what the package does."""

from typing import Any


class Subscriptable:
    """A stand-in for a class that django-stubs makes generic but Django does not make subscriptable (model
    fields, ModelAdmin): `Subscriptable(cls)[...]` is `cls` itself. Used as a base class only at runtime, with
    the real class imported under `TYPE_CHECKING` for mypy, so the class defined has exactly `cls` as its
    base."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def __getitem__(self, params: Any) -> type:
        return self.cls
