"""`manage.py slack_store_rotate_keys`: re-encrypts with the first key, in batches, resumably."""

from io import StringIO

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from django_slack_store.crypto import FERNET_PREFIX, PREFIX, TokenDecryptionError
from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.stores import DjangoInstallationStore
from tests.support.at_rest import (
    NEW_KEY,
    OLD_KEY,
    OTHER_KEY,
    TOKEN_COLUMNS,
    decrypt_with,
    raw_rows,
    raw_tokens,
    set_raw_token,
    unbound_with,
)
from tests.support.factories import InstallationFactory
from tests.support.store_api import CLIENT_ID

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return DjangoInstallationStore(client_id=CLIENT_ID)


def rotate(*args):
    out = StringIO()
    call_command("slack_store_rotate_keys", *args, stdout=out)
    return out.getvalue().splitlines()


def save_installations(store, count, **kwargs):
    installations = [InstallationFactory(rotating=True, **kwargs) for _ in range(count)]
    for installation in installations:
        store.save(installation)
    return installations


def found(store, installation):
    return vars(
        store.find_installation(enterprise_id=installation.enterprise_id, team_id=installation.team_id)
    )


def stored_text():
    """Every row of both token tables as one text."""
    return repr([raw_rows(model) for model in TOKEN_COLUMNS])


def encrypted_with(key, *models):
    """Whether every stored token of the models (both, by default) decrypts with `key` alone."""
    for model in models or TOKEN_COLUMNS:
        for pk, values in raw_tokens(model).items():
            for column, value in zip(TOKEN_COLUMNS[model], values, strict=True):
                try:
                    if value:
                        decrypt_with(key, value, model, column, pk)
                except InvalidTag:
                    return False
    return True


def test_rows_written_under_the_old_key_stay_readable_once_it_is_removed(store, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    installations = save_installations(store, 5)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY, OLD_KEY]}

    output = rotate("--batch-size", "2")

    assert output == [
        "SlackInstallation: batch 1: 2 row(s) checked, 2 re-encrypted",
        "SlackInstallation: batch 2: 2 row(s) checked, 2 re-encrypted",
        "SlackInstallation: batch 3: 1 row(s) checked, 1 re-encrypted",
        "SlackBot: batch 1: 2 row(s) checked, 2 re-encrypted",
        "SlackBot: batch 2: 2 row(s) checked, 2 re-encrypted",
        "SlackBot: batch 3: 1 row(s) checked, 1 re-encrypted",
        "10 row(s) re-encrypted.",
    ]
    assert encrypted_with(NEW_KEY)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY]}
    for installation in installations:
        assert found(store, installation) == vars(installation)
    assert rotate()[-1] == "0 row(s) re-encrypted."  # nothing left to do


def test_rotation_moves_no_row_and_changes_nothing_else(store, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    save_installations(store, 3)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY, OLD_KEY]}

    def other_columns():
        return [
            {name: value for name, value in row.items() if name not in TOKEN_COLUMNS[model]}
            for model in TOKEN_COLUMNS
            for row in raw_rows(model)
        ]

    before = other_columns()
    rotate()
    assert other_columns() == before  # updated_at included: it decides which bot is served


def test_an_interrupted_rotation_resumes_where_it_stopped(store, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    installations = save_installations(store, 5)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY, OLD_KEY]}

    batches = SlackInstallation.objects.reencrypt_tokens(batch_size=2)
    assert next(batches) == (2, 2)
    batches.close()  # interrupted after the first batch committed
    for installation in installations:  # half rotated: everything readable
        assert found(store, installation) == vars(installation)

    assert rotate("--batch-size", "2")[:3] == [
        "SlackInstallation: batch 1: 2 row(s) checked, 0 re-encrypted",
        "SlackInstallation: batch 2: 2 row(s) checked, 2 re-encrypted",
        "SlackInstallation: batch 3: 1 row(s) checked, 1 re-encrypted",
    ]
    assert encrypted_with(NEW_KEY)


def test_plaintext_rows_from_before_encryption_get_encrypted(store, settings):
    installations = save_installations(store, 3)
    installations[0].bot_refresh_token = None  # a column left empty stays empty
    store.save(installations[0])
    # As the version without encryption wrote them: the tokens in plaintext.
    for model, columns in TOKEN_COLUMNS.items():
        for (pk, stored), installation in zip(raw_tokens(model).items(), installations, strict=True):
            for column, value in zip(columns, stored, strict=True):
                set_raw_token(model, pk, column, value and getattr(installation, column))
    columns = [column for names in TOKEN_COLUMNS.values() for column in names]
    tokens = [getattr(installation, column) for installation in installations for column in columns]
    assert any(token in stored_text() for token in filter(None, tokens))
    settings.DJANGO_SLACK_STORE = {"ACCEPT_UNBOUND_TOKENS": True}  # read, before the rotation binds them
    for installation in installations:
        assert found(store, installation) == vars(installation)
    settings.DJANGO_SLACK_STORE = {}

    assert rotate()[-1] == "6 row(s) re-encrypted."

    # Whole tokens, not "xox": a ciphertext's base64 holds "xox" by chance about once in 3,000 values.
    assert not [token for token in filter(None, tokens) if token in stored_text()]
    for model in TOKEN_COLUMNS:
        stored = [value for values in raw_tokens(model).values() for value in filter(None, values)]
        assert all(value.startswith(PREFIX) for value in stored)
    assert raw_tokens(SlackBot)[min(raw_tokens(SlackBot))][1] is None
    for installation in installations:
        assert found(store, installation) == vars(installation)


