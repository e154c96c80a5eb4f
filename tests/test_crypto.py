"""Tokens at rest: encrypted in every column on every database, keys from settings, clear errors, no leaks."""

import pytest
from cryptography.fernet import Fernet
from django.core import checks
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import OperationalError, connection, models, transaction
from django.views.debug import ExceptionReporter

from django_slack_store import native, rows, statements
from django_slack_store.crypto import FERNET_PREFIX, PREFIX, TokenDecryptionError, derive_key
from django_slack_store.fields import Stored, UndecryptableToken
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
    shows_a_token,
    unbound_with,
)
from tests.support.factories import BotFactory, InstallationFactory
from tests.support.store_api import CLIENT_ID


def find(api, installation, **kwargs):
    return api.find_installation(
        enterprise_id=installation.enterprise_id, team_id=installation.team_id, **kwargs
    )


# -- at rest --------------------------------------------------------------------------------------------


def test_no_column_of_either_table_holds_a_token(api):
    saved = [InstallationFactory(complete=True), BotFactory(rotating=True)]
    saved.append(InstallationFactory(org_wide=True, rotating=True))
    api.save(saved[0])
    api.save_bot(saved[1])
    api.save(saved[2])
    # Every token saved, whole (a ciphertext may hold "xox" by chance: 7 in 20,000 did).
    tokens = {value for obj in saved for name, value in vars(obj).items() if name.endswith("token") and value}
    installation = saved[0]

    for model in (SlackInstallation, SlackBot):
        rows = raw_rows(model)
        assert rows
        for row in rows:
            assert not [column for column, value in row.items() if any(token in value for token in tokens)]
            assert all(row[column].startswith(PREFIX) for column in TOKEN_COLUMNS[model])
    assert vars(find(api, installation)) == vars(installation)


def test_each_write_encrypts_afresh_and_empty_values_stay_empty(api):
    installation = InstallationFactory(user_token=None, user_refresh_token="")
    api.save(installation)
    api.save(installation)
    [(pk, (user_token, user_refresh_token))] = raw_tokens(SlackInstallation).items()
    assert (user_token, user_refresh_token) == (None, "")
    assert find(api, installation).user_refresh_token == ""

    bot = BotFactory()
    api.save_bot(bot)
    first = raw_tokens(SlackBot)
    api.save_bot(bot)
    assert raw_tokens(SlackBot) != first  # not deterministic: a token can never be a lookup key


def test_the_default_key_is_derived_from_secret_key(api, settings):
    settings.DJANGO_SLACK_STORE = {}
    installation = InstallationFactory()
    api.save(installation)
    [(pk, (stored, _))] = raw_tokens(SlackInstallation).items()
    key = derive_key(settings.SECRET_KEY)
    assert decrypt_with(key, stored, SlackInstallation, "user_token", pk) == installation.user_token
    assert derive_key(settings.SECRET_KEY) != derive_key(settings.SECRET_KEY + "x")


def test_explicit_keys_encrypt_with_the_first(api, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY, OLD_KEY]}
    installation = InstallationFactory()
    api.save(installation)
    [(pk, (stored, _))] = raw_tokens(SlackInstallation).items()
    assert decrypt_with(NEW_KEY, stored, SlackInstallation, "user_token", pk) == installation.user_token


def test_every_configured_key_decrypts(api, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    installation = InstallationFactory(rotating=True)
    api.save(installation)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY, OLD_KEY]}
    assert vars(find(api, installation)) == vars(installation)


def test_secret_key_derived_keys_keep_decrypting(api, settings):
    """Moving from the default to explicit keys, or rotating SECRET_KEY, leaves every row readable."""
    settings.DJANGO_SLACK_STORE = {}
    installation = InstallationFactory(rotating=True)
    api.save(installation)

    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY]}
    assert vars(find(api, installation)) == vars(installation)

    settings.DJANGO_SLACK_STORE = {}
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-for-this-test-only"
    assert vars(find(api, installation)) == vars(installation)


