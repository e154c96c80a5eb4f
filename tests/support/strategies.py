"""The strategies of the property tests: valid and hostile values for every field of Installation and Bot,
and how a stored object is expected to come back (tests/test_hardening.py, test_import.py, the admin's)."""

import datetime
import math
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from slack_sdk.oauth.installation_store import Bot, Installation

from django_slack_store import crypto
from django_slack_store.rows import MAX_TIMESTAMP

UTC = datetime.timezone.utc

# Every attribute of slack_sdk's Installation and Bot, by the kind of value it holds.
ID_FIELDS = ("app_id", "enterprise_id", "team_id", "user_id", "bot_id", "bot_user_id")
ID_FIELDS += ("incoming_webhook_channel_id",)
TEXT_FIELDS = ("enterprise_name", "team_name", "enterprise_url", "incoming_webhook_url")
TEXT_FIELDS += ("incoming_webhook_channel", "incoming_webhook_configuration_url", "token_type")
TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
SCOPE_FIELDS = ("bot_scopes", "user_scopes")
EPOCH_FIELDS = ("bot_token_expires_at", "user_token_expires_at")
OTHER_FIELDS = ("installed_at", "is_enterprise_install", "custom_values")
ALL_FIELDS = ID_FIELDS + TEXT_FIELDS + TOKEN_FIELDS + SCOPE_FIELDS + EPOCH_FIELDS + OTHER_FIELDS
BOT_FIELDS = ("bot_id", "bot_user_id", "bot_token", "bot_scopes", "bot_refresh_token", "bot_token_expires_at")

HYPOTHESIS = settings(
    # Modest, so the suite stays fast on three databases; HARDENING_EXAMPLES=2000 for a thorough run.
    max_examples=int(os.environ.get("HARDENING_EXAMPLES", "60")),
    deadline=None,
    database=None,  # no .hypothesis/ directory in the checkout
    # The function-scoped fixtures are reset by hand (see the module docstring); big values are the point.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.large_base_example,
    ],
)

# -- values ---------------------------------------------------------------------------------------------
#
# `valid` values are unusual but within the documented contract: a save of them must round-trip. `hostile`
# values may be anything: a save of them round-trips or raises TypeError/ValueError. Each example draws a
# valid value for every field, then makes a few fields hostile.

# Any code point: controls, NUL, lone surrogates, astral characters, right-to-left marks...
any_character = st.characters(exclude_categories=())
# What a UTF-8 database column holds: anything but NUL and lone surrogates.
storable_character = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
hostile_text = st.one_of(
    st.text(any_character, max_size=20),
    st.text(st.sampled_from("\x00\x01\x1b\x7f\u200f\ud800\udfff\U0001f600é ,"), min_size=1, max_size=8),
    # Huge strings, around the column limits (32, 255, 4096) and far past them.
    st.builds(
        lambda c, size: c * size, any_character, st.sampled_from([32, 33, 255, 256, 4096, 4097, 100_000])
    ),
)
wrong_types = st.one_of(
    st.integers(),
    st.floats(),
    st.booleans(),
    st.binary(max_size=8),
    st.lists(st.text(max_size=3), max_size=2),
    st.tuples(st.text(max_size=3)),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(object),
)


def storable_text(max_size, min_size=0):
    return st.one_of(
        st.text(storable_character, min_size=min_size, max_size=min(max_size, 40)),
        st.builds(lambda c: c * max_size, storable_character),  # exactly at the column limit
    )


slack_id = st.from_regex(r"\A[A-Z0-9][A-Za-z0-9._-]{0,31}\Z")
# Below 1e16: PostgreSQL's jsonb turns bigger floats into ints, so the store refuses them.
json_floats = st.floats(min_value=-1e16, max_value=1e16, exclude_min=True, exclude_max=True)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), json_floats, st.text(storable_character, max_size=10)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(storable_character, max_size=5), children, max_size=3),
    ),
    max_leaves=10,
)


def nested(depth, leaf=1):
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


VALID = {
    **dict.fromkeys(ID_FIELDS, st.one_of(st.none(), st.just(""), slack_id)),
    **dict.fromkeys(TEXT_FIELDS, st.one_of(st.none(), st.just(""), storable_text(255))),
    "enterprise_url": st.one_of(st.none(), storable_text(2000)),
    "token_type": st.one_of(st.none(), st.just(""), storable_text(32)),
    # Tokens: Slack's shapes, any text (one that looks encrypted included), up to the 4096 limit.
    **dict.fromkeys(
        TOKEN_FIELDS,
        st.one_of(
            st.none(),
            st.just(""),
            st.from_regex(r"\Axox[bpe]-[0-9a-zA-Z-]{1,60}\Z"),
            st.builds(
                lambda tag, text: tag + text,
                st.sampled_from([crypto.PREFIX, crypto.FERNET_PREFIX]),
                st.text(storable_character, max_size=20),
            ),
            storable_text(4096, min_size=1),
        ),
    ),
    **dict.fromkeys(
        SCOPE_FIELDS,
        st.one_of(
            st.none(),
            st.just(""),
            st.lists(st.text(storable_character, max_size=20), max_size=4),
            st.tuples(st.text(storable_character, max_size=5)),
            st.text(storable_character, max_size=30),  # "a,b" is split, as slack_sdk does
        ),
    ),
    **dict.fromkeys(
        EPOCH_FIELDS,
        st.one_of(
            st.none(), st.integers(min_value=0, max_value=MAX_TIMESTAMP), st.sampled_from([0, MAX_TIMESTAMP])
        ),
    ),
    "installed_at": st.one_of(
        st.floats(min_value=0, max_value=MAX_TIMESTAMP),
        st.sampled_from([0.0, -0.0, 5e-324, float(MAX_TIMESTAMP)]),
    ),
    "is_enterprise_install": st.one_of(st.booleans(), st.none()),
    "custom_values": st.one_of(
        st.none(),
        st.dictionaries(st.text(storable_character, max_size=8), json_values, max_size=4),
        st.builds(lambda depth: {"deep": nested(depth)}, st.integers(min_value=1, max_value=30)),
        # Python refuses to turn ints of more than 4300 digits into text, so JSON cannot hold them.
        st.builds(lambda size: {"s": "x" * size, "n": 10 ** min(size, 4000)}, st.sampled_from([9, 100_000])),
    ),
}

