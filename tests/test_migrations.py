from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from django_slack_store.crypto import FERNET_PREFIX, PREFIX, TokenDecryptionError
from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support.at_rest import (
    NEW_KEY,
    OTHER_KEY,
    open_unbound,
    raw_rows,
    raw_tokens,
    set_raw_token,
    unbound_with,
)
from tests.support.factories import InstallationFactory
from tests.support.store_api import CLIENT_ID


@pytest.mark.django_db
def test_models_and_migrations_agree():
    """`makemigrations --check` is clean: the app sets its own default_auto_field."""
    out = StringIO()
    call_command("makemigrations", "django_slack_store", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def migrate(target):
    call_command("migrate", "django_slack_store", target, verbosity=0)


def stored(model, column, pk):
    return next(row[column] for row in raw_rows(model) if row["id"] == str(pk))


@pytest.mark.django_db(transaction=True)
def test_0005_binds_every_secret_and_its_reverse_gives_the_release_before_its_own_form(settings):
    """Forward: every secret of the release before (tokens `aesgcm:`, webhook URLs in plaintext, and the
    older `fernet:` and plaintext tokens) is bound to its row; a value no key opens is left as it is. Back:
    tokens unbound again and webhook URLs in plaintext, as that release reads them."""
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY]}
    store = DjangoInstallationStore(client_id=CLIENT_ID)
    installations = [InstallationFactory(complete=True, rotating=True) for _ in range(3)]
    for installation in installations:
        store.save(installation)
    (one, two, three), (bot_one, bot_two, bot_three) = raw_tokens(SlackInstallation), raw_tokens(SlackBot)

    try:
        migrate("0004")
        for pk, installation in zip((one, two, three), installations, strict=True):
            assert stored(SlackInstallation, "incoming_webhook_url", pk) == installation.incoming_webhook_url
            assert (
                open_unbound(NEW_KEY, stored(SlackInstallation, "user_token", pk)) == installation.user_token
            )
        for pk, installation in zip((bot_one, bot_two, bot_three), installations, strict=True):
            assert open_unbound(NEW_KEY, stored(SlackBot, "bot_token", pk)) == installation.bot_token
        # Older forms the release before still read, and a value of a key since removed.
        set_raw_token(SlackBot, bot_two, "bot_token", installations[1].bot_token)
        fernet = FERNET_PREFIX + Fernet(NEW_KEY).encrypt(installations[1].bot_refresh_token.encode()).decode()
        set_raw_token(SlackBot, bot_two, "bot_refresh_token", fernet)
        lost = unbound_with(OTHER_KEY, "xoxe-of-a-removed-key")
        set_raw_token(SlackInstallation, three, "user_refresh_token", lost)

        migrate("0005")
        for model in (SlackInstallation, SlackBot):
            for values in raw_tokens(model).values():
                assert all(value.startswith(PREFIX) for value in values if value and value != lost)
        assert stored(SlackInstallation, "user_refresh_token", three) == lost
        assert "hooks.example.test" not in repr(raw_rows(SlackInstallation))
        for installation in installations[:2]:  # read with unbound values refused: all bound
            found = store.find_installation(
                enterprise_id=installation.enterprise_id, team_id=installation.team_id
            )
            assert vars(found) == vars(installation)
        with pytest.raises(TokenDecryptionError, match=f"user_refresh_token of row pk={three}"):
            store.find_installation(
                enterprise_id=installations[2].enterprise_id, team_id=installations[2].team_id
            )

        migrate("0004")
        assert stored(SlackInstallation, "incoming_webhook_url", two) == installations[1].incoming_webhook_url
        assert open_unbound(NEW_KEY, stored(SlackBot, "bot_token", bot_two)) == installations[1].bot_token
        assert open_unbound(NEW_KEY, stored(SlackBot, "bot_refresh_token", bot_two)) == (
            installations[1].bot_refresh_token
        )
        assert stored(SlackInstallation, "user_refresh_token", three) == lost
    finally:
        migrate("0005")
