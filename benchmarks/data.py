"""The data set, and writing it into our tables and into slack_sdk's.

N teams with a realistic history: each has 1-3 installations at different times by 1-2 installing users,
with a bot row per installation. One team in ten sits in an Enterprise Grid org of ten (its users have W
ids), and every fifth org also has an org-wide install. A fifth of the teams use token rotation (xoxe.
tokens, refresh tokens, expiry), and in a few of the teams with reinstalls an older installation's bot was
refreshed last, so it is the bot served (the case where slack_sdk's store serves another bot than ours).

The random choices come from one stream per thousand teams, so the first N teams are the same whatever the
total: the scaling run grows the data set by appending teams. Rows are written with the raw drivers
(PostgreSQL's COPY, MariaDB's LOAD DATA, SQLite's executemany) rather than through the store: millions of
rows in minutes.
"""

import datetime
import itertools
import json
import random
import sqlite3
import string
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from slack_sdk.oauth.installation_store import Installation

from django_slack_store.models import NO_ID, SlackBot, SlackInstallation

from . import config

UTC = datetime.timezone.utc
CLIENT_ID = "1111111111.2222222222222"
APP_ID = "A0BENCHAPP1"
EPOCH = datetime.datetime(2021, 1, 1, tzinfo=UTC)
BOT_SCOPES = ["app_mentions:read", "channels:history", "chat:write", "commands", "im:history", "users:read"]
USER_SCOPES = ["search:read", "users:read"]
CHUNK = 1000  # teams per random stream
SEED = "django-slack-store-bench"
_ALNUM = string.ascii_letters + string.digits


class UniqueTokens:
    """Every token different: the main data set, and the saves during the run."""

    def __call__(self, rng: random.Random, kind: str) -> str:
        return _random_token(rng, kind)


class PooledTokens:
    """A few tokens of each kind drawn at random: millions of rows cost no random text."""

    def __init__(self, size: int = 64):
        rng = random.Random(f"{SEED}:tokens")
        kinds = ("xoxb", "xoxp", "xoxe.xoxb", "xoxe.xoxp", "xoxe")
        self.pool = {kind: [_random_token(rng, kind) for _ in range(size)] for kind in kinds}

    def __call__(self, rng: random.Random, kind: str) -> str:
        return rng.choice(self.pool[kind])


def _random_token(rng, kind) -> str:
    """Shaped and sized like Slack's: xoxb-/xoxp- with numeric parts, rotating xoxe. tokens ~160 chars."""

    def digits():
        return rng.randrange(10**12, 10**13)

    if kind == "xoxb":
        return f"xoxb-{digits()}-{digits()}-{_alnum(rng, 24)}"
    if kind == "xoxp":
        return f"xoxp-{digits()}-{digits()}-{digits()}-{rng.getrandbits(128):032x}"
    if kind == "xoxe":  # a refresh token
        return f"xoxe-1-{_alnum(rng, 140)}"
    return f"{kind}-1-{_alnum(rng, 146)}"  # xoxe.xoxb / xoxe.xoxp: a rotating access token


def _alnum(rng, length) -> str:
    return "".join(rng.choices(_ALNUM, k=length))


def _id(prefix: str, number: int) -> str:
    """A Slack-like id: a capital letter and 10 upper-case characters (hex: quick to make by the million)."""
    return f"{prefix}{number:010X}"


