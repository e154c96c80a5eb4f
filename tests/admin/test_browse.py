"""Browsing installations and bots in the admin: columns, search, filters, detail pages, read-only rules."""

import re
import time

import pytest
from django.contrib.admin import AdminSite
from django.contrib.admin.models import LogEntry
from django.contrib.admin.utils import flatten_fieldsets

from django_slack_store.admin import SlackBotAdmin, SlackInstallationAdmin, register_admin
from django_slack_store.fields import TokenField
from django_slack_store.masking import EMPTY, HIDDEN, mask_token, mask_url
from django_slack_store.models import SlackBot, SlackInstallation
from tests.support.admin import admin_url, assert_no_tokens, tokens_of
from tests.support.at_rest import set_raw_token
from tests.support.factories import rotated

pytestmark = pytest.mark.django_db

NOW = int(time.time())
HOUR = 3600


def listed(response) -> list[str]:
    """The team (or, org-wide, enterprise) ids on a changelist page, in display order."""
    assert response.status_code == 200
    return [row.team_id or row.enterprise_id for row in response.context["cl"].result_list]


def get(client, model, **params):
    return client.get(admin_url(model), params)


def cells(response, column) -> list[str]:
    """The text of a list column's cells, in display order, a cell's stacked lines joined by " | "."""
    html = response.content.decode()
    found = re.findall(rf'<t[dh] class="field-{column}[^"]*">(.*?)</t[dh]>', html, re.DOTALL)
    assert found, f"no column {column}"
    return [
        " | ".join(re.findall(r'<span class="dss-line[^"]*">(.*?)</span>', cell))
        or re.sub(r"<[^>]+>", "", cell)
        for cell in found
    ]


def column_number(model, name) -> int:
    """The `o=` number of a list column (the checkbox column is not counted)."""
    return {SlackInstallation: SlackInstallationAdmin, SlackBot: SlackBotAdmin}[model].list_display.index(
        name
    ) + 1


# -- masking ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token, masked",
    [
        ("xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp", "xoxb-…MnOp"),
        ("xoxp-1234567890-1234567890-1234567890-abcdef0123", "xoxp-…0123"),
        ("xoxe.xoxb-1-MS0yLTEyMzQ1Njc4OTAtYWJjZGVm", "xoxe.xoxb-…ZGVm"),
        ("xoxe-1-My0xLTEyMzQ1Njc4OTAtYWJjZGVmZ2g", "xoxe-…mZ2g"),
        ("no-dashes-but-long-enough-to-show", "no-…show"),
        ("abcdefghijklmnopqrstuvwxyz", "…wxyz"),
        ("THIS-IS-NOT-A-PREFIX-at-all-1234", "…1234"),
        ("xoxb-short", HIDDEN),
        ("", EMPTY),
        (None, EMPTY),
    ],
)
def test_tokens_are_masked_to_their_type_and_last_four_characters(token, masked):
    assert mask_token(token) == masked


def test_webhook_urls_are_masked_to_their_host():
    assert mask_url("https://hooks.slack.com/services/T0/B0/s3cr3tPart") == "https://hooks.slack.com/…Part"
    assert mask_url("short") == HIDDEN
    assert mask_url(None) == EMPTY


def test_no_token_column_is_ever_shown_or_searched():
    for model_admin, model in ((SlackInstallationAdmin, SlackInstallation), (SlackBotAdmin, SlackBot)):
        tokens = {field.name for field in model._meta.fields if isinstance(field, TokenField)}
        tokens.add("incoming_webhook_url")
        shown = set(model_admin.list_display) | set(model_admin.search_fields) | set(model_admin.list_filter)
        shown |= set(flatten_fieldsets(model_admin.fieldsets))
        assert not shown & tokens


# -- the changelists ---------------------------------------------------------------------------------------


