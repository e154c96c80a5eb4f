"""The admin in a real browser: log in, search, filter, read a detail page, revoke through the confirmation.

Every page the browser shows is checked for tokens: none may appear whole (nor its secret middle).
"""

import time
from urllib.parse import urlsplit

import pytest
from slack_sdk.oauth.installation_store import Installation

from django_slack_store.masking import mask_token
from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support.admin import assert_no_tokens, register, tokens_of
from tests.support.store_api import CLIENT_ID

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOW = int(time.time())
HOUR = 3600
PASSWORD = "browser-test-password"


def workspace(team_id, team_name, user_id, n, **fields):
    """An installation as Bolt saves it, with realistic-looking (fake) tokens."""
    values = {
        "app_id": "A0DEMOAPP",
        "team_id": team_id,
        "team_name": team_name,
        "user_id": user_id,
        "bot_id": f"B0{n}{user_id[2:]}",
        "bot_user_id": f"U0BOT{n}{user_id[2:5]}",
        "bot_token": f"xoxb-{n}1234567890-{n}0987654321-Zx{n}QvBnMtRwLpKsYhGdFe{n}{n}",
        "bot_scopes": ["app_mentions:read", "chat:write", "commands"],
        "user_token": f"xoxp-{n}1234567890-{n}2345678901-{n}3456789012-Ka{n}b0c1d2e3f4a5b6c7d8e{n}",
        "user_scopes": ["search:read"],
        "installed_at": 1_735_000_000 + n * 86_400 + 0.123456,
    }
    return Installation(**(values | fields))


@pytest.fixture
def workspaces(slack):
    """Five installations in every token health state, saved through the store, tokens valid at Slack."""
    installations = [
        workspace("T0ACME001", "Acme Corp", "U0ALICE", 1),
        workspace(
            "T0GLOBEX2",
            "Globex",
            "U0HANK",
            2,
            bot_refresh_token="xoxe-1-My0xLTIxMjM0NTY3ODkwLTIwOTg3NjU0MzIxLWdsb2JleA",
            bot_token_expires_at=NOW + 8 * HOUR,
        ),
        workspace(
            "T0INITECH",
            "Initech",
            "U0PETER",
            3,
            bot_refresh_token="xoxe-1-My0xLTMxMjM0NTY3ODkwLTMwOTg3NjU0MzIxLWluaXRlY2g",
            bot_token_expires_at=NOW + HOUR,
        ),
        workspace(
            "T0UMBRELA",
            "Umbrella",
            "U0ALBERT",
            4,
            bot_refresh_token="xoxe-1-My0xLTQxMjM0NTY3ODkwLTQwOTg3NjU0MzIxLXVtYnJlbGxh",
            bot_token_expires_at=NOW - HOUR,
        ),
        workspace(
            None,
            None,
            "U0ORGADMIN",
            5,
            enterprise_id="E0HOOLI01",
            enterprise_name="Hooli",
            is_enterprise_install=True,
            enterprise_url="https://hooli.enterprise.slack.com/",
            bot_id="B0HOOLI01",
            bot_user_id="U0BOTHOOLI",
        ),
    ]
    store = DjangoInstallationStore(client_id=CLIENT_ID)
    for installation in installations:
        store.save(installation)
    register(slack, *installations)
    return installations


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.test", PASSWORD)


