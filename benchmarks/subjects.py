"""What is measured: our store, slack_sdk's SQLAlchemy stores and the raw-driver floor, behind one face.

Every subject has a `name`, a `mode` ("sync" or "async": which its methods are) and the operations
find_installation(key), find_installation_user(key), find_bot(key) and save(prepared), where `prepared` is
what `prepare(install)` made of a data-set installation before the clock started (a slack_sdk Installation
for a store; the rows' values for the floor). `describe_installation()`/`describe_bot()` turn a result into
the logical (team_id, user_id, bot_token) / (team_id, bot_token) that the correctness check compares.
`active()` is entered around each of the subject's batches: it sets what ours runs with (routing.py).

Ours is measured as "ours" (Django's default database settings) and, on PostgreSQL, also as "ours-tuned"
(config.TUNED_OPTIONS) and, async only, "ours-hop" (the native async path off), all one store instance.

The floor is what the hot path cannot beat on our tables: one statement per lookup through the raw driver,
prepared where the driver prepares (psycopg with prepare=True, or sqlite3 / aiosqlite, which cache prepared
statements themselves; MySQLdb and asyncmy bind the parameters into the statement's text, as Django's MySQL
backend does), no ORM, raw tuples, no decryption. Its async twin shares a few connections among the tasks
(see `Pool`).
"""

import asyncio
import contextlib
import datetime
import sqlite3

from slack_sdk.oauth.installation_store.sqlalchemy import (
    AsyncSQLAlchemyInstallationStore,
    SQLAlchemyInstallationStore,
)

from django_slack_store import crypto, native
from django_slack_store.models import BOT_IDENTITY, INSTALLATION_IDENTITY, NO_ID, SlackBot
from django_slack_store.stores import DjangoInstallationStore

from . import config, data, routing

CACHE_TIMEOUT = 300
# The columns of an installation that come from the served bot (docs/store.md, find_installation).
BOT_FIELDS = ("bot_id", "bot_user_id", "bot_token", "bot_scopes", "bot_refresh_token", "bot_token_expires_at")


class StoreSubject:
    """A slack_sdk InstallationStore through its sync API: ours, or SQLAlchemyInstallationStore.

    Ours runs on the database `alias` (routing.py: "default", or "tuned" on PostgreSQL) and, when `config`
    is given, with DJANGO_SLACK_STORE = `config`, both during its own batches only. `native`: whether its
    async calls must take the native path (checked in Bench.check()); None for other stores."""

    mode = "sync"
    cached = False

    def __init__(self, name, store, *, alias="default", config=None, native=None):
        self.name, self.store, self.alias, self.config, self.native = name, store, alias, config, native

    @contextlib.contextmanager
    def active(self):
        with routing.using(self.alias), routing.store_config(self.config or {}):
            yield

    def prepare(self, install):
        return install.installation()

    def find_installation(self, key):
        return self.store.find_installation(**lookup(key))

    def find_installation_user(self, key):
        return self.store.find_installation(**lookup(key), user_id=key.user_id)

    def find_bot(self, key):
        return self.store.find_bot(**lookup(key))

    def save(self, installation):
        self.store.save(installation)

    @staticmethod
    def describe_installation(installation):
        return installation and (installation.team_id, installation.user_id, installation.bot_token)

    @staticmethod
    def describe_bot(bot):
        return bot and (bot.team_id, bot.bot_token)


def lookup(key) -> dict:
    """The keyword arguments of a find for a data-set key (slack_sdk's signature)."""
    return {
        "enterprise_id": key.enterprise_id,
        "team_id": key.team_id,
        "is_enterprise_install": key.is_enterprise_install,
    }


class AsyncStoreSubject(StoreSubject):
    """The same through the async API: our async_ twins, or AsyncSQLAlchemyInstallationStore."""

    mode = "async"

    async def find_installation(self, key):
        return await self.store.async_find_installation(**lookup(key))

    async def find_installation_user(self, key):
        return await self.store.async_find_installation(**lookup(key), user_id=key.user_id)

    async def find_bot(self, key):
        return await self.store.async_find_bot(**lookup(key))

    async def save(self, installation):
        await self.store.async_save(installation)


class _Cached:
    """Ours with DJANGO_SLACK_STORE's cache on (CACHE_ALIAS, CACHE_TIMEOUT), during its own batches only.

    The store is made anew inside the setting, so the measurement holds whether the store reads the setting
    when it is made or on every call."""

    cached = True

    def __init__(self, name, cache_alias):
        super().__init__(name, None, config={"CACHE_ALIAS": cache_alias, "CACHE_TIMEOUT": CACHE_TIMEOUT})

    @contextlib.contextmanager
    def active(self):
        with super().active():
            self.store = DjangoInstallationStore(data.CLIENT_ID)
            yield


