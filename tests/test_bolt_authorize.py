"""DjangoAuthorize and AsyncDjangoAuthorize in real Bolt `App`s and `AsyncApp`s, against the fake Slack (a
real HTTP server): one find per request, each expiring token refreshed once (across processes too), no
auth.test.

The workspace of these tests: INSTALLER_ID installed the app (bot and user token), MEMBER_ID authorized it
for their own user token earlier. MEMBER_ID mentions the bot; with token rotation on, the bot token and the
member's user token have expired.
"""

import json
import logging
import os
import subprocess
import sys
import time

import pytest
from django.db import connection

from django_slack_store.bolt import AsyncDjangoAuthorize, DjangoAuthorize
from django_slack_store.exceptions import NoClientSecret
from django_slack_store.stores import DjangoInstallationStore
from tests.support.bolt_apps import APP_KINDS, CLIENT_ID, CLIENT_SECRET, NOT_INSTALLED, Bolt
from tests.support.concurrency import needs_server_database
from tests.support.factories import InstallationFactory
from tests.support.slack_requests import BOT_USER_ID, app_mention

TEAM_ID = "T0ROTATE"
INSTALLER_ID = "U0INSTALLER"
MEMBER_ID = "U0MEMBER"
BOT_ID = "B0BOT"

EXPIRED_BOT_TOKEN, FRESH_BOT_TOKEN = "xoxe.xoxb-test-expired-bot", "xoxe.xoxb-test-fresh-bot"
BOT_REFRESH, NEXT_BOT_REFRESH = "xoxe-1-test-bot-refresh-1", "xoxe-1-test-bot-refresh-2"
EXPIRED_MEMBER_TOKEN, FRESH_MEMBER_TOKEN = "xoxe.xoxp-test-expired-member", "xoxe.xoxp-test-fresh-member"
MEMBER_REFRESH, NEXT_MEMBER_REFRESH = "xoxe-1-test-member-refresh-1", "xoxe-1-test-member-refresh-2"
INSTALLER_TOKEN, INSTALLER_REFRESH = "xoxe.xoxp-test-installer", "xoxe-1-test-installer-refresh-1"

# slack_sdk's AsyncWebClient (Bolt's own rotation in AsyncApp) sends oauth.v2.access credentials with
# aiohttp's BasicAuth, deprecated in aiohttp 3.14; this suite makes deprecation warnings errors.
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")


@pytest.fixture(params=APP_KINDS)
def app_kind(request):
    return request.param


def expired_install(save, fake_slack, *, now=None):
    """Save the workspace (the member's user-only authorization, then the installer's install) with the
    bot token and the member's token expired a minute ago, and teach the fake Slack their refreshes."""
    now = int(time.time()) if now is None else now
    save(
        InstallationFactory(
            team_id=TEAM_ID,
            user_id=MEMBER_ID,
            bot_token=None,
            bot_id=None,
            bot_user_id=None,
            bot_scopes=[],
            user_token=EXPIRED_MEMBER_TOKEN,
            user_refresh_token=MEMBER_REFRESH,
            user_token_expires_at=now - 60,
            installed_at=now - 2 * 86400.0,
        )
    )
    save(
        InstallationFactory(
            team_id=TEAM_ID,
            user_id=INSTALLER_ID,
            bot_token=EXPIRED_BOT_TOKEN,
            bot_id=BOT_ID,
            bot_user_id=BOT_USER_ID,
            bot_refresh_token=BOT_REFRESH,
            bot_token_expires_at=now - 60,
            user_token=INSTALLER_TOKEN,
            user_refresh_token=INSTALLER_REFRESH,
            user_token_expires_at=now + 10 * 3600,  # not due
            installed_at=now - 86400.0,
        )
    )
    fake_slack.add_token(FRESH_BOT_TOKEN, team_id=TEAM_ID, user_id=BOT_USER_ID, bot_id=BOT_ID)
    fake_slack.add_token(FRESH_MEMBER_TOKEN, team_id=TEAM_ID, user_id=MEMBER_ID)
    fake_slack.add_refresh_token(
        BOT_REFRESH, access_token=FRESH_BOT_TOKEN, next_refresh_token=NEXT_BOT_REFRESH
    )
    fake_slack.add_refresh_token(
        MEMBER_REFRESH,
        access_token=FRESH_MEMBER_TOKEN,
        next_refresh_token=NEXT_MEMBER_REFRESH,
        token_type="user",
    )