@dataclass(slots=True)
class Install:
    """One installation row and the bot row saved with it (same enterprise, team and installed_at)."""

    enterprise_id: str | None
    enterprise_name: str | None
    enterprise_url: str | None
    team_id: str | None  # None: an org-wide install
    team_name: str | None
    user_id: str
    installed_at: datetime.datetime
    user_token: str | None
    user_refresh_token: str | None
    user_token_expires_at: int | None
    webhook: tuple[str, str, str, str] | None  # url, channel, channel id, configuration url
    bot_id: str
    bot_user_id: str
    bot_token: str
    bot_refresh_token: str | None
    bot_token_expires_at: int | None
    bot_updated_at: datetime.datetime  # when the bot's credentials were last written: the freshest is served

    @property
    def is_enterprise_install(self) -> bool:
        return self.team_id is None

    def installation(self) -> Installation:
        """The slack_sdk object a save gets (as Bolt builds it after an OAuth flow or a token refresh)."""
        webhook = self.webhook or (None,) * 4
        return Installation(
            app_id=APP_ID,
            enterprise_id=self.enterprise_id,
            enterprise_name=self.enterprise_name,
            enterprise_url=self.enterprise_url,
            team_id=self.team_id,
            team_name=self.team_name,
            bot_token=self.bot_token,
            bot_id=self.bot_id,
            bot_user_id=self.bot_user_id,
            bot_scopes=BOT_SCOPES,
            bot_refresh_token=self.bot_refresh_token,
            bot_token_expires_at=self.bot_token_expires_at,
            user_id=self.user_id,
            user_token=self.user_token,
            user_scopes=USER_SCOPES if self.user_token else None,
            user_refresh_token=self.user_refresh_token,
            user_token_expires_at=self.user_token_expires_at,
            incoming_webhook_url=webhook[0],
            incoming_webhook_channel=webhook[1],
            incoming_webhook_channel_id=webhook[2],
            incoming_webhook_configuration_url=webhook[3],
            is_enterprise_install=self.is_enterprise_install,
            token_type="bot",
            installed_at=self.installed_at.timestamp(),
        )


@dataclass(slots=True)
class Key:
    """What Bolt looks up: a team, or an org for an org-wide install, with its installations, oldest first
    (the order their rows are inserted in, so ids grow with installed_at)."""

    enterprise_id: str | None
    team_id: str  # for an org-wide install, a team of the org: what Bolt passes along
    is_enterprise_install: bool
    user_id: str  # the installing user of the user-scoped lookups
    installs: list[Install]

    def latest(self, user_id: str | None = None) -> Install:
        return max(
            (i for i in self.installs if user_id is None or i.user_id == user_id),
            key=lambda i: i.installed_at,
        )

    def served_bot(self) -> Install:
        """The bot find_bot() serves: the freshest (updated_at, then id)."""
        return max(enumerate(self.installs), key=lambda pair: (pair[1].bot_updated_at, pair[0]))[1]

    def bots_agree(self) -> bool:
        """Whether slack_sdk's store serves our bot too: it takes the latest installation's bot instead."""
        return self.served_bot() is self.latest()


