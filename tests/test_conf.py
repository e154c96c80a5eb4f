import pytest
from django.core import checks

from django_slack_store.conf import DEFAULTS, store_settings


def test_defaults_apply_when_the_setting_is_absent(settings):
    if hasattr(settings, "DJANGO_SLACK_STORE"):
        del settings.DJANGO_SLACK_STORE
    assert store_settings.SLACK_API_URL == DEFAULTS["SLACK_API_URL"]
    assert store_settings.ADMIN_ENABLED is True


def test_changed_settings_are_read_again(settings):
    settings.DJANGO_SLACK_STORE = {"SLACK_API_URL": "http://127.0.0.1:9/api/"}
    assert store_settings.SLACK_API_URL == "http://127.0.0.1:9/api/"
    settings.DJANGO_SLACK_STORE = {}
    assert store_settings.SLACK_API_URL == DEFAULTS["SLACK_API_URL"]


def test_unknown_names_are_errors():
    with pytest.raises(AttributeError, match="NOPE"):
        store_settings.NOPE  # noqa: B018


def run_checks():
    return [message for message in checks.run_checks() if message.id.startswith("django_slack_store.")]


def test_unknown_keys_are_warned_about(settings):
    settings.DJANGO_SLACK_STORE = {"SLACK_API_URL": "http://x/", "ADMIN_ENABLE": False}
    [warning] = run_checks()
    assert warning.id == "django_slack_store.W001" and "ADMIN_ENABLE" in warning.msg


def test_a_setting_that_is_not_a_dict_is_an_error(settings):
    settings.DJANGO_SLACK_STORE = ["SLACK_API_URL"]
    assert [message.id for message in run_checks()] == ["django_slack_store.E001"]
