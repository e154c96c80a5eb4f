"""The example project end to end: daphne serving example_project.asgi, driven over HTTP as Slack and an
installer's browser drive it, with the Slack Web API faked (tests/support/fake_slack.py) and the database read
by the example's own `manage.py` in another process. Runs on this run's database backend (DB_BACKEND).

Each test installs its own workspace through the real OAuth flow, on one server shared by the module.
"""

import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.support.example_server import BOT_SCOPES, CLIENT_ID, CLIENT_SECRET, USER_SCOPES
from tests.support.fake_slack import OAuthGrant
from tests.support.slack_requests import BOT_USER_ID, SIGNING_SECRET, event_callback

COOKIE = "slack-app-oauth-state"
MENTIONER_ID = "U0MENTIONER"


def grant(team_id, **overrides):
    """What Slack grants when `team_id` installs the app: a bot token and the installer's user token."""
    slug = team_id.lower()
    values = dict(
        client_id=CLIENT_ID,
        team_id=team_id,
        team_name=f"Team {team_id}",
        user_id="U0INSTALLER",
        bot_token=f"xoxb-e2e-{slug}-bot-token",
        bot_id="B0BOT",
        bot_user_id=BOT_USER_ID,
        bot_scopes=tuple(BOT_SCOPES.split(",")),
        user_token=f"xoxp-e2e-{slug}-installer-token",
        user_scopes=tuple(USER_SCOPES.split(",")),
    )
    return OAuthGrant(**values | overrides)


def start_install(server):
    """GET /slack/install as a browser: Bolt's "Add to Slack" page, and the state cookie it sets."""
    page = server.get("/slack/install")
    assert page.status == 200
    [set_cookie] = page.headers.get_all("Set-Cookie")
    state = re.match(rf"{COOKIE}=([^;]+);", set_cookie).group(1)
    attributes = {attribute.strip().lower() for attribute in set_cookie.split(";")[1:]}
    assert {"secure", "httponly", "path=/", "max-age=600"} <= attributes
    [link] = re.findall(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.body)
    query = parse_qs(urlsplit(link.replace("&amp;", "&")).query)
    assert query == {
        "state": [state],
        "client_id": [CLIENT_ID],
        "scope": [BOT_SCOPES],
        "user_scope": [USER_SCOPES],
    }
    return state


def come_back(server, state, code, *, with_cookie=True):
    """GET /slack/oauth_redirect as Slack sends the browser back, with the cookie the browser kept."""
    cookie = f"{COOKIE}={state}" if with_cookie else None
    return server.get(f"/slack/oauth_redirect?{urlencode({'code': code, 'state': state})}", cookie=cookie)


def install(server, slack, granted):
    """The whole OAuth install of `granted` through the example's two URLs."""
    code = f"code-{granted.team_id}"
    slack.add_oauth_code(code, granted)
    response = come_back(server, start_install(server), code)
    assert response.status == 200 and "Thank you!" in response.body


def app_mention(team_id):
    now = f"{time.time():.6f}"
    event = {
        "type": "app_mention",
        "user": MENTIONER_ID,
        "text": f"<@{BOT_USER_ID}> hello",
        "ts": now,
        "team": team_id,
        "channel": "C0CHANNEL",
        "event_ts": now,
    }
    return event_callback(event, team_id=team_id)


def a_second_later():
    """Wait until the clock is in the next whole second: Slack's event_time has whole seconds, and the
    lifecycle listeners keep rows written in the very second of an event (they may be a reinstall)."""
    time.sleep(1.02 - time.time() % 1)


def tokens(calls):
    return [call.token for call in calls]


def calls_with(slack, method, **params):
    """The calls to `method` the fake received with these parameters (among others)."""
    return [call for call in slack.calls_to(method) if params.items() <= call.params.items()]


def test_the_admin_is_served(example_server):
    assert example_server.get("/admin/").status == 302
    login = example_server.get("/admin/login/")
    assert login.status == 200 and 'name="username"' in login.body