def generate(start: int, stop: int, tokens) -> Iterator[Key]:
    """The keys of teams start..stop-1 (a team opening an org with an org-wide install adds its key)."""
    for chunk in range(start // CHUNK, -(-stop // CHUNK)):
        rng = random.Random(f"{SEED}:{chunk}")  # a str seed is hashed with SHA-512: the same in every run
        for number in range(chunk * CHUNK, min((chunk + 1) * CHUNK, stop)):
            keys = _team(number, rng, tokens)  # every team of the chunk draws, to keep the stream aligned
            if number >= start:
                yield from keys


def _team(number, rng, tokens) -> list[Key]:
    org = number // 100 if number % 100 < 10 else None
    enterprise = (
        (_id("E", org), f"Org {org}", f"https://org-{org}.enterprise.slack.com/") if org is not None else None
    )
    user_prefix = "W" if enterprise else "U"  # Enterprise Grid user ids start with W
    team_id = _id("T", number)
    users = [_id(user_prefix, 2 * number + n) for n in range(1 if rng.random() < 0.7 else 2)]
    rotating = rng.random() < 0.2
    count = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
    installs = _history(number, rng, tokens, enterprise, team_id, f"Team {number}", users, count, rotating)
    installers = sorted({install.user_id for install in installs})
    keys = [Key(enterprise and enterprise[0], team_id, False, rng.choice(installers), installs)]
    if org is not None and number % 500 == 0:  # the first team of every fifth org: an org-wide install
        admin = _id("W", 2**38 + number)  # an org admin
        org_installs = _history(
            number, rng, tokens, enterprise, None, None, [admin], rng.choice((1, 2)), False
        )
        keys.append(Key(enterprise[0], team_id, True, admin, org_installs))
    return keys


def _history(number, rng, tokens, enterprise, team_id, team_name, users, count, rotating) -> list[Install]:
    at = EPOCH + datetime.timedelta(seconds=number * 30 + rng.uniform(0, 30))
    installs = []
    for n in range(count):
        if n:
            at += datetime.timedelta(days=rng.uniform(1, 365))
        installs.append(
            _install(number, rng, tokens, enterprise, team_id, team_name, users[n % len(users)], at)
        )
    if rotating:  # the latest bot's token was refreshed since: newer credentials, an expiry
        installs[-1] = _rotated(installs[-1], rng, tokens, installs[-1].installed_at)
    if count > 1 and rng.random() < 0.05:  # an older installation's bot refreshed after the reinstall
        refreshed_at = installs[-1].bot_updated_at + datetime.timedelta(hours=rng.uniform(1, 48))
        installs[-2] = _rotated(installs[-2], rng, tokens, refreshed_at)
    return installs


def _install(number, rng, tokens, enterprise, team_id, team_name, user_id, at) -> Install:
    has_user_token = rng.random() < 0.8
    webhook = None
    if rng.random() < 0.25:
        place = team_id or enterprise[0]
        hook = f"B{rng.getrandbits(40):010X}"
        webhook = (
            f"https://hooks.slack.com/services/{place}/{hook}/{rng.getrandbits(96):024x}",
            "#general",
            _id("C", number),
            f"https://team-{number}.slack.com/services/{hook}",
        )
    return Install(
        enterprise_id=enterprise and enterprise[0],
        enterprise_name=enterprise and enterprise[1],
        enterprise_url=enterprise and enterprise[2],
        team_id=team_id,
        team_name=team_name,
        user_id=user_id,
        installed_at=at,
        user_token=tokens(rng, "xoxp") if has_user_token else None,
        user_refresh_token=None,
        user_token_expires_at=None,
        webhook=webhook,
        bot_id=_id("B", number),
        bot_user_id=_id("U", 2**39 + number),  # apart from the human users' ids
        bot_token=tokens(rng, "xoxb"),
        bot_refresh_token=None,
        bot_token_expires_at=None,
        bot_updated_at=at,
    )


def _rotated(install: Install, rng, tokens, refreshed_at) -> Install:
    """The install after a token refresh at `refreshed_at`: rotating tokens, 12 hours to live."""
    expires_at = int(refreshed_at.timestamp()) + 12 * 3600
    user = install.user_token is not None
    return replace(
        install,
        bot_token=tokens(rng, "xoxe.xoxb"),
        bot_refresh_token=tokens(rng, "xoxe"),
        bot_token_expires_at=expires_at,
        bot_updated_at=refreshed_at,
        user_token=tokens(rng, "xoxe.xoxp") if user else None,
        user_refresh_token=tokens(rng, "xoxe") if user else None,
        user_token_expires_at=expires_at if user else None,
    )


def rotation(install: Install, rng: random.Random, tokens) -> Install:
    """A token rotation as Bolt saves it: the same installation (identity, installed_at), new tokens."""
    return _rotated(install, rng, tokens, datetime.datetime.now(UTC))


def new_install(team_id: str, rng: random.Random, tokens) -> Install:
    """A first installation of a team that is not in the data set."""
    now = datetime.datetime.now(UTC)
    return _install(0, rng, tokens, None, team_id, f"New {team_id}", _id("U", rng.getrandbits(48)), now)


# -- our tables ----------------------------------------------------------------------------------------

INSTALLATION_TABLE = SlackInstallation._meta.db_table
BOT_TABLE = SlackBot._meta.db_table
INSTALLATION_COLUMNS = [f.column for f in SlackInstallation._meta.concrete_fields if not f.primary_key]
BOT_COLUMNS = [f.column for f in SlackBot._meta.concrete_fields if not f.primary_key]
_BOT_SCOPES_JSON = json.dumps(BOT_SCOPES)
_USER_SCOPES_JSON = json.dumps(USER_SCOPES)


def _sealer(model, install: Install, user_id: str | None = None):
    """Secrets as our TokenField stores them: encrypted, bound to the row of `install` (and `user_id`)."""
    ids = (CLIENT_ID, install.enterprise_id, install.team_id, user_id)

    def seal(name: str, value: str | None) -> str | None:
        return str(model._meta.get_field(name).seal(value, ids)) if value else value

    return seal


def _as_is(name: str, value: str | None) -> str | None:
    return value


def _record_values(install: Install, updated_at) -> dict:
    """The columns installation and bot rows share (models.SlackRecord)."""
    return {
        "client_id": CLIENT_ID,
        "app_id": APP_ID,
        "enterprise_id": install.enterprise_id or NO_ID,
        "enterprise_name": install.enterprise_name,
        "team_id": install.team_id or NO_ID,
        "team_name": install.team_name,
        "is_enterprise_install": install.is_enterprise_install,
        "installed_at": install.installed_at,
        "custom_values": "{}",
        "updated_at": updated_at,
    }


def installation_values(install: Install, updated_at=None, *, stored=True) -> dict:
    """Our installation row's column values: JSON as text, absent ids as NO_ID, datetimes aware.

    `stored=False` puts plaintext in the secret columns (the raw floor's saves: no encryption)."""
    secret = _sealer(SlackInstallation, install, install.user_id) if stored else _as_is
    webhook = install.webhook or (None,) * 4
    return {
        **_record_values(install, updated_at or install.installed_at),
        "enterprise_url": install.enterprise_url,
        "user_id": install.user_id,
        "user_token": secret("user_token", install.user_token),
        "user_refresh_token": secret("user_refresh_token", install.user_refresh_token),
        "user_scopes": _USER_SCOPES_JSON if install.user_token else "[]",
        "user_token_expires_at": install.user_token_expires_at,
        "incoming_webhook_url": secret("incoming_webhook_url", webhook[0]),
        "incoming_webhook_channel": webhook[1],
        "incoming_webhook_channel_id": webhook[2],
        "incoming_webhook_configuration_url": webhook[3],
        "token_type": "bot",
    }


def bot_values(install: Install, updated_at=None, *, stored=True) -> dict:
    secret = _sealer(SlackBot, install) if stored else _as_is
    return {
        **_record_values(install, updated_at or install.bot_updated_at),
        "bot_token": secret("bot_token", install.bot_token),
        "bot_id": install.bot_id,
        "bot_user_id": install.bot_user_id,
        "bot_scopes": _BOT_SCOPES_JSON,
        "bot_refresh_token": secret("bot_refresh_token", install.bot_refresh_token),
        "bot_token_expires_at": install.bot_token_expires_at,
    }


def utc_text(value):
    """As Django's SQLite and MySQL backends store datetimes with USE_TZ: naive UTC, here as text (str() of
    the datetime, what Django writes on SQLite; MariaDB parses it into its DATETIME(6))."""
    if isinstance(value, datetime.datetime):
        return str(value.astimezone(UTC).replace(tzinfo=None))
    return value


def check_columns() -> None:
    """Fail loudly if the models changed columns: the rows below must fill every one of them."""
    sample = next(generate(0, 1, PooledTokens(1))).installs[0]
    for table, values in (
        (INSTALLATION_COLUMNS, installation_values(sample)),
        (BOT_COLUMNS, bot_values(sample)),
    ):
        if set(values) != set(table):
            raise SystemExit(
                f"benchmarks/data.py is out of date with the models: {sorted(set(values) ^ set(table))}"
            )


def write_ours(database: str, keys: Iterable[Key], batch: int = 20000) -> tuple[int, int]:
    """Insert the keys' installation and bot rows into our tables; returns (installations, bots)."""
    counts = [0, 0]
    connection = _connect(database)
    try:
        keys = iter(keys)
        while chunk := list(itertools.islice(keys, batch)):
            installs = [install for key in chunk for install in key.installs]
            rows = (
                [[values[c] for c in INSTALLATION_COLUMNS] for values in map(installation_values, installs)],
                [[values[c] for c in BOT_COLUMNS] for values in map(bot_values, installs)],
            )
            for table, columns, table_rows in zip(
                (INSTALLATION_TABLE, BOT_TABLE), (INSTALLATION_COLUMNS, BOT_COLUMNS), rows, strict=True
            ):
                _insert(database, connection, table, columns, table_rows)
            connection.commit()
            counts[0] += len(installs)
            counts[1] += len(installs)
    finally:
        connection.close()
    return counts[0], counts[1]


def _connect(database):
    if database == "postgresql":
        import psycopg

        return psycopg.connect(**config.pg_params())
    if database == "mariadb":
        import MySQLdb

        # A transaction per chunk (write_ours commits); local_infile: the client side of LOAD DATA LOCAL.
        return MySQLdb.connect(**config.mariadb_params() | {"autocommit": False, "local_infile": True})
    return sqlite3.connect(config.SQLITE_PATH)


def _insert(database, connection, table, columns, rows):
    if database == "postgresql":
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    elif database == "mariadb":
        # LOAD DATA, MariaDB's COPY: about 1.7 times as fast as executemany's multi-row INSERTs (escaped
        # value by value, then parsed), which the scaling run's million teams would feel. The server must
        # allow it (local_infile, on by default in MariaDB).
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".tsv") as file:
            file.writelines("\t".join(map(_tsv_field, row)) + "\n" for row in rows)
            file.flush()
            connection.cursor().execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 ({', '.join(columns)})",
                [file.name],
            )
        # LOCAL implies IGNORE: a value a column refuses is changed with a warning, not an error.
        if warnings := connection.warning_count():
            raise SystemExit(f"LOAD DATA into {table}: {warnings} warnings (SHOW WARNINGS tells which)")
    else:
        instants = [n for n, column in enumerate(columns) if column in ("installed_at", "updated_at")]
        for row in rows:
            for n in instants:
                row[n] = utc_text(row[n])
        placeholders = ", ".join("?" * len(columns))
        connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows)


