"""Run the same test through the store's sync methods or their `async_` twins."""

from asgiref.sync import async_to_sync

from django_slack_store.stores import DjangoInstallationStore

CLIENT_ID = "1111.2222"


class StoreAPI:
    """`api.find_bot(...)` calls `store.find_bot` (sync) or awaits `store.async_find_bot` (async).

    The async twins run under `async_to_sync`, so their thread-sensitive database work comes back to this
    thread and its connection, inside the test's transaction, exactly as under an ASGI server.
    """

    def __init__(self, store: DjangoInstallationStore, mode: str):
        self.store = store
        self.mode = mode

    def __getattr__(self, name):
        if self.mode == "sync":
            return getattr(self.store, name)
        return async_to_sync(getattr(self.store, f"async_{name}"))

    def with_client_id(self, client_id: str) -> "StoreAPI":
        return StoreAPI(DjangoInstallationStore(client_id=client_id), self.mode)
