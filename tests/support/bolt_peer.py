"""A Bolt app with DjangoAuthorize in a process of its own, sharing the test's database:
`python -m tests.support.bolt_peer KIND COUNT TEAM_ID USER_ID`.

KIND is "App" or "AsyncApp". The peer sets itself up, prints "ready", waits for one line on stdin, then sends
its app COUNT signed mentions of the bot by USER_ID in TEAM_ID at once (a thread each for `App`, one gathered
coroutine each for `AsyncApp`) and prints one JSON line: each request's status, and the bot and user tokens
the listeners were given.

The environment names the database (tests/settings.py's DB_* variables, DB_NAME being the test database) and
the fake Slack: PEER_SLACK_URL.
"""

import asyncio
import json
import os
import sys
import threading


def main():
    kind, count, team_id, user_id = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    from django.conf import settings

    settings.DJANGO_SLACK_STORE = {"SLACK_API_URL": os.environ["PEER_SLACK_URL"]}

    import django

    django.setup()
    from slack_bolt import BoltRequest
    from slack_bolt.async_app import AsyncBoltRequest

    from tests.support.bolt_apps import Bolt
    from tests.support.slack_requests import app_mention, signed_headers

    bolt = Bolt(kind, os.environ["PEER_SLACK_URL"], authorize="django")
    body, content_type = app_mention(team_id=team_id, user=user_id)

    print("ready", flush=True)
    sys.stdin.readline()
    if kind == "App":
        statuses = [None] * count

        def send(i):
            request = BoltRequest(body=body, headers=signed_headers(body, content_type))
            statuses[i] = bolt.app.dispatch(request).status

        threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:

        async def send_all():
            requests = [
                AsyncBoltRequest(body=body, headers=signed_headers(body, content_type)) for _ in range(count)
            ]
            responses = await asyncio.gather(*(bolt.app.async_dispatch(request) for request in requests))
            return [response.status for response in responses]

        statuses = asyncio.run(send_all())
    seen = {"statuses": statuses, "bot_tokens": bolt.bot_tokens_seen, "user_tokens": bolt.user_tokens_seen}
    print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    main()