def test_plaintext_rows_from_before_encryption_are_read_only_when_unbound_values_are_accepted(api, settings):
    installation = InstallationFactory(rotating=True)
    api.save(installation)
    [pk] = raw_tokens(SlackBot)
    set_raw_token(SlackBot, pk, "bot_token", installation.bot_token)
    [pk] = raw_tokens(SlackInstallation)
    set_raw_token(SlackInstallation, pk, "user_token", installation.user_token)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY], "ACCEPT_UNBOUND_TOKENS": True}
    assert vars(find(api, installation)) == vars(installation)


# -- bound to their row ------------------------------------------------------------------------------------
#
# Someone who can write to the database but holds no key must not make one workspace's requests run with
# another's token (docs/security.md, "Threat model").


def copy_raw(model, column, from_pk, to_pk, to_column=None):
    set_raw_token(model, to_pk, to_column or column, raw_value(model, column, from_pk))


def raw_value(model, column, pk):
    return next(row[column] for row in raw_rows(model) if row["id"] == str(pk))


def save_two_workspaces(api, **kwargs):
    one, two = InstallationFactory(complete=True, **kwargs), InstallationFactory(complete=True, **kwargs)
    api.save(one)
    api.save(two)
    return one, two


def test_a_bot_token_copied_into_another_workspaces_row_is_refused(api):
    one, two = save_two_workspaces(api)
    (one_pk, two_pk) = raw_tokens(SlackBot)
    copy_raw(SlackBot, "bot_token", one_pk, two_pk)

    with pytest.raises(TokenDecryptionError) as error:
        api.find_bot(enterprise_id=two.enterprise_id, team_id=two.team_id)
    assert_names_the_row(error, SlackBot, "bot_token", two_pk)
    with pytest.raises(TokenDecryptionError):
        find(api, two)
    with pytest.raises(TokenDecryptionError):
        SlackBot.objects.get(pk=two_pk).bot_token  # noqa: B018
    assert vars(find(api, one)) == vars(one)  # the copied-from row is untouched


def test_a_user_token_copied_to_another_users_row_or_column_is_refused(api):
    installer = InstallationFactory(rotating=True)
    colleague = InstallationFactory(rotating=True, team_id=installer.team_id, user_id="U0COLLEAGUE")
    api.save(installer)
    api.save(colleague)
    installer_pk, colleague_pk = raw_tokens(SlackInstallation)
    copy_raw(SlackInstallation, "user_token", installer_pk, colleague_pk)
    with pytest.raises(TokenDecryptionError) as error:
        api.find_installation(enterprise_id=None, team_id=installer.team_id, user_id="U0COLLEAGUE")
    assert_names_the_row(error, SlackInstallation, "user_token", colleague_pk)

    copy_raw(SlackInstallation, "user_token", installer_pk, installer_pk, to_column="user_refresh_token")
    with pytest.raises(TokenDecryptionError) as error:
        api.find_installation(enterprise_id=None, team_id=installer.team_id, user_id=installer.user_id)
    assert_names_the_row(error, SlackInstallation, "user_refresh_token", installer_pk)


def test_a_token_of_another_app_is_refused(api):
    installation = InstallationFactory()
    api.save(installation)
    other_app = api.with_client_id("9999.8888")
    other_app.save(installation)
    ours, theirs = raw_tokens(SlackBot)
    copy_raw(SlackBot, "bot_token", theirs, ours)
    with pytest.raises(TokenDecryptionError):
        api.find_bot(enterprise_id=None, team_id=installation.team_id)
    assert other_app.find_bot(enterprise_id=None, team_id=installation.team_id).bot_token


