"""app_uninstalled and tokens_revoked events, signed as Slack sends them, through real Bolt apps.

Each test runs with a sync `App` and an `AsyncApp`, committing for real so the signals are sent.
"""

import datetime
import json
import time

import pytest
from slack_bolt import App
from slack_bolt.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import FileInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from django_slack_store.bolt import enable_lifecycle_listeners
from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support.factories import InstallationFactory
from tests.support.slack_requests import SIGNING_SECRET, dispatch, event_callback
from tests.support.store_api import CLIENT_ID

pytestmark = pytest.mark.django_db(transaction=True)

UTC = datetime.timezone.utc


@pytest.fixture(params=["App", "AsyncApp"])
def make_app(request, fake_slack):
    """A Bolt app of each kind on our store; `builtin=True` wires Bolt's own revocation listeners instead."""

    def make(*, builtin=False):
        options = dict(
            signing_secret=SIGNING_SECRET,
            installation_store=DjangoInstallationStore(client_id=CLIENT_ID),
            process_before_response=True,
        )
        if request.param == "App":
            app = App(client=WebClient(base_url=fake_slack.base_url), **options)
        else:
            app = AsyncApp(client=AsyncWebClient(base_url=fake_slack.base_url), **options)
        if builtin:
            app.enable_token_revocation_listeners()
        else:
            enable_lifecycle_listeners(app)
        return app

    return make


def uninstalled(team_id, enterprise_id=None, *, org_wide=False, event_time=None):
    return event_callback(
        {"type": "app_uninstalled"},
        team_id=team_id,
        enterprise_id=enterprise_id,
        is_enterprise_install=org_wide,
        event_time=event_time,
    )


def revoked(team_id, *, user_ids=(), bot_user_ids=(), event_time=None):
    event = {"type": "tokens_revoked", "tokens": {"oauth": list(user_ids), "bot": list(bot_user_ids)}}
    return event_callback(event, team_id=team_id, event_time=event_time)


def rows(team_id):
    return (
        SlackInstallation.objects.filter(team_id=team_id).count(),
        SlackBot.objects.filter(team_id=team_id).count(),
    )


def save(*installations):
    """Save `installations` as written an hour ago, before the events under test happen.

    Slack's event_time has whole seconds; a row written in the same second as an event counts as newer.
    """
    store = DjangoInstallationStore(client_id=CLIENT_ID)
    for installation in installations:
        store.save(installation)
    an_hour_ago = datetime.datetime.now(UTC) - datetime.timedelta(hours=1)
    SlackInstallation.objects.update(updated_at=an_hour_ago)
    SlackBot.objects.update(updated_at=an_hour_ago)


def test_app_uninstalled_deletes_everything_and_signals(make_app, received):
    save(
        InstallationFactory(team_id="T0GONE", user_id="U0A"),
        InstallationFactory(team_id="T0GONE", user_id="U0B"),
    )
    save(InstallationFactory(team_id="T0STAY"))
    received.clear()

    response = dispatch(make_app(), uninstalled("T0GONE"))

    assert response.status == 200
    assert rows("T0GONE") == (0, 0) and rows("T0STAY") == (1, 1)
    key = {"client_id": CLIENT_ID, "enterprise_id": None, "team_id": "T0GONE"}
    assert received == [
        ("bot_deleted", key),
        ("installation_deleted", key | {"user_id": None}),
        ("app_uninstalled", key),
    ]


@pytest.mark.parametrize("named_team", [None, "T0INORG"], ids=["no-team", "team-named"])
def test_app_uninstalled_from_an_org_wide_install(make_app, received, named_team):
    save(InstallationFactory(org_wide=True), InstallationFactory(enterprise_id="E0ORG", team_id="T0INORG"))
    received.clear()
    body, content_type = uninstalled(None, "E0ORG", org_wide=True)
    # Whatever workspace an org-wide event names, the org-wide install is keyed by the enterprise alone.
    payload = json.loads(body)
    payload["authorizations"][0]["team_id"] = named_team

    dispatch(make_app(), (json.dumps(payload), content_type))

    assert not SlackInstallation.objects.filter(enterprise_id="E0ORG", team_id="").exists()
    assert rows("T0INORG") == (1, 1)  # a workspace install in the org is another installation
    assert received.of("app_uninstalled") == [
        {"client_id": CLIENT_ID, "enterprise_id": "E0ORG", "team_id": None}
    ]


def test_tokens_revoked_deletes_those_tokens_and_signals(make_app, received):
    alice = InstallationFactory(team_id="T0REV", user_id="U0ALICE")
    bob = InstallationFactory(team_id="T0REV", user_id="U0BOB")
    save(alice, bob)
    received.clear()

    dispatch(make_app(), revoked("T0REV", user_ids=["U0ALICE"], bot_user_ids=[alice.bot_user_id]))

    assert list(SlackInstallation.objects.values_list("user_id", flat=True)) == ["U0BOB"]
    assert not SlackBot.objects.exists()
    assert received.of("tokens_revoked") == [
        {
            "client_id": CLIENT_ID,
            "enterprise_id": None,
            "team_id": "T0REV",
            "user_ids": ["U0ALICE"],
            "bot": True,
        }
    ]


def test_a_late_app_uninstalled_spares_the_reinstall(make_app, received):
    save(InstallationFactory(team_id="T0BACK", user_id="U0A"))  # an hour ago
    uninstalled_at = int(time.time()) - 60  # Slack delivers the uninstall a minute late...
    reinstall = InstallationFactory(team_id="T0BACK", user_id="U0A")  # ...after the workspace reinstalled
    DjangoInstallationStore(client_id=CLIENT_ID).save(reinstall)
    received.clear()

    dispatch(make_app(), uninstalled("T0BACK", event_time=uninstalled_at))

    store = DjangoInstallationStore(client_id=CLIENT_ID)
    found = store.find_installation(enterprise_id=None, team_id="T0BACK")
    assert found.installed_at == reinstall.installed_at and found.bot_token == reinstall.bot_token
    assert rows("T0BACK") == (1, 1)  # the rows written before the event are gone
    assert "app_uninstalled" not in received.names()


def test_a_late_tokens_revoked_spares_tokens_granted_since(make_app, received):
    DjangoInstallationStore(client_id=CLIENT_ID).save(InstallationFactory(team_id="T0AGAIN", user_id="U0A"))
    revoked_at = int(time.time()) - 60  # granted again since

    dispatch(make_app(), revoked("T0AGAIN", user_ids=["U0A"], bot_user_ids=["U0BOT"], event_time=revoked_at))

    assert rows("T0AGAIN") == (1, 1)
    assert received.of("tokens_revoked") == []


def test_bolts_own_revocation_listeners_work_with_the_store(make_app, received):
    save(InstallationFactory(team_id="T0BUILTIN"))
    received.clear()

    dispatch(make_app(builtin=True), uninstalled("T0BUILTIN"))

    assert rows("T0BUILTIN") == (0, 0)
    assert received.names() == ["bot_deleted", "installation_deleted"]


def test_only_our_store_can_be_wired(tmp_path):
    app = App(
        signing_secret=SIGNING_SECRET,
        installation_store=FileInstallationStore(base_dir=str(tmp_path), client_id=CLIENT_ID),
    )
    with pytest.raises(TypeError, match="DjangoInstallationStore"):
        enable_lifecycle_listeners(app)
