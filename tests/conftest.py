import pytest

from tests.support import pgbouncer
from tests.support.store_api import CLIENT_ID, MODES, store_api


def pytest_report_header(config):
    """Name this run's database in the session header: "database: postgresql (127.0.0.1:5432/test, ...)"."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    engine = database["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"database: sqlite ({database['NAME']})"
    bouncer = pgbouncer.running()
    if bouncer:
        server = f"{bouncer.server_host}:{bouncer.server_port}"
        where = f"{bouncer.host}:{bouncer.port} -> {server}/{database['NAME']}"
        return f"database: pgbouncer ({where}, user {database['USER']}, pool_mode transaction)"
    # Django calls both MySQL and MariaDB "mysql"; we only test MariaDB.
    name = "mariadb" if engine == "mysql" else engine
    where = f"{database['HOST']}:{database['PORT']}/{database['NAME']}"
    return f"database: {name} ({where}, user {database['USER']})"


@pytest.fixture(scope="session")
def _dropped_test_databases():
    """Test databases that must be gone once pytest-django's teardown dropped them: it only warns when the
    drop fails. `django_db_setup` below requests it before pytest-django's, so it is torn down after."""
    names = []
    yield names
    bouncer = pgbouncer.running()
    left = [name for name in names if bouncer.server_has_database(name)]
    if left:
        pytest.fail(f"the test database {', '.join(left)} was not dropped; see the warnings above")


@pytest.fixture(scope="session")
def django_db_setup(_dropped_test_databases, django_db_setup, django_db_keepdb):
    """pytest-django's test database. Through PgBouncer, its pooled server connections to the test database
    are closed first, as PostgreSQL refuses to drop a database that sessions are connected to."""
    yield
    bouncer = pgbouncer.running()
    if bouncer and not django_db_keepdb:
        from django.db import connection

        name = connection.settings_dict["NAME"]  # the test database's, until pytest-django's teardown
        bouncer.close_server_connections(name)
        _dropped_test_databases.append(name)


@pytest.fixture(params=MODES)
def api(request):
    """The store under test, through its sync API, its async twins, or (on PostgreSQL) its native async
    path: each test runs with each (tests/support/store_api.py)."""
    from django_slack_store.stores import DjangoInstallationStore

    yield from store_api(request, DjangoInstallationStore(client_id=CLIENT_ID))


def pytest_collection_modifyitems(items):
    """Database access for the tests of a StoreAPI fixture (`api`, `state_api`): the native mode sees only
    committed rows, so its tests commit (`transaction=True`); the others run in a transaction rolled back
    after the test, unless the test is marked otherwise. (As a marker: pytest-django does not set up the
    test database for a `db` fixture requested dynamically by the first test.)"""
    for item in items:
        params = getattr(item, "callspec", None) and item.callspec.params
        mode = params and (params.get("api") or params.get("state_api"))
        if mode == "native":
            item.add_marker(pytest.mark.django_db(transaction=True), append=False)
        elif mode and item.get_closest_marker("django_db") is None:
            item.add_marker(pytest.mark.django_db)


@pytest.fixture
def fake_slack(monkeypatch):
    """A fake Slack Web API on 127.0.0.1 for one test (tests/support/fake_slack.py): clients use its
    `base_url`."""
    from tests.support.fake_slack import FakeSlack

    # slack_sdk sends every request through HTTP(S)_PROXY when set, ignoring NO_PROXY, even to 127.0.0.1.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def slack(fake_slack, settings):
    """`fake_slack`, with the app's own Web API calls (the admin's auth.revoke) pointed at it."""
    settings.DJANGO_SLACK_STORE = {"SLACK_API_URL": fake_slack.base_url}
    return fake_slack


SIGNALS = [
    "installation_saved",
    "bot_saved",
    "installation_deleted",
    "bot_deleted",
    "app_uninstalled",
    "tokens_revoked",
]


class Received(list):
    """(signal name, kwargs) of every signal sent, in order; `sender` checked on the way in."""

    def of(self, name):
        return [kwargs for signal_name, kwargs in self if signal_name == name]

    def names(self):
        return [name for name, _ in self]


@pytest.fixture
def received():
    """Every signal of django_slack_store sent during the test, as (name, kwargs), in order."""
    from django_slack_store import signals
    from django_slack_store.stores import DjangoInstallationStore

    log = Received()
    receivers = []
    for name in SIGNALS:

        def receiver(sender, signal, _name=name, **kwargs):
            assert sender is DjangoInstallationStore
            log.append((_name, kwargs))

        getattr(signals, name).connect(receiver, weak=False)
        receivers.append((getattr(signals, name), receiver))
    yield log
    for signal, receiver in receivers:
        signal.disconnect(receiver)
