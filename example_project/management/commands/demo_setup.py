"""`manage.py demo_setup`: the demo's admin user and a handful of installations, unless they exist.

`make demo` runs it after `migrate`. The installations go through DjangoInstallationStore.save(), as Bolt's
OAuth flow saves them, under the app's SLACK_CLIENT_ID so the running app serves them. Every token is fake.
"""

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from slack_sdk.oauth.installation_store import Installation

from django_slack_store.stores import DjangoInstallationStore

USERNAME = "admin"
PASSWORD = "demo-password"  # published in the README: DEBUG only

HOUR = 3600
DAY = 24 * HOUR
BOT_SCOPES = ["app_mentions:read", "chat:write"]
# Saved, then its bot deleted, as Slack's `tokens_revoked` event deletes it (enable_lifecycle_listeners).
REVOKED_BOT = "its bot token revoked (a tokens_revoked event): the installation stays, with no token"


def fake(kind: str, owner: str) -> str:
    """A token that is obviously not one, ending with its `owner` so that the masks, which show a token's
    last 4 characters (`xoxb-…acme`), tell the rows apart."""
    return f"{kind}-demo-not-a-real-token-{owner}"


def demo_installations(now: float) -> list[tuple[str, Installation]]:
    """(what it shows, installation) pairs; `now` places the install dates and token expiries. Between them
    the rows show every token health badge of the admin: static, rotating, expiring, expired and no token."""
    return [
        (
            "a workspace install with the installer's user token",
            Installation(
                app_id="A0DEMOAPP",
                team_id="T0ACME",
                team_name="Acme Corp",
                user_id="U0ALICE",
                user_token=fake("xoxp", "alice"),
                user_scopes=["search:read"],
                bot_id="B0ACME",
                bot_user_id="U0ACMEBOT",
                bot_token=fake("xoxb", "acme"),
                bot_scopes=BOT_SCOPES,
                installed_at=now - 45 * DAY,
            ),
        ),
        (
            "an org-wide install (Enterprise Grid): every workspace of the org",
            Installation(
                app_id="A0DEMOAPP",
                enterprise_id="E0GLOBEX",
                enterprise_name="Globex Corporation",
                enterprise_url="https://globex-demo.enterprise.slack.com/",
                is_enterprise_install=True,
                user_id="U0HANK",
                bot_id="B0GLOBEX",
                bot_user_id="U0GLOBEXBOT",
                bot_token=fake("xoxb", "globex"),
                bot_scopes=BOT_SCOPES,
                installed_at=now - 30 * DAY,
            ),
        ),
        (
            "a workspace install inside the same org",
            Installation(
                app_id="A0DEMOAPP",
                enterprise_id="E0GLOBEX",
                enterprise_name="Globex Corporation",
                team_id="T0GLOBEXHR",
                team_name="Globex HR",
                user_id="U0MARGE",
                bot_id="B0GLOBEXHR",
                bot_user_id="U0GLOBHRBOT",
                bot_token=fake("xoxb", "globex-hr"),
                bot_scopes=BOT_SCOPES,
                installed_at=now - 21 * DAY,
            ),
        ),
        (
            "a rotating bot token, valid for 12 more hours",
            Installation(
                app_id="A0DEMOAPP",
                team_id="T0INITECH",
                team_name="Initech",
                user_id="U0PETER",
                bot_id="B0INITECH",
                bot_user_id="U0INITBOT",
                bot_token=fake("xoxe.xoxb", "initech"),
                bot_refresh_token=fake("xoxe", "refresh-initech"),
                bot_token_expires_at=int(now + 12 * HOUR),
                bot_scopes=BOT_SCOPES,
                installed_at=now - 14 * DAY,
            ),
        ),
        (
            "a rotating bot token that expires within the hour (the next event refreshes it)",
            Installation(
                app_id="A0DEMOAPP",
                team_id="T0VANDELAY",
                team_name="Vandelay Industries",
                user_id="U0ART",
                bot_id="B0VANDELAY",
                bot_user_id="U0VANDELBOT",
                bot_token=fake("xoxe.xoxb", "vandelay"),
                bot_refresh_token=fake("xoxe", "refresh-vandelay"),
                bot_token_expires_at=int(now + 45 * 60),
                bot_scopes=BOT_SCOPES,
                installed_at=now - 7 * DAY,
            ),
        ),
        (
            "a rotating bot token that expired (the next event or slack_store_refresh_tokens refreshes it)",
            Installation(
                app_id="A0DEMOAPP",
                team_id="T0UMBRELLA",
                team_name="Umbrella Corp",
                user_id="U0ALBERT",
                bot_id="B0UMBRELLA",
                bot_user_id="U0UMBRELBOT",
                bot_token=fake("xoxe.xoxb", "umbrella"),
                bot_refresh_token=fake("xoxe", "refresh-umbrella"),
                bot_token_expires_at=int(now - 2 * DAY),
                bot_scopes=BOT_SCOPES,
                installed_at=now - 60 * DAY,
            ),
        ),
        (
            "a user-only install: a user token and no bot",
            Installation(
                app_id="A0DEMOAPP",
                team_id="T0HOOLI",
                team_name="Hooli",
                user_id="U0GAVIN",
                user_token=fake("xoxp", "gavin"),
                user_scopes=["search:read", "users:read"],
                installed_at=now - 3 * DAY,
            ),
        ),
        (
            REVOKED_BOT,
            Installation(
                app_id="A0DEMOAPP",
                team_id="T0SOYLENT",
                team_name="Soylent Corp",
                user_id="U0THORN",
                bot_id="B0SOYLENT",
                bot_user_id="U0SOYLBOT",
                bot_token=fake("xoxb", "soylent"),
                bot_scopes=BOT_SCOPES,
                installed_at=now - 10 * DAY,
            ),
        ),
    ]


