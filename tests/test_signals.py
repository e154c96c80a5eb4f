"""The store's signals: exact kwargs, sent once the change commits, never for a rolled-back change.

These tests commit for real (`transaction=True`): on-commit behaviour is what they are about.
"""

import asyncio

import pytest
from django.db import transaction

from django_slack_store import signals
from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support.factories import BotFactory, InstallationFactory
from tests.support.store_api import CLIENT_ID

pytestmark = pytest.mark.django_db(transaction=True)


def test_save_sends_installation_saved_and_bot_saved(api, received):
    installation = InstallationFactory()
    api.save(installation)
    assert received.names() == ["installation_saved", "bot_saved"]
    assert received.of("installation_saved") == [{"installation": installation, "client_id": CLIENT_ID}]
    [bot_saved] = received.of("bot_saved")
    assert bot_saved["client_id"] == CLIENT_ID and vars(bot_saved["bot"]) == vars(installation.to_bot())


def test_a_save_without_bot_token_sends_no_bot_saved(api, received):
    api.save(InstallationFactory(bot_token=None))
    assert received.names() == ["installation_saved"]


def test_save_bot_sends_bot_saved(api, received):
    bot = BotFactory()
    api.save_bot(bot)
    assert received == [("bot_saved", {"bot": bot, "client_id": CLIENT_ID})]


def test_deletes_send_ids_only(api, received):
    alice = InstallationFactory(enterprise_id="E0ORG", team_id="T0DEL", user_id="U0ALICE")
    bob = InstallationFactory(enterprise_id="E0ORG", team_id="T0DEL", user_id="U0BOB")
    api.save(alice)
    api.save(bob)
    received.clear()
    key = {"client_id": CLIENT_ID, "enterprise_id": "E0ORG", "team_id": "T0DEL"}

    api.delete_installation(enterprise_id="E0ORG", team_id="T0DEL", user_id="U0ALICE")
    api.delete_bot(enterprise_id="E0ORG", team_id="T0DEL")
    assert received == [("installation_deleted", key | {"user_id": "U0ALICE"}), ("bot_deleted", key)]

    received.clear()
    api.save(alice)
    received.clear()
    api.delete_all(enterprise_id="E0ORG", team_id="T0DEL")
    assert received == [("bot_deleted", key), ("installation_deleted", key | {"user_id": None})]


def test_a_store_made_with_send_signals_false_sends_none(api, received):
    """docs/store.md: `send_signals=False` silences every write; the writes themselves are the same."""
    quiet = api.with_store(DjangoInstallationStore(CLIENT_ID, send_signals=False))
    alice = InstallationFactory(team_id="T0QUIET", user_id="U0ALICE")
    quiet.save(alice)
    quiet.save_bot(alice.to_bot())
    assert SlackInstallation.objects.filter(team_id="T0QUIET").count() == 1
    quiet.handle_tokens_revoked(enterprise_id=None, team_id="T0QUIET", user_ids=["U0ALICE"])
    quiet.save(alice)
    quiet.delete_bot_rows(SlackBot.objects.filter(team_id="T0QUIET"))
    quiet.handle_app_uninstalled(enterprise_id=None, team_id="T0QUIET")
    assert not SlackInstallation.objects.filter(team_id="T0QUIET").exists()
    assert received == []

    api.save(alice)  # the same writes through the default store are heard
    api.handle_app_uninstalled(enterprise_id=None, team_id="T0QUIET")
    assert received.names() == [
        "installation_saved",
        "bot_saved",
        "bot_deleted",
        "installation_deleted",
        "app_uninstalled",
    ]


def test_deleting_nothing_sends_nothing(api, received):
    api.delete_bot(enterprise_id=None, team_id="T0NONE")
    api.delete_installation(enterprise_id=None, team_id="T0NONE", user_id="U0NONE")
    api.delete_all(enterprise_id=None, team_id="T0NONE")
    assert received == []


def test_absent_ids_are_none_in_signals(api, received):
    api.save(InstallationFactory(team_id="T0EMPTY"))
    received.clear()
    api.delete_all(enterprise_id="", team_id="T0EMPTY")
    assert [kwargs["enterprise_id"] for _, kwargs in received] == [None, None]


def test_signals_wait_for_the_outer_transaction_to_commit(api, received):
    api.skip_native_in_callers_transaction()
    installation = InstallationFactory()
    with transaction.atomic():
        api.save(installation)
        assert received == []
    assert received.names() == ["installation_saved", "bot_saved"]


def test_a_rolled_back_delete_sends_nothing(api, received):
    api.skip_native_in_callers_transaction()
    installation = InstallationFactory()
    api.save(installation)
    received.clear()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        api.delete_all(enterprise_id=None, team_id=installation.team_id)
        raise Abort
    assert received == []
    assert SlackInstallation.objects.count() == 1


def test_a_failing_receiver_is_logged_and_the_others_still_hear(api, received, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    signals.installation_saved.connect(broken, weak=False)
    try:
        api.save(InstallationFactory())
    finally:
        signals.installation_saved.disconnect(broken)
    assert received.names() == ["installation_saved", "bot_saved"]
    assert SlackInstallation.objects.count() == 1
    assert "receiver bug" in caplog.text and "xox" not in caplog.messages[-1]


def test_async_receivers_are_awaited(api):
    heard = []

    async def receiver(sender, installation, client_id, **kwargs):
        await asyncio.sleep(0)
        heard.append(installation.team_id)

    signals.installation_saved.connect(receiver, weak=False)
    try:
        installation = InstallationFactory()
        api.save(installation)
    finally:
        signals.installation_saved.disconnect(receiver)
    assert heard == [installation.team_id]
