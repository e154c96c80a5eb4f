"""The find cache (DJANGO_SLACK_STORE["CACHE_ALIAS"]): hits without queries, never stale, outages harmless.

Every test runs on Django's local-memory backend and on its Redis backend (Redis on 127.0.0.1:6379; skipped
when unreachable, a failure with REQUIRE_DATABASES=1), through the sync API and the async twins. The tests
commit (`transactional_db`): inside a transaction the store bypasses the cache, by design.
"""

import json
import logging
import os
import socket
import subprocess
import sys
import uuid

import pytest
from cryptography.exceptions import InvalidTag
from django.core.cache import caches
from django.db import connection, transaction

from django_slack_store import crypto, statements
from django_slack_store.cache import FindCache
from django_slack_store.models import SlackBot
from django_slack_store.stores import DjangoInstallationStore
from tests.support.at_rest import shows_a_token
from tests.support.concurrency import needs_server_database
from tests.support.factories import InstallationFactory, rotated
from tests.support.store_api import CLIENT_ID, MODES, store_api

REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def redis_cache_config():
    try:
        socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2).close()
    except OSError:
        if os.environ.get("REQUIRE_DATABASES") == "1":
            pytest.fail(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT} (REQUIRE_DATABASES=1)")
        pytest.skip(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}")
    # A prefix of its own: runs never see each other's entries, and nothing else in Redis is touched.
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"dss-test-{uuid.uuid4().hex}",
    }


def use_cache(settings, config, **store_settings):
    settings.CACHES = {**settings.CACHES, "slack": config}
    settings.DJANGO_SLACK_STORE = {"CACHE_ALIAS": "slack", "CACHE_TIMEOUT": 60, **store_settings}
    return caches["slack"]


@pytest.fixture(params=["locmem", "redis"])
def cache(request, settings):
    if request.param == "redis":
        config = redis_cache_config()
    else:
        config = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    return use_cache(settings, config)


@pytest.fixture(params=MODES)
def api(request, transactional_db, cache):
    yield from store_api(request, DjangoInstallationStore(client_id=CLIENT_ID))


def find(api, installation, **kwargs):
    return api.find_installation(
        enterprise_id=installation.enterprise_id, team_id=installation.team_id, **kwargs
    )


def find_bot(api, installation):
    return api.find_bot(enterprise_id=installation.enterprise_id, team_id=installation.team_id)


def every_find(api, installation):
    """What each find of the installation's workspace returns: the workspace's, its user's, the bot."""
    return (
        find(api, installation),
        find(api, installation, user_id=installation.user_id),
        find_bot(api, installation),
    )


def as_dicts(results):
    return [None if result is None else vars(result) for result in results]


def test_a_hit_makes_no_query_and_is_a_fresh_copy(api):
    installation = InstallationFactory(custom_values={"plan": {"seats": 3}})
    api.save(installation)
    first = as_dicts(every_find(api, installation))

    with api.assert_num_queries(0):
        hits = every_find(api, installation)
    assert as_dicts(hits) == first
    for hit in hits:
        hit.bot_token = "xoxb-changed"
        hit.custom_values["plan"]["seats"] = 99
    with api.assert_num_queries(0):
        assert as_dicts(every_find(api, installation)) == first


def test_not_installed_is_cached_until_a_save(api):
    installation = InstallationFactory()
    assert every_find(api, installation) == (None, None, None)
    with api.assert_num_queries(0):
        assert every_find(api, installation) == (None, None, None)

    api.save(installation)
    assert find(api, installation).bot_token == installation.bot_token
    assert find_bot(api, installation).bot_token == installation.bot_token


WRITES = {
    "rotation": lambda api, i: api.save(rotated(i, bot_token="xoxb-rotated", user_token="xoxp-rotated")),
    "bot rotation": lambda api, i: api.save_bot(rotated(i.to_bot(), bot_token="xoxb-rotated")),
    "reinstall": lambda api, i: api.save(rotated(i, installed_at=i.installed_at + 60, bot_token="xoxb-new")),
    "delete_bot": lambda api, i: api.delete_bot(enterprise_id=i.enterprise_id, team_id=i.team_id),
    "delete_installation": lambda api, i: api.delete_installation(
        enterprise_id=i.enterprise_id, team_id=i.team_id
    ),
    "delete_installation of the user": lambda api, i: api.delete_installation(
        enterprise_id=i.enterprise_id, team_id=i.team_id, user_id=i.user_id
    ),
    "delete_all": lambda api, i: api.delete_all(enterprise_id=i.enterprise_id, team_id=i.team_id),
    "row delete": lambda api, i: api.delete_bot_rows(SlackBot.objects.filter(team_id=i.team_id)),
    "app_uninstalled": lambda api, i: api.handle_app_uninstalled(
        enterprise_id=i.enterprise_id, team_id=i.team_id
    ),
}


