"""Requests as Slack sends them to a Bolt app: Events API payloads, signed a moment ago."""

import json
import time

from asgiref.sync import async_to_sync
from slack_bolt import BoltRequest
from slack_bolt.async_app import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret"
BOT_USER_ID = "U0BOT"


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


def dispatch(app, request):
    """Send `request` (body, content type) to a Bolt `App` or `AsyncApp`, signed with SIGNING_SECRET."""
    body, content_type = request
    timestamp = str(int(time.time()))
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": SignatureVerifier(SIGNING_SECRET).generate_signature(
            timestamp=timestamp, body=body
        ),
    }
    if hasattr(app, "async_dispatch"):
        return async_to_sync(app.async_dispatch)(AsyncBoltRequest(body=body, headers=headers))
    return app.dispatch(BoltRequest(body=body, headers=headers))