def test_the_incoming_webhook_url_is_encrypted_and_bound(api, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY]}
    one, two = save_two_workspaces(api)
    one_pk, two_pk = raw_tokens(SlackInstallation)
    stored = raw_value(SlackInstallation, "incoming_webhook_url", one_pk)
    assert stored.startswith(PREFIX) and "hooks.example.test" not in repr(raw_rows(SlackInstallation))
    assert decrypt_with(NEW_KEY, stored, SlackInstallation, "incoming_webhook_url", one_pk) == (
        one.incoming_webhook_url
    )
    assert find(api, one).incoming_webhook_url == one.incoming_webhook_url

    copy_raw(SlackInstallation, "incoming_webhook_url", one_pk, two_pk)
    with pytest.raises(TokenDecryptionError) as error:
        find(api, two)
    assert_names_the_row(error, SlackInstallation, "incoming_webhook_url", two_pk)


@pytest.mark.parametrize(
    "unbound",
    [
        pytest.param(lambda token: token, id="plaintext"),
        pytest.param(lambda token: unbound_with(NEW_KEY, token), id="aesgcm-v1"),
        pytest.param(
            lambda token: FERNET_PREFIX + Fernet(NEW_KEY).encrypt(token.encode()).decode(), id="fernet"
        ),
    ],
)
def test_planted_and_unbound_values_are_refused_unless_accepted(api, settings, unbound):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY]}
    installation = InstallationFactory(rotating=True)
    api.save(installation)
    [pk] = raw_tokens(SlackBot)
    planted = "xoxb-planted-by-a-database-writer"
    set_raw_token(SlackBot, pk, "bot_token", unbound(planted))

    with pytest.raises(TokenDecryptionError) as error:
        api.find_bot(enterprise_id=None, team_id=installation.team_id)
    assert_names_the_row(error, SlackBot, "bot_token", pk)
    assert error.value.unbound and "ACCEPT_UNBOUND_TOKENS" in str(error.value)
    assert "slack_store_rotate_keys" in str(error.value) and planted not in str(error.value)
    with pytest.raises(TokenDecryptionError, match="not bound to its row"):
        SlackBot.objects.get().bot_token  # noqa: B018

    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY], "ACCEPT_UNBOUND_TOKENS": True}
    assert api.find_bot(enterprise_id=None, team_id=installation.team_id).bot_token == planted


def test_orm_writes_bind_like_the_store_and_update_is_refused(api):
    installation = InstallationFactory()
    api.save(installation)
    row = SlackInstallation.objects.get()
    row.user_token = "xoxp-written-through-the-orm"
    row.save()
    assert find(api, installation).user_token == "xoxp-written-through-the-orm"
    SlackInstallation.objects.bulk_create(
        [
            SlackInstallation(
                **{
                    **{
                        field.name: getattr(row, field.name)
                        for field in SlackInstallation._meta.concrete_fields
                    },
                    "id": None,
                    "user_id": "U0BULK",
                    "user_token": "xoxp-bulk-created",
                }
            )
        ]
    )
    found = api.find_installation(enterprise_id=None, team_id=installation.team_id, user_id="U0BULK")
    assert found.user_token == "xoxp-bulk-created"

    with pytest.raises(ValueError, match=r"SlackInstallation.user_token is encrypted for its row"):
        with transaction.atomic():
            SlackInstallation.objects.update(user_token="xoxp-no-row-to-bind-to")
    SlackInstallation.objects.update(user_token=None)  # not a secret: allowed
    assert find(api, installation).user_token is None


def test_the_unbound_setting_is_checked(settings):
    settings.DJANGO_SLACK_STORE = {"ACCEPT_UNBOUND_TOKENS": "yes"}
    assert [message.id for message in run_checks()] == ["django_slack_store.E010"]
    settings.DJANGO_SLACK_STORE = {"ACCEPT_UNBOUND_TOKENS": True, "ENCRYPTION_KEYS": [NEW_KEY]}
    assert run_checks() == []
    [warning] = run_checks(deploy=True)
    assert warning.id == "django_slack_store.W004" and "planted" in warning.msg


# -- keys that do not decrypt ---------------------------------------------------------------------------