@pytest.mark.parametrize("send_signals", [True, False], ids=["", "without signals"])
@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_every_write_is_seen_by_the_next_find(api, write, send_signals, settings):
    installation = InstallationFactory()
    api.save(installation)
    every_find(api, installation)  # cached now

    write(api.with_store(DjangoInstallationStore(CLIENT_ID, send_signals=send_signals)), installation)
    after = as_dicts(every_find(api, installation))

    settings.DJANGO_SLACK_STORE = {}  # the database's answer, without the cache
    assert after == as_dicts(every_find(api, installation))


def test_a_transaction_sees_its_own_writes_and_publishes_nothing(api):
    api.skip_native_in_callers_transaction()
    installation = InstallationFactory()
    api.save(installation)
    find(api, installation)  # cached

    with pytest.raises(RuntimeError), transaction.atomic():
        api.save(rotated(installation, bot_token="xoxb-rolled-back"))
        assert find(api, installation).bot_token == "xoxb-rolled-back"
        raise RuntimeError("roll back")

    assert find(api, installation).bot_token == installation.bot_token
    with transaction.atomic():
        api.save(rotated(installation, bot_token="xoxb-committed"))
    assert find(api, installation).bot_token == "xoxb-committed"


def test_an_evicted_version_never_serves_an_older_entry(api, cache):
    """A key's version starts afresh (random) after eviction: entries stamped before cannot match it."""
    installation = InstallationFactory()
    api.save(installation)
    find(api, installation)  # cached, stamped with the key's version

    store = api.store
    cache.delete(store._cache_key(connection.alias, [CLIENT_ID, "", installation.team_id]))
    # A change the store does not see (so starts no new version itself), then the next finds.
    SlackBot.objects.filter(team_id=installation.team_id).update(bot_id="B0CHANGED")
    assert find(api, installation).bot_id == "B0CHANGED"
    assert find(api, installation).bot_id == "B0CHANGED"


# -- what a shared cache holds: sealed entries, each bound to its key and version ---------------------------


@pytest.fixture
def shared(transactional_db, settings):
    """A Redis cache and a store, with two users' installations of one workspace (the second one latest)
    and an installation of another workspace, each found (so cached) by workspace and by user."""
    cache = use_cache(settings, redis_cache_config())
    store = DjangoInstallationStore(CLIENT_ID)
    first = InstallationFactory()
    installations = [first, InstallationFactory(team_id=first.team_id), InstallationFactory()]
    for installation in installations:
        store.save(installation)
    for installation in installations:
        find(store, installation)
        find(store, installation, user_id=installation.user_id)
    return cache, store, installations


def cached(cache, store, installation, by_user=False):
    """(key, version, sealed result) of the cached find of the installation's workspace (or its user)."""
    workspace = store._cache_key(connection.alias, [CLIENT_ID, "", installation.team_id])
    key = f"{workspace}:installation" + (f":{installation.user_id}" if by_user else "")
    version, sealed = cache.get(key)
    assert version == cache.get(workspace)
    return key, version, sealed


def assert_a_miss_then_a_hit(store, installation, django_assert_num_queries):
    """The next find of the workspace reads the database, and refills the entry: the one after is a hit."""
    for queries in (1, 0):
        with django_assert_num_queries(queries):
            assert vars(find(store, installation)) == vars(installation)


class Unloadable:
    """Pickles, but fails to unpickle: what an entry pickled by a release with other classes does."""

    def __reduce__(self):
        return (unloadable, ())


def unloadable():
    raise AttributeError("no such class in this release")