def tokens(calls):
    return [call.token for call in calls]


def stored(store):
    """(bot token, its refresh token), (member's token, its refresh token), installer's refresh token."""
    bot = store.find_bot(enterprise_id=None, team_id=TEAM_ID)
    member = store.find_installation(enterprise_id=None, team_id=TEAM_ID, user_id=MEMBER_ID)
    installer = store.find_installation(enterprise_id=None, team_id=TEAM_ID, user_id=INSTALLER_ID)
    return (
        (bot.bot_token, bot.bot_refresh_token),
        (member.user_token, member.user_refresh_token),
        installer.user_refresh_token,
    )


# What stored() reads before and after the refreshes.
EXPIRED = (EXPIRED_BOT_TOKEN, BOT_REFRESH), (EXPIRED_MEMBER_TOKEN, MEMBER_REFRESH), INSTALLER_REFRESH
REFRESHED = (FRESH_BOT_TOKEN, NEXT_BOT_REFRESH), (FRESH_MEMBER_TOKEN, NEXT_MEMBER_REFRESH), INSTALLER_REFRESH


@pytest.mark.django_db
def test_one_request_refreshes_each_expired_token_once_without_auth_test(app_kind, slack):
    bolt = Bolt(app_kind, slack.base_url, authorize="django")
    expired_install(bolt.save, slack)

    response = bolt.dispatch(app_mention(team_id=TEAM_ID, user=MEMBER_ID))

    assert response.status == 200
    assert (bolt.bot_tokens_seen, bolt.user_tokens_seen) == ([FRESH_BOT_TOKEN], [FRESH_MEMBER_TOKEN])
    assert tokens(slack.calls_to("chat.postMessage")) == [FRESH_BOT_TOKEN]
    assert (slack.refreshes_with(BOT_REFRESH), slack.refreshes_with(MEMBER_REFRESH)) == (1, 1)
    assert len(slack.calls_to("oauth.v2.access")) == 2  # nothing else refreshed (the installer's is not due)
    assert slack.calls_to("auth.test") == []
    assert stored(bolt.store) == REFRESHED
    for refresh_token in (NEXT_BOT_REFRESH, NEXT_MEMBER_REFRESH, INSTALLER_REFRESH):
        assert not slack.is_used(refresh_token)

    # The next request finds fresh tokens: no refresh.
    bolt.dispatch(app_mention(team_id=TEAM_ID, user=MEMBER_ID))

    assert (bolt.bot_tokens_seen, bolt.user_tokens_seen) == ([FRESH_BOT_TOKEN] * 2, [FRESH_MEMBER_TOKEN] * 2)
    assert len(slack.calls_to("oauth.v2.access")) == 2
    assert slack.calls_to("auth.test") == []


@pytest.mark.upstream
@pytest.mark.django_db
def test_upstream_bolts_own_authorize_refreshes_the_bot_token_twice_and_fails(app_kind, slack):
    """Documents Bolt's own InstallationStoreAuthorize on the same workspace, as measured with this Bolt
    release: it refreshes the member's installation (its user token and, joined to it, the bot token), then
    the workspace's latest installation's bot token again with the refresh token it has just used up. Slack
    refuses that one (invalid_refresh_token), so Bolt gives up on the request."""
    bolt = Bolt(app_kind, slack.base_url, token_rotation=True)
    expired_install(bolt.save, slack)

    response = bolt.dispatch(app_mention(team_id=TEAM_ID, user=MEMBER_ID))

    assert (response.status, response.body) == (200, NOT_INSTALLED)
    assert bolt.bot_tokens_seen == []
    assert len(slack.calls_to("oauth.v2.access")) == 3
    assert (slack.refreshes_with(BOT_REFRESH), slack.refreshes_with(MEMBER_REFRESH)) == (2, 1)


