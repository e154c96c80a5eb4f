"""The example's translation between Django's requests and responses and Bolt's, in this process.

Bolt's flows set one cookie per response; a response with several must keep them all (one header line
each, with its own attributes), which only a direct call can show.
"""

import pytest
from django.test import RequestFactory
from slack_bolt.response import BoltResponse


@pytest.fixture
def views(settings):
    """example_project.views, imported with the settings its Bolt app reads."""
    settings.SLACK_CLIENT_ID = "1111.2222"
    settings.SLACK_CLIENT_SECRET = "test-client-secret"
    settings.SLACK_SIGNING_SECRET = "test-signing-secret"
    settings.SLACK_SCOPES = ["chat:write"]
    settings.SLACK_USER_SCOPES = []
    from django_slack_store import signals
    from example_project import slack_app, views

    yield views
    # The example's logging receivers stay connected only for these tests.
    signals.app_uninstalled.disconnect(slack_app.log_uninstall)
    signals.tokens_revoked.disconnect(slack_app.log_revocation)


def test_every_cookie_bolt_sets_reaches_the_browser_with_its_attributes(views):
    bolt_response = BoltResponse(
        status=302,
        headers={
            "Location": "https://slack.com/oauth/v2/authorize?state=s1",
            "Set-Cookie": [
                "slack-app-oauth-state=s1; Secure; HttpOnly; Path=/; Max-Age=600",
                "another=value; Path=/slack; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            ],
        },
    )

    response = views.to_django(bolt_response)

    assert response.status_code == 302
    assert response["Location"] == "https://slack.com/oauth/v2/authorize?state=s1"
    # Django's handlers send one Set-Cookie header per entry of response.cookies.
    assert sorted(response.cookies) == ["another", "slack-app-oauth-state"]
    state, another = response.cookies["slack-app-oauth-state"], response.cookies["another"]
    assert (state.value, state["max-age"], state["path"], state["secure"], state["httponly"]) == (
        "s1",
        "600",
        "/",
        True,
        True,
    )
    assert (another.value, another["path"], another["expires"], another["secure"]) == (
        "value",
        "/slack",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "",
    )


def test_a_django_request_becomes_the_bolt_request_slack_signed(views):
    request = RequestFactory().post(
        "/slack/events?retry=1",
        data="payload=%7B%7D",
        content_type="application/x-www-form-urlencoded",
        headers={"X-Slack-Signature": "v0=abc", "X-Slack-Request-Timestamp": "1700000000"},
    )

    bolt_request = views.to_bolt(request)

    assert bolt_request.raw_body == "payload=%7B%7D"
    assert bolt_request.query == {"retry": ["1"]}
    assert bolt_request.headers["x-slack-signature"] == ["v0=abc"]
    assert bolt_request.headers["x-slack-request-timestamp"] == ["1700000000"]
    assert bolt_request.headers["content-type"] == ["application/x-www-form-urlencoded"]