def assert_names_the_row(error, model, field_name, pk):
    message = str(error.value)
    assert (error.value.model, error.value.field_name, error.value.pk) == (model, field_name, pk)
    assert f"{model.__name__}.{field_name}" in message and f"pk={pk}" in message
    assert not shows_a_token(message) and "gAAAA" not in message and PREFIX not in message


def test_a_wrong_key_is_a_clear_error_naming_the_row(api, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    installation = InstallationFactory()
    api.save(installation)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OTHER_KEY]}
    [installation_pk], [bot_pk] = raw_tokens(SlackInstallation), raw_tokens(SlackBot)

    with pytest.raises(TokenDecryptionError) as error:
        find(api, installation)
    assert_names_the_row(error, SlackInstallation, "user_token", installation_pk)
    assert not isinstance(error.value, ValueError)  # never mistaken for bad input

    with pytest.raises(TokenDecryptionError) as error:
        api.find_bot(enterprise_id=None, team_id=installation.team_id)
    assert_names_the_row(error, SlackBot, "bot_token", bot_pk)


def test_an_undecryptable_bot_column_of_an_installation_names_the_bot(api, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    installation = InstallationFactory(user_token=None)
    api.save(installation)
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OTHER_KEY]}
    [bot_pk] = raw_tokens(SlackBot)
    with pytest.raises(TokenDecryptionError) as error:
        find(api, installation)
    assert_names_the_row(error, SlackBot, "bot_token", bot_pk)


def test_a_damaged_value_is_the_same_clear_error(api):
    installation = InstallationFactory()
    api.save(installation)
    [pk] = raw_tokens(SlackBot)
    for damaged in (PREFIX + "gAAAAAB-not-a-fernet-token", PREFIX, PREFIX + "é"):
        set_raw_token(SlackBot, pk, "bot_token", damaged)
        with pytest.raises(TokenDecryptionError) as error:
            api.find_bot(enterprise_id=None, team_id=installation.team_id)
        assert_names_the_row(error, SlackBot, "bot_token", pk)


def test_through_the_orm_the_row_stays_usable_and_its_token_raises(api):
    installation = InstallationFactory(rotating=True)
    api.save(installation)
    [pk] = raw_tokens(SlackBot)
    set_raw_token(SlackBot, pk, "bot_token", PREFIX + "damaged")

    bot = SlackBot.objects.get()  # listing rows (the admin) still works: ids and names are readable
    assert installation.team_id in str(bot) and bot.bot_refresh_token == installation.bot_refresh_token
    with pytest.raises(TokenDecryptionError, match=rf"SlackBot.bot_token of row pk={pk}"):
        bot.bot_token  # noqa: B018
    bot.team_name = "Renamed"
    bot.save()  # the value is written back as it was stored: nothing is lost
    assert raw_tokens(SlackBot)[pk][0] == PREFIX + "damaged"
    marker = SlackBot.objects.get().__dict__["bot_token"]
    assert isinstance(marker, UndecryptableToken) and repr(marker) == "<undecryptable SlackBot.bot_token>"
    with pytest.raises(TokenDecryptionError):
        f"Bearer {marker}"  # noqa: B018 (cannot be sent as a token)

    # values() cannot open a secret (its binding needs the whole row): it gives the stored form.
    [stored] = SlackBot.objects.values_list("bot_refresh_token", flat=True)
    assert isinstance(stored, Stored) and stored.startswith(PREFIX) and repr(stored) == "<stored token>"

    marker = SlackBot._meta.get_field("bot_token").open(
        Stored(PREFIX + "garbage"), [CLIENT_ID, "", "T0", None]
    )
    with pytest.raises(TokenDecryptionError) as error:
        str(marker)
    assert "SlackBot.bot_token of a row" in str(error.value)


def test_deferred_tokens_load_and_raise_alike(api):
    installation = InstallationFactory(rotating=True)
    api.save(installation)
    bot = SlackBot.objects.defer("bot_token").get()
    assert bot.bot_token == installation.bot_token

    set_raw_token(SlackBot, bot.pk, "bot_token", PREFIX + "damaged")
    bot = SlackBot.objects.defer("bot_token").get()
    with pytest.raises(TokenDecryptionError, match=f"pk={bot.pk}"):
        bot.bot_token  # noqa: B018