@pytest.fixture
def health_zoo(install):
    """One installation per token health, with controlled expiry times (Unix time)."""
    return {
        "static": install(team_id="T0STATIC"),
        "rotating": install(team_id="T0ROTATING", rotating=True, bot_token_expires_at=NOW + 10 * HOUR,
                            user_token_expires_at=NOW + 11 * HOUR),
        "expiring": install(team_id="T0EXPIRING", user_token_expires_at=NOW + HOUR // 2,
                            user_refresh_token="xoxe-1-user-refresh-expiring-0001"),
        "expired": install(team_id="T0EXPIRED", rotating=True, bot_token_expires_at=NOW - 60),
        "none": install(team_id="T0NONE", bot_token=None, user_token=None, user_scopes=[]),
    }  # fmt: skip


def test_the_installation_changelist_answers_who_where_when_and_what_state(admin_client, health_zoo):
    response = get(admin_client, "slackinstallation")
    assert sorted(listed(response)) == sorted(i.team_id for i in health_zoo.values())
    html = response.content.decode()
    static = SlackInstallation.objects.get(team_id="T0STATIC")
    bot = SlackBot.objects.get(team_id="T0STATIC")
    for text in (
        'class="dss-badge dss-static"',
        'class="dss-badge dss-expired"',
        'class="dss-badge dss-none"',
        f'href="{admin_url("slackbot", "change", bot.pk)}"',  # the link to its bot
        "django_slack_store/admin.css",
    ):
        assert text in html
    assert_no_tokens(html, *tokens_of(*health_zoo.values()))
    assert response.context["cl"].date_hierarchy == "installed_at"
    row = listed(response).index("T0STATIC")
    assert cells(response, "workspace")[row] == "Team T0STATIC | T0STATIC"
    installed = cells(response, "installed")[row]
    assert installed.endswith(f" | by {static.user_id}") and str(static.installed_at.year) in installed
    assert cells(response, "scopes")[row] == "2 bot | 1 user"  # counts: the names are on the detail page
    # Sorted by health, worst first.
    health = column_number(SlackInstallation, "health_badge")
    assert listed(get(admin_client, "slackinstallation", o=f"-{health}"))[:2] == ["T0EXPIRED", "T0EXPIRING"]


def test_the_bot_changelist(admin_client, health_zoo):
    response = get(admin_client, "slackbot")
    assert sorted(listed(response)) == ["T0EXPIRED", "T0EXPIRING", "T0ROTATING", "T0STATIC"]
    html = response.content.decode()
    assert_no_tokens(html, *tokens_of(*health_zoo.values()))
    bot = SlackBot.objects.get(team_id="T0STATIC")
    row = listed(response).index("T0STATIC")
    assert cells(response, "bot")[row] == f"{bot.bot_user_id} | {bot.bot_id}"
    assert cells(response, "scopes")[row] == "2"
    installed, written = cells(response, "installed")[row].split(" | ")
    assert str(bot.installed_at.year) in installed and written.startswith("written ")
    health = column_number(SlackBot, "health_badge")
    assert listed(get(admin_client, "slackbot", o=f"-{health}"))[0] == "T0EXPIRED"


def test_the_workspace_cell_names_the_org_and_sorts_by_the_name_shown(admin_client, install):
    install(team_id="T0PLAIN", team_name="Beta")
    install(team_id="T0INORG", team_name="Gamma", enterprise_id="E0GRID", enterprise_name="Grid Co")
    install(org_wide=True)  # "Acme Org", no team
    for model in ("slackinstallation", "slackbot"):
        workspace = column_number(
            {"slackinstallation": SlackInstallation, "slackbot": SlackBot}[model], "workspace"
        )
        response = get(admin_client, model, o=str(workspace))
        assert listed(response) == ["E0ORG", "T0PLAIN", "T0INORG"]
        assert cells(response, "workspace") == [
            "Acme Org | E0ORG | org-wide install",
            "Beta | T0PLAIN",
            "Gamma | T0INORG | in Grid Co",
        ]
        assert listed(get(admin_client, model, o=f"-{workspace}")) == ["T0INORG", "T0PLAIN", "E0ORG"]


