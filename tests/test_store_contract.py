"""docs/store.md, case by case, through the sync API, the async twins and (on PostgreSQL) the native async
path (`api` fixture)."""

import pytest
from django.db import OperationalError, connection

from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.rows import BOT_FIELDS
from django_slack_store.stores import DjangoInstallationStore
from tests.support.factories import BASE_TIME, BotFactory, InstallationFactory, rotated


def find(api, installation, **kwargs):
    """find_installation for the workspace (or org) of `installation`."""
    return api.find_installation(
        enterprise_id=installation.enterprise_id,
        team_id=installation.team_id,
        is_enterprise_install=installation.is_enterprise_install,
        **kwargs,
    )


def find_bot(api, installation_or_bot):
    return api.find_bot(
        enterprise_id=installation_or_bot.enterprise_id,
        team_id=installation_or_bot.team_id,
        is_enterprise_install=installation_or_bot.is_enterprise_install,
    )


def bot_fields(installation):
    return {name: getattr(installation, name) for name in BOT_FIELDS}


def assert_agree(api, installation):
    """find_installation's bot fields are what find_bot serves (or empty when it serves nothing)."""
    found, bot = find(api, installation), find_bot(api, installation)
    expected = dict.fromkeys(BOT_FIELDS) | {"bot_scopes": []} if bot is None else bot_fields(bot)
    assert bot_fields(found) == expected


# -- round trip -------------------------------------------------------------------------------------------


def test_every_field_round_trips_exactly(api):
    installation = InstallationFactory(complete=True)
    api.save(installation)

    found = find(api, installation)
    assert vars(found) == vars(installation)
    assert vars(find_bot(api, installation)) == vars(installation.to_bot())
    assert type(found.installed_at) is float and type(found.bot_token_expires_at) is int


def test_bot_round_trips_exactly(api):
    bot = BotFactory(rotating=True, custom_values={"k": [1, 2.5, "x"]})
    api.save_bot(bot)
    assert vars(find_bot(api, bot)) == vars(bot)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("chat:write,commands", ["chat:write", "commands"]),
        ("", []),
        (None, []),
        ((), []),
        (("a", "b"), ["a", "b"]),
    ],
)
def test_scopes_come_back_as_lists(api, given, stored):
    installation = InstallationFactory(user_scopes=given)
    installation.bot_scopes = given
    api.save(installation)
    found = find(api, installation)
    assert found.user_scopes == stored and found.bot_scopes == stored


def test_empty_string_ids_are_none(api):
    installation = InstallationFactory(enterprise_id="")
    api.save(installation)
    found = api.find_installation(enterprise_id=None, team_id=installation.team_id)
    assert found.enterprise_id is None
    assert (
        api.find_installation(enterprise_id="", team_id=installation.team_id).user_id == installation.user_id
    )


def test_each_find_returns_a_fresh_object(api):
    installation = InstallationFactory(complete=True)
    api.save(installation)
    first = find(api, installation)
    first.custom_values["plan"] = "changed"
    first.bot_scopes.append("admin")
    first.user_token = "xoxp-test-mutated"
    again = find(api, installation)
    assert again is not first
    assert vars(again) == vars(installation)
    bot = find_bot(api, installation)
    bot.bot_scopes.append("admin")
    assert find_bot(api, installation).bot_scopes == installation.bot_scopes


def test_a_bot_alone_has_no_installation(api):
    bot = BotFactory()
    api.save_bot(bot)
    assert find(api, bot) is None
    assert find_bot(api, bot).bot_token == bot.bot_token


# -- keys: Enterprise Grid, history, client ids -------------------------------------------------------


def test_org_wide_install_is_keyed_by_the_enterprise_alone(api):
    installation = InstallationFactory(org_wide=True)
    installation.team_id = "T0SOME"  # whatever Slack sent, an org-wide install has no team
    api.save(installation)

    for team_id in (None, "T0OTHER", "T0SOME"):
        found = api.find_installation(enterprise_id="E0ORG", team_id=team_id, is_enterprise_install=True)
        assert found.team_id is None and found.is_enterprise_install is True
        assert (
            api.find_bot(enterprise_id="E0ORG", team_id=team_id, is_enterprise_install=True).team_id is None
        )
    # Without the org-wide flag, a team in the org is a workspace of its own, not installed.
    assert api.find_installation(enterprise_id="E0ORG", team_id="T0OTHER") is None
    # A lookup without a team is keyed by the enterprise alone (slack_sdk's rule).
    assert api.find_installation(enterprise_id="E0ORG", team_id=None).user_id == installation.user_id