HOSTILE = {
    **dict.fromkeys(ID_FIELDS + TEXT_FIELDS + TOKEN_FIELDS, st.one_of(hostile_text, wrong_types)),
    **dict.fromkeys(SCOPE_FIELDS, st.one_of(st.lists(hostile_text, max_size=3), hostile_text, wrong_types)),
    **dict.fromkeys(
        EPOCH_FIELDS,
        st.one_of(
            st.integers(),  # before 1970, past 9999, past 64 bits
            st.sampled_from(
                [-1, MAX_TIMESTAMP + 1, 2**62, 2**63, -(2**63) - 1, 1.0, float("nan"), float("inf")]
            ),
            wrong_types,
        ),
    ),
    "installed_at": st.one_of(
        st.floats(),  # NaN, infinities, negative, huge
        st.integers(min_value=-(2**70), max_value=2**70),  # slack_sdk's Bot() refuses ints: so does the store
        st.sampled_from([0, -1.0, -1e-9, MAX_TIMESTAMP + 0.5, 253402300799.0, 253402300800.0, float("-inf")]),
        wrong_types,
    ),
    "is_enterprise_install": wrong_types,
    "custom_values": st.one_of(
        wrong_types,
        st.recursive(
            st.one_of(
                json_values,
                st.floats(),
                hostile_text,
                st.builds(lambda digits: -(10**digits), st.integers(4290, 4400)),
            ),
            lambda children: st.one_of(
                st.lists(children, max_size=3),
                st.dictionaries(st.text(any_character, max_size=5), children, max_size=3),
                # Not JSON, or JSON that does not read back the same: tuples, sets, int keys, objects.
                st.tuples(children),
                st.frozensets(st.integers(), max_size=2),
                st.dictionaries(st.integers(), children, min_size=1, max_size=2),
                st.builds(object),
            ),
            max_leaves=8,
        ).map(lambda value: {"v": value}),
        st.builds(lambda depth: {"deep": nested(depth)}, st.integers(min_value=31, max_value=3000)),
    ),
}


# slack_sdk's constructors require these; the drawn values replace them.
CONSTRUCTOR_ARGUMENTS = {
    Installation: {"user_id": "U0HOSTILE"},
    Bot: {
        "bot_token": "xoxb-test-hostile",
        "bot_id": "B0HOSTILE",
        "bot_user_id": "U0BOT",
        "installed_at": 1.5,
    },
}


@st.composite
def objects(draw, cls, fields, max_hostile=3):
    """A `cls` with a valid value in each of `fields`, then up to `max_hostile` of them hostile; and whether
    any is."""
    values = {name: draw(VALID[name]) for name in fields}
    if values["is_enterprise_install"] and not values["enterprise_id"]:
        values["enterprise_id"] = "E0ORG"
    if not values["enterprise_id"] and not values["team_id"]:
        values["team_id"] = "T0HOSTILE"
    if cls is Bot and not values["bot_token"]:
        values["bot_token"] = "xoxb-test-hostile"  # a bot without a token is no bot
    hostile_names = draw(st.lists(st.sampled_from(fields), max_size=max_hostile, unique=True))
    values.update({name: draw(HOSTILE[name]) for name in hostile_names})
    obj = cls(**CONSTRUCTOR_ARGUMENTS[cls])
    for name, value in values.items():
        setattr(obj, name, value)  # past slack_sdk's constructor: the store sees exactly these values
    return obj, bool(hostile_names)


# -- what the store documents ---------------------------------------------------------------------------


def expected(obj):
    """The values a find returns after `obj` saved fine."""
    values = dict(vars(obj))
    if isinstance(obj, Installation) and not obj.bot_token:
        values |= dict.fromkeys(BOT_FIELDS) | {"bot_scopes": []}  # no bot row: find serves no bot
    for name in ("enterprise_id", "team_id", "user_id"):
        if name in values:
            values[name] = values[name] or None
    for name in SCOPE_FIELDS:
        if name in values:
            scopes = values[name]
            values[name] = scopes.split(",") if isinstance(scopes, str) and scopes else list(scopes or [])
    values["is_enterprise_install"] = bool(values["is_enterprise_install"])
    if values["is_enterprise_install"]:
        values["team_id"] = None
    values["installed_at"] = datetime.datetime.fromtimestamp(values["installed_at"], UTC).timestamp()
    values["custom_values"] = values["custom_values"] or {}
    return values


def same(found, wanted):
    """Equal, with NaN-free floats compared as values (JSON has one number type per value)."""
    assert found.keys() == wanted.keys()
    for name, value in wanted.items():
        assert found[name] == value, name
        if isinstance(value, float) and not math.isnan(value):
            assert type(found[name]) is float, name


def shorten(value, depth=0):
    """A value for the failure report, with huge strings and numbers cut down to size."""
    if depth > 40:
        return "..."
    if isinstance(value, str) and len(value) > 60:
        return f"{value[:20]!r}... ({len(value)} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**60:
        return f"<int of {value.bit_length()} bits>"  # str() refuses ints of more than 4300 digits
    if isinstance(value, dict):
        return {shorten(key, depth + 1): shorten(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(shorten(item, depth + 1) for item in value)
    return value