def test_every_sortable_list_column_sorts(admin_client, install):
    """The columns that replaced the model's fields still sort by them."""
    first = install(team_id="T0FIRST", installed_at=float(NOW - 2 * HOUR))
    second = install(team_id="T0SECOND", installed_at=float(NOW - HOUR))
    assert first.bot_user_id < second.bot_user_id  # so that the bot column sorts them the same way
    for model, name in [(SlackInstallation, "installed"), (SlackBot, "installed"), (SlackBot, "bot")]:
        url = model._meta.model_name
        number = column_number(model, name)
        ascending, descending = (
            listed(get(admin_client, url, o=str(number))),
            listed(get(admin_client, url, o=f"-{number}")),
        )
        assert ascending == ["T0FIRST", "T0SECOND"] and descending == ["T0SECOND", "T0FIRST"], name


@pytest.mark.parametrize(
    "model, health, teams",
    [
        ("slackinstallation", "static", ["T0STATIC"]),
        ("slackinstallation", "rotating", ["T0ROTATING"]),
        ("slackinstallation", "expiring", ["T0EXPIRING"]),  # its user token; the bot is static
        ("slackinstallation", "expired", ["T0EXPIRED"]),
        ("slackinstallation", "none", ["T0NONE"]),
        ("slackbot", "static", ["T0EXPIRING", "T0STATIC"]),
        ("slackbot", "rotating", ["T0ROTATING"]),
        ("slackbot", "expiring", []),
        ("slackbot", "expired", ["T0EXPIRED"]),
    ],
)
def test_the_token_health_filter(admin_client, health_zoo, model, health, teams):
    assert sorted(listed(get(admin_client, model, health=health))) == teams


def test_the_rotation_window_is_a_setting(admin_client, health_zoo, settings):
    settings.DJANGO_SLACK_STORE = {"ROTATION_WINDOW_MINUTES": 10}
    assert listed(get(admin_client, "slackinstallation", health="expiring")) == []
    assert "T0EXPIRING" in listed(get(admin_client, "slackinstallation", health="rotating"))
    assert "expiring (within 10 min)" in get(admin_client, "slackinstallation").content.decode()


ALL_BUT_NONE = ["T0EXPIRED", "T0EXPIRING", "T0ROTATING", "T0STATIC"]


@pytest.mark.parametrize(
    "model, params, teams",
    [
        ("slackinstallation", {"rotation": "yes"}, ["T0EXPIRED", "T0EXPIRING", "T0ROTATING"]),
        ("slackinstallation", {"rotation": "no"}, ["T0NONE", "T0STATIC"]),
        ("slackbot", {"rotation": "yes"}, ["T0EXPIRED", "T0ROTATING"]),
        ("slackbot", {"rotation": "no"}, ["T0EXPIRING", "T0STATIC"]),
        ("slackinstallation", {"has_bot": "no"}, ["T0NONE"]),
        ("slackinstallation", {"has_bot": "yes"}, ALL_BUT_NONE),
        ("slackinstallation", {"has_user_token": "no"}, ["T0NONE"]),
        ("slackinstallation", {"has_user_token": "yes"}, ALL_BUT_NONE),
        ("slackinstallation", {"health": "bogus"}, sorted([*ALL_BUT_NONE, "T0NONE"])),
    ],
)
def test_the_rotation_and_token_filters(admin_client, health_zoo, model, params, teams):
    assert sorted(listed(get(admin_client, model, **params))) == teams


def test_an_empty_user_token_counts_as_none(admin_client, install):
    install(team_id="T0EMPTY", user_token="")
    assert listed(get(admin_client, "slackinstallation", has_user_token="no")) == ["T0EMPTY"]


def test_the_org_wide_filter(admin_client, install):
    install(team_id="T0WORKSPACE")
    install(org_wide=True)
    for model in ("slackinstallation", "slackbot"):
        assert listed(get(admin_client, model, is_enterprise_install__exact=1)) == ["E0ORG"]
        assert listed(get(admin_client, model, is_enterprise_install__exact=0)) == ["T0WORKSPACE"]


