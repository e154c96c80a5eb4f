"""docs/oauth-state.md: the OAuth state store, through its sync API, its async twins and (on PostgreSQL) its
native async path (`state_api`).

Time is the store's `clock`, set here to the microsecond; concurrency is real threads on a database server.
"""

import datetime
import hashlib
import logging
import secrets

import pytest
from django.db import connection
from slack_sdk.oauth.state_store import OAuthStateStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from django_slack_store import stores
from django_slack_store.fields import UTC
from django_slack_store.models import SlackOAuthState
from django_slack_store.oauth_state import DjangoOAuthStateStore
from tests.support.concurrency import in_threads, needs_server_database, run_while_rows_locked
from tests.support.store_api import MODES, StoreAPI, store_api

EXPIRATION = 600
# Instants as integer microseconds, so the edges below are exact: one with microseconds, one whole second
# (SQLite compares datetimes as text, and a whole second is written without a fraction there).
T0_US = 1_700_000_000_123_456
WHOLE_SECOND_US = 1_700_000_000_000_000
SECOND = 1_000_000


class Clock:
    """The store's clock, standing still at `now_us` until a test moves it."""

    def __init__(self, now_us):
        self.now_us = now_us

    def __call__(self):
        return self.now_us / SECOND


@pytest.fixture(params=MODES)
def state_api(request):
    """A state store with a 10-minute expiry, through its sync API, its async twins or its native path."""
    yield from store_api(request, DjangoOAuthStateStore(EXPIRATION))


@pytest.fixture
def clock(state_api):
    state_api.store.clock = clock = Clock(T0_US)
    return clock


def digest(state):
    return hashlib.sha256(state.encode()).hexdigest()


def instant(us):
    return datetime.datetime.fromtimestamp(0, UTC) + datetime.timedelta(microseconds=us)


# -- single use ------------------------------------------------------------------------------------------


def test_an_issued_state_is_consumed_once(state_api):
    state = state_api.issue()

    assert state_api.consume(state) is True
    assert state_api.consume(state) is False
    assert not SlackOAuthState.objects.exists()


def test_states_are_unguessable_and_independent(state_api):
    states = [state_api.issue() for _ in range(20)]

    assert len(set(states)) == 20
    # 32 random bytes in URL-safe base64: fits a query string and a cookie as it is.
    assert all(len(state) == 43 and state.isascii() for state in states)
    assert state_api.consume(states[0]) is True
    assert [state_api.consume(state) for state in states[1:]] == [True] * 19


def test_a_state_never_issued_is_refused(state_api):
    state_api.issue()
    assert state_api.consume(secrets.token_urlsafe(32)) is False
    assert SlackOAuthState.objects.count() == 1


@pytest.mark.parametrize(
    "state",
    [
        None,
        "",
        42,
        b"bytes-are-not-a-state-bytes-are-not-a-state",
        ["list"],
        "a" * 42,
        "a" * 44,
        "a" * 1_000_000,
        "é" * 43,
        "a" * 42 + "\x00",
        "\ud800" * 43,  # a lone surrogate: cannot even be encoded as UTF-8
        "a" * 41 + "==",  # padded base64
        "a" * 42 + "\n",
        " " + "a" * 42,
    ],
    ids=lambda state: repr(state)[:20],
)
def test_malformed_input_is_refused_without_a_query(state_api, state):
    issued = state_api.issue()

    with state_api.assert_num_queries(0):
        assert state_api.consume(state) is False
    assert state_api.consume(issued) is True


def test_a_state_altered_in_transit_is_refused(state_api):
    state = state_api.issue()
    changed = ("B" if state[0] == "A" else "A") + state[1:]

    assert state_api.consume(changed) is False
    assert state_api.consume(state.swapcase()) is False
    assert state_api.consume(state) is True


def test_consume_is_one_statement(state_api):
    state = state_api.issue()
    with state_api.assert_num_queries(1):
        assert state_api.consume(state) is True
    with state_api.assert_num_queries(1):
        assert state_api.consume(state) is False


# -- expiry ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("issued_us", [T0_US, WHOLE_SECOND_US], ids=["microseconds", "whole-second"])
def test_a_state_is_valid_strictly_before_its_expiry(state_api, clock, issued_us):
    clock.now_us = issued_us
    just_before, at_expiry, after = state_api.issue(), state_api.issue(), state_api.issue()
    expires_us = issued_us + EXPIRATION * SECOND
    assert {row.expires_at for row in SlackOAuthState.objects.all()} == {instant(expires_us)}

    clock.now_us = expires_us - 1
    assert state_api.consume(just_before) is True
    clock.now_us = expires_us
    assert state_api.consume(at_expiry) is False
    clock.now_us = expires_us + SECOND
    assert state_api.consume(after) is False


def utc_us(*args):
    return round(datetime.datetime(*args, tzinfo=UTC).timestamp() * SECOND)


@pytest.mark.parametrize("use_tz", [True, False], ids=["USE_TZ", "no-USE_TZ"])
@pytest.mark.parametrize("time_zone", ["UTC", "America/New_York"], ids=lambda zone: f"TIME_ZONE={zone}")
@pytest.mark.parametrize(
    "issued_us",
    # Expiring at 01:30:00.25 New York time, the first and the second time that wall time happens.
    [utc_us(2024, 11, 3, 5, 20, 0, 250000), utc_us(2024, 11, 3, 6, 20, 0, 250000)],
    ids=["EDT", "EST"],
)
def test_expiry_is_exact_whatever_the_time_zone_settings(
    state_api, clock, settings, time_zone, use_tz, issued_us
):
    settings.TIME_ZONE, settings.USE_TZ = time_zone, use_tz
    clock.now_us = issued_us
    just_before, at_expiry = state_api.issue(), state_api.issue()
    expires_us = issued_us + EXPIRATION * SECOND
    assert SlackOAuthState.objects.first().expires_at == instant(expires_us)

    clock.now_us = expires_us
    assert state_api.consume(at_expiry) is False
    clock.now_us = expires_us - 1
    assert state_api.consume(just_before) is True


