"""Requests as Slack sends them to a Bolt app: Events API payloads, signed a moment ago."""

import json
import time
from urllib.parse import urlencode

from asgiref.sync import async_to_sync
from slack_bolt import BoltRequest
from slack_bolt.async_app import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret"
BOT_USER_ID = "U0BOT"
# Who mentions the bot or types a command, unless told: not an installer, whose user token Bolt leaves out.
MENTIONER_ID = "U0MENTIONER"


def event_callback(event, *, team_id, enterprise_id=None, is_enterprise_install=False, event_time=None):
    """An Events API `event_callback` wrapping `event`, for the installation of `team_id` (or the org).

    `authorizations` names the installation the event is for, as Slack sends it; Bolt reads the ids from
    there. For an org-wide install it has the enterprise and no team.
    """
    payload = {
        "token": "test-verification-token",
        "team_id": team_id,
        "enterprise_id": enterprise_id,
        "api_app_id": "A0TESTAPP",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev0TEST",
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": enterprise_id,
                "team_id": None if is_enterprise_install else team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": is_enterprise_install,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-test-event-context",
    }
    return json.dumps(payload), "application/json"


def app_mention(*, team_id, enterprise_id=None, is_enterprise_install=False, user=MENTIONER_ID):
    """An Events API `event_callback` for a mention of the bot by `user` in `team_id`."""
    now = time.time()
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER_ID}> hello",
        "ts": f"{now:.6f}",
        "team": team_id,
        "channel": "C0CHANNEL",
        "event_ts": f"{now:.6f}",
    }
    return event_callback(
        event, team_id=team_id, enterprise_id=enterprise_id, is_enterprise_install=is_enterprise_install
    )


def slash_command(*, team_id, enterprise_id=None, is_enterprise_install=False, user=MENTIONER_ID):
    """`/hello` typed by `user` in `team_id`. Unlike events, commands name the workspace they were typed in
    even for an org-wide install, so Bolt asks the store for that team, flagged org-wide."""
    params = {
        "token": "test-verification-token",
        "team_id": team_id,
        "team_domain": "test-workspace",
        "enterprise_id": enterprise_id or "",
        "channel_id": "C0CHANNEL",
        "user_id": user,
        "command": "/hello",
        "text": "",
        "api_app_id": "A0TESTAPP",
        "is_enterprise_install": "true" if is_enterprise_install else "false",
        "response_url": "https://hooks.slack.test/commands/T0TEAM/1/fake",
        "trigger_id": "1.2.fake",
    }
    return urlencode(params), "application/x-www-form-urlencoded"


def signed_headers(body, content_type):
    """The headers Slack sends `body` with, signed now with SIGNING_SECRET."""
    timestamp = str(int(time.time()))
    return {
        "content-type": content_type,
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": SignatureVerifier(SIGNING_SECRET).generate_signature(
            timestamp=timestamp, body=body
        ),
    }


def dispatch(app, request):
    """Send `request` (body, content type) to a Bolt `App` or `AsyncApp`, signed with SIGNING_SECRET."""
    body, content_type = request
    headers = signed_headers(body, content_type)
    if hasattr(app, "async_dispatch"):
        return async_to_sync(app.async_dispatch)(AsyncBoltRequest(body=body, headers=headers))
    return app.dispatch(BoltRequest(body=body, headers=headers))
