"""Every label, help text and message the app shows is marked for translation (django_slack_store/locale)."""

from django.apps import apps
from django.utils.functional import Promise

from django_slack_store.models import SlackBot, SlackInstallation, SlackOAuthState


def test_model_labels_and_help_texts_are_translatable():
    assert isinstance(apps.get_app_config("django_slack_store").verbose_name, Promise)
    for model in (SlackInstallation, SlackBot, SlackOAuthState):
        opts = model._meta
        assert isinstance(opts.verbose_name, Promise) and isinstance(opts.verbose_name_plural, Promise)
        for field in opts.concrete_fields:
            if field.primary_key:
                continue  # Django's own "ID"
            assert isinstance(field.verbose_name, Promise), f"{model.__name__}.{field.name}"
            assert field.help_text == "" or isinstance(field.help_text, Promise), (
                f"{model.__name__}.{field.name}"
            )
