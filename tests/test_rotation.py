"""Token rotation (installation_store/rotation.py): `get_client()`, `refresh()` and their async twins, and
what a refused refresh leaves stored: nothing changed.

The refreshes go to the fake Slack (tests/support/fake_slack.py) over HTTP, which, as Slack, takes a refresh
token once. Racing callers are in test_rotation_concurrency.py.
"""

import asyncio
import math
import socket
import threading
import time

import pytest
from django.core import checks
from django.core.cache import caches
from django.db import connection, connections, transaction
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.web.async_client import AsyncWebClient

from django_slack_store.exceptions import NoClientSecret, NotInstalled, RefreshFailed
from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support.at_rest import raw_rows, shows_a_token
from tests.support.concurrency import needs_server_database
from tests.support.factories import InstallationFactory
from tests.support.store_api import CLIENT_ID

SECRET = "test-client-secret-of-1111.2222"
DAY = 24 * 3600


@pytest.fixture
def rotation(slack, settings):
    """The fake Slack, with the store's refreshes pointed at it and a 1 s REFRESH_TIMEOUT (2 s lock wait)."""
    settings.DJANGO_SLACK_STORE = {"SLACK_API_URL": slack.base_url, "REFRESH_TIMEOUT": 1}
    return slack


@pytest.fixture
def rotating(api):
    """`api` on a store that has the client secret."""
    return api.with_store(DjangoInstallationStore(CLIENT_ID, client_secret=SECRET))


def fresh(**kwargs):
    """A rotating installation whose tokens are good for another day: nothing is due."""
    expires_at = int(time.time()) + DAY
    expiry = {"bot_token_expires_at": expires_at, "user_token_expires_at": expires_at}
    return InstallationFactory(rotating=True, **{**expiry, **kwargs})


def exchangeable(fake, item, kind):
    """Make the `kind` ("bot" or "user") refresh token of `item` exchangeable once at the fake Slack;
    (the access token, the refresh token) it is exchanged for."""
    used = getattr(item, f"{kind}_refresh_token")
    access, following = f"xoxe.xox{kind[0]}-1-after-{used}", f"xoxe-1-after-{used}"
    fake.add_refresh_token(used, access_token=access, next_refresh_token=following, token_type=kind)
    if kind == "bot":
        fake.add_token(access, team_id=item.team_id, user_id=item.bot_user_id, bot_id=item.bot_id)
    else:
        fake.add_token(access, team_id=item.team_id, user_id=item.user_id)
    return access, following


def key_of(item, **more):
    return {"enterprise_id": item.enterprise_id, "team_id": item.team_id, **more}


def secrets_of(*items):
    """Every token and refresh token the items hold, and the client secret."""
    names = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
    return {SECRET} | {getattr(item, name, None) for item in items for name in names} - {None}


def assert_holds_no_secret(error, *items):
    for text in (str(error), repr(error), repr(error.args), repr(vars(error))):
        assert not shows_a_token(text), text
        assert not any(secret in text for secret in secrets_of(*items)), text


def stored():
    """Both tables as the database holds them, ciphertexts and all."""
    return raw_rows(SlackInstallation), raw_rows(SlackBot)


# -- get_client: the right token, and a fresh one costs the find alone -------------------------------------


def test_get_client_holds_the_bot_token_and_the_fake_slacks_url(rotating, rotation):
    installation = fresh()
    rotating.save(installation)

    with rotating.assert_num_queries(1):
        client = rotating.get_client(**key_of(installation))

    assert type(client) is (WebClient if rotating.mode == "sync" else AsyncWebClient)
    assert client.token == installation.bot_token
    assert client.base_url == rotation.base_url
    assert rotation.calls_to("oauth.v2.access") == []


def test_get_client_with_user_id_holds_the_users_token(rotating, rotation):
    installation = fresh()
    rotating.save(installation)
    rotating.save(fresh(team_id=installation.team_id))  # another user's, installed later

    with rotating.assert_num_queries(1):
        client = rotating.get_client(**key_of(installation, user_id=installation.user_id))

    assert client.token == installation.user_token
    assert rotation.calls_to("oauth.v2.access") == []


