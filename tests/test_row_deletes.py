"""`delete_installation_rows` / `delete_bot_rows`: exactly the rows given, unless rewritten since read.

These tests commit for real (`transaction=True`), as the signals they check are sent on commit.
"""

import pytest
from django.db import transaction

from django_slack_store.models import SlackBot, SlackInstallation
from tests.support.factories import InstallationFactory, rotated
from tests.support.store_api import CLIENT_ID

pytestmark = pytest.mark.django_db(transaction=True)

KEY = {"client_id": CLIENT_ID, "enterprise_id": None, "team_id": "T0ROWS"}


def installation_rows(**filters):
    return list(SlackInstallation.objects.filter(team_id="T0ROWS", **filters).order_by("installed_at"))


def bot_rows():
    return list(SlackBot.objects.filter(team_id="T0ROWS").order_by("installed_at"))


@pytest.fixture
def history(api, received):
    """Alice installed twice and Bob once in one workspace: three installation rows, three bot rows."""
    for user_id in ("U0ALICE", "U0ALICE", "U0BOB"):
        api.save(InstallationFactory(team_id="T0ROWS", user_id=user_id))
    received.clear()


def test_only_the_given_installation_rows_are_deleted(api, received, history):
    first_alice, second_alice, bob = installation_rows()
    assert api.delete_installation_rows([first_alice, bob]) == 2
    assert installation_rows() == [second_alice]
    assert len(bot_rows()) == 3
    # One signal per key (enterprise, team, user) that lost rows, ids only.
    assert sorted(received, key=lambda item: item[1]["user_id"]) == [
        ("installation_deleted", KEY | {"user_id": "U0ALICE"}),
        ("installation_deleted", KEY | {"user_id": "U0BOB"}),
    ]


def test_rows_of_one_key_send_one_signal(api, received, history):
    assert api.delete_installation_rows(installation_rows(user_id="U0ALICE")) == 2
    assert received == [("installation_deleted", KEY | {"user_id": "U0ALICE"})]


def test_only_the_given_bot_rows_are_deleted(api, received, history):
    first, second, third = bot_rows()
    assert api.delete_bot_rows([second, third]) == 2
    assert bot_rows() == [first]
    assert received == [("bot_deleted", KEY)]
    # The bot still served is the one left.
    assert api.find_bot(enterprise_id=None, team_id="T0ROWS").bot_token == first.bot_token


def test_a_row_rewritten_since_it_was_read_is_kept(api, received):
    installation = InstallationFactory(team_id="T0ROWS", user_id="U0ALICE")
    api.save(installation)
    [row], [bot] = installation_rows(), bot_rows()
    api.save(rotated(installation, bot_token="xoxb-rotated-bot", user_token="xoxp-rotated-user"))
    received.clear()

    assert api.delete_installation_rows([row]) == 0
    assert api.delete_bot_rows([bot]) == 0
    assert len(installation_rows()) == len(bot_rows()) == 1
    assert received == []


def test_rows_already_gone_or_of_another_client_are_left_alone(api, received, history):
    first, *_ = installation_rows()
    other_app = api.with_client_id("9999.8888")
    other_app.save(InstallationFactory(team_id="T0ROWS", user_id="U0ALICE"))
    [foreign] = SlackInstallation.objects.filter(client_id="9999.8888")
    SlackInstallation.objects.filter(pk=first.pk).delete()
    received.clear()

    assert api.delete_installation_rows([first, foreign]) == 0
    assert SlackInstallation.objects.filter(pk=foreign.pk).exists()
    assert received == []


def test_org_wide_rows_signal_their_enterprise_alone(api, received):
    api.save(InstallationFactory(org_wide=True, user_id="U0ORG"))
    received.clear()
    [row] = SlackInstallation.objects.filter(enterprise_id="E0ORG")
    [bot] = SlackBot.objects.filter(enterprise_id="E0ORG")
    api.delete_installation_rows([row])
    api.delete_bot_rows([bot])
    org = {"client_id": CLIENT_ID, "enterprise_id": "E0ORG", "team_id": None}
    assert received == [("installation_deleted", org | {"user_id": "U0ORG"}), ("bot_deleted", org)]


def test_nothing_given_deletes_nothing(api, received):
    with api.assert_num_queries(0):
        assert api.delete_installation_rows([]) == 0
        assert api.delete_bot_rows([]) == 0
    assert received == []


def test_rows_of_the_wrong_model_are_refused(api, history):
    with pytest.raises(TypeError, match="SlackInstallation"):
        api.delete_installation_rows(bot_rows())
    with pytest.raises(TypeError, match="SlackBot"):
        api.delete_bot_rows(installation_rows())
    assert len(installation_rows()) == len(bot_rows()) == 3


def test_a_delete_rolled_back_by_the_caller_sends_nothing(api, received, history):
    api.skip_native_in_callers_transaction()
    rows = installation_rows()
    with pytest.raises(RuntimeError), transaction.atomic():
        api.delete_installation_rows(rows)
        raise RuntimeError("roll back")
    assert installation_rows() == rows
    assert received == []
