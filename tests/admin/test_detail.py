"""A row's detail page: its Revoke button (the action's confirmation for that row), breadcrumbs, empty values
and help texts; and what the admin's "Recent actions" shows of a revoke."""

import re

import django
import pytest
from django.contrib import messages
from django.contrib.admin.models import DELETION, LogEntry
from django.test import Client

from django_slack_store import slack_api
from django_slack_store.admin.actions import REVOKE_KEPT
from django_slack_store.masking import EMPTY, mask_token
from django_slack_store.models import SlackBot, SlackInstallation
from tests.support.admin import admin_url, assert_no_tokens, register, tokens_of, where_hint

pytestmark = pytest.mark.django_db

MODELS = {"slackinstallation": SlackInstallation, "slackbot": SlackBot}


@pytest.fixture
def workspace(install, slack):
    """One install with a bot token and a user token, both valid at the fake Slack."""
    installation = install(team_id="T0DETAIL")
    register(slack, installation)
    return installation


def row_of(model):
    return MODELS[model].objects.get(team_id="T0DETAIL")


def revoke_url(row) -> str:
    return admin_url(row._meta.model_name, "revoke", row.pk)


def reported(response) -> list[tuple[int, str]]:
    return [(message.level, message.message) for message in response.context["messages"]]


def breadcrumbs(html: str) -> list[str]:
    """The breadcrumbs' texts, tags stripped: Django 6.1 lists them (`<ol class="breadcrumbs"><li>`), earlier
    versions separate them with "›" in a `<div>`; the revoke pages must use the running Django's form."""
    if django.VERSION >= (6, 1):
        [crumbs] = re.findall(r'<ol class="breadcrumbs">(.*?)</ol>', html, re.DOTALL)
        parts = re.findall(r"<li[^>]*>(.*?)</li>", crumbs, re.DOTALL)
    else:
        [crumbs] = re.findall(r'<div class="breadcrumbs">(.*?)</div>', html, re.DOTALL)
        parts = crumbs.split("&rsaquo;")
    return [" ".join(re.sub(r"<[^>]+>", "", part).split()) for part in parts]


# -- the button ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_the_detail_page_has_a_revoke_button_for_who_may_revoke(staff_client, workspace, model):
    row = row_of(model)
    button = f'<a href="{revoke_url(row)}" class="dss-revokelink">Revoke at Slack</a>'
    operator = staff_client(f"view_{model}", f"revoke_{model}")
    assert button in operator.get(admin_url(model, "change", row.pk)).content.decode()


@pytest.mark.parametrize("model", MODELS)
def test_no_button_without_the_permission(staff_client, workspace, model):
    other = "slackbot" if model == "slackinstallation" else "slackinstallation"
    viewer = staff_client(f"view_{model}", f"revoke_{other}")  # the other model's revoke does not count
    row = row_of(model)
    html = viewer.get(admin_url(model, "change", row.pk)).content.decode()
    assert "History" in html  # the object tools are there, without the button
    assert "Revoke at Slack" not in html and revoke_url(row) not in html


@pytest.mark.parametrize("model", MODELS)
def test_the_revoke_page_without_the_permission_is_forbidden(staff_client, workspace, slack, model):
    viewer = staff_client("view_slackinstallation", "view_slackbot")
    row = row_of(model)
    assert viewer.get(revoke_url(row)).status_code == 403
    assert viewer.post(revoke_url(row), {"post": "yes", "revoke_bots": "yes"}).status_code == 403
    assert MODELS[model].objects.filter(pk=row.pk).exists()
    assert slack.calls_to("auth.revoke") == []


def test_the_revoke_permission_without_view_is_forbidden(staff_client, workspace):
    # Like the action, which is offered on a list that needs the view permission.
    operator = staff_client("revoke_slackbot")
    assert operator.get(revoke_url(row_of("slackbot"))).status_code == 403


# -- the confirmation, then the revoke -----------------------------------------------------------------------


def test_the_button_leads_to_the_actions_confirmation_for_that_row(admin_client, workspace, install, slack):
    install(team_id="T0OTHER")
    row, bot = row_of("slackinstallation"), row_of("slackbot")
    response = admin_client.get(revoke_url(row))

    assert response.status_code == 200
    assert "admin/django_slack_store/revoke_selected_confirmation.html" in [
        t.name for t in response.templates
    ]
    assert [target.row.pk for target in response.context["targets"]] == [row.pk, bot.pk]
    html = response.content.decode()
    for text in (mask_token(workspace.user_token), mask_token(workspace.bot_token), 'name="revoke_bots"'):
        assert text in html
    assert "T0OTHER" not in html
    assert '<form method="post">' in html  # posts back to this page
    assert breadcrumbs(html) == ["Home", "Slack", "Slack installations", str(row), "Revoke at Slack"]
    assert f'href="{admin_url("slackinstallation", "change", row.pk)}"' in html
    assert_no_tokens(html, *tokens_of(workspace))
    assert slack.calls_to("auth.revoke") == []