def _tsv_field(value) -> str:
    """A field in LOAD DATA's default format: tab-separated, backslash escapes, \\N for NULL."""
    if isinstance(value, str):  # first: most values are
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    if value is None:
        return "\\N"
    if isinstance(value, datetime.datetime):
        return utc_text(value)
    return str(int(value))  # an int, or a bool as 0 or 1


def analyze(database: str) -> None:
    """Planner statistics after a bulk load, and on PostgreSQL the visibility map that index-only scans need:
    the state autovacuum would reach on its own, reached before the clock starts rather than during it."""
    connection = _connect(database)
    try:
        if database == "postgresql":
            connection.autocommit = True  # VACUUM cannot run inside a transaction
            connection.execute("VACUUM ANALYZE")
        elif database == "mariadb":  # every table of the database: ours and slack_sdk's
            cursor = connection.cursor()
            cursor.execute("SHOW TABLES")
            cursor.execute(f"ANALYZE TABLE {', '.join(table for (table,) in cursor.fetchall())}")
            cursor.fetchall()
        else:
            connection.execute("ANALYZE")
            connection.commit()
    finally:
        connection.close()


# -- slack_sdk's tables --------------------------------------------------------------------------------


def write_slack_sdk(engine, store, keys: Iterable[Key], batch: int = 5000) -> tuple[int, int]:
    """The same installations in slack_sdk's SQLAlchemy tables (created by its create_tables())."""
    counts = [0, 0]
    keys = iter(keys)
    while chunk := list(itertools.islice(keys, batch)):
        installs = [install for key in chunk for install in key.installs]
        with engine.begin() as connection:
            connection.execute(store.installations.insert(), [_sdk_installation(i) for i in installs])
            connection.execute(store.bots.insert(), [_sdk_bot(i) for i in installs])
        counts[0] += len(installs)
        counts[1] += len(installs)
    return counts[0], counts[1]