UNREADABLE = {
    "not sealed by this app": lambda version, sealed, seal: (version, b"not sealed by this app"),
    "too short for a nonce": lambda version, sealed, seal: (version, b"short"),
    "truncated": lambda version, sealed, seal: (version, sealed[:-1]),
    "a bit flipped": lambda version, sealed, seal: (version, sealed[:-1] + bytes([sealed[-1] ^ 1])),
    "not bytes": lambda version, sealed, seal: (version, "text"),
    "not a pair": lambda version, sealed, seal: 42,
    "a 1-tuple": lambda version, sealed, seal: (version,),
    "a 3-tuple": lambda version, sealed, seal: (version, sealed, sealed),
    "a pickle of another release": lambda version, sealed, seal: (version, seal(Unloadable())),
}


@pytest.mark.parametrize("make", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_an_entry_that_cannot_be_read_is_a_miss(shared, make, caplog, django_assert_num_queries):
    """The database answers, and the refill replaces the entry: the find after it is a hit. Logged as a
    warning at most, without the entry's values."""
    cache, store, (_, latest, _) = shared
    key, version, sealed = cached(cache, store, latest)
    cache.set(key, make(version, sealed, lambda result: FindCache(cache, 60)._dump(key, version, result)))

    with caplog.at_level("DEBUG", logger="django_slack_store"):
        assert_a_miss_then_a_hit(store, latest, django_assert_num_queries)
    assert all(record.levelno <= logging.WARNING for record in caplog.records)
    assert "xox" not in caplog.text and "no such class" not in caplog.text


def test_an_entry_moved_under_another_key_does_not_open(shared, django_assert_num_queries):
    """Who can write to the cache cannot make it serve one workspace's or user's installation for
    another's: copied under another key with that key's version, an entry is a miss."""
    cache, store, (first, latest, elsewhere) = shared
    for source, target, by_user in ((elsewhere, latest, False), (first, latest, True)):
        _, _, sealed = cached(cache, store, source, by_user)
        key, version, _ = cached(cache, store, target, by_user)
        cache.set(key, (version, sealed))
        with django_assert_num_queries(1):
            assert vars(find(store, target, **({"user_id": target.user_id} if by_user else {}))) == vars(
                target
            )


def test_an_entry_restamped_with_a_newer_version_does_not_open(shared, django_assert_num_queries):
    """An entry of before a rotation, stamped with the version that the rotation started, is not served."""
    cache, store, (_, latest, _) = shared
    key, _, before = cached(cache, store, latest)
    store.save(rotated(latest, bot_token="xoxb-rotated"))
    workspace = key.removesuffix(":installation")
    cache.set(key, (cache.get(workspace), before))

    with django_assert_num_queries(1):
        assert find(store, latest).bot_token == "xoxb-rotated"


def test_entries_are_sealed_with_a_key_of_their_own(shared, monkeypatch):
    """Not with a token key: an entry never opens as a token (nor a token as an entry), and cache fills
    spend none of the encryptions a token key is safe for."""
    cache, store, (_, latest, _) = shared
    key, version, sealed = cached(cache, store, latest)
    for cipher in crypto._get_codec().ciphers:
        for associated_data in (None, f"{key}\0{version}".encode()):
            with pytest.raises(InvalidTag):
                cipher.decrypt(sealed[:12], sealed[12:], associated_data)

    token_encryptions = []
    monkeypatch.setattr(crypto._Codec, "encrypt", lambda codec, data: token_encryptions.append(data))
    cache.delete(key)
    assert find(store, latest).bot_token == latest.bot_token  # a miss, then a fill
    assert cached(cache, store, latest) and token_encryptions == []


def test_entries_sealed_before_a_key_rotation_are_misses(shared, settings, django_assert_num_queries):
    cache, store, (_, latest, _) = shared
    settings.DJANGO_SLACK_STORE = {
        **settings.DJANGO_SLACK_STORE,
        "ENCRYPTION_KEYS": [crypto.generate_key(), crypto.derive_key(settings.SECRET_KEY)],
    }
    assert_a_miss_then_a_hit(store, latest, django_assert_num_queries)


def test_a_shared_cache_holds_no_plaintext_token(transactional_db, settings):
    cache = use_cache(settings, redis_cache_config())
    store = DjangoInstallationStore(CLIENT_ID)
    installation = InstallationFactory(rotating=True)
    store.save(installation)
    assert store.find_installation(enterprise_id=None, team_id=installation.team_id).user_token

    client = cache._cache.get_client()
    keys = client.keys(f"{settings.CACHES['slack']['KEY_PREFIX']}:*")
    assert len(keys) == 2  # the workspace's version and the find
    stored = b"".join(client.get(key) for key in keys)
    assert not shows_a_token(stored) and b"test-" not in stored


def test_an_outage_degrades_to_the_database(transactional_db, settings, caplog, django_assert_num_queries):
    # Nothing listens on port 1: every cache call fails at once.
    use_cache(
        settings,
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1"},
    )
    store = DjangoInstallationStore(CLIENT_ID)
    installation = InstallationFactory()
    with caplog.at_level("WARNING", logger="django_slack_store"):
        store.save(installation)
        with django_assert_num_queries(1):
            assert store.find_installation(enterprise_id=None, team_id=installation.team_id)
        store.save(rotated(installation, bot_token="xoxb-rotated"))
        assert store.find_bot(enterprise_id=None, team_id=installation.team_id).bot_token == "xoxb-rotated"
    logged = [record.getMessage() for record in caplog.records]
    assert any("finds use the database" in message for message in logged)
    assert any("Could not replace the cache versions" in message for message in logged)
    assert "xox" not in caplog.text


def test_lookups_that_nothing_can_match_make_no_query(api):
    with api.assert_num_queries(0):
        assert api.find_installation(enterprise_id=None, team_id="T 1") is None
        assert api.find_bot(enterprise_id=None, team_id="T" * 33) is None
        assert api.find_installation(enterprise_id="E:1", team_id="T1", user_id="U1") is None


def test_the_store_holds_no_per_team_state(api):
    store = api.store
    before = dict(vars(store))
    for installation in InstallationFactory.build_batch(20):
        api.save(installation)
        every_find(api, installation)
    assert vars(store) == before
    # Statements: one per lookup shape and database, whatever the number of teams.
    assert statements.installation_statement.cache_info().currsize <= 2
    assert statements.bot_statement.cache_info().currsize <= 1


# -- two processes sharing the database and Redis -----------------------------------------------------------


class Peer:
    """`tests/support/cache_peer.py` in a process of its own, on this test's database and Redis cache."""

    def __init__(self, key_prefix):
        database = connection.settings_dict
        env = {
            **os.environ,
            "DB_NAME": database["NAME"],  # the test database pytest-django created
            "PEER_REDIS_URL": REDIS_URL,
            "PEER_KEY_PREFIX": key_prefix,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.cache_peer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def __call__(self, op, **arguments):
        self.process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, f"the peer process exited ({self.process.poll()})"
        return json.loads(answer)

    def close(self):
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0


@needs_server_database
def test_a_write_in_either_process_is_seen_by_the_other(
    transactional_db, settings, django_assert_num_queries
):
    config = redis_cache_config()
    use_cache(settings, config)
    store = DjangoInstallationStore(CLIENT_ID)
    installation = InstallationFactory()
    team_id = installation.team_id

    def tokens():
        found = store.find_installation(enterprise_id=None, team_id=team_id)
        return found and {"bot_token": found.bot_token, "user_token": found.user_token}

    peer = Peer(config["KEY_PREFIX"])
    try:
        store.save(installation)
        original = {"bot_token": installation.bot_token, "user_token": installation.user_token}
        assert peer("find", team_id=team_id) == original  # the peer cached it
        assert tokens() == original
        with django_assert_num_queries(0):
            assert tokens() == original  # a hit in this process too

        for round_number in range(3):
            # The peer rotates: this process's next find sees it, though it had the entry cached.
            peer_rotation = rotated(installation, bot_token=f"xoxb-peer-{round_number}")
            arguments = {name: getattr(peer_rotation, name) for name in peer_rotation.to_dict_for_copying()}
            assert peer("save", installation=arguments) == "saved"
            assert tokens()["bot_token"] == f"xoxb-peer-{round_number}"
            # This process rotates: the peer sees it.
            store.save(rotated(installation, bot_token=f"xoxb-here-{round_number}"))
            assert peer("find", team_id=team_id)["bot_token"] == f"xoxb-here-{round_number}"
            assert tokens()["bot_token"] == f"xoxb-here-{round_number}"

        assert peer("delete_all", team_id=team_id) == "deleted"
        assert tokens() is None
        store.save(installation)
        assert peer("find", team_id=team_id) == original
    finally:
        peer.close()
