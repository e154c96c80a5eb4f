from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DjangoSlackStoreConfig(AppConfig):
    name = "django_slack_store"
    # The admin's index and breadcrumbs show it above the models' own names ("Slack installations", "Slack
    # bots"): "Slack › Slack installations", not the models' plural twice.
    verbose_name = _("Slack")
    # Our own choice, so that `makemigrations --check` is clean whatever the project's DEFAULT_AUTO_FIELD.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the system checks)
