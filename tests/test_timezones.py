"""Instants round-trip exactly whatever the process zone, TIME_ZONE and USE_TZ.

slack_sdk's SQLAlchemy store shifts them by the local offset."""

import datetime
import os
import time

import pytest

from django_slack_store.models import SlackInstallation
from tests.support.factories import InstallationFactory, rotated

ZONES = ["UTC", "Asia/Tokyo", "America/New_York"]
UTC = datetime.timezone.utc


def instant(*args):
    return datetime.datetime(*args, tzinfo=UTC).timestamp()


INSTANTS = [
    1_700_000_000.123456,
    instant(2024, 3, 10, 2, 30, 0, 500001),  # as New York wall time: inside the spring-forward gap
    instant(2024, 3, 10, 7, 30, 0, 1),  # just after New York springs forward
    instant(2024, 11, 3, 1, 30, 0, 999999),  # as New York wall time: the repeated hour
    instant(2024, 11, 3, 5, 30, 0, 250000),  # 01:30 EDT, the first of New York's two 01:30s
    instant(2024, 11, 3, 6, 30, 0, 250000),  # 01:30 EST, the second
    instant(2038, 1, 19, 3, 14, 8, 7),  # past 32-bit time
]


@pytest.fixture(params=ZONES, ids=lambda zone: f"TZ={zone}")
def process_zone(request, settings):
    """The process's own zone, set after Django's (which points TZ at TIME_ZONE when settings change)."""
    yield request.param  # settings are applied by the test first; see zones()


@pytest.fixture
def zones(request, settings, process_zone):
    def apply(time_zone, use_tz):
        settings.TIME_ZONE = time_zone
        settings.USE_TZ = use_tz
        os.environ["TZ"] = process_zone
        time.tzset()

    yield apply
    os.environ["TZ"] = "UTC"
    time.tzset()


@pytest.mark.parametrize("use_tz", [True, False], ids=["USE_TZ", "no-USE_TZ"])
@pytest.mark.parametrize("time_zone", ZONES, ids=lambda zone: f"TIME_ZONE={zone}")
def test_instants_round_trip_exactly(api, zones, time_zone, use_tz):
    zones(time_zone, use_tz)
    for n, installed_at in enumerate(INSTANTS):
        installation = InstallationFactory(
            team_id=f"T0TZ{n}",
            installed_at=installed_at,
            rotating=True,
            bot_token_expires_at=int(installed_at) + 43200,
        )
        api.save(installation)
        found = api.find_installation(enterprise_id=None, team_id=installation.team_id)
        assert found.installed_at == installed_at
        assert found.bot_token_expires_at == installation.bot_token_expires_at
        assert found.user_token_expires_at == installation.user_token_expires_at
        assert api.find_bot(enterprise_id=None, team_id=installation.team_id).installed_at == installed_at
        # The model holds the same instant, so the admin shows the right time.
        row = SlackInstallation.objects.get(team_id=installation.team_id)
        assert row.installed_at == datetime.datetime.fromtimestamp(installed_at, UTC)

        # A rotated copy (installed_at through slack_sdk's datetime round trip) still finds its row.
        api.save(rotated(found, bot_token="xoxb-test-rotated"))
        assert SlackInstallation.objects.filter(team_id=installation.team_id).count() == 1