class CachedStoreSubject(_Cached, StoreSubject):
    pass


class AsyncCachedStoreSubject(_Cached, AsyncStoreSubject):
    pass


# -- the raw-driver floor -------------------------------------------------------------------------------

_INSTALLATION_ROW = ["id", *data.INSTALLATION_COLUMNS]
_INSTALLATION_SELECT = [*_INSTALLATION_ROW, *BOT_FIELDS]
_BOT_SELECT = ["id", *data.BOT_COLUMNS]
_BOT_TOKEN = SlackBot._meta.get_field("bot_token")


class Statements:
    """The floor's SQL on our tables, with the driver's placeholders (`placeholder(name)`) and the database's
    `upsert` (on_conflict or on_duplicate_key)."""

    def __init__(self, placeholder, upsert):
        p = placeholder
        installations, bots = data.INSTALLATION_TABLE, data.BOT_TABLE

        def key(alias=""):
            return " AND ".join(
                f"{alias}{name} = {p(name)}" for name in ("client_id", "enterprise_id", "team_id")
            )

        # The served bot: the freshest row of the key (docs/store.md: find_bot and find_installation agree).
        freshest = "ORDER BY updated_at DESC, id DESC LIMIT 1"
        served_bot = f"SELECT id FROM {bots} WHERE {key()} {freshest}"
        installation = (
            f"SELECT {', '.join('i.' + c for c in _INSTALLATION_ROW)}, "
            f"{', '.join('b.' + c for c in BOT_FIELDS)} "
            f"FROM {installations} i LEFT JOIN {bots} b ON b.id = ({served_bot}) WHERE {key('i.')}"
        )
        latest = " ORDER BY i.installed_at DESC, i.id DESC LIMIT 1"
        self.find_installation = installation + latest
        self.find_installation_user = f"{installation} AND i.user_id = {p('user_id')}{latest}"
        self.find_bot = f"SELECT {', '.join(_BOT_SELECT)} FROM {bots} WHERE {key()} {freshest}"
        self.upsert_installation = upsert(installations, data.INSTALLATION_COLUMNS, INSTALLATION_IDENTITY, p)
        self.upsert_bot = upsert(bots, data.BOT_COLUMNS, BOT_IDENTITY, p)


def _insert(table, columns, p) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(map(p, columns))})"


def on_conflict(table, columns, identity, p) -> str:
    """PostgreSQL's and SQLite's upsert."""
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in identity)
    return f"{_insert(table, columns, p)} ON CONFLICT ({', '.join(identity)}) DO UPDATE SET {updates}"


def on_duplicate_key(table, columns, identity, p) -> str:
    """MariaDB's, which names no conflict target: it updates on a duplicate of any unique key, and the
    identity's is the only one a new row can hit (the id is never given)."""
    updates = ", ".join(f"{c} = VALUES({c})" for c in columns if c not in identity)
    return f"{_insert(table, columns, p)} ON DUPLICATE KEY UPDATE {updates}"


def _pyformat(name):  # psycopg, MySQLdb, asyncmy
    return f"%({name})s"


def _named(name):  # sqlite3, aiosqlite
    return f":{name}"


class _Floor:
    """What the floors share: their statements, a key's parameters, a save's row values, the check's view."""

    name = "floor"
    cached = False
    native = None

    def __init__(self, placeholder, adapt=None, upsert=on_conflict):
        self.sql = Statements(placeholder, upsert)
        self.adapt = adapt

    @contextlib.contextmanager
    def active(self):
        yield

    @staticmethod
    def params(key, user=False) -> dict:
        params = {
            "client_id": data.CLIENT_ID,
            "enterprise_id": key.enterprise_id or NO_ID,
            "team_id": NO_ID if key.is_enterprise_install else key.team_id,
        }
        if user:
            params["user_id"] = key.user_id
        return params

    def prepare(self, install):
        now = datetime.datetime.now(data.UTC)
        rows = (
            data.installation_values(install, now, stored=False),
            data.bot_values(install, now, stored=False),
        )
        return tuple({c: self.adapt(v) for c, v in row.items()} if self.adapt else row for row in rows)

    @staticmethod
    def describe_installation(row):
        if row is None:
            return None
        values = dict(zip(_INSTALLATION_SELECT, row, strict=True))
        return values["team_id"] or None, values["user_id"] or None, _bot_token(values)

    @staticmethod
    def describe_bot(row):
        if row is None:
            return None
        values = dict(zip(_BOT_SELECT, row, strict=True))
        return values["team_id"] or None, _bot_token(values)