class Command(BaseCommand):
    help = "Create the demo's admin user and demo Slack installations, unless they exist (DEBUG only)."
    # Checked in handle(), after the DEBUG check: Django 6.1's model checks open the database (its JSONField
    # support), which would create the SQLite file of a refused run.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="Where the demo is served, for the URLs printed."
        )

    def handle(self, *args, url, **options):
        if not settings.DEBUG:
            raise CommandError(
                "demo_setup creates a superuser whose password is published; it runs only with DEBUG on "
                "(DJANGO_DEBUG=1, as `make demo` sets)."
            )
        self.check()
        url = url.rstrip("/")
        self.admin_user()
        self.installations()
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Open:"))
        for path, what in [
            ("/", 'these links (the admin\'s "View site")'),
            ("/admin/", f"the admin: log in as {USERNAME} / {PASSWORD}"),
            ("/slack/install", 'Bolt\'s "Add to Slack" page (sets the OAuth state cookie)'),
            ("/slack/events", "the Events API endpoint, for Slack's signed POSTs"),
        ]:
            self.stdout.write(f"  {url + path:<40} {what}")

    def admin_user(self):
        User = get_user_model()
        if User.objects.filter(username=USERNAME).exists():
            self.stdout.write(f"Admin user: {USERNAME} (exists: {PASSWORD}, unless you changed it)")
            return
        User.objects.create_superuser(USERNAME, f"{USERNAME}@example.com", PASSWORD)
        self.stdout.write(f"Admin user: {USERNAME} / {PASSWORD} (created)")

    def installations(self):
        store = DjangoInstallationStore(client_id=settings.SLACK_CLIENT_ID)
        self.stdout.write(f"Demo installations of Slack app {settings.SLACK_CLIENT_ID}:")
        for what, installation in demo_installations(time.time()):
            found = store.find_installation(
                enterprise_id=installation.enterprise_id,
                team_id=installation.team_id,
                user_id=installation.user_id,
                is_enterprise_install=installation.is_enterprise_install,
            )
            name = installation.team_name or installation.enterprise_name
            if found is None:
                store.save(installation)
                if what == REVOKED_BOT:
                    store.delete_bot(enterprise_id=installation.enterprise_id, team_id=installation.team_id)
            self.stdout.write(f"  {'exists ' if found else 'created'}  {name}: {what}")