def test_get_client_of_an_org_wide_install(rotating, rotation):
    installation = fresh(org_wide=True)
    rotating.save(installation)
    key = {"enterprise_id": installation.enterprise_id, "team_id": "T0INORG", "is_enterprise_install": True}

    with rotating.assert_num_queries(1):
        assert rotating.get_client(**key).token == installation.bot_token
    with rotating.assert_num_queries(1):
        assert rotating.get_client(**key, user_id=installation.user_id).token == installation.user_token
    with pytest.raises(NotInstalled):  # the org's install is not a workspace's
        rotating.get_client(enterprise_id=installation.enterprise_id, team_id="T0INORG")


def test_a_token_that_does_not_rotate_is_never_due(rotating, rotation):
    installation = InstallationFactory()  # no refresh token, no expiry
    rotating.save(installation)

    assert rotating.get_client(**key_of(installation)).token == installation.bot_token
    assert rotation.calls == []


@pytest.mark.parametrize("kind", ["bot", "user"])
def test_get_client_refreshes_an_expired_token_once(rotating, rotation, kind):
    installation = InstallationFactory(rotating=True)
    rotating.save(installation)
    access, following = exchangeable(rotation, installation, kind)
    key = key_of(installation, user_id=installation.user_id if kind == "user" else None)

    assert rotating.get_client(**key).token == access
    assert rotating.get_client(**key).token == access  # stored: no second refresh

    [call] = rotation.calls_to("oauth.v2.access")
    assert call.params["refresh_token"] == getattr(installation, f"{kind}_refresh_token")
    assert call.params["client_id"] == CLIENT_ID and call.params["client_secret"] == SECRET
    found = rotating.find_installation(**key_of(installation, user_id=installation.user_id))
    assert getattr(found, f"{kind}_refresh_token") == following
    assert getattr(found, f"{kind}_token_expires_at") > time.time() + 11 * 3600
    other = "user" if kind == "bot" else "bot"
    assert getattr(found, f"{other}_token") == getattr(installation, f"{other}_token")  # not due: not asked


def test_not_installed(rotating, rotation):
    installation = fresh(user_token=None, user_refresh_token=None, user_token_expires_at=None)
    rotating.save(installation)

    cases = [
        key_of(installation, team_id="T0NOBODY"),
        key_of(installation, team_id="T0NOBODY", user_id=installation.user_id),
        key_of(installation, user_id="U0NOBODY"),
        key_of(installation, user_id=installation.user_id),  # installed, without a user token
    ]
    for key in cases:
        with pytest.raises(NotInstalled) as raised:
            rotating.get_client(**key)
        assert raised.value.team_id == key["team_id"] and raised.value.user_id == key.get("user_id")
        assert key["team_id"] in str(raised.value)
        assert_holds_no_secret(raised.value, installation)


def test_no_client_secret_when_a_refresh_is_due(api, rotation):
    installation = InstallationFactory(rotating=True)
    api.save(installation)

    with pytest.raises(NoClientSecret) as raised:
        api.get_client(**key_of(installation))
    assert CLIENT_ID in str(raised.value)
    assert rotation.calls == []
    # Nothing due: no secret needed.
    api.save(fresh(team_id=installation.team_id, installed_at=installation.installed_at + 1))
    assert api.get_client(**key_of(installation)).token


def test_the_client_secret_from_the_setting(api, rotation, settings):
    settings.DJANGO_SLACK_STORE = {**settings.DJANGO_SLACK_STORE, "CLIENT_SECRETS": {CLIENT_ID: SECRET}}
    installation = InstallationFactory(rotating=True)
    api.save(installation)
    access, _ = exchangeable(rotation, installation, "bot")

    assert api.get_client(**key_of(installation)).token == access
    [call] = rotation.calls_to("oauth.v2.access")
    assert call.params["client_secret"] == SECRET


def test_the_stores_own_client_secret_comes_first(rotation, settings, db):
    settings.DJANGO_SLACK_STORE = {**settings.DJANGO_SLACK_STORE, "CLIENT_SECRETS": {CLIENT_ID: "other"}}
    store = DjangoInstallationStore(CLIENT_ID, client_secret=SECRET)
    installation = InstallationFactory(rotating=True)
    store.save(installation)
    exchangeable(rotation, installation, "bot")

    store.get_client(**key_of(installation))
    [call] = rotation.calls_to("oauth.v2.access")
    assert call.params["client_secret"] == SECRET


