"""The one setting, `DJANGO_SLACK_STORE`: a dict whose keys are documented in docs/settings.md.

Read lazily through `store_settings` (never at import time) and reloaded when Django's `setting_changed`
fires, so `override_settings` and pytest-django's `settings` fixture work in tests.
"""

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS = {
    # Base URL of the Slack Web API, for the admin's calls to auth.revoke; point it at a proxy or a fake.
    "SLACK_API_URL": "https://slack.com/api/",
    # False leaves SlackInstallation, SlackBot and SlackOAuthState out of the Django admin.
    "ADMIN_ENABLED": True,
}


class StoreSettings:
    """`store_settings.SLACK_API_URL` and so on: the user's value, else the default."""

    def __init__(self):
        self._cache = {}

    def __getattr__(self, name):
        if name not in DEFAULTS:
            raise AttributeError(f"DJANGO_SLACK_STORE has no setting {name!r}")
        if name not in self._cache:
            self._cache[name] = self.user_settings().get(name, DEFAULTS[name])
        return self._cache[name]

    @staticmethod
    def user_settings() -> dict:
        return getattr(settings, "DJANGO_SLACK_STORE", None) or {}

    def reload(self):
        self._cache.clear()


store_settings = StoreSettings()


@receiver(setting_changed)
def _reload(setting, **kwargs):
    if setting == "DJANGO_SLACK_STORE":
        store_settings.reload()
