"""factory-boy factories for slack_sdk's Installation and Bot, with made-up, obviously fake tokens."""

import factory
from slack_sdk.oauth.installation_store import Bot, Installation

# A fixed instant with microseconds, so exact round trips are really tested.
BASE_TIME = 1_700_000_000.123456


def _org_wide(**more):
    """An Enterprise Grid org-wide install: keyed by the enterprise alone."""
    return factory.Trait(
        enterprise_id="E0ORG",
        enterprise_name="Acme Org",
        team_id=None,
        team_name=None,
        is_enterprise_install=True,
        **more,
    )


def _bot_rotation():
    """Token rotation enabled for the bot: a refresh token and an expiry time."""
    return {
        "bot_refresh_token": factory.Sequence(lambda n: f"xoxe-test-bot-refresh-{n}"),
        "bot_token_expires_at": factory.Sequence(lambda n: 1_700_043_200 + n),
    }


class InstallationFactory(factory.Factory):
    class Meta:
        model = Installation

    class Params:
        org_wide = _org_wide(enterprise_url="https://acme.enterprise.slack.com/")
        # Token rotation enabled: refresh tokens and expiry times.
        rotating = factory.Trait(
            **_bot_rotation(),
            user_refresh_token=factory.Sequence(lambda n: f"xoxe-test-user-refresh-{n}"),
            user_token_expires_at=factory.Sequence(lambda n: 1_700_043_300 + n),
        )
        # Every optional field set, for round-trip tests.
        complete = factory.Trait(
            rotating=True,
            enterprise_id="E0GRID",
            enterprise_name="Grid Co",
            enterprise_url="https://grid.enterprise.slack.com/",
            incoming_webhook_url="https://hooks.example.test/services/T0/B0/fake",
            incoming_webhook_channel="#général",
            incoming_webhook_channel_id="C0HOOK",
            incoming_webhook_configuration_url="https://example.test/services/B0",
            token_type="bot",
            custom_values={
                "plan": "pro",
                "seats": 42,
                "ratio": 0.25,
                "tags": ["a", "b"],
                "nested": {"x": None},
            },
        )

    app_id = "A0TESTAPP"
    enterprise_id = None
    team_id = factory.Sequence(lambda n: f"T{n:06d}")
    team_name = factory.LazyAttribute(lambda o: f"Team {o.team_id}")
    bot_token = factory.Sequence(lambda n: f"xoxb-test-bot-token-{n}")
    bot_id = factory.Sequence(lambda n: f"B{n:06d}")
    bot_user_id = factory.Sequence(lambda n: f"UB{n:05d}")
    bot_scopes = factory.LazyFunction(lambda: ["app_mentions:read", "chat:write"])
    user_id = factory.Sequence(lambda n: f"U{n:06d}")
    user_token = factory.Sequence(lambda n: f"xoxp-test-user-token-{n}")
    user_scopes = factory.LazyFunction(lambda: ["search:read"])
    installed_at = factory.Sequence(lambda n: BASE_TIME + n)


class BotFactory(factory.Factory):
    class Meta:
        model = Bot

    class Params:
        org_wide = _org_wide()
        rotating = factory.Trait(**_bot_rotation())

    app_id = "A0TESTAPP"
    enterprise_id = None
    team_id = factory.Sequence(lambda n: f"T{n:06d}")
    team_name = factory.LazyAttribute(lambda o: f"Team {o.team_id}")
    bot_token = factory.Sequence(lambda n: f"xoxb-test-bot-token-b{n}")
    bot_id = factory.Sequence(lambda n: f"B{n:06d}")
    bot_user_id = factory.Sequence(lambda n: f"UB{n:05d}")
    bot_scopes = factory.LazyFunction(lambda: ["chat:write"])
    installed_at = factory.Sequence(lambda n: BASE_TIME + n)


def rotated(installation_or_bot, **changes):
    """A copy as Bolt's token rotator saves it: the same identity (installed_at included), new values."""
    return type(installation_or_bot)(**{**installation_or_bot.to_dict_for_copying(), **changes})
