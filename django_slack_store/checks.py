"""System checks for the DJANGO_SLACK_STORE setting."""

from django.core import checks

from .conf import DEFAULTS, store_settings


@checks.register()
def check_settings(app_configs=None, **kwargs):
    user_settings = store_settings.user_settings()
    if not isinstance(user_settings, dict):
        return [checks.Error("DJANGO_SLACK_STORE must be a dict.", id="django_slack_store.E001")]
    return [
        checks.Warning(
            f"DJANGO_SLACK_STORE has an unknown key {key!r}.",
            hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
            id="django_slack_store.W001",
        )
        for key in user_settings
        if key not in DEFAULTS
    ]