def test_yes_revokes_that_row_and_goes_back_to_the_list(admin_client, workspace, install, slack):
    other = install(team_id="T0OTHER")
    register(slack, other)
    row, bot = row_of("slackinstallation"), row_of("slackbot")
    # The row is the URL's: another row's pk in the form (the action's field) is not revoked.
    data = {
        "post": "yes",
        "revoke_bots": "yes",
        "_selected_action": [SlackInstallation.objects.get(team_id="T0OTHER").pk],
    }
    response = admin_client.post(revoke_url(row), data, follow=True)

    assert response.redirect_chain == [(admin_url("slackinstallation"), 302)]
    assert sorted(call.token for call in slack.calls_to("auth.revoke")) == sorted(
        [workspace.user_token, workspace.bot_token]
    )
    assert not SlackInstallation.objects.filter(team_id="T0DETAIL").exists()
    assert not SlackBot.objects.filter(team_id="T0DETAIL").exists()
    assert SlackInstallation.objects.filter(team_id="T0OTHER").exists()
    assert reported(response) == [
        (messages.SUCCESS, f"Revoked at Slack and deleted Slack installation “{row}” (user token revoked)."),
        (messages.SUCCESS, f"Revoked at Slack and deleted Slack bot “{bot}” (bot token revoked)."),
    ]
    assert_no_tokens(response.content.decode(), *tokens_of(workspace, other))


def test_a_bot_from_its_page(admin_client, workspace, slack):
    bot = row_of("slackbot")
    response = admin_client.post(revoke_url(bot), {"post": "yes"}, follow=True)
    assert response.redirect_chain == [(admin_url("slackbot"), 302)]
    assert [call.token for call in slack.calls_to("auth.revoke")] == [workspace.bot_token]
    assert SlackInstallation.objects.filter(team_id="T0DETAIL").exists()
    assert not SlackBot.objects.exists()


def test_a_row_kept_shows_the_kept_page_and_where_slack_was_called(admin_client, workspace, slack):
    slack.add_error("auth.revoke", workspace.bot_token, "ratelimited", status=429)
    bot = row_of("slackbot")
    response = admin_client.post(revoke_url(bot), {"post": "yes"})

    assert response.status_code == 200
    assert "admin/django_slack_store/revoke_selected_kept.html" in [t.name for t in response.templates]
    assert SlackBot.objects.filter(pk=bot.pk).exists()
    failure = f"Slack bot “{bot}” was kept: could not revoke its bot token: Slack answered ratelimited."
    assert reported(response) == [
        (messages.ERROR, failure),
        (messages.WARNING, where_hint("auth.revoke", slack.base_url)),
    ]
    # Its "delete anyway" form posts to the list, as after the action.
    assert f'<form method="post" action="{admin_url("slackbot")}">' in response.content.decode()


def test_yes_needs_the_csrf_token(admin_user, workspace, slack):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(revoke_url(row_of("slackbot")), {"post": "yes"}).status_code == 403
    assert slack.calls_to("auth.revoke") == []


def test_a_row_gone_meanwhile(admin_client, workspace):
    bot = row_of("slackbot")
    bot.delete()
    response = admin_client.get(revoke_url(bot), follow=True)
    assert response.redirect_chain == [(admin_url("slackbot"), 302)]
    assert reported(response) == [
        (messages.WARNING, f"Slack bot with ID “{bot.pk}” doesn’t exist. Perhaps it was deleted?")
    ]


# -- breadcrumbs, empty values, help texts -------------------------------------------------------------------


def test_the_breadcrumbs_name_the_app_once(admin_client, workspace):
    row = row_of("slackinstallation")
    html = admin_client.get(admin_url("slackinstallation", "change", row.pk)).content.decode()
    assert breadcrumbs(html) == ["Home", "Slack", "Slack installations", str(row)]
    html = admin_client.get(admin_url("slackbot")).content.decode()
    assert breadcrumbs(html) == ["Home", "Slack", "Slack bots"]


def test_the_revoke_actions_pages_breadcrumbs(admin_client, workspace, slack):
    bot = row_of("slackbot")
    data = {"action": "revoke_selected", "_selected_action": [bot.pk], "index": 0}
    html = admin_client.post(admin_url("slackbot"), data).content.decode()
    assert breadcrumbs(html) == ["Home", "Slack", "Slack bots", "Revoke at Slack"]


def empty_looking(html: str) -> set[str]:
    """Read-only fields' and list cells' values (tags stripped) that are a dash of some kind, or nothing."""
    values = re.findall(r'<div class="readonly">(.*?)</div>', html, re.DOTALL)
    values += re.findall(r'<t[dh] class="field-[^"]*">(.*?)</t[dh]>', html, re.DOTALL)
    texts = {re.sub(r"<[^>]+>", "", value).strip() for value in values if "<img" not in value}
    return texts & {"", "-", "&#x2011;", "‑", "–", "—", "&nbsp;"}


