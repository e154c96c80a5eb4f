"""Every row the store holds renders in the admin, in any time zone: the most extreme values a save
accepts, and expiry times that saves of earlier releases accepted though no datetime holds them."""

import pytest
from django.db import connection
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.oauth.installation_store import Installation

from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.rows import MAX_TIMESTAMP
from django_slack_store.stores import DjangoInstallationStore
from tests.support.admin import admin_url, assert_no_tokens, tokens_of
from tests.support.store_api import CLIENT_ID
from tests.support.strategies import ALL_FIELDS, HYPOTHESIS, objects

pytestmark = pytest.mark.django_db

# UTC, the time zones furthest east and west of it, and one with a half-hour offset.
ZONES = ["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "Asia/Kolkata"]
MODELS = {"slackinstallation": SlackInstallation, "slackbot": SlackBot}


def zones():
    """ZONES the database can convert to: on MySQL and MariaDB, Django's date hierarchy needs the server's
    time zone tables in any zone but UTC (mysql_tzinfo_to_sql; CI's MariaDB has none)."""
    if connection.vendor != "mysql":
        return ZONES
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONVERT_TZ('2000-01-01', 'UTC', 'Asia/Kolkata') IS NOT NULL")
        return ZONES if cursor.fetchone()[0] else ["UTC"]


def get_every_page(client):
    """The HTML of both changelists and of every row's detail page, each answered 200."""
    urls = [admin_url(name) for name in MODELS]
    urls += [
        admin_url(name, "change", pk)
        for name, model in MODELS.items()
        for pk in model.objects.values_list("pk", flat=True)
    ]
    pages = []
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        pages.append(response.content.decode())
    return pages


@pytest.mark.parametrize(
    "expiry", [2**62, 2**63 - 1, -(2**63), 10**12], ids=["2**62", "max", "min", "year 33658"]
)
def test_an_expiry_no_datetime_holds_shows_as_not_a_valid_time(admin_client, install, expiry):
    """What saves accepted before they were limited to 1970-9999: shown as stored, never a 500."""
    installation = install(rotating=True)
    SlackInstallation.objects.update(user_token_expires_at=expiry)
    SlackBot.objects.update(bot_token_expires_at=expiry)
    *_, installation_page, bot_page = get_every_page(admin_client)
    for page in (installation_page, bot_page):
        assert f"{expiry} (not a valid time)" in page
        assert_no_tokens(page, *tokens_of(installation))


@pytest.mark.parametrize("zone", ZONES)
def test_the_first_and_last_instants_a_save_accepts_render_in_every_time_zone(admin_client, install, zone):
    if zone not in zones():
        pytest.skip("the database has no time zone tables")
    for instant in (0, MAX_TIMESTAMP):
        install(
            rotating=True,
            installed_at=float(instant),
            bot_token_expires_at=instant,
            user_token_expires_at=instant,
        )
    with override_settings(TIME_ZONE=zone):
        get_every_page(admin_client)


@HYPOTHESIS
@given(
    drawn=objects(Installation, ALL_FIELDS, max_hostile=0),
    data=st.data(),
    stored_before=st.none()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.sampled_from([-(2**63), -1, MAX_TIMESTAMP + 1, 2**62, 2**63 - 1]),
)
def test_every_row_renders_in_any_time_zone(admin_client, drawn, data, stored_before):
    """Rows saved with any values a save accepts (tests/test_hardening.py's valid values: longest names,
    any Unicode, deepest custom values, first and last instants...), and bot expiries of any 64-bit int."""
    installation, _ = drawn
    DjangoInstallationStore(CLIENT_ID).save(installation)
    try:
        if stored_before is not None:
            SlackBot.objects.update(bot_token_expires_at=stored_before)
        with override_settings(TIME_ZONE=data.draw(st.sampled_from(zones()), label="TIME_ZONE")):
            get_every_page(admin_client)
    finally:
        SlackInstallation.objects.all().delete()
        SlackBot.objects.all().delete()


@pytest.mark.parametrize("model", ["slackinstallation", "slackbot"])
@pytest.mark.parametrize(
    "drill_down",
    [
        {"installed_at__year": "9999"},
        {"installed_at__year": "9999", "installed_at__month": "12"},
        {"installed_at__year": "9999", "installed_at__month": "12", "installed_at__day": "31"},
        {"installed_at__year": "10000"},
    ],
)
def test_a_date_drill_down_past_what_a_datetime_holds_is_a_bad_parameter(
    admin_client, install, model, drill_down
):
    install()
    response = admin_client.get(admin_url(model), drill_down)
    assert response.status_code == 302 and response.url.endswith("?e=1")  # Django's "bad parameter" answer