def test_an_install_through_the_oauth_urls_stores_the_installation(example_server, slack):
    granted = grant("T0E2EINSTALL")
    slack.add_oauth_code("code-install", granted)

    state = start_install(example_server)
    response = come_back(example_server, state, "code-install")

    assert response.status == 200 and "Thank you!" in response.body
    # Bolt clears the state cookie once it is used.
    [cleared] = response.headers.get_all("Set-Cookie")
    assert cleared.startswith(f"{COOKIE}=deleted;")
    [exchange] = calls_with(slack, "oauth.v2.access", code="code-install")
    assert (exchange.params["client_id"], exchange.params["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
    assert granted.bot_token in tokens(slack.calls_to("auth.test"))
    rows = example_server.rows("T0E2EINSTALL")
    assert [(row["user_id"], row["user_token"]) for row in rows["installations"]] == [
        ("U0INSTALLER", granted.user_token)
    ]
    assert [row["bot_token"] for row in rows["bots"]] == [granted.bot_token]

    # The state is single use: the same redirect again (a reload, a replay) is refused, nothing exchanged.
    replay = come_back(example_server, state, "code-install")

    assert replay.status == 401
    assert len(calls_with(slack, "oauth.v2.access", code="code-install")) == 1


def test_a_redirect_without_the_state_cookie_is_refused(example_server, slack):
    slack.add_oauth_code("code-no-cookie", grant("T0E2ENOCOOKIE"))
    state = start_install(example_server)

    response = come_back(example_server, state, "code-no-cookie", with_cookie=False)

    assert response.status == 400
    assert example_server.rows("T0E2ENOCOOKIE") == {"installations": [], "bots": []}


def test_a_mention_is_answered_with_the_stored_bot_token(example_server, slack):
    granted = grant("T0E2EMENTION")
    install(example_server, slack, granted)
    checks_before = tokens(slack.calls_to("auth.test"))

    response = example_server.post_from_slack(app_mention("T0E2EMENTION"), signing_secret=SIGNING_SECRET)

    assert response.status == 200, example_server.output()
    [reply] = [call for call in slack.calls_to("chat.postMessage") if call.token == granted.bot_token]
    assert reply.params["channel"] == "C0CHANNEL"
    assert reply.params["text"].startswith(f"Hello <@{MENTIONER_ID}>!")
    # AsyncDjangoAuthorize answers from the store: no auth.test per request (the install made one).
    assert tokens(slack.calls_to("auth.test")) == checks_before


def test_an_unsigned_event_is_refused(example_server, slack):
    body, content_type = app_mention("T0E2EMENTION")
    calls_before = len(slack.calls)

    response = example_server.request(
        "POST", "/slack/events", body=body.encode(), headers={"Content-Type": content_type}
    )

    assert response.status == 401
    assert len(slack.calls) == calls_before


def test_an_expiring_bot_token_is_rotated_on_the_next_event_and_updated_in_place(example_server, slack):
    granted = grant(
        "T0E2EROTATE",
        bot_token="xoxe.xoxb-e2e-expiring-bot-token",
        bot_refresh_token="xoxe-e2e-refresh-token-1",
        bot_expires_in=3600,  # Bolt refreshes a token that expires within two hours
    )
    rotated = "xoxe.xoxb-e2e-rotated-bot-token"
    slack.add_token(rotated, team_id="T0E2EROTATE", user_id=BOT_USER_ID, bot_id=granted.bot_id)
    slack.add_refresh_token(
        "xoxe-e2e-refresh-token-1", access_token=rotated, next_refresh_token="xoxe-e2e-refresh-token-2"
    )
    install(example_server, slack, granted)
    before = example_server.rows("T0E2EROTATE")
    [bot_before] = before["bots"]
    assert (bot_before["bot_token"], bot_before["bot_refresh_token"]) == (
        granted.bot_token,
        "xoxe-e2e-refresh-token-1",
    )
    started = int(time.time())

    response = example_server.post_from_slack(app_mention("T0E2EROTATE"), signing_secret=SIGNING_SECRET)

    assert response.status == 200, example_server.output()
    [refresh] = calls_with(slack, "oauth.v2.access", refresh_token="xoxe-e2e-refresh-token-1")
    assert (refresh.params["grant_type"], refresh.params["client_id"]) == ("refresh_token", CLIENT_ID)
    assert rotated in tokens(slack.calls_to("chat.postMessage"))
    after = example_server.rows("T0E2EROTATE")
    # The same rows, updated in place: same ids, the new token and refresh token, a later expiry.
    assert [row["id"] for row in after["installations"]] == [row["id"] for row in before["installations"]]
    [bot_after] = after["bots"]
    assert bot_after["id"] == bot_before["id"]
    assert (bot_after["bot_token"], bot_after["bot_refresh_token"]) == (rotated, "xoxe-e2e-refresh-token-2")
    assert started + 43200 <= bot_after["bot_token_expires_at"] <= int(time.time()) + 43200
    # The installer's user token survives Bolt's rotated copy, which has it blank.
    assert [row["user_token"] for row in after["installations"]] == [granted.user_token]


def test_tokens_revoked_deletes_the_revoked_tokens_and_signals(example_server, slack):
    granted = grant("T0E2EREVOKED")
    install(example_server, slack, granted)
    a_second_later()
    event = {"type": "tokens_revoked", "tokens": {"oauth": [granted.user_id], "bot": [BOT_USER_ID]}}

    response = example_server.post_from_slack(
        event_callback(event, team_id="T0E2EREVOKED"), signing_secret=SIGNING_SECRET
    )

    assert response.status == 200, example_server.output()
    assert example_server.rows("T0E2EREVOKED") == {"installations": [], "bots": []}
    assert (
        "example_project.slack_app: tokens_revoked: enterprise None, team T0E2EREVOKED, "
        f"users ['{granted.user_id}'], bot True"
    ) in example_server.output()


def test_app_uninstalled_deletes_the_installation_and_signals(example_server, slack):
    install(example_server, slack, grant("T0E2EUNINSTALL"))
    a_second_later()

    response = example_server.post_from_slack(
        event_callback({"type": "app_uninstalled"}, team_id="T0E2EUNINSTALL"), signing_secret=SIGNING_SECRET
    )

    assert response.status == 200, example_server.output()
    assert example_server.rows("T0E2EUNINSTALL") == {"installations": [], "bots": []}
    logged = f"app_uninstalled: enterprise None, team T0E2EUNINSTALL (client {CLIENT_ID})"
    assert f"example_project.slack_app: {logged}" in example_server.output()