def test_expiry_follows_expiration_seconds(db):
    store = DjangoOAuthStateStore(1)
    store.clock = clock = Clock(T0_US)
    early, late = store.issue(), store.issue()

    clock.now_us += SECOND - 1
    assert store.consume(early) is True
    clock.now_us += 1
    assert store.consume(late) is False


# -- storage ---------------------------------------------------------------------------------------------


def test_the_database_holds_no_plaintext_state(state_api):
    state = state_api.issue()

    table = connection.ops.quote_name(SlackOAuthState._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        rows = cursor.fetchall()
    assert len(rows) == 1
    assert state not in repr(rows)
    row = SlackOAuthState.objects.get()
    assert row.digest == digest(state)
    # Neither the state nor its digest reaches __str__ (and so the admin's LogEntry) or repr.
    for text in (str(row), repr(row)):
        assert state not in text and row.digest not in text


def test_logs_never_show_the_state(state_api, clock, caplog):
    caplog.set_level(logging.DEBUG, logger="django_slack_store")
    expired = state_api.issue()
    clock.now_us += EXPIRATION * SECOND
    state = state_api.issue()  # purges `expired`
    state_api.consume(state)
    state_api.consume(state)
    state_api.consume(expired)
    state_api.consume(state + "!")

    assert "Refused an OAuth state" in caplog.text and "Purged 1 expired" in caplog.text
    assert state not in caplog.text and expired not in caplog.text
    assert digest(state) not in caplog.text


# -- purge -----------------------------------------------------------------------------------------------


def test_issue_purges_expired_states_oldest_first_in_bounded_batches(state_api, clock):
    state_api.store.purge_batch_size = 3
    expired = []
    for i in range(5):
        clock.now_us = T0_US + i * SECOND
        expired.append(state_api.issue())
    clock.now_us = T0_US + 10 * SECOND
    live = state_api.issue()
    # All five have expired, and the last of them exactly now; `live` has not.
    clock.now_us = T0_US + (4 + EXPIRATION) * SECOND

    fresh = state_api.issue()

    remaining = set(SlackOAuthState.objects.values_list("digest", flat=True))
    assert remaining == {digest(state) for state in [*expired[3:], live, fresh]}
    state_api.issue()
    assert SlackOAuthState.objects.count() == 3  # live, fresh and the new one
    assert state_api.consume(live) is True


def test_issue_costs_one_insert_and_one_indexed_lookup(state_api, clock):
    with state_api.assert_num_queries(2):
        state_api.issue()
    clock.now_us += EXPIRATION * SECOND
    # And one delete when something has expired; on the native path (PostgreSQL) the lookup and the delete
    # are one statement.
    with state_api.assert_num_queries(2 if state_api.mode == "native" else 3):
        state_api.issue()


def test_purge_expired_without_a_limit_deletes_every_expired_state(db):
    store = DjangoOAuthStateStore(EXPIRATION)
    store.clock = clock = Clock(T0_US)
    for _ in range(3):
        store.issue()
    clock.now_us += SECOND
    live = store.issue()

    assert SlackOAuthState.objects.purge_expired(instant(T0_US + EXPIRATION * SECOND)) == 3
    assert store.consume(live) is True


# -- construction ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, ValueError),
        (-600, ValueError),
        (10**12, ValueError),
        (600.0, TypeError),
        ("600", TypeError),
        (None, TypeError),
        (True, TypeError),
    ],
)
def test_expiration_seconds_must_be_a_positive_int(value, error):
    with pytest.raises(error, match="expiration_seconds"):
        DjangoOAuthStateStore(value)


def test_implements_slack_sdks_state_store_interfaces():
    # The public API names it in `stores`, beside the installation store (docs/oauth-state.md).
    assert stores.DjangoOAuthStateStore is DjangoOAuthStateStore
    store = DjangoOAuthStateStore(EXPIRATION)
    assert isinstance(store, OAuthStateStore) and isinstance(store, AsyncOAuthStateStore)
    assert store.expiration_seconds == EXPIRATION
    assert store.logger is logging.getLogger("django_slack_store.oauth_state")
    mine = logging.getLogger("test.oauth_state")
    assert DjangoOAuthStateStore(EXPIRATION, logger=mine).logger is mine


# -- concurrency, on a database server -------------------------------------------------------------------


@needs_server_database
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_concurrent_consumes_of_one_state_let_exactly_one_through(mode):
    api = StoreAPI(DjangoOAuthStateStore(EXPIRATION), mode)

    def race(state):
        """`state` consumed by 12 threads at once; what each got."""
        results = []
        in_threads(12, lambda i: results.append(api.consume(state)))
        return sorted(results)

    for state in [api.issue() for _ in range(5)]:
        assert race(state) == [False] * 11 + [True]
    assert not SlackOAuthState.objects.exists()


@needs_server_database
@pytest.mark.django_db(transaction=True)
def test_an_async_consume_waiting_on_the_database_leaves_the_event_loop_free():
    store = DjangoOAuthStateStore(EXPIRATION)
    state = store.issue()

    consumed, loop_was_free = run_while_rows_locked(
        SlackOAuthState.objects.all(), lambda: store.async_consume(state)
    )

    assert (consumed, loop_was_free) == (True, True)
    assert not SlackOAuthState.objects.exists()