def test_org_wide_and_workspace_installs_in_one_org_stay_apart(api):
    org = InstallationFactory(org_wide=True)
    workspace = InstallationFactory(enterprise_id="E0ORG", team_id="T0WORK", installed_at=BASE_TIME + 100)
    api.save(org)
    api.save(workspace)

    assert api.find_installation(enterprise_id="E0ORG", team_id="T0WORK").bot_token == workspace.bot_token
    found_org = api.find_installation(enterprise_id="E0ORG", team_id="T0WORK", is_enterprise_install=True)
    assert found_org.bot_token == org.bot_token
    assert api.find_bot(enterprise_id="E0ORG", team_id="T0WORK").bot_token == workspace.bot_token

    api.delete_all(enterprise_id="E0ORG", team_id=None)  # exact key: the org-wide rows only
    assert api.find_installation(enterprise_id="E0ORG", team_id=None, is_enterprise_install=True) is None
    assert api.find_installation(enterprise_id="E0ORG", team_id="T0WORK").bot_token == workspace.bot_token


def test_history_is_kept_and_the_latest_is_found(api):
    first = InstallationFactory(team_id="T0HIST", user_id="U0ALICE", installed_at=BASE_TIME)
    second = InstallationFactory(team_id="T0HIST", user_id="U0BOB", installed_at=BASE_TIME + 10)
    third = InstallationFactory(team_id="T0HIST", user_id="U0ALICE", installed_at=BASE_TIME + 5)
    for installation in (first, second, third):
        api.save(installation)

    assert SlackInstallation.objects.count() == 3 and SlackBot.objects.count() == 3
    # The latest installed, with the bot served for the workspace: the one written last (third's).
    assert vars(api.find_installation(enterprise_id=None, team_id="T0HIST")) == vars(second) | bot_fields(
        third
    )
    alice = api.find_installation(enterprise_id=None, team_id="T0HIST", user_id="U0ALICE")
    assert vars(alice) == vars(third)
    assert api.find_installation(enterprise_id=None, team_id="T0HIST", user_id="U0NOBODY") is None


def test_every_query_is_scoped_by_client_id(api):
    other = api.with_client_id("9999.8888")
    mine, theirs = InstallationFactory(team_id="T0SHARED"), InstallationFactory(team_id="T0SHARED")
    api.save(mine)
    other.save(theirs)

    assert api.find_installation(enterprise_id=None, team_id="T0SHARED").bot_token == mine.bot_token
    assert other.find_bot(enterprise_id=None, team_id="T0SHARED").bot_token == theirs.bot_token
    other.delete_all(enterprise_id=None, team_id="T0SHARED")
    assert api.find_installation(enterprise_id=None, team_id="T0SHARED").bot_token == mine.bot_token
    assert other.find_installation(enterprise_id=None, team_id="T0SHARED") is None


# -- rotation and the user token ----------------------------------------------------------------------


def test_rotation_updates_the_row_in_place(api):
    installation = InstallationFactory(rotating=True)
    api.save(installation)
    ids = (SlackInstallation.objects.get().pk, SlackBot.objects.get().pk)

    new = rotated(
        installation,
        bot_token="xoxb-test-rotated",
        bot_refresh_token="xoxe-test-rotated",
        bot_token_expires_at=1_800_000_000,
        user_token="xoxp-test-rotated",
        user_token_expires_at=1_800_000_100,
    )
    api.save(new)

    assert (SlackInstallation.objects.get().pk, SlackBot.objects.get().pk) == ids
    assert vars(find(api, installation)) == vars(new)
    assert vars(find_bot(api, installation)) == vars(new.to_bot())