def test_latest_per_workspace_is_what_the_store_serves(admin_client, install, store):
    first = install(team_id="T0TWICE", user_id="U0FIRST")
    second = install(team_id="T0TWICE", user_id="U0SECOND")
    install(team_id="T0ONCE")
    # Bolt rotates the bot the store serves; here the first install's, which makes it the one served.
    store.save_bot(rotated(first.to_bot(), bot_token="xoxb-rotated-first-bot-0001"))

    assert len(listed(get(admin_client, "slackinstallation"))) == 3
    latest = get(admin_client, "slackinstallation", latest="yes").context["cl"].result_list
    assert sorted(row.team_id for row in latest) == ["T0ONCE", "T0TWICE"]
    assert {row.team_id: row.user_id for row in latest}["T0TWICE"] == second.user_id
    served = store.find_installation(enterprise_id=None, team_id="T0TWICE")
    assert served.user_id == second.user_id

    bots = get(admin_client, "slackbot", latest="yes").context["cl"].result_list
    bot_of = {row.team_id: row for row in bots}
    assert len(bots) == 2
    assert bot_of["T0TWICE"].installed_at.timestamp() == pytest.approx(first.installed_at)
    assert store.find_bot(enterprise_id=None, team_id="T0TWICE").bot_token == "xoxb-rotated-first-bot-0001"


def test_facets_count_every_filter_choice(admin_client, health_zoo):
    response = get(admin_client, "slackinstallation", _facets="True")
    assert response.context["cl"].add_facets
    html = response.content.decode()
    for choice in ("Latest per workspace (5)", "expired (1)", "static (1)", "On (tokens expire) (3)"):
        assert choice in html
    assert "expired (1)" in get(admin_client, "slackbot", _facets="True").content.decode()


def test_the_date_hierarchy(admin_client, install):
    install(team_id="T0DATED")  # installed in November 2023 (tests/support/factories.py BASE_TIME)
    assert listed(get(admin_client, "slackinstallation", installed_at__year=2023)) == ["T0DATED"]
    assert listed(get(admin_client, "slackinstallation", installed_at__year=2024)) == []
    assert listed(get(admin_client, "slackbot", installed_at__year=2023, installed_at__month=11)) == [
        "T0DATED"
    ]


# -- search: ids and names, never tokens -------------------------------------------------------------------


@pytest.fixture
def searchable(install):
    install(team_id="T0OTHER", team_name="Other", user_id="U0OTHER")
    return install(
        team_id="T0FIND",
        team_name="Findable Team",
        enterprise_id="E0FIND",
        enterprise_name="Findable Org",
        user_id="U0FIND",
        bot_id="B0FIND",
        bot_user_id="U0FINDBOT",
    )


@pytest.mark.parametrize(
    "model, term",
    [
        ("slackinstallation", "T0FIND"),
        ("slackinstallation", "t0find"),  # ids are upper case; any case finds them on every database
        ("slackinstallation", "findable team"),
        ("slackinstallation", "E0FIND"),
        ("slackinstallation", "Findable Org"),
        ("slackinstallation", "U0FIND"),
        ("slackbot", "T0FIND"),
        ("slackbot", "Findable Team"),
        ("slackbot", "E0FIND"),
        ("slackbot", "findable org"),
        ("slackbot", "B0FIND"),
        ("slackbot", "u0findbot"),
    ],
)
def test_every_search_field(admin_client, searchable, model, term):
    assert listed(get(admin_client, model, q=term)) == ["T0FIND"]


def test_tokens_are_not_searchable(admin_client, searchable):
    for token in (searchable.bot_token, searchable.user_token):
        for model in ("slackinstallation", "slackbot"):
            assert listed(get(admin_client, model, q=token)) == []


# -- detail pages: read-only, tokens masked ----------------------------------------------------------------


def test_the_installation_detail_page(admin_client, install):
    installation = install(complete=True, team_id="T0DETAIL")
    row = SlackInstallation.objects.get(team_id="T0DETAIL")
    bot = SlackBot.objects.get(team_id="T0DETAIL")
    response = admin_client.get(admin_url("slackinstallation", "change", row.pk))
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        mask_token(installation.user_token),
        mask_token(installation.user_refresh_token),
        mask_url(installation.incoming_webhook_url),
        '<pre class="dss-json">{\n  &quot;nested&quot;: {\n    &quot;x&quot;: null\n  },',  # pretty-printed
        "#général",
        f'href="{admin_url("slackbot", "change", bot.pk)}"',
        "Grid Co",
        'class="dss-badge dss-',
    ):
        assert text in html
    assert_no_tokens(html, *tokens_of(installation))
    assert 'name="_save"' not in html  # view-only