@pytest.mark.django_db
def test_a_user_token_is_given_only_to_its_own_user(slack, django_assert_num_queries):
    """Fresh tokens: each request is one query, and carries the requesting user's own token or none."""
    bolt = Bolt("App", slack.base_url, authorize="django")
    expired_install(bolt.save, slack, now=int(time.time()) + 86400)  # all a day from expiring
    requests = {MEMBER_ID: EXPIRED_MEMBER_TOKEN, INSTALLER_ID: INSTALLER_TOKEN, "U0NOBODY": None}

    for user_id in requests:
        with django_assert_num_queries(1 if user_id != "U0NOBODY" else 2):  # no installation: then find_bot
            bolt.dispatch(app_mention(team_id=TEAM_ID, user=user_id))

    assert bolt.user_tokens_seen == list(requests.values())
    assert bolt.bot_tokens_seen == [EXPIRED_BOT_TOKEN] * 3
    assert slack.calls_to("oauth.v2.access") == slack.calls_to("auth.test") == []


@pytest.mark.django_db
def test_a_user_without_installation_gets_the_refreshed_bot_token(app_kind, slack):
    bolt = Bolt(app_kind, slack.base_url, authorize="django")
    expired_install(bolt.save, slack)

    bolt.dispatch(app_mention(team_id=TEAM_ID, user="U0NOBODY"))

    assert (bolt.bot_tokens_seen, bolt.user_tokens_seen) == ([FRESH_BOT_TOKEN], [None])
    assert (slack.refreshes_with(BOT_REFRESH), slack.refreshes_with(MEMBER_REFRESH)) == (1, 0)
    assert slack.calls_to("auth.test") == []
    (bot, member, _) = stored(bolt.store)
    assert (bot, member) == (REFRESHED[0], EXPIRED[1])


@pytest.mark.django_db
def test_an_org_wide_install_authorizes_any_workspace_of_the_org(app_kind, slack):
    bolt = Bolt(app_kind, slack.base_url, authorize="django")
    org_bot_token = "xoxb-test-org-bot"
    bolt.save(InstallationFactory(org_wide=True, user_id=INSTALLER_ID, bot_token=org_bot_token))
    slack.add_token(org_bot_token, team_id=None, enterprise_id="E0ORG", user_id=BOT_USER_ID, bot_id=BOT_ID)

    request = app_mention(team_id="T0INORG", enterprise_id="E0ORG", is_enterprise_install=True)
    response = bolt.dispatch(request)

    assert response.status == 200
    assert bolt.bot_tokens_seen == [org_bot_token]
    assert slack.calls_to("auth.test") == []


@pytest.mark.django_db
def test_a_workspace_without_installation_reaches_no_listener(app_kind, slack):
    bolt = Bolt(app_kind, slack.base_url, authorize="django")
    DjangoInstallationStore(client_id="9999.8888").save(InstallationFactory(team_id=TEAM_ID))  # another app's

    response = bolt.dispatch(app_mention(team_id=TEAM_ID, user=MEMBER_ID))

    assert (response.status, response.body) == (200, NOT_INSTALLED)
    assert bolt.bot_tokens_seen == []
    assert slack.calls == []