def test_rotation_through_save_bot_updates_the_bot_in_place(api):
    bot = BotFactory(rotating=True)
    api.save_bot(bot)
    api.save_bot(rotated(bot, bot_token="xoxb-test-rotated", bot_token_expires_at=1_800_000_000))
    assert SlackBot.objects.count() == 1
    assert find_bot(api, bot).bot_token == "xoxb-test-rotated"


def test_a_copy_with_blanked_user_fields_keeps_the_stored_user_token(api):
    installation = InstallationFactory(rotating=True)
    api.save(installation)
    # What Bolt's authorize saves when the acting user is not the installer: user fields blanked.
    copy = rotated(installation, bot_token="xoxb-test-rotated")
    copy.user_token = copy.user_refresh_token = copy.user_token_expires_at = copy.user_scopes = None
    api.save(copy)

    found = find(api, installation, user_id=installation.user_id)
    assert found.bot_token == "xoxb-test-rotated"
    assert (found.user_token, found.user_refresh_token, found.user_token_expires_at, found.user_scopes) == (
        installation.user_token,
        installation.user_refresh_token,
        installation.user_token_expires_at,
        installation.user_scopes,
    )


def test_an_empty_string_user_token_keeps_the_stored_one_too(api):
    installation = InstallationFactory()
    api.save(installation)
    api.save(rotated(installation, user_token="", user_scopes=[]))
    found = find(api, installation)
    assert (found.user_token, found.user_scopes) == (installation.user_token, installation.user_scopes)


# -- the bot that is served -----------------------------------------------------------------------------


def test_the_most_recently_written_bot_is_served_and_find_installation_agrees(api):
    older = InstallationFactory(team_id="T0BOTS", installed_at=BASE_TIME, rotating=True)
    newer = InstallationFactory(team_id="T0BOTS", installed_at=BASE_TIME + 60)
    api.save(older)
    api.save(newer)
    assert find_bot(api, newer).bot_token == newer.bot_token
    assert_agree(api, newer)

    # Rotating the older installation's token makes its new token the one served.
    api.save(rotated(older, bot_token="xoxb-test-rotated-older"))
    assert find_bot(api, newer).bot_token == "xoxb-test-rotated-older"
    assert find(api, newer).user_id == newer.user_id  # still the latest installation
    assert_agree(api, newer)


def test_a_deleted_bot_token_is_never_served(api):
    installation = InstallationFactory(rotating=True)
    api.save(installation)
    api.delete_bot(enterprise_id=None, team_id=installation.team_id)

    assert find_bot(api, installation) is None
    found = find(api, installation)
    assert found.user_token == installation.user_token
    assert bot_fields(found) == dict.fromkeys(BOT_FIELDS) | {"bot_scopes": []}
    assert_agree(api, installation)


def test_a_user_only_install_does_not_hide_the_workspace_bot(api):
    with_bot = InstallationFactory(team_id="T0MIX", installed_at=BASE_TIME)
    user_only = InstallationFactory(team_id="T0MIX", installed_at=BASE_TIME + 1, bot_token=None, bot_id=None)
    api.save(with_bot)
    api.save(user_only)
    assert SlackBot.objects.count() == 1
    found = find(api, with_bot)
    assert found.user_token == user_only.user_token and found.bot_token == with_bot.bot_token
    assert_agree(api, with_bot)


# -- deletes --------------------------------------------------------------------------------------------


def test_delete_installation_of_one_user_or_of_everyone(api):
    alice = InstallationFactory(team_id="T0DEL", user_id="U0ALICE", installed_at=BASE_TIME)
    bob = InstallationFactory(team_id="T0DEL", user_id="U0BOB", installed_at=BASE_TIME + 1)
    elsewhere = InstallationFactory(team_id="T0KEEP", user_id="U0ALICE")
    for installation in (alice, bob, elsewhere):
        api.save(installation)

    api.delete_installation(enterprise_id=None, team_id="T0DEL", user_id="U0ALICE")
    assert find(api, alice, user_id="U0ALICE") is None
    assert find(api, bob).user_id == "U0BOB"

    api.delete_installation(enterprise_id=None, team_id="T0DEL")
    assert find(api, bob) is None
    assert find_bot(api, bob).bot_token == bob.bot_token  # bots are deleted by delete_bot / delete_all
    assert find(api, elsewhere).user_id == "U0ALICE"


