"""The admin as `make demo` shows it, in a laptop's browser window (1280x800, Django's nav sidebar open): both
lists fit without scrolling sideways, and the screenshots of docs/images are taken from it.

The data is the demo's own: `demo_setup` runs into the test database, and the fake Slack knows its tokens.
"""

import time

import pytest
from django.core.management import call_command
from django.test import override_settings

from django_slack_store.models import SlackBot, SlackInstallation
from example_project.management.commands import demo_setup
from tests.support.admin import assert_no_tokens, register, tokens_of

pytestmark = pytest.mark.browser

# The demo's Slack app (example_project/settings.py's default SLACK_CLIENT_ID), as the screenshots show it.
CLIENT_ID = "0000000000.demo-client-id"
LISTS = ["slackinstallation", "slackbot"]
# The badges each list shows for the demo's rows: bots have no "no token" (a bot row always has one).
BADGES = {
    "slackinstallation": ["static", "rotating", "expiring", "expired", "none"],
    "slackbot": ["static", "rotating", "expiring", "expired"],
}


@pytest.fixture
def demo(settings, slack):
    """The demo's admin user and installations, as `make demo` creates them, valid at the fake Slack, with the
    client secret its rotating tokens refresh with. Returns the installations."""
    settings.SLACK_CLIENT_ID = CLIENT_ID
    settings.DJANGO_SLACK_STORE = {**settings.DJANGO_SLACK_STORE, "CLIENT_SECRETS": {CLIENT_ID: "s3cr3t"}}
    with override_settings(DEBUG=True):  # the command refuses to run without it
        call_command(demo_setup.Command(), stdout=open("/dev/null", "w"))  # noqa: SIM115
    installations = [installation for _, installation in demo_setup.demo_installations(time.time())]
    register(slack, *installations)
    return installations


def log_in(page):
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", demo_setup.USERNAME)
    page.fill("#id_password", demo_setup.PASSWORD)
    with page.expect_navigation():
        page.click('input[type="submit"]')


def overflow(page, selector):
    """How many CSS pixels the element scrolls sideways (0: it fits)."""
    return page.locator(selector).evaluate("element => element.scrollWidth - element.clientWidth")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("model", LISTS)
def test_every_column_fits_a_laptop_with_the_sidebar_open(page, demo, model):
    log_in(page)
    page.goto(f"/admin/django_slack_store/{model}/")
    width = page.viewport_size["width"]
    assert width == 1280
    assert page.locator("#nav-sidebar").is_visible() and page.locator("#main.shifted").count() == 1

    header = page.locator("#result_list thead th.column-health_badge")
    assert header.is_visible()
    badges = page.locator("#result_list td.field-health_badge .dss-badge")
    shown = badges.evaluate_all("badges => badges.map(badge => badge.className)")
    assert sorted({name.split()[-1] for name in shown}) == sorted(f"dss-{slug}" for slug in BADGES[model])
    # The right edge of the health column, of every badge and of the last column is within the window and
    # within the table's scrolling box (which clips what sticks out under the filter sidebar)...
    results = page.locator("#changelist-form .results").bounding_box()
    visible = min(width, results["x"] + results["width"])
    last = page.locator("#result_list thead th").last
    for element in [header, last, *badges.all()]:
        box = element.bounding_box()
        assert box is not None and box["x"] + box["width"] <= visible, element
    # ...and nothing scrolls sideways: not the page, not the table's own scrolling box.
    assert overflow(page, "html") == 0
    assert overflow(page, "#changelist-form .results") == 0


# The same primary keys in every run ("bot #1"), so that the screenshots change only with what they show.
@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_the_docs_screenshots(page, demo, slack, screenshot):
    """The screenshots of docs/images, at 1280x800: both lists, a detail page, the revoke confirmation, the
    results of "Refresh tokens now" and "Check at Slack", and the rows a failed revoke kept. Every page is
    checked for tokens. `BROWSER_SCREENSHOTS_DIR=docs/images` writes them there."""
    by_team = {installation.team_id: installation for installation in demo}
    vandelay, umbrella = by_team["T0VANDELAY"], by_team["T0UMBRELLA"]
    # Slack exchanges the two rotating tokens that are due for new ones (obviously fake too).
    new_tokens = []
    for installation in (vandelay, umbrella):
        owner = installation.team_name.split()[0].lower()
        access_token = demo_setup.fake("xoxe.xoxb", f"{owner}-2")
        new_tokens += [access_token, demo_setup.fake("xoxe", f"refresh-{owner}-2")]
        slack.add_refresh_token(
            installation.bot_refresh_token, access_token=access_token, next_refresh_token=new_tokens[-1]
        )
        slack.add_token(
            access_token,
            team_id=installation.team_id,
            user_id=installation.bot_user_id,
            bot_id=installation.bot_id,
        )
    tokens = [*tokens_of(*demo), *new_tokens]

    def show(name):
        page.wait_for_load_state()
        assert_no_tokens(page.content(), *tokens)
        screenshot(page, name, docs=True)

    def run_action(model, action, rows):
        page.goto(f"/admin/django_slack_store/{model}/")
        for row in rows:
            page.check(f'input[name="_selected_action"][value="{row.pk}"]')
        page.select_option('select[name="action"]', action)
        with page.expect_navigation():
            page.click('button[name="index"]')

    def messages(level):
        return page.locator(f".messagelist .{level}").all_inner_texts()

    log_in(page)
    page.goto("/admin/django_slack_store/slackinstallation/")
    show("admin-installations")
    page.goto("/admin/django_slack_store/slackbot/")
    show("admin-bots")

    acme = SlackInstallation.objects.get(team_id="T0ACME")
    page.goto(f"/admin/django_slack_store/slackinstallation/{acme.pk}/change/")
    assert "xoxp-…lice" in page.locator("#content").inner_text()
    show("admin-installation-detail")

    run_action("slackinstallation", "revoke_selected", [acme])
    assert page.locator("h1").inner_text() == "Revoke at Slack"
    show("admin-revoke-confirmation")  # and not confirmed: nothing is revoked
    assert slack.calls_to("auth.revoke") == []

    bots = {bot.team_id: bot for bot in SlackBot.objects.all()}
    due = [bots["T0VANDELAY"], bots["T0UMBRELLA"]]
    run_action("slackbot", "refresh_tokens", [bots["T0INITECH"], *due])
    assert len(messages("success")) == 2 and len(messages("info")) == 1  # Initech's is not due
    assert messages("error") == []
    show("admin-refresh-tokens")

    # Slack has revoked Globex HR's bot token (its workspace uninstalled the app, say).
    slack.add_error("auth.test", by_team["T0GLOBEXHR"].bot_token, "token_revoked")
    run_action("slackbot", "check_at_slack", bots.values())
    assert len(messages("success")) == 5 and len(messages("error")) == 0
    [revoked] = messages("warning")
    assert "(Globex HR)" in revoked and "revoked (token_revoked)" in revoked
    show("admin-check-at-slack")

    # A revoke Slack answers with an error keeps the row, and offers to delete it anyway.
    slack.add_error("auth.revoke", by_team["T0GLOBEXHR"].bot_token, "ratelimited", status=429)
    run_action("slackbot", "revoke_selected", [bots["T0GLOBEXHR"]])
    with page.expect_navigation():
        page.click('input[type="submit"][value="Yes, revoke"]')
    [error] = messages("error")
    assert "Globex HR" in error and "ratelimited" in error
    show("admin-revoke-kept")