def test_the_bot_detail_page(admin_client, install):
    installation = install(rotating=True, team_id="T0DETAIL")
    install(team_id="T0ELSEWHERE")
    bot = SlackBot.objects.get(team_id="T0DETAIL")
    html = admin_client.get(admin_url("slackbot", "change", bot.pk)).content.decode()
    assert mask_token(installation.bot_token) in html and mask_token(installation.bot_refresh_token) in html
    assert_no_tokens(html, *tokens_of(installation))
    # A link to the workspace's installations (and from there, back to its bots).
    [link] = re.findall(r'href="([^"]*)">Every installation of this workspace', html)
    assert listed(admin_client.get(link.replace("&amp;", "&"))) == ["T0DETAIL"]


def test_rows_cannot_be_added_changed_or_deleted(admin_client, install):
    install(team_id="T0RO")
    for model in ("slackinstallation", "slackbot"):
        pk = (SlackInstallation if model == "slackinstallation" else SlackBot).objects.get().pk
        changelist = get(admin_client, model)
        assert not changelist.context["has_add_permission"]
        assert "delete_selected" not in dict(changelist.context["action_form"].fields["action"].choices)
        assert admin_client.get(admin_url(model, "add")).status_code == 403
        assert admin_client.get(admin_url(model, "delete", pk)).status_code == 403
        assert admin_client.post(admin_url(model, "delete", pk), {"post": "yes"}).status_code == 403
        assert admin_client.post(admin_url(model, "change", pk), {"team_name": "Renamed"}).status_code == 403
    assert SlackInstallation.objects.get().team_name == "Team T0RO"
    assert not LogEntry.objects.exists()


def test_a_token_no_key_decrypts_does_not_break_the_pages(admin_client, install, settings):
    from django_slack_store.crypto import generate_key

    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [generate_key()]}
    installation = install(team_id="T0LOCKED")
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [generate_key()]}  # the key it was written with is gone
    assert listed(get(admin_client, "slackinstallation")) == ["T0LOCKED"]
    row = SlackInstallation.objects.defer("user_token", "user_refresh_token").get()
    html = admin_client.get(admin_url("slackinstallation", "change", row.pk)).content.decode()
    assert "cannot be decrypted" in html
    assert_no_tokens(html, *tokens_of(installation))


def test_a_planted_webhook_url_is_refused_and_does_not_break_the_pages(admin_client, install):
    installation = install(team_id="T0PLANTED", complete=True)
    row = SlackInstallation.objects.get()
    planted = "https://hooks.slack.com/services/T0PLANTED/B0/planted-by-a-database-writer"
    set_raw_token(SlackInstallation, row.pk, "incoming_webhook_url", planted)
    html = admin_client.get(admin_url("slackinstallation", "change", row.pk)).content.decode()
    assert "refused: not bound to this row" in html
    assert "planted-by-a-database-writer" not in html
    assert_no_tokens(html, *tokens_of(installation))


# -- ADMIN_ENABLED ---------------------------------------------------------------------------------------


def test_the_default_site_has_both_admins():
    from django.contrib import admin

    assert admin.site.is_registered(SlackInstallation) and admin.site.is_registered(SlackBot)


def test_admin_enabled_false_registers_nothing(settings):
    settings.DJANGO_SLACK_STORE = {"ADMIN_ENABLED": False}
    site = AdminSite(name="other")
    assert register_admin(site) is False
    assert not site.is_registered(SlackInstallation) and not site.is_registered(SlackBot)


def test_register_admin_on_a_site_of_your_own():
    site = AdminSite(name="other")
    assert register_admin(site) is True
    assert isinstance(site.get_model_admin(SlackInstallation), SlackInstallationAdmin)
    assert isinstance(site.get_model_admin(SlackBot), SlackBotAdmin)