def test_rows_of_the_earlier_fernet_scheme_stay_readable_and_get_rewritten(store, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    installations = save_installations(store, 2)
    # As releases before AES-GCM wrote them: "fernet:" and a Fernet token of the same key.
    for model, columns in TOKEN_COLUMNS.items():
        for (pk, _), installation in zip(raw_tokens(model).items(), installations, strict=True):
            for column in columns:
                token = getattr(installation, column).encode()
                set_raw_token(model, pk, column, FERNET_PREFIX + Fernet(OLD_KEY).encrypt(token).decode())
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY], "ACCEPT_UNBOUND_TOKENS": True}
    for installation in installations:
        assert found(store, installation) == vars(installation)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}

    assert rotate()[-1] == "4 row(s) re-encrypted."

    assert encrypted_with(OLD_KEY)
    assert all(
        value.startswith(PREFIX)
        for model in TOKEN_COLUMNS
        for row in raw_tokens(model).values()
        for value in row
    )
    for installation in installations:
        assert found(store, installation) == vars(installation)


def test_a_dry_run_writes_nothing(store, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    save_installations(store, 3)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY, OLD_KEY]}
    before = {model: raw_rows(model) for model in TOKEN_COLUMNS}

    output = rotate("--dry-run", "--batch-size", "2")

    assert output[0] == "SlackInstallation: batch 1: 2 row(s) checked, 2 would be re-encrypted"
    assert output[-1] == "Dry run, nothing written: 6 row(s) would be re-encrypted."
    assert {model: raw_rows(model) for model in TOKEN_COLUMNS} == before


def test_quiet_output_is_the_total_only(store):
    save_installations(store, 2)
    assert rotate("--verbosity", "0") == ["0 row(s) re-encrypted."]


def test_a_row_no_key_decrypts_stops_the_command_naming_it(store, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    save_installations(store, 3)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OTHER_KEY]}
    first_pk = min(raw_tokens(SlackInstallation))
    before = raw_tokens(SlackInstallation)

    with pytest.raises(CommandError, match=rf"SlackInstallation.user_token of row pk={first_pk}") as error:
        rotate()
    assert "xox" not in str(error.value) and "add the missing key back" in str(error.value)
    assert raw_tokens(SlackInstallation) == before


@pytest.mark.parametrize(
    ("args", "settings_value", "message"),
    [
        (["--batch-size", "0"], {}, "--batch-size: must be at least 1"),
        ([], {"ENCRYPTION_KEYS": ["not-a-key"]}, r"\[0\] is not a Fernet key"),
        ([], {"ENCRYPTION_KEYS": "not-a-list"}, "must be a list"),
    ],
)
def test_misuse_is_a_command_error(settings, args, settings_value, message):
    settings.DJANGO_SLACK_STORE = settings_value
    with pytest.raises(CommandError, match=message) as error:
        rotate(*args)
    assert "not-a-key" not in str(error.value)


def test_unbound_values_of_the_release_before_get_bound(store, settings):
    """`aesgcm:` without associated data, as the release before migration 0005 wrote, or a process of it
    during a rolling upgrade."""
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    installations = save_installations(store, 2)
    for model, columns in TOKEN_COLUMNS.items():
        for (pk, _), installation in zip(raw_tokens(model).items(), installations, strict=True):
            for column in columns:
                set_raw_token(model, pk, column, unbound_with(OLD_KEY, getattr(installation, column)))
    with pytest.raises(TokenDecryptionError, match="not bound to its row"):
        found(store, installations[0])

    assert rotate()[-1] == "4 row(s) re-encrypted."
    assert encrypted_with(OLD_KEY)
    for installation in installations:
        assert found(store, installation) == vars(installation)


def test_webhook_urls_are_rotated_too(store, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    installation = InstallationFactory(complete=True)
    store.save(installation)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY, OLD_KEY]}
    assert rotate()[-1] == "2 row(s) re-encrypted."
    [row] = raw_rows(SlackInstallation)
    webhook_url = decrypt_with(
        NEW_KEY, row["incoming_webhook_url"], SlackInstallation, "incoming_webhook_url", int(row["id"])
    )
    assert webhook_url == installation.incoming_webhook_url


def test_rows_of_every_client_and_database_alias(store, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    save_installations(store, 1)
    save_installations(DjangoInstallationStore(client_id="9999.0000"), 1)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY, OLD_KEY]}
    assert rotate("--database", "default")[-1] == "4 row(s) re-encrypted."
    assert encrypted_with(NEW_KEY, SlackBot, SlackInstallation)