@pytest.mark.parametrize("secret", [b"secret", 1234, ["secret"]])
def test_a_client_secret_must_be_a_str(secret):
    with pytest.raises(TypeError, match="client_secret"):
        DjangoInstallationStore(CLIENT_ID, client_secret=secret)


def test_the_client_secret_is_in_no_repr():
    store = DjangoInstallationStore(CLIENT_ID, client_secret=SECRET)
    assert SECRET not in repr(store) and SECRET not in str(store)


# -- refresh() --------------------------------------------------------------------------------------------


def test_refresh_of_what_is_not_due_is_the_item_itself_without_a_query(rotating, rotation):
    installation = fresh()
    rotating.save(installation)
    found = rotating.find_installation(**key_of(installation, user_id=installation.user_id))
    bot = rotating.find_bot(**key_of(installation))

    with rotating.assert_num_queries(0):
        assert rotating.refresh(found) is found
        assert rotating.refresh(bot) is bot
        assert rotating.refresh(found, within_minutes=23 * 60) is found
    assert rotation.calls == []


def test_refresh_within_a_longer_window(rotating, rotation):
    installation = fresh()
    rotating.save(installation)
    bot = rotating.find_bot(**key_of(installation))
    access, following = exchangeable(rotation, installation, "bot")

    refreshed = rotating.refresh(bot, within_minutes=25 * 60)

    assert (refreshed.bot_token, refreshed.bot_refresh_token) == (access, following)
    assert rotation.refreshes_with(installation.bot_refresh_token) == 1


def test_refresh_of_a_bot(rotating, rotation):
    installation = InstallationFactory(rotating=True)
    rotating.save(installation)
    bot = rotating.find_bot(**key_of(installation))
    access, following = exchangeable(rotation, installation, "bot")

    refreshed = rotating.refresh(bot)

    assert isinstance(refreshed, Bot) and refreshed is not bot
    assert (refreshed.bot_token, refreshed.bot_refresh_token) == (access, following)
    assert refreshed.bot_token_expires_at > time.time() + 11 * 3600
    assert (refreshed.team_id, refreshed.bot_id) == (bot.team_id, bot.bot_id)
    assert bot.bot_token == installation.bot_token  # the item given is left alone
    assert rotating.find_bot(**key_of(installation)).bot_token == access
    assert rotation.refreshes_with(installation.bot_refresh_token) == 1


