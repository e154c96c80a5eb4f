"""The hot path's statements use the indexes made for them (PostgreSQL's plans), so a find stays fast at any
table size: no sequential scan, no sort; the latest row is read straight off an index."""

import datetime
import json

import pytest
from django.db import connection

from django_slack_store import statements
from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.rows import BOT_FIELDS
from tests.support.factories import BASE_TIME
from tests.support.store_api import CLIENT_ID

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's query plans")

TEAMS = 2000


@pytest.fixture
def history(db):
    """TEAMS workspaces with three installs each (two users), a bot each, and statistics about them."""
    installations, bots = [], []
    for number in range(TEAMS):
        for install in range(3):
            instant = datetime.datetime.fromtimestamp(BASE_TIME + install, datetime.timezone.utc)
            common = dict(
                client_id=CLIENT_ID, team_id=f"T{number:07d}", installed_at=instant, updated_at=instant
            )
            installations.append(SlackInstallation(user_id=f"U{install % 2}", user_token="xoxp-x", **common))
            bots.append(SlackBot(bot_token="xoxb-x", bot_id="B1", **common))
    SlackInstallation.objects.bulk_create(installations, batch_size=2000)
    SlackBot.objects.bulk_create(bots, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {SlackInstallation._meta.db_table}")
        cursor.execute(f"ANALYZE {SlackBot._meta.db_table}")


def plan_nodes(statement, params):
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement.sql, params)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    pending, nodes = [plan[0]["Plan"]], []
    while pending:
        node = pending.pop()
        nodes.append(node)
        pending.extend(node.get("Plans", []))
    return nodes


def assert_index_only_access(nodes, expected_indexes):
    kinds = {node["Node Type"] for node in nodes}
    assert "Seq Scan" not in kinds and "Sort" not in kinds, kinds
    assert {node.get("Index Name") for node in nodes} >= expected_indexes


@pytest.mark.parametrize("user_id", [None, "U1"])
def test_find_installation_reads_the_latest_rows_off_indexes(history, user_id):
    key = [CLIENT_ID, "", f"T{TEAMS // 2:07d}"]
    statement = statements.installation_statement(
        SlackInstallation, SlackBot, BOT_FIELDS, connection.alias, by_user=bool(user_id)
    )
    params = key + key + ([user_id] if user_id else [])
    installation_index = "dss_installation_identity" if user_id else "dss_installation_latest"
    assert_index_only_access(plan_nodes(statement, params), {installation_index, "dss_bot_live"})


def test_find_bot_reads_the_served_bot_off_its_index(history):
    statement = statements.bot_statement(SlackBot, connection.alias)
    assert_index_only_access(plan_nodes(statement, [CLIENT_ID, "", "T0000001"]), {"dss_bot_live"})