class Browser:
    """The page, with every HTML document it shows checked for tokens on the way."""

    def __init__(self, page, tokens):
        self.page = page
        self.tokens = tokens
        self.seen = []

    def check(self):
        self.page.wait_for_load_state()
        self.seen.append(self.page.url)
        assert_no_tokens(self.page.content(), *self.tokens)

    def goto(self, path):
        self.page.goto(path)
        self.check()

    def click(self, locator):
        with self.page.expect_navigation():
            locator.click()
        self.check()

    def log_in(self, username, password=PASSWORD):
        self.goto("/admin/login/?next=/admin/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.click(self.page.locator('input[type="submit"]'))
        assert self.page.url.endswith("/admin/")

    def rows(self) -> list[str]:
        """The first cell (the workspace, or the org) of each changelist row, its lines joined by spaces."""
        cells = self.page.locator("#result_list tbody tr th").all_inner_texts()
        return [" ".join(text.split()) for text in cells]


def test_browse_search_filter_and_read(page, workspaces, superuser, screenshot):
    browser = Browser(page, tokens_of(*workspaces))
    browser.log_in("admin")
    # The admin index: the app is called "Slack installations" too, so pick the model's row.
    browser.click(page.locator("#django_slack_store-slackinstallation").get_by_role("link"))
    assert len(browser.rows()) == 5
    assert page.locator(".dss-badge.dss-expired").count() == 1
    screenshot(page, "test-changelist")

    # Search by a team name, then by an enterprise id typed in lower case.
    page.fill("#searchbar", "globex")
    browser.click(page.locator("#changelist-search input[type=submit]"))
    assert browser.rows() == ["Globex T0GLOBEX2"]
    page.fill("#searchbar", "e0hooli01")
    browser.click(page.locator("#changelist-search input[type=submit]"))
    assert browser.rows() == ["Hooli E0HOOLI01 org-wide install"]  # no workspace: the org's name and id

    # Filter by token health, from the sidebar.
    browser.goto("/admin/django_slack_store/slackinstallation/")
    browser.click(page.locator("#changelist-filter").get_by_role("link", name="expiring (within 120 min)"))
    assert browser.rows() == ["Initech T0INITECH"]
    browser.click(page.locator("#changelist-filter").get_by_role("link", name="expired"))
    assert browser.rows() == ["Umbrella T0UMBRELA"]

    # The detail page: read-only, tokens masked, a link to the bot.
    acme = workspaces[0]
    browser.goto("/admin/django_slack_store/slackinstallation/?q=T0ACME001")
    browser.click(page.locator("#result_list tbody tr th a"))
    body = page.locator("#content").inner_text()
    assert mask_token(acme.user_token) in body
    assert page.locator('input[name="_save"]').count() == 0
    browser.click(page.get_by_role("link", name=f"bot #{SlackBot.objects.get(team_id='T0ACME001').pk}"))
    assert mask_token(acme.bot_token) in page.locator("#content").inner_text()

    # Every kind of page went through the token check: login, index, lists, searches, filters, details.
    assert [urlsplit(url).path for url in browser.seen if "/change/" in url] == [
        f"/admin/django_slack_store/slackinstallation/{SlackInstallation.objects.get(team_id='T0ACME001').pk}/change/",
        f"/admin/django_slack_store/slackbot/{SlackBot.objects.get(team_id='T0ACME001').pk}/change/",
    ]
    assert len(browser.seen) == 11


def test_revoke_through_the_confirmation_page(page, workspaces, superuser, slack, received, screenshot):
    browser = Browser(page, tokens_of(*workspaces))
    browser.log_in("admin")
    browser.goto("/admin/django_slack_store/slackinstallation/")
    acme, globex = (SlackInstallation.objects.get(team_id=team) for team in ("T0ACME001", "T0GLOBEX2"))
    for row in (acme, globex):
        page.check(f'input[name="_selected_action"][value="{row.pk}"]')
    page.select_option('select[name="action"]', "revoke_selected")
    browser.click(page.locator('button[name="index"]'))

    # The confirmation page lists both installations and their bots, tokens masked.
    assert page.locator("h1").inner_text() == "Revoke at Slack"
    listing = page.locator(".dss-revoke-list").inner_text()
    for installation in workspaces[:2]:
        assert (
            mask_token(installation.user_token) in listing and mask_token(installation.bot_token) in listing
        )
    assert page.is_checked('input[name="revoke_bots"]')
    screenshot(page, "test-revoke-confirmation")
    assert slack.calls_to("auth.revoke") == []

    browser.click(page.locator('input[type="submit"][value="Yes, revoke"]'))
    assert page.locator(".messagelist .success").count() == 4
    assert page.locator(".messagelist .error").count() == 0
    assert sorted(browser.rows()) == [
        "Hooli E0HOOLI01 org-wide install",
        "Initech T0INITECH",
        "Umbrella T0UMBRELA",
    ]
    revoked = [
        workspaces[0].user_token,
        workspaces[1].user_token,
        workspaces[0].bot_token,
        workspaces[1].bot_token,
    ]
    assert all(slack.is_revoked(token) for token in revoked)
    assert not SlackBot.objects.filter(team_id__in=["T0ACME001", "T0GLOBEX2"]).exists()
    assert sorted(name for name, _ in received) == ["bot_deleted"] * 2 + ["installation_deleted"] * 2


def test_a_failed_revoke_is_reported_and_the_row_kept(page, workspaces, superuser, slack, screenshot):
    slack.add_error("auth.revoke", workspaces[2].bot_token, "ratelimited", status=429)
    browser = Browser(page, tokens_of(*workspaces))
    browser.log_in("admin")
    browser.goto("/admin/django_slack_store/slackbot/")
    page.check("#action-toggle")  # every row
    page.select_option('select[name="action"]', "revoke_selected")
    browser.click(page.locator('button[name="index"]'))
    browser.click(page.locator('input[type="submit"][value="Yes, revoke"]'))
    errors = page.locator(".messagelist .error").all_inner_texts()
    assert len(errors) == 1 and "Slack answered ratelimited" in errors[0] and "Initech" in errors[0]
    assert page.locator(".messagelist .success").count() == 4
    assert list(SlackBot.objects.values_list("team_id", flat=True)) == ["T0INITECH"]

    # The page of kept rows: the operator ticks the bot and deletes it anyway.
    kept = page.locator(".dss-revoke-list").inner_text()
    assert "Initech" in kept and "Slack answered ratelimited" in kept
    page.check('input[name="_selected_action"]')
    screenshot(page, "test-revoke-kept")
    browser.click(page.get_by_role("button", name="Delete the ticked Slack bots without revoking"))
    warnings = page.locator(".messagelist .warning").all_inner_texts()
    assert len(warnings) == 1 and "without revoking it at Slack" in warnings[0] and "Initech" in warnings[0]
    assert browser.rows() == []
    assert not slack.is_revoked(workspaces[2].bot_token)


def test_an_operator_without_the_permission_has_no_revoke(page, workspaces, django_user_model):
    from django.contrib.auth.models import Permission

    operator = django_user_model.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    operator.user_permissions.set(Permission.objects.filter(codename="view_slackinstallation"))
    browser = Browser(page, tokens_of(*workspaces))
    browser.log_in("viewer")
    browser.goto("/admin/django_slack_store/slackinstallation/")
    assert len(browser.rows()) == 5
    # Viewing is enough to check tokens at Slack; revoking and refreshing need their own permissions.
    options = page.locator('select[name="action"] option')
    actions = options.evaluate_all("options => options.map(option => option.value)")
    assert actions == ["", "check_at_slack"]