def _bot_token(values):
    """The bot token of a floor's row: bound to its key as the data set stores it, or in plaintext as the
    floor's own saves write it."""
    if not values["bot_token"]:
        return values["bot_token"]
    ids = (data.CLIENT_ID, values["enterprise_id"], values["team_id"], None)
    return crypto.decrypt(values["bot_token"], _BOT_TOKEN.binding(ids), accept_unbound=True)


class _SyncFloor(_Floor):
    mode = "sync"

    def find_installation(self, key):
        return self._one(self.sql.find_installation, self.params(key))

    def find_installation_user(self, key):
        return self._one(self.sql.find_installation_user, self.params(key, user=True))

    def find_bot(self, key):
        return self._one(self.sql.find_bot, self.params(key))


class PgFloor(_SyncFloor):
    def __init__(self):
        import psycopg

        super().__init__(_pyformat)
        # Autocommit: a lookup is one statement, not BEGIN + statement (+ an open transaction after it).
        self.connection = psycopg.connect(**config.pg_params(), autocommit=True)

    def _one(self, sql, params):
        return self.connection.execute(sql, params, prepare=True).fetchone()

    def save(self, prepared):
        installation, bot = prepared
        with self.connection.transaction():
            self.connection.execute(self.sql.upsert_installation, installation, prepare=True)
            self.connection.execute(self.sql.upsert_bot, bot, prepare=True)

    def close(self):
        self.connection.close()


class SqliteFloor(_SyncFloor):
    def __init__(self):
        super().__init__(_named, data.utc_text)
        # The module's default transaction handling: reads outside a transaction, BEGIN before the upserts.
        self.connection = sqlite3.connect(config.SQLITE_PATH)

    def _one(self, sql, params):
        return self.connection.execute(sql, params).fetchone()

    def save(self, prepared):
        installation, bot = prepared
        with self.connection:  # COMMIT at the end
            self.connection.execute(self.sql.upsert_installation, installation)
            self.connection.execute(self.sql.upsert_bot, bot)

    def close(self):
        self.connection.close()


class MariaDbFloor(_SyncFloor):
    def __init__(self):
        import MySQLdb

        super().__init__(_pyformat, data.utc_text, on_duplicate_key)
        self.connection = MySQLdb.connect(**config.mariadb_params())  # autocommit, as PgFloor
        self.cursor = self.connection.cursor()

    def _one(self, sql, params):
        self.cursor.execute(sql, params)
        return self.cursor.fetchone()

    def save(self, prepared):
        installation, bot = prepared
        self.connection.begin()
        self.cursor.execute(self.sql.upsert_installation, installation)
        self.cursor.execute(self.sql.upsert_bot, bot)
        self.connection.commit()

    def close(self):
        self.connection.close()


class Pool:
    """A few connections shared by many tasks: a task takes an idle one for a call, then returns it."""

    def __init__(self, connections):
        self.connections = connections
        self.idle = asyncio.Queue()
        for connection in connections:
            self.idle.put_nowait(connection)

    @contextlib.asynccontextmanager
    async def connection(self):
        connection = await self.idle.get()
        try:
            yield connection
        finally:
            self.idle.put_nowait(connection)


class _AsyncFloor(_Floor):
    mode = "async"

    def __init__(self, placeholder, adapt, pool, upsert=on_conflict):
        super().__init__(placeholder, adapt, upsert)
        self.pool = pool

    async def find_installation(self, key):
        return await self._one(self.sql.find_installation, self.params(key))

    async def find_installation_user(self, key):
        return await self._one(self.sql.find_installation_user, self.params(key, user=True))

    async def find_bot(self, key):
        return await self._one(self.sql.find_bot, self.params(key))

    async def close(self):
        for connection in self.pool.connections:
            await connection.close()


class AsyncPgFloor(_AsyncFloor):
    def __init__(self, pool):
        super().__init__(_pyformat, None, pool)

    @classmethod
    async def open(cls, size=config.FLOOR_POOL_SIZE):
        import psycopg

        params = config.pg_params()
        return cls(
            Pool([await psycopg.AsyncConnection.connect(**params, autocommit=True) for _ in range(size)])
        )

    async def _one(self, sql, params):
        async with self.pool.connection() as connection:
            cursor = await connection.execute(sql, params, prepare=True)
            return await cursor.fetchone()

    async def save(self, prepared):
        installation, bot = prepared
        async with self.pool.connection() as connection, connection.transaction():
            await connection.execute(self.sql.upsert_installation, installation, prepare=True)
            await connection.execute(self.sql.upsert_bot, bot, prepare=True)