def test_deletes_match_the_key_exactly(api):
    in_org = InstallationFactory(enterprise_id="E0ORG", team_id="T0EXACT")
    api.save(in_org)
    api.delete_all(enterprise_id=None, team_id="T0EXACT")  # not the same key: no enterprise
    api.delete_bot(enterprise_id="E0ORG", team_id=None)
    assert find(api, in_org).bot_token == in_org.bot_token

    api.delete_all(enterprise_id="E0ORG", team_id="T0EXACT")
    assert find(api, in_org) is None and find_bot(api, in_org) is None
    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (0, 0)


def test_deleting_what_is_not_there_is_fine(api):
    api.delete_bot(enterprise_id=None, team_id="T0NONE")
    api.delete_installation(enterprise_id=None, team_id="T0NONE", user_id="U0NONE")
    api.delete_all(enterprise_id="E0NONE", team_id=None)


# -- bad input ------------------------------------------------------------------------------------------


def _bad_installations():
    def with_(**changes):
        # The identity of the stored row below, so a partial write would show.
        installation = InstallationFactory(team_id="T0GOOD", user_id="U0GOOD", installed_at=BASE_TIME)
        for name, value in changes.items():
            setattr(installation, name, value)
        return installation

    return [
        ("team_id", with_(team_id=None), ValueError),
        ("enterprise_id", with_(is_enterprise_install=True, enterprise_id=None), ValueError),
        ("team_id", with_(team_id="T" * 33), ValueError),
        ("enterprise_id", with_(enterprise_id=12345), TypeError),
        ("user_id", with_(user_id=["U1"]), TypeError),
        ("team_id", with_(team_id="T0GÖÖD"), ValueError),
        ("team_name", with_(team_name="n" * 256), ValueError),
        ("bot_token", with_(bot_token="xoxb-" + "x" * 5000), ValueError),
        ("user_token", with_(user_token=b"xoxp-bytes"), TypeError),
        ("bot_scopes", with_(bot_scopes=[1, 2]), TypeError),
        ("bot_token_expires_at", with_(bot_token_expires_at=1.5), TypeError),
        ("user_token_expires_at", with_(user_token_expires_at=True), TypeError),
        ("bot_token_expires_at", with_(bot_token_expires_at=2**63), ValueError),
        # No datetime holds it (the admin could not show it), and Slack never sends it.
        ("bot_token_expires_at", with_(bot_token_expires_at=2**62), ValueError),
        ("user_token_expires_at", with_(user_token_expires_at=253402214400), ValueError),
        ("user_token_expires_at", with_(user_token_expires_at=-1), ValueError),
        ("installed_at", with_(installed_at=253402214400.0), ValueError),
        ("installed_at", with_(installed_at=float("nan")), ValueError),
        ("installed_at", with_(installed_at=-1.0), ValueError),
        ("installed_at", with_(installed_at="2024-01-01"), TypeError),
        ("is_enterprise_install", with_(is_enterprise_install="yes"), TypeError),
        ("team_name", with_(team_name="bad\x00name"), ValueError),
        ("custom_values", with_(custom_values={"when": {1, 2}}), ValueError),
        ("custom_values", with_(custom_values={1: "int keys come back as str"}), ValueError),
        ("custom_values", with_(custom_values={"t": (1, 2)}), ValueError),
        ("custom_values", with_(custom_values={"x": float("inf")}), ValueError),
        ("custom_values", with_(custom_values={"s": "nul\x00"}), ValueError),
        ("custom_values", with_(custom_values=["not", "a", "dict"]), TypeError),
    ]