@pytest.mark.parametrize("model", MODELS)
def test_every_empty_value_shows_one_sign(admin_client, install, model):
    # Django's own empty fields (enterprise name and URL, webhook, token type) and the app's (user token,
    # its expiry, scopes) alike.
    install(team_id="T0DETAIL", user_token=None, user_scopes=None, enterprise_name=None)
    row = row_of(model)
    detail = admin_client.get(admin_url(model, "change", row.pk)).content.decode()
    assert empty_looking(detail) == {EMPTY}
    org_wide = install(org_wide=True, user_token=None)
    assert org_wide.team_id is None
    install(team_id="T0NOBOT", bot_token=None)
    listed = admin_client.get(admin_url(model)).content.decode()
    # The lists' cells name what there is (an org-wide row's workspace cell: its org); the one empty cell is
    # the bot of the installation without one.
    assert empty_looking(listed) == ({EMPTY} if model == "slackinstallation" else set())


def test_help_explaining_an_empty_value_shows_only_under_one(admin_client, install):
    install(team_id="T0DETAIL")
    install(org_wide=True)
    for model in MODELS:
        workspace = admin_client.get(admin_url(model, "change", row_of(model).pk)).content.decode()
        assert "Empty: an org-wide install." not in workspace
        assert "Empty: not in an org." in workspace  # its enterprise id is empty
        org = MODELS[model].objects.get(enterprise_id="E0ORG")
        org_wide = admin_client.get(admin_url(model, "change", org.pk)).content.decode()
        assert "Empty: an org-wide install." in org_wide
        assert "Empty: not in an org." not in org_wide
        # Other help texts are left as they are.
        assert "When the store last wrote this row" in workspace


# -- the audit: Recent actions -------------------------------------------------------------------------------


def recent_actions(client) -> list[tuple[str, str]]:
    """The admin index's "Recent actions": each entry's class (its icon) and text."""
    html = client.get("/admin/").content.decode()
    [listing] = re.findall(r'<ul class="actionlist">(.*?)</ul>', html, re.DOTALL)
    entries = re.findall(r'<li class="([^"]*)">(.*?)</li>', listing, re.DOTALL)
    return [(css, " ".join(re.sub(r"<[^>]+>", " ", text).split())) for css, text in entries]


def test_recent_actions_show_a_revoke_that_deleted_as_a_deletion(admin_client, workspace, slack):
    bot = row_of("slackbot")
    admin_client.post(revoke_url(bot), {"post": "yes"})
    assert LogEntry.objects.get().action_flag == DELETION
    assert recent_actions(admin_client) == [("deletelink", f"Deleted: {bot} Slack bot")]


def test_recent_actions_do_not_show_a_revoke_that_kept_the_row_as_an_edit(admin_client, workspace, slack):
    slack.add_error("auth.revoke", workspace.bot_token, "fatal_error")
    bot = row_of("slackbot")
    admin_client.post(revoke_url(bot), {"post": "yes"})
    entry = LogEntry.objects.get()
    assert entry.action_flag == REVOKE_KEPT and not (entry.is_change() or entry.is_deletion())
    assert recent_actions(admin_client) == [("", f"{bot} Slack bot")]
    # The row's History has it, with what happened.
    history = admin_client.get(admin_url("slackbot", "history", bot.pk)).content.decode()
    assert f"Revoke failed: Slack bot “{bot}” was kept: could not revoke its bot token" in history


# -- where Slack was called ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base, called",
    [
        ("https://slack.com/api/", "https://slack.com/api/auth.revoke"),
        ("https://user:s3cr3t@proxy.example:8443/slack/api/?key=s3cr3t#x",
         "https://proxy.example:8443/slack/api/auth.revoke"),
        ("http://[::1]:8080/api/", "http://[::1]:8080/api/auth.revoke"),
        ("http://proxy.example/api", "http://proxy.example/auth.revoke"),  # as slack_sdk joins them
    ],
)  # fmt: skip
def test_the_url_called_is_shown_without_credentials(settings, base, called):
    settings.DJANGO_SLACK_STORE = {"SLACK_API_URL": base}
    assert slack_api.method_url("auth.revoke") == called
    assert "s3cr3t" not in slack_api.where_hint("auth.revoke")


def test_a_base_url_without_its_slash_is_pointed_out(settings):
    settings.DJANGO_SLACK_STORE = {"SLACK_API_URL": "http://proxy.example/api"}
    assert slack_api.where_hint("auth.revoke") == (
        "The calls to auth.revoke went to http://proxy.example/auth.revoke, from "
        'DJANGO_SLACK_STORE["SLACK_API_URL"] in your Django settings (now http://proxy.example/api): set it '
        "if your servers reach Slack's Web API at another address (through a proxy, say). It does not end "
        "with “/”, so its last segment is replaced by the method's name: add the “/”."
    )
