"""The demo's data (`manage.py demo_setup`) in this process's test database: every token health badge of the
admin, and tokens that are obviously fake and whose masks tell the rows apart."""

import time

import pytest
from django.core.management import call_command
from django.test import override_settings

from django_slack_store.masking import mask_token
from example_project.management.commands import demo_setup
from tests.support.admin import admin_url, assert_no_tokens, tokens_of

pytestmark = pytest.mark.django_db

TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token")


@pytest.fixture
def demo(settings):
    settings.SLACK_CLIENT_ID = "1111.2222"
    with override_settings(DEBUG=True):  # the command refuses to run without it
        call_command(demo_setup.Command(), stdout=open("/dev/null", "w"))  # noqa: SIM115
    return [installation for _, installation in demo_setup.demo_installations(time.time())]


@pytest.mark.parametrize(
    "model, badges",
    [
        ("slackinstallation", ["static", "rotating", "expiring", "expired", "none"]),
        ("slackbot", ["static", "rotating", "expiring", "expired"]),  # a bot row always has a token
    ],
)
def test_the_demo_shows_every_token_health_badge(admin_client, demo, model, badges):
    html = admin_client.get(admin_url(model)).content.decode()
    for badge in badges:
        assert f'class="dss-badge dss-{badge}"' in html
    assert_no_tokens(html, *tokens_of(*demo))


def test_the_demo_tokens_are_fake_and_their_masks_differ(demo):
    tokens = [token for token in tokens_of(*demo) if not token.startswith("https://")]
    assert all("-demo-not-a-real-token-" in token for token in tokens)
    for field in TOKEN_FIELDS:
        masks = [mask_token(getattr(i, field)) for i in demo if getattr(i, field)]
        assert len(set(masks)) == len(masks) >= 2, field
    # The masks show the owner's name: "xoxb-…acme".
    assert mask_token(demo[0].bot_token) == "xoxb-…acme"