def test_tokens_cannot_be_lookup_values(db):
    with pytest.raises(FieldError, match="SlackBot.bot_token cannot be filtered by value"):
        SlackBot.objects.filter(bot_token="xoxb-test-bot-token-1").exists()
    with pytest.raises(FieldError, match="isnull"):
        SlackInstallation.objects.filter(user_token__startswith="xoxp-").exists()
    assert not SlackInstallation.objects.filter(user_token__isnull=False).exists()


# -- settings -------------------------------------------------------------------------------------------


def run_checks(deploy=False):
    return [
        message
        for message in checks.run_checks(include_deployment_checks=deploy)
        if message.id.startswith("django_slack_store.")
    ]


@pytest.mark.parametrize("keys", [NEW_KEY, {"key": NEW_KEY}, 42])
def test_keys_that_are_not_a_list_are_an_error(settings, keys):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": keys}
    [error] = run_checks()
    assert error.id == "django_slack_store.E002"
    assert NEW_KEY not in error.msg


def test_malformed_keys_are_errors_naming_their_position(settings):
    bad = ["not-a-key", NEW_KEY[:-4], None, NEW_KEY.encode()[:10]]
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY, *bad, OLD_KEY.encode()]}
    errors = run_checks()
    assert [error.id for error in errors] == ["django_slack_store.E003"] * 4
    assert [error.msg for error in errors] == [
        f"DJANGO_SLACK_STORE['ENCRYPTION_KEYS'][{index}] is not a Fernet key." for index in (1, 2, 3, 4)
    ]
    assert "not-a-key" not in str(errors)


def test_malformed_keys_are_refused_at_first_use(api, settings):
    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY, "not-a-key"]}
    with pytest.raises(ImproperlyConfigured, match=r"\[1\] is not a Fernet key") as error:
        api.save(InstallationFactory())
    assert "not-a-key" not in str(error.value)
    assert not SlackInstallation.objects.exists()


def test_the_deploy_check_recommends_explicit_keys(settings):
    settings.DJANGO_SLACK_STORE = {}
    assert run_checks() == []
    [warning] = run_checks(deploy=True)
    assert warning.id == "django_slack_store.W002" and "SECRET_KEY" in warning.msg

    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY]}
    assert run_checks(deploy=True) == []


def test_changed_keys_are_used_at_once(api, settings):
    installation = InstallationFactory()
    for key in (OLD_KEY, NEW_KEY):
        settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [key]}
        api.save(installation)
        [(pk, (stored, _))] = raw_tokens(SlackInstallation).items()
        assert decrypt_with(key, stored, SlackInstallation, "user_token", pk) == installation.user_token


# -- no leaks -------------------------------------------------------------------------------------------


def frame_variables(raised):
    """What Django's error report (the 500 e-mail, the log) shows of every frame's local variables."""
    frames = ExceptionReporter(None, raised.type, raised.value, raised.tb).get_traceback_data()["frames"]
    return "\n".join(f"{frame['function']}: {frame['vars']!r}" for frame in frames)


def test_error_reports_hide_the_tokens_of_a_failing_save(api, monkeypatch):
    installation = InstallationFactory(rotating=True)

    def fail(execute, sql, params, many, context):
        raise OperationalError("the database went away")

    async def native_fail(self, sql, params):
        raise OperationalError("the database went away")

    monkeypatch.setattr(native.Transaction, "execute", native_fail)  # what the native path runs
    with connection.execute_wrapper(fail), pytest.raises(OperationalError) as raised:
        api.save(installation)
    report = frame_variables(raised)
    assert "_upsert" in report or "save" in report
    assert not shows_a_token(report) and "fernet" not in report