def _naive(value):
    """slack_sdk's columns are naive DateTime, written as UTC (its normalize_datetime_for_db)."""
    if isinstance(value, int):
        value = datetime.datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).replace(tzinfo=None) if value else None


def _sdk_bot(install: Install) -> dict:
    return {
        "client_id": CLIENT_ID,
        "app_id": APP_ID,
        "enterprise_id": install.enterprise_id,
        "enterprise_name": install.enterprise_name,
        "team_id": install.team_id,
        "team_name": install.team_name,
        "bot_token": install.bot_token,
        "bot_id": install.bot_id,
        "bot_user_id": install.bot_user_id,
        "bot_scopes": ",".join(BOT_SCOPES),
        "bot_refresh_token": install.bot_refresh_token,
        "bot_token_expires_at": _naive(install.bot_token_expires_at),
        "is_enterprise_install": install.is_enterprise_install,
        "installed_at": _naive(install.installed_at),
    }


def _sdk_installation(install: Install) -> dict:
    webhook = install.webhook or (None,) * 4
    return _sdk_bot(install) | {
        "enterprise_url": install.enterprise_url,
        "user_id": install.user_id,
        "user_token": install.user_token,
        "user_scopes": ",".join(USER_SCOPES) if install.user_token else None,
        "user_refresh_token": install.user_refresh_token,
        "user_token_expires_at": _naive(install.user_token_expires_at),
        "incoming_webhook_url": webhook[0],
        "incoming_webhook_channel": webhook[1],
        "incoming_webhook_channel_id": webhook[2],
        "incoming_webhook_configuration_url": webhook[3],
        "token_type": "bot",
    }