class AsyncSqliteFloor(_AsyncFloor):
    """aiosqlite: each connection runs sqlite3 in a thread of its own."""

    def __init__(self, pool):
        super().__init__(_named, data.utc_text, pool)

    @classmethod
    async def open(cls, size=config.FLOOR_POOL_SIZE):
        import aiosqlite

        return cls(Pool([await aiosqlite.connect(config.SQLITE_PATH) for _ in range(size)]))

    async def _one(self, sql, params):
        async with self.pool.connection() as connection:
            rows = await connection.execute_fetchall(sql, params)  # one hop to the thread, not two
            return rows[0] if rows else None

    async def save(self, prepared):
        installation, bot = prepared
        async with self.pool.connection() as connection:
            await connection.execute(self.sql.upsert_installation, installation)
            await connection.execute(self.sql.upsert_bot, bot)
            await connection.commit()


class AsyncMariaDbFloor(_AsyncFloor):
    """asyncmy (slack_sdk's async store runs on it too: config.SQLALCHEMY_DRIVERS)."""

    def __init__(self, pool):
        super().__init__(_pyformat, data.utc_text, pool, on_duplicate_key)

    @classmethod
    async def open(cls, size=config.FLOOR_POOL_SIZE):
        import asyncmy

        params = config.mariadb_params()
        return cls(Pool([await asyncmy.connect(**params) for _ in range(size)]))

    async def _one(self, sql, params):
        async with self.pool.connection() as connection, connection.cursor() as cursor:
            await cursor.execute(sql, params)
            return await cursor.fetchone()

    async def save(self, prepared):
        installation, bot = prepared
        async with self.pool.connection() as connection, connection.cursor() as cursor:
            await connection.begin()
            await cursor.execute(self.sql.upsert_installation, installation)
            await cursor.execute(self.sql.upsert_bot, bot)
            await connection.commit()

    async def close(self):
        for connection in self.pool.connections:
            await connection.ensure_closed()  # asyncmy's close() is not a coroutine


# The (sync, async) floor of each database.
FLOORS = {
    "sqlite": (SqliteFloor, AsyncSqliteFloor),
    "postgresql": (PgFloor, AsyncPgFloor),
    "mariadb": (MariaDbFloor, AsyncMariaDbFloor),
}


# -- all of them ------------------------------------------------------------------------------------------


class Subjects:
    """Every subject of one database, opened on `loop`, and their teardown."""

    def __init__(self, database, loop, *, redis):
        from sqlalchemy import create_engine
        from sqlalchemy.ext.asyncio import create_async_engine

        self.loop = loop
        self.engine = create_engine(config.sqlalchemy_url(database, asynchronous=False))
        self.async_engine = create_async_engine(config.sqlalchemy_url(database, asynchronous=True))
        sdk = SQLAlchemyInstallationStore(client_id=data.CLIENT_ID, engine=self.engine)
        async_sdk = AsyncSQLAlchemyInstallationStore(client_id=data.CLIENT_ID, engine=self.async_engine)
        ours = DjangoInstallationStore(data.CLIENT_ID)
        pg = database == "postgresql"
        floor, async_floor = FLOORS[database]
        self.floor = floor()
        self.async_floor = loop.run_until_complete(async_floor.open())
        self.sdk_store = sdk
        # "ours": Django's default database settings. On PostgreSQL its async calls take the native path
        # (native.py); on SQLite and MariaDB they run the sync method in asgiref's thread, the only path
        # there.
        self.sync = [StoreSubject("ours", ours)]
        self.asynchronous = [AsyncStoreSubject("ours", ours, native=pg)]
        if pg:
            # The same store instance on the tuned alias, and, on the default alias, the thread hop that the
            # native path replaced (ASYNC_NATIVE off: each call runs the sync method in asgiref's thread).
            self.sync.append(StoreSubject("ours-tuned", ours, alias=config.TUNED))
            self.asynchronous += [
                AsyncStoreSubject("ours-tuned", ours, alias=config.TUNED, native=True),
                AsyncStoreSubject("ours-hop", ours, config={"ASYNC_NATIVE": False}, native=False),
            ]
        self.sync += [StoreSubject("slack_sdk", sdk), self.floor]
        self.asynchronous += [AsyncStoreSubject("slack_sdk", async_sdk), self.async_floor]
        self.cached = [
            CachedStoreSubject("ours+locmem", "bench-locmem"),
            AsyncCachedStoreSubject("ours+locmem", "bench-locmem"),
        ]
        if redis:
            self.cached += [
                CachedStoreSubject("ours+redis", "bench-redis"),
                AsyncCachedStoreSubject("ours+redis", "bench-redis"),
            ]

    def all(self):
        return [*self.sync, *self.asynchronous, *self.cached]

    def close(self):
        self.floor.close()
        self.loop.run_until_complete(native.close_pools())  # our native path's connections
        self.loop.run_until_complete(self.async_floor.close())
        self.loop.run_until_complete(self.async_engine.dispose())
        self.engine.dispose()