@pytest.mark.parametrize(
    ("field", "installation", "error"),
    _bad_installations(),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_input_raises_naming_the_field_and_writes_nothing(api, field, installation, error):
    """docs/store.md: a value of the wrong type is a TypeError, a value no column holds a ValueError."""
    good = InstallationFactory(team_id="T0GOOD", user_id="U0GOOD", installed_at=BASE_TIME)
    api.save(good)
    before = vars(find(api, good))

    with pytest.raises(error) as raised:
        api.save(installation)

    assert type(raised.value) is error and field in str(raised.value)
    assert "xox" not in str(raised.value)  # never a token in an error message
    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (1, 1)
    assert vars(find(api, good)) == before


def test_not_an_installation_or_bot_is_a_type_error(api):
    with pytest.raises(TypeError, match="Installation"):
        api.save({"team_id": "T1", "user_id": "U1"})
    with pytest.raises(TypeError, match="Bot"):
        api.save_bot(InstallationFactory())
    with pytest.raises(ValueError, match="bot_token"):
        api.save_bot(BotFactory(bot_token=""))


def test_lookups_reject_non_string_ids(api):
    with pytest.raises(TypeError, match="team_id"):
        api.find_installation(enterprise_id=None, team_id=123)
    with pytest.raises(TypeError, match="user_id"):
        api.delete_installation(enterprise_id=None, team_id="T1", user_id=object())


@pytest.mark.parametrize(
    ("client_id", "error"),
    [("", ValueError), (None, ValueError), ("x" * 65, ValueError), ("bad id", ValueError), (123, TypeError)],
)
def test_the_client_id_is_checked(client_id, error):
    with pytest.raises(error, match="client_id"):
        DjangoInstallationStore(client_id=client_id)


def test_send_signals_must_be_a_bool():
    with pytest.raises(TypeError, match="send_signals"):
        DjangoInstallationStore("C1", send_signals="no")


def test_database_errors_propagate(api):
    if api.mode == "native":
        pytest.skip("Django's execute_wrapper sees Django's connections only: tests/test_native.py")
    api.save(InstallationFactory(team_id="T0ERR"))

    def fail(execute, sql, params, many, context):
        raise OperationalError("server closed the connection unexpectedly")

    with connection.execute_wrapper(fail), pytest.raises(OperationalError):
        api.find_installation(enterprise_id=None, team_id="T0ERR")
    with connection.execute_wrapper(fail), pytest.raises(OperationalError):
        api.find_bot(enterprise_id=None, team_id="T0ERR")


# -- round trips to the database -------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", [None, "U0Q"])
def test_find_installation_is_one_query(api, user_id):
    api.save(InstallationFactory(team_id="T0Q", user_id="U0Q"))
    with api.assert_num_queries(1):
        found = api.find_installation(enterprise_id=None, team_id="T0Q", user_id=user_id)
    assert found.bot_token and found.user_id == "U0Q"


def test_find_bot_is_one_query(api):
    api.save(InstallationFactory(team_id="T0Q"))
    with api.assert_num_queries(1):
        assert api.find_bot(enterprise_id=None, team_id="T0Q").bot_token


def test_a_save_is_one_statement_per_row(api):
    installation = InstallationFactory(rotating=True)
    # One upsert for the installation, one for the bot.
    with api.assert_num_queries(2):
        api.save(installation)
    with api.assert_num_queries(2):
        api.save(rotated(installation, bot_token="xoxb-test-rotated"))


# -- secrets stay out of logs and reprs --------------------------------------------------------------------


def test_logs_and_reprs_show_ids_never_tokens(api, caplog):
    installation = InstallationFactory(complete=True)
    with caplog.at_level("DEBUG", logger="django_slack_store"):
        api.save(installation)
        api.save_bot(installation.to_bot())
        find(api, installation)
        api.delete_all(enterprise_id=installation.enterprise_id, team_id=installation.team_id)
    assert installation.team_id in caplog.text
    assert "xox" not in caplog.text

    api.save(installation)
    for row in (SlackInstallation.objects.get(), SlackBot.objects.get()):
        assert installation.team_id in str(row)
        assert "xox" not in str(row) and "xox" not in repr(row)


def test_a_custom_logger_is_used(api):
    import logging

    logger = logging.getLogger("tests.custom")
    store = DjangoInstallationStore(client_id="1.2", logger=logger)
    assert store.logger is logger
    assert DjangoInstallationStore(client_id="1.2").logger.name == "django_slack_store.stores"
