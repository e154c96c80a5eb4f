import pytest

from tests.store_api import CLIENT_ID, StoreAPI


def pytest_report_header(config):
    """Name this run's database in the session header: "database: postgresql (127.0.0.1:5432/test, ...)"."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    engine = database["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"database: sqlite ({database['NAME']})"
    # Django calls both MySQL and MariaDB "mysql"; we only test MariaDB.
    name = "mariadb" if engine == "mysql" else engine
    where = f"{database['HOST']}:{database['PORT']}/{database['NAME']}"
    return f"database: {name} ({where}, user {database['USER']})"


@pytest.fixture(params=["sync", "async"])
def api(request, db):
    """The store under test, through its sync API or its async twins (each test runs with both)."""
    from django_slack_store.stores import DjangoInstallationStore

    return StoreAPI(DjangoInstallationStore(client_id=CLIENT_ID), request.param)


@pytest.fixture
def fake_slack(monkeypatch):
    """A fake Slack Web API on 127.0.0.1 for one test (tests/fake_slack.py): clients use its `base_url`."""
    from tests.fake_slack import FakeSlack

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
