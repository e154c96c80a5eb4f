"""Which database alias, and which DJANGO_SLACK_STORE, our store sees during a subject's calls.

On PostgreSQL a worker has two aliases of one database (config.django_databases): "default" with Django's
default OPTIONS and "tuned". The store picks its database with `router.db_for_write()` on every call, so a
router reading a context variable sends one store instance to either alias. A context variable, not a
thread-local: the async calls see it too, on the event loop (a task copies the context it was created in)
and in asgiref's thread (sync_to_async copies it as well). So the two configurations run in the same
process and are interleaved in the same rounds as every other subject.
"""

import contextlib
import contextvars

from django.conf import settings

from django_slack_store.conf import store_settings

_ALIAS = contextvars.ContextVar("benchmark_alias", default="default")


class Router:
    """Every model to the current alias; migrations to "default" only (the aliases share one database)."""

    def db_for_read(self, model, **hints):
        return _ALIAS.get()

    def db_for_write(self, model, **hints):
        return _ALIAS.get()

    def allow_migrate(self, db, app_label, **hints):
        return db == "default"


@contextlib.contextmanager
def using(alias: str):
    token = _ALIAS.set(alias)
    try:
        yield
    finally:
        _ALIAS.reset(token)


@contextlib.contextmanager
def store_config(values: dict):
    """DJANGO_SLACK_STORE = `values` for the block, without Django's setting_changed signal.

    override_settings would send it, and on it the store also drops its key codec and closes the native
    path's connection pools, so the next batch of every other subject would reconnect and prepare its
    statements again, which no deployment (its settings never change) pays. The store reads the setting
    through `store_settings`, whose cache is reloaded here instead."""
    previous = settings.DJANGO_SLACK_STORE
    settings.DJANGO_SLACK_STORE = values
    store_settings.reload()
    try:
        yield
    finally:
        settings.DJANGO_SLACK_STORE = previous
        store_settings.reload()
