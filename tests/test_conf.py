import pytest
from django.core import checks

from django_slack_store.conf import DEFAULTS, store_settings
from django_slack_store.crypto import generate_key


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


LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


@pytest.mark.parametrize(
    ("store_setting", "expected"),
    [
        ({"CACHE_ALIAS": "slack"}, []),
        ({"CACHE_ALIAS": "missing"}, ["django_slack_store.E005"]),
        ({"CACHE_ALIAS": "slack", "CACHE_TIMEOUT": 0}, ["django_slack_store.E006"]),
        ({"CACHE_TIMEOUT": "300"}, ["django_slack_store.E006"]),
        ({"CACHE_TIMEOUT": True}, ["django_slack_store.E006"]),
    ],
)
def test_the_cache_settings_are_checked(settings, store_setting, expected):
    settings.CACHES = {"default": LOCMEM, "slack": LOCMEM}
    settings.DJANGO_SLACK_STORE = store_setting
    assert [message.id for message in run_checks()] == expected


@pytest.mark.parametrize(
    ("store_setting", "expected"),
    [
        ({"ASYNC_NATIVE": False, "ASYNC_POOL_SIZE": 1}, []),
        ({"ASYNC_NATIVE": "yes"}, ["django_slack_store.E007"]),
        ({"ASYNC_POOL_SIZE": 0}, ["django_slack_store.E008"]),
        ({"ASYNC_POOL_SIZE": "4"}, ["django_slack_store.E008"]),
        ({"ASYNC_POOL_SIZE": True}, ["django_slack_store.E008"]),
    ],
)
def test_the_async_settings_are_checked(settings, store_setting, expected):
    settings.DJANGO_SLACK_STORE = store_setting
    assert [message.id for message in run_checks()] == expected


@pytest.mark.parametrize(
    ("store_setting", "expected"),
    [
        ({"REVOKE_DEADLINE": 1}, []),
        ({"REVOKE_DEADLINE": 0}, ["django_slack_store.E009"]),
        ({"REVOKE_DEADLINE": "20"}, ["django_slack_store.E009"]),
        ({"REVOKE_DEADLINE": True}, ["django_slack_store.E009"]),
    ],
)
def test_the_revoke_deadline_is_checked(settings, store_setting, expected):
    settings.DJANGO_SLACK_STORE = store_setting
    assert [message.id for message in run_checks()] == expected


def test_deploy_checks_warn_about_a_process_local_cache(settings):
    settings.CACHES = {"default": LOCMEM, "slack": LOCMEM}
    settings.DJANGO_SLACK_STORE = {"CACHE_ALIAS": "slack", "ENCRYPTION_KEYS": [generate_key()]}
    deploy = [m.id for m in checks.run_checks(include_deployment_checks=True) if "slack_store" in m.id]
    assert deploy == ["django_slack_store.W003"]
    settings.CACHES = {
        "default": LOCMEM,
        "slack": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1",
        },
    }
    assert not [m for m in checks.run_checks(include_deployment_checks=True) if "slack_store" in m.id]
