from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DjangoSlackStoreConfig(AppConfig):
    name = "django_slack_store"
    verbose_name = _("Slack installations")
    # Our own choice, so that `makemigrations --check` is clean whatever the project's DEFAULT_AUTO_FIELD.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the system checks)