def test_error_reports_hide_the_tokens_of_a_failing_find(api, monkeypatch):
    installation = InstallationFactory(rotating=True)
    api.save(installation)

    def broken(**kwargs):
        raise RuntimeError("slack_sdk changed")

    monkeypatch.setattr(rows, "Installation", broken)
    with pytest.raises(RuntimeError) as raised:
        find(api, installation)
    report = frame_variables(raised)
    assert "find_installation" in report
    assert not shows_a_token(report)


@pytest.fixture
def broken_json_column(monkeypatch):
    """Reading a JSON column fails, after the row's tokens (earlier columns) have been decrypted."""

    def broken(self, value, expression, connection):
        raise RuntimeError("a column converter failed")

    monkeypatch.setattr(models.JSONField, "from_db_value", broken)
    clear = [statement.cache_clear for statement in statements.STATEMENTS]  # they hold the converters
    for clear_cache in clear:
        clear_cache()
    yield
    monkeypatch.undo()
    for clear_cache in clear:
        clear_cache()


def test_error_reports_hide_the_tokens_of_a_row_being_read(api, broken_json_column):
    installation = InstallationFactory(rotating=True)
    api.save(installation)
    with pytest.raises(RuntimeError) as raised:
        find(api, installation)
    report = frame_variables(raised)
    assert "values" in report  # the frame that holds the decrypted columns is in the report...
    assert not shows_a_token(report)  # ...with its variables hidden


def test_the_whole_lifecycle_logs_no_token(api, caplog, settings, capsys):
    """Everything logged at DEBUG (SQL queries included) through save, find, rotate, errors and delete."""
    from django.core.management import call_command

    settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OLD_KEY]}
    installation = InstallationFactory(complete=True)
    connection.force_debug_cursor = True  # log every query with its parameters, as with DEBUG = True
    try:
        with caplog.at_level("DEBUG"), caplog.at_level("DEBUG", logger="django"):
            api.save(installation)
            api.save_bot(BotFactory(rotating=True))
            assert find(api, installation).user_token == installation.user_token
            api.find_bot(enterprise_id=installation.enterprise_id, team_id=installation.team_id)
            settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY, OLD_KEY]}
            call_command("slack_store_rotate_keys", "--batch-size", "1")
            with pytest.raises(ValueError, match="team_name") as bad_input:
                api.save(InstallationFactory(team_name="n" * 300, bot_token="xoxb-test-in-bad-input"))
            settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [OTHER_KEY]}
            with pytest.raises(TokenDecryptionError) as undecryptable:
                find(api, installation)
            settings.DJANGO_SLACK_STORE = {"ENCRYPTION_KEYS": [NEW_KEY]}
            api.delete_all(enterprise_id=installation.enterprise_id, team_id=installation.team_id)
    finally:
        connection.force_debug_cursor = False
    assert "django.db.backends" in {record.name for record in caplog.records}  # the SQL was captured
    assert installation.team_id in caplog.text
    output = caplog.text + capsys.readouterr().out + str(bad_input.value) + str(undecryptable.value)
    assert not shows_a_token(output)


def test_store_and_client_id_reprs_hold_no_token(api):
    api.save(InstallationFactory(complete=True))
    store = DjangoInstallationStore(client_id=CLIENT_ID)
    for thing in (store, *SlackInstallation.objects.all(), *SlackBot.objects.all()):
        assert "xox" not in str(thing) and "xox" not in repr(thing)


def test_error_reports_hide_the_tokens_decrypted_before_an_undecryptable_one(api):
    installation = InstallationFactory(rotating=True)
    api.save(installation)
    [pk] = raw_tokens(SlackBot)
    set_raw_token(SlackBot, pk, "bot_refresh_token", PREFIX + "damaged")  # read after the user's tokens
    with pytest.raises(TokenDecryptionError) as raised:
        find(api, installation)
    assert raised.value.pk == pk
    report = frame_variables(raised)
    # Raised from the store once the row is read, not from the ORM's generators, whose frames (with the
    # columns decrypted so far) error reports cannot hide.
    assert "find_installation" in report and "apply_converters" not in report
    assert not shows_a_token(report)