@pytest.mark.django_db(transaction=True)
def test_refresh_of_an_installation_saves_both_tokens_in_one_transaction(rotation, settings, received):
    """Both tokens due: one refresh each, one transaction, each signal once after the commit, and the find
    cache serves the new tokens at once."""
    settings.CACHES = {
        **settings.CACHES,
        "slack": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    settings.DJANGO_SLACK_STORE = {**settings.DJANGO_SLACK_STORE, "CACHE_ALIAS": "slack"}
    caches["slack"].clear()
    store = DjangoInstallationStore(CLIENT_ID, client_secret=SECRET)
    installation = InstallationFactory(rotating=True)
    store.save(installation)
    key = key_of(installation, user_id=installation.user_id)
    found = store.find_installation(**key)  # cached now
    bot_access, bot_following = exchangeable(rotation, installation, "bot")
    user_access, user_following = exchangeable(rotation, installation, "user")
    saves, seen_by_receivers = [], []
    save = store._save

    def spied_save(upserts, effects):
        saves.append(([upsert.model for upsert in upserts], connection.in_atomic_block))
        save(upserts, effects)

    store._save = spied_save
    received.clear()

    def on_signal(sender, **kwargs):
        seen_by_receivers.append((connection.in_atomic_block, committed_tokens(installation.team_id)))

    from django_slack_store import signals

    for signal in (signals.installation_saved, signals.bot_saved):
        signal.connect(on_signal, weak=False)
    try:
        refreshed = store.refresh(found)
    finally:
        for signal in (signals.installation_saved, signals.bot_saved):
            signal.disconnect(on_signal)

    assert isinstance(refreshed, Installation)
    assert (refreshed.bot_token, refreshed.bot_refresh_token) == (bot_access, bot_following)
    assert (refreshed.user_token, refreshed.user_refresh_token) == (user_access, user_following)
    assert rotation.refreshes_with(installation.bot_refresh_token) == 1
    assert rotation.refreshes_with(installation.user_refresh_token) == 1
    assert saves == [
        ([SlackInstallation, SlackBot], True)
    ]  # one save of both rows, in the lock's transaction
    assert sorted(received.names()) == ["bot_saved", "installation_saved"]
    assert received.of("installation_saved")[0]["installation"].user_token == user_access
    assert received.of("bot_saved")[0]["bot"].bot_token == bot_access
    # Sent after the commit: another connection already reads the new tokens.
    expected = {"bot": (bot_access, bot_following), "user": (user_access, user_following)}
    assert seen_by_receivers == [(False, expected), (False, expected)]
    again = store.find_installation(**key)
    assert (again.bot_token, again.user_token) == (bot_access, user_access)
    with connections["default"].execute_wrapper(refuse_queries):
        assert store.find_installation(**key).user_token == user_access  # served from the cache


def refuse_queries(execute, sql, params, many, context):
    raise AssertionError(f"a query where the cache should answer: {sql}")


def committed_tokens(team_id):
    """The tokens of `team_id` as another connection reads them (so committed)."""
    result = {}

    def read():
        try:
            installation = SlackInstallation.objects.get(team_id=team_id)
            bot = SlackBot.objects.get(team_id=team_id)
            result["user"] = (installation.user_token, installation.user_refresh_token)
            result["bot"] = (bot.bot_token, bot.bot_refresh_token)
        finally:
            connections.close_all()

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    return result


@pytest.mark.parametrize("within_minutes", ["60", b"60", True, [1]])
def test_within_minutes_must_be_a_number(rotating, within_minutes):
    bot = Bot(**InstallationFactory(rotating=True).to_bot().to_dict_for_copying())
    with pytest.raises(TypeError, match="within_minutes"):
        rotating.refresh(bot, within_minutes=within_minutes)


@pytest.mark.parametrize("within_minutes", [-1, -0.5, math.inf, math.nan])
def test_within_minutes_must_be_0_or_more(rotating, within_minutes):
    bot = InstallationFactory(rotating=True).to_bot()
    with pytest.raises(ValueError, match="within_minutes"):
        rotating.refresh(bot, within_minutes=within_minutes)


@pytest.mark.parametrize("item", [None, {"bot_token": "x"}, "T0123"])
def test_refresh_takes_an_installation_or_a_bot(rotating, item):
    with pytest.raises(TypeError, match="Installation or Bot"):
        rotating.refresh(item)


def test_async_refresh_of_nothing_due_stays_on_the_loop(rotation):
    """No thread hop and no query when nothing is due: the check alone, on the event loop."""
    store = DjangoInstallationStore(CLIENT_ID, client_secret=SECRET)
    installation = fresh()

    async def refresh():
        return await store.async_refresh(installation)

    assert asyncio.run(refresh()) is installation


# -- system checks ----------------------------------------------------------------------------------------


def rotation_checks():
    return [message.id for message in checks.run_checks() if message.id.startswith("django_slack_store.")]


@pytest.mark.parametrize(
    "store_settings, expected",
    [
        ({"REFRESH_TIMEOUT": 10, "CLIENT_SECRETS": {CLIENT_ID: SECRET}}, []),
        ({"REFRESH_TIMEOUT": 0}, ["django_slack_store.E011"]),
        ({"REFRESH_TIMEOUT": "10"}, ["django_slack_store.E011"]),
        ({"REFRESH_TIMEOUT": True}, ["django_slack_store.E011"]),
        ({"CLIENT_SECRETS": [SECRET]}, ["django_slack_store.E012"]),
        ({"CLIENT_SECRETS": {CLIENT_ID: ""}}, ["django_slack_store.E012"]),
        ({"CLIENT_SECRETS": {CLIENT_ID: 1234}}, ["django_slack_store.E012"]),
        ({"CLIENT_SECRETS": {1111: SECRET}}, ["django_slack_store.E012"]),
        (
            {"REFRESH_TIMEOUT": -1, "CLIENT_SECRETS": None},
            ["django_slack_store.E011", "django_slack_store.E012"],
        ),
    ],
)
def test_rotation_settings_checks(settings, store_settings, expected):
    settings.DJANGO_SLACK_STORE = store_settings
    assert rotation_checks() == expected


def test_the_checks_show_no_client_secret(settings):
    settings.DJANGO_SLACK_STORE = {"CLIENT_SECRETS": {CLIENT_ID: SECRET, "other": ""}}
    messages = [message for message in checks.run_checks() if message.id == "django_slack_store.E012"]
    assert messages and not any(SECRET in str(message) for message in messages)


# -- a refused refresh changes nothing ---------------------------------------------------------------------


def closed_port_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/"


FAILURES = {
    # What makes the refresh fail (a function of the fake Slack returning settings to change, if any), the
    # error code expected, and the calls of oauth.v2.access the fake receives.
    "invalid_refresh_token": (lambda fake: None, "invalid_refresh_token", 1),  # not made exchangeable
    "token_revoked": (
        lambda fake: fake.add_error("oauth.v2.access", None, "token_revoked"),
        "token_revoked",
        1,
    ),
    "network": (lambda fake: {"SLACK_API_URL": closed_port_url()}, "network", 0),
    "timeout": (lambda fake: fake.add_delay("oauth.v2.access", 5), "network", 1),  # REFRESH_TIMEOUT is 1
    "unexpected_response": (
        lambda fake: fake.add_page("oauth.v2.access", None, "<html><h1>502 Bad Gateway</h1></html>"),
        "unexpected_response",
        1,
    ),
}


@pytest.mark.parametrize("kind", ["bot", "user"])
@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_a_refused_refresh_changes_nothing(rotating, rotation, settings, caplog, failure, kind):
    make_it_fail, code, calls = failure
    installation = InstallationFactory(rotating=True)
    rotating.save(installation)
    rotating.save(InstallationFactory(rotating=True))  # another workspace's
    if code != "invalid_refresh_token":
        exchangeable(rotation, installation, kind)  # Slack would refresh it, but for the failure
    settings.DJANGO_SLACK_STORE = {**settings.DJANGO_SLACK_STORE, **(make_it_fail(rotation) or {})}
    key = key_of(installation, user_id=installation.user_id if kind == "user" else None)
    before = stored()
    caplog.set_level("DEBUG")

    with pytest.raises(RefreshFailed) as raised:
        rotating.get_client(**key)

    assert stored() == before
    error = raised.value
    assert (error.code, error.kind, error.team_id) == (code, kind, installation.team_id)
    assert error.user_id == (installation.user_id if kind == "user" else None)
    assert installation.team_id in str(error) and code in str(error)
    assert_holds_no_secret(error, installation)
    assert error.__cause__ is None and error.__suppress_context__
    assert not shows_a_token(caplog.text) and SECRET not in caplog.text
    assert len(rotation.calls_to("oauth.v2.access")) == calls


def test_a_refresh_timeout_is_a_network_failure(rotating, rotation):
    installation = InstallationFactory(rotating=True)
    rotating.save(installation)
    exchangeable(rotation, installation, "bot")
    rotation.add_delay("oauth.v2.access", 5)

    started = time.monotonic()
    with pytest.raises(RefreshFailed) as raised:
        rotating.get_client(**key_of(installation))

    assert raised.value.code == "network"
    assert time.monotonic() - started < 5  # gave up on the fake's answer (REFRESH_TIMEOUT = 1)
    assert len(rotation.calls_to("oauth.v2.access")) == 1  # and did not retry


def test_a_refreshed_bot_is_kept_when_the_users_refresh_fails(rotating, rotation):
    """Slack has revoked the bot's old refresh token: its new ones are saved whatever befalls the user's."""
    installation = InstallationFactory(rotating=True)
    rotating.save(installation)
    bot_access, bot_following = exchangeable(rotation, installation, "bot")  # the user's is not exchangeable
    found = rotating.find_installation(**key_of(installation, user_id=installation.user_id))
    user_row_before = raw_rows(SlackInstallation)

    with pytest.raises(RefreshFailed) as raised:
        rotating.refresh(found)

    assert (raised.value.code, raised.value.kind) == ("invalid_refresh_token", "user")
    assert_holds_no_secret(raised.value, installation)
    bot = rotating.find_bot(**key_of(installation))
    assert (bot.bot_token, bot.bot_refresh_token) == (bot_access, bot_following)
    assert not rotation.is_used(bot_following)
    assert raw_rows(SlackInstallation) == user_row_before
    assert rotation.refreshes_with(installation.bot_refresh_token) == 1
    assert rotation.refreshes_with(installation.user_refresh_token) == 1


# -- waiting for a lock another refresh holds --------------------------------------------------------------


def hold_lock(model, team_id):
    """Hold a lock on the workspace's rows of `model` from another connection, as a refresh in progress
    does (on SQLite, the database's write lock); a function that releases it."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                rows = model.objects.filter(team_id=team_id)
                if connection.vendor == "sqlite":
                    rows.update(team_id=team_id)
                else:
                    list(rows.select_for_update())
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(timeout=10)

    def released():
        release.set()
        holder.join()

    return released


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["bot", "user"])
def test_a_refresh_that_waits_too_long_for_the_lock_fails(rotating, rotation, kind):
    installation = InstallationFactory(rotating=True)
    rotating.save(installation)
    access = {each: exchangeable(rotation, installation, each)[0] for each in ("bot", "user")}
    found = rotating.find_installation(**key_of(installation, user_id=installation.user_id))
    item = found if kind == "user" else rotating.find_bot(**key_of(installation))  # the user's: both due
    before = stored()

    release = hold_lock(SlackInstallation if kind == "user" else SlackBot, installation.team_id)
    try:
        started = time.monotonic()
        with pytest.raises(RefreshFailed) as raised:
            rotating.refresh(item)
        waited = time.monotonic() - started
    finally:
        release()

    assert (raised.value.code, raised.value.kind) == ("lock_timeout", kind)
    assert installation.team_id in str(raised.value)
    assert_holds_no_secret(raised.value, installation)
    assert stored() == before
    assert rotation.calls == []
    if connection.vendor != "sqlite":  # SQLite's in-memory test database refuses at once (a table lock)
        assert waited >= 1.5  # it did wait for the lock (2 s: twice REFRESH_TIMEOUT), not fail at once
    # Once the lock is free, the same refresh goes through.
    assert getattr(rotating.refresh(item), f"{kind}_token") == access[kind]


def test_the_lock_wait_is_twice_the_refresh_timeout(settings):
    from django_slack_store.installation_store.rotation import lock_timeout

    settings.DJANGO_SLACK_STORE = {"REFRESH_TIMEOUT": 7}
    assert lock_timeout() == 14


@needs_server_database  # SQLite: test_rotation_concurrency.py's file (in memory, a waiter fails at once)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["bot", "user"])
def test_a_caller_that_waited_for_another_refresh_gets_its_tokens(rotating, rotation, kind):
    """Another connection's refresh holds the lock while Slack answers it, and this caller comes to wait
    for it: once it is committed, the caller reads the saved tokens and calls nobody. (On MariaDB a locking
    read in the order of the bot's updated_at, which that refresh changes, found no row once its wait
    ended: NotInstalled.)"""
    installation = InstallationFactory(rotating=True)
    rotating.save(installation)
    key = key_of(installation, user_id=installation.user_id)
    item = rotating.find_installation(**key) if kind == "user" else rotating.find_bot(**key_of(installation))
    new = {each: exchangeable(rotation, installation, each) for each in ("bot", "user")}
    rotation.add_delay("oauth.v2.access", 0.5)
    other, first_result = DjangoInstallationStore(CLIENT_ID, client_secret=SECRET), []

    def refresh_first():
        try:
            first_result.append(other.refresh(item))
        finally:
            connections.close_all()

    first = threading.Thread(target=refresh_first)
    first.start()
    try:
        deadline = time.monotonic() + 10
        while not rotation.calls_to("oauth.v2.access") and time.monotonic() < deadline:
            time.sleep(0.01)  # until the first refresh holds the lock and waits for Slack's answer
        refreshed = rotating.refresh(item)
    finally:
        first.join()

    kinds = ("bot", "user") if kind == "user" else ("bot",)
    for each in kinds:
        access, following = new[each]
        assert getattr(first_result[0], f"{each}_token") == access
        assert (getattr(refreshed, f"{each}_token"), getattr(refreshed, f"{each}_refresh_token")) == new[each]
        assert rotation.refreshes_with(getattr(installation, f"{each}_refresh_token")) == 1
    assert len(rotation.calls_to("oauth.v2.access")) == len(kinds)
