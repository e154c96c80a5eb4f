"""What a changelist filters and searches by: what the admin offers, nothing else.

Django allows any lookup on a model's own fields in the changelist's query string, which made
`?incoming_webhook_url__startswith=...` a prefix oracle for a view-only user: the row count told whether the
guess was right, one character at a time.
"""

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib.admin.views.main import IGNORED_PARAMS

from django_slack_store.admin import SlackBotAdmin, SlackInstallationAdmin
from django_slack_store.models import SlackBot, SlackInstallation
from tests.support.admin import admin_url, assert_no_tokens, tokens_of

pytestmark = pytest.mark.django_db

MODELS = {"slackinstallation": SlackInstallation, "slackbot": SlackBot}
WORKSPACE = {"client_id", "enterprise_id", "team_id"}  # the links from a row to its workspace's rows
DATES = {"installed_at__year", "installed_at__month", "installed_at__day"}
ORG_WIDE = {"is_enterprise_install__exact", "is_enterprise_install__isnull"}
OFFERED = {
    "slackinstallation": {"latest", "rotation", "health", "has_bot", "has_user_token"} | ORG_WIDE,
    "slackbot": {"latest", "rotation", "health"} | ORG_WIDE,
}
LOOKUPS = ("", "exact", "startswith", "contains", "regex", "gt", "isnull")
WEBHOOK_URL = "https://hooks.example.test/services/T0/B0/fake"


def refused_lookups():
    """Every field of both models with each of LOOKUPS (none: a plain `field=value`), but those offered."""
    for model_name, model in MODELS.items():
        offered = OFFERED[model_name] | WORKSPACE | DATES
        for field in ["pk", *(field.name for field in model._meta.concrete_fields)]:
            for lookup in LOOKUPS:
                param = f"{field}__{lookup}" if lookup else field
                if param not in offered:
                    yield pytest.param(model_name, param, id=f"{model_name}-{param}")


@pytest.fixture
def secret(install):
    """An installation with every column set: tokens, refresh tokens, webhook URL, custom values."""
    return install(complete=True, team_id="T0SECRET", custom_values={"api_key": "sk-live-4f7a9c2e1b"})


@pytest.fixture
def viewer(staff_client, secret):
    """A staff user who may only view both models."""
    return staff_client("view_slackinstallation", "view_slackbot")


def answer(response) -> tuple[int, bytes]:
    return response.status_code, response.content


@pytest.mark.parametrize("model, param", list(refused_lookups()))
def test_every_lookup_the_admin_does_not_offer_is_refused(viewer, model, param):
    row = MODELS[model].objects.get()
    value = getattr(row, param.split("__")[0])  # a value the lookup would match, were it allowed
    matching, missing = (viewer.get(admin_url(model), {param: guess}) for guess in (value, "no such value"))
    # Refused the same way whatever the value: nothing to learn from the answer.
    assert answer(matching) == answer(missing)
    assert matching.status_code == 400


def test_the_webhook_url_is_no_prefix_oracle(viewer):
    def guess(prefix):
        params = {"incoming_webhook_url__startswith": prefix}
        return answer(viewer.get(admin_url("slackinstallation"), params))

    assert guess(WEBHOOK_URL[:9]) == guess("http://x") == guess("")
    assert guess(WEBHOOK_URL[:9])[0] == 400


def test_the_offered_lookups_are_exactly_those_of_the_filters_dates_and_workspace_links(rf, admin_user):
    request = rf.get("/")
    request.user = admin_user
    admins = {"slackinstallation": SlackInstallationAdmin, "slackbot": SlackBotAdmin}
    for model_name, admin_class in admins.items():
        model_admin = admin_class(MODELS[model_name], None)
        assert model_admin.offered_lookups(request) == OFFERED[model_name] | DATES | WORKSPACE


def links(html) -> list[str]:
    """The changelist's links to itself with a query string (filters, date hierarchy, sorting, pages)."""
    return [href.replace("&amp;", "&") for href in re.findall(r'href="(\?[^"]*)"', html)]


def filters(link) -> set[str]:
    return {name for name, _ in parse_qsl(urlsplit(link).query, keep_blank_values=True)} - set(IGNORED_PARAMS)


@pytest.mark.parametrize("model", MODELS)
def test_the_changelists_own_links_keep_working_for_a_viewer(viewer, secret, model):
    url = admin_url(model)
    seen = set()
    for link in links(viewer.get(url, {"_facets": "1"}).content.decode()):
        response = viewer.get(url + link)
        assert response.status_code == 200, link
        assert_no_tokens(response.content.decode(), *tokens_of(secret))
        seen |= filters(link)
    # Every filter choice and the date hierarchy down to the day (one row: it opens at its month).
    assert seen == OFFERED[model] - {"is_enterprise_install__isnull"} | DATES


OTHER = {"slackinstallation": "slackbot", "slackbot": "slackinstallation"}


@pytest.mark.parametrize("model, other", OTHER.items())
def test_the_workspace_links_keep_working_for_a_viewer(viewer, model, other):
    row = MODELS[model].objects.get()
    html = viewer.get(admin_url(model, "change", row.pk)).content.decode()
    [link] = re.findall(rf'href="({re.escape(admin_url(other))}\?[^"]*)"', html)
    assert filters(link.replace("&amp;", "&")) == WORKSPACE
    response = viewer.get(link.replace("&amp;", "&"))
    assert [found.team_id for found in response.context["cl"].result_list] == ["T0SECRET"]


# -- the search: ids and names only ------------------------------------------------------------------------

# Columns that are neither secret nor free-form: what the search may look in. Not searched: the tokens and
# refresh tokens, the incoming webhook URL (a credential) and custom_values (an app may keep anything there).
ID_AND_NAME_FIELDS = {
    "team_id",
    "team_name",
    "enterprise_id",
    "enterprise_name",
    "user_id",
    "bot_id",
    "bot_user_id",
}


def test_only_ids_and_names_are_searched():
    for admin_class in (SlackInstallationAdmin, SlackBotAdmin):
        assert set(admin_class.search_fields) <= ID_AND_NAME_FIELDS


@pytest.mark.parametrize("model", MODELS)
def test_searching_never_matches_a_secret(viewer, secret, model):
    fragments = [part for value in tokens_of(secret) for part in (value, value[5:-4], value[-8:])]
    fragments += ["sk-live-4f7a9c2e1b", "api_key", "hooks.example.test"]
    for fragment in fragments:
        response = viewer.get(admin_url(model), {"q": fragment})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [], fragment