@pytest.mark.parametrize("code", ["invalid_refresh_token", "token_revoked"])
@pytest.mark.django_db
def test_a_refused_refresh_reaches_no_listener_and_changes_nothing(app_kind, slack, code, caplog):
    bolt = Bolt(app_kind, slack.base_url, authorize="django")
    expired_install(bolt.save, slack)
    slack.add_error("oauth.v2.access", None, code)  # client credentials, no token: every refresh

    with caplog.at_level(logging.ERROR, logger="django_slack_store.bolt"):
        response = bolt.dispatch(app_mention(team_id=TEAM_ID, user=MEMBER_ID))

    assert (response.status, response.body) == (200, NOT_INSTALLED)
    assert bolt.bot_tokens_seen == []
    assert stored(bolt.store) == EXPIRED
    [logged] = [record for record in caplog.records if record.name == "django_slack_store.bolt"]
    assert logged.levelname == "ERROR"
    assert TEAM_ID in logged.getMessage() and code in logged.getMessage()
    assert "xox" not in caplog.text


def test_no_client_secret_is_refused_when_made(settings):
    settings.DJANGO_SLACK_STORE = {"CLIENT_SECRETS": {}}
    for authorize in (DjangoAuthorize, AsyncDjangoAuthorize):
        with pytest.raises(NoClientSecret, match=CLIENT_ID):
            authorize(DjangoInstallationStore(CLIENT_ID))
        with pytest.raises(TypeError, match="DjangoInstallationStore"):
            authorize(object())

    settings.DJANGO_SLACK_STORE = {"CLIENT_SECRETS": {CLIENT_ID: CLIENT_SECRET}}
    for authorize in (DjangoAuthorize, AsyncDjangoAuthorize):
        assert authorize(DjangoInstallationStore(CLIENT_ID)).store.client_id == CLIENT_ID


def test_the_module_imports_without_bolt_and_says_what_to_install():
    script = """
import sys
sys.modules["slack_bolt"] = None  # as if not installed
import django
django.setup()
from django_slack_store import bolt
from django_slack_store.stores import DjangoInstallationStore
assert callable(bolt.enable_lifecycle_listeners)
try:
    bolt.DjangoAuthorize(DjangoInstallationStore("1.2", client_secret="s"))
except ImportError as error:
    print(error)
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "pip install 'django-slack-store[bolt]'" in done.stdout


# -- several processes ------------------------------------------------------------------------------------


@needs_server_database
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kinds", [("App", "App"), ("AsyncApp", "AsyncApp"), ("App", "AsyncApp")])
def test_concurrent_requests_in_two_processes_refresh_each_token_once(kinds, fake_slack):
    """Two processes (tests/support/bolt_peer.py) on the test database, each sending 4 requests at once on
    the expired workspace: one refresh per token in all, every request served with the fresh tokens."""
    count = 4
    expired_install(DjangoInstallationStore(CLIENT_ID).save, fake_slack)
    fake_slack.add_delay("oauth.v2.access", 0.3)  # the others arrive while a refresh is under way
    env = {**os.environ, "DB_NAME": connection.settings_dict["NAME"], "PEER_SLACK_URL": fake_slack.base_url}
    args = [str(count), TEAM_ID, MEMBER_ID]
    peers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.bolt_peer", kind, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for kind in kinds
    ]
    try:
        for peer in peers:
            assert peer.stdout.readline() == "ready\n", f"a peer exited ({peer.poll()})"
        for peer in peers:
            peer.stdin.write("go\n")
            peer.stdin.flush()
        results = [json.loads(peer.stdout.readline()) for peer in peers]
    finally:
        for peer in peers:
            peer.stdin.close()
            peer.wait(timeout=60)

    for result in results:
        assert result == {
            "statuses": [200] * count,
            "bot_tokens": [FRESH_BOT_TOKEN] * count,
            "user_tokens": [FRESH_MEMBER_TOKEN] * count,
        }
    assert (fake_slack.refreshes_with(BOT_REFRESH), fake_slack.refreshes_with(MEMBER_REFRESH)) == (1, 1)
    assert len(fake_slack.calls_to("oauth.v2.access")) == 2
    assert fake_slack.calls_to("auth.test") == []
    assert stored(DjangoInstallationStore(CLIENT_ID)) == REFRESHED
