"""A second process sharing the test's database and Redis cache: `python -m tests.support.cache_peer`.

The test writes one JSON command per line on stdin; the peer answers each with one JSON line on stdout:

    {"op": "find", "team_id": "T1", "user_id": null}  ->  {"bot_token": ..., "user_token": ...} or null
    {"op": "save", "installation": {...}}             ->  "saved"  (slack_sdk Installation keyword arguments)
    {"op": "delete_all", "team_id": "T1"}             ->  "deleted"

The environment names the database (tests/settings.py's DB_* variables, DB_NAME being the test database)
and the cache: PEER_REDIS_URL and PEER_KEY_PREFIX.
"""

import json
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    from django.conf import settings

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "slack": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["PEER_REDIS_URL"],
            "KEY_PREFIX": os.environ["PEER_KEY_PREFIX"],
        },
    }
    settings.DJANGO_SLACK_STORE = {"CACHE_ALIAS": "slack"}

    import django

    django.setup()
    from slack_sdk.oauth.installation_store import Installation

    from django_slack_store.stores import DjangoInstallationStore
    from tests.support.store_api import CLIENT_ID

    store = DjangoInstallationStore(CLIENT_ID)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "find":
            found = store.find_installation(
                enterprise_id=None, team_id=command["team_id"], user_id=command.get("user_id")
            )
            answer = found and {"bot_token": found.bot_token, "user_token": found.user_token}
        elif command["op"] == "save":
            store.save(Installation(**command["installation"]))
            answer = "saved"
        elif command["op"] == "delete_all":
            store.delete_all(enterprise_id=None, team_id=command["team_id"])
            answer = "deleted"
        else:
            answer = {"error": f"unknown op {command['op']!r}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
