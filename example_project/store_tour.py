"""A walk through the installation store: save, find, rotate a token in place, delete.

Run it with `make demo`, or after `python manage.py migrate`: python -m example_project.store_tour
"""

import os
import time
from datetime import datetime, timezone

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
django.setup()

from slack_sdk.oauth.installation_store import Installation  # noqa: E402

from django_slack_store.models import SlackBot, SlackInstallation  # noqa: E402
from django_slack_store.stores import DjangoInstallationStore  # noqa: E402

TEAM = {"enterprise_id": None, "team_id": "T0DEMO"}


def mask(token):
    """Show a token as `xoxb-…0001`: enough to tell two apart, never enough to use."""
    return f"{token.split('-', 1)[0]}-…{token[-4:]}" if token else "(none)"


def installation(bot_token, refresh_token, installed_at, expires_in):
    return Installation(
        app_id="A0DEMO",
        team_id="T0DEMO",
        team_name="Demo Workspace",
        user_id="U0DEMO",
        bot_id="B0DEMO",
        bot_user_id="U0DEMOBOT",
        bot_scopes=["chat:write", "commands"],
        bot_token=bot_token,
        bot_refresh_token=refresh_token,
        bot_token_expires_at=int(time.time()) + expires_in,
        installed_at=installed_at,
    )


def show(store, title):
    found = store.find_installation(**TEAM)
    print(f"\n{title}")
    if found is None:
        print("  find_installation(team_id='T0DEMO') -> None")
        return
    installed = datetime.fromtimestamp(found.installed_at, tz=timezone.utc).isoformat()
    print(f"  team {found.team_id} ({found.team_name}), installed by {found.user_id} at {installed}")
    expires = datetime.fromtimestamp(found.bot_token_expires_at, tz=timezone.utc).isoformat()
    print(f"  bot {found.bot_id}, token {mask(found.bot_token)}, expires at {expires}")
    print(f"  rows: {SlackInstallation.objects.count()} installation(s), {SlackBot.objects.count()} bot(s)")


def main():
    store = DjangoInstallationStore(client_id="demo-client")
    store.delete_all(**TEAM)  # start clean, even if an earlier tour stopped half-way

    installed_at = datetime.now(timezone.utc).timestamp()
    store.save(installation("xoxb-demo-fake-token-0001", "xoxe-demo-fake-refresh-0001", installed_at, 3600))
    show(store, "1. Saved a new installation of workspace T0DEMO:")

    # Token rotation: Bolt saves a copy with the same installed_at and fresh tokens.
    store.save(installation("xoxb-demo-fake-token-0002", "xoxe-demo-fake-refresh-0002", installed_at, 7200))
    show(store, "2. Saved a rotated copy: same rows, new token:")

    store.delete_all(**TEAM)
    show(store, "3. Deleted everything of T0DEMO (what an uninstall does):")


if __name__ == "__main__":
    main()
