"""Hostile input, property-based: every field of Installation and Bot through sync and async saves.

Each save either round-trips exactly (the find returns what the store documents: the values given, with
`""` ids as None, scopes as lists, `installed_at` to the microsecond...) or raises TypeError/ValueError and
writes nothing. Rows stored before (under another client id) are intact after every example.

pytest-django's `db` fixture wraps the whole test, not each hypothesis example, so each example deletes the
rows it wrote: every example starts from the same state.
"""

import pytest
from hypothesis import event, given, note
from slack_sdk.oauth.installation_store import Bot, Installation

from django_slack_store.models import SlackBot, SlackInstallation
from tests.support.factories import BotFactory, InstallationFactory
from tests.support.store_api import CLIENT_ID
from tests.support.strategies import ALL_FIELDS, HYPOTHESIS, expected, objects, same, shorten


@pytest.fixture
def canary(db):
    """Rows of another Slack app, stored before the examples: they must come out of them untouched."""
    from django_slack_store.stores import DjangoInstallationStore

    store = DjangoInstallationStore(client_id="canary.client")
    installation = InstallationFactory(complete=True)
    store.save(installation)
    store.save_bot(BotFactory(rotating=True))

    def intact():
        found = store.find_installation(
            enterprise_id=installation.enterprise_id, team_id=installation.team_id
        )
        return vars(found) == vars(installation)

    assert intact()
    return intact


def save_or_refuse(api, canary, save, find, obj, is_hostile):
    note(f"{type(obj).__name__} {shorten(vars(obj))!r}")
    try:
        save(obj)
    except (TypeError, ValueError) as error:
        event(f"refused: {type(error).__name__}")
        assert is_hostile, f"a valid value was refused: {error}"
        assert "xox" not in str(error)
        assert not SlackInstallation.objects.filter(client_id=CLIENT_ID).exists()
        assert not SlackBot.objects.filter(client_id=CLIENT_ID).exists()
    else:
        event("saved (hostile values among them)" if is_hostile else "saved")
        try:
            wanted = expected(obj)
            found = find(
                enterprise_id=wanted["enterprise_id"],
                team_id=wanted["team_id"],
                is_enterprise_install=wanted["is_enterprise_install"],
            )
            same(vars(found), wanted)
        finally:
            SlackInstallation.objects.filter(client_id=CLIENT_ID).delete()
            SlackBot.objects.filter(client_id=CLIENT_ID).delete()
    assert canary()


def test_the_strategies_cover_every_field():
    assert set(vars(InstallationFactory())) == set(ALL_FIELDS)
    assert set(vars(BotFactory())) <= set(ALL_FIELDS)


@HYPOTHESIS
@given(drawn=objects(Installation, ALL_FIELDS))
def test_hostile_installations_round_trip_or_are_refused(api, canary, drawn):
    save_or_refuse(api, canary, api.save, api.find_installation, *drawn)


@HYPOTHESIS
@given(drawn=objects(Bot, tuple(vars(BotFactory()))))
def test_hostile_bots_round_trip_or_are_refused(api, canary, drawn):
    save_or_refuse(api, canary, api.save_bot, api.find_bot, *drawn)
