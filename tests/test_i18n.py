"""Every label, help text and message the app shows is marked for translation (django_slack_store/locale)."""

import struct

from django.apps import apps
from django.utils.functional import Promise

from django_slack_store.models import SlackBot, SlackInstallation, SlackOAuthState
from django_slack_store.stores import DjangoInstallationStore
from tests.support.factories import InstallationFactory
from tests.support.store_api import CLIENT_ID


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


def _catalogue(messages: dict[str, str]) -> bytes:
    """A GNU gettext .mo file holding `messages` (what `compilemessages` writes), built here so that the test
    needs no gettext tools."""
    messages = {
        "": "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n > 1);\n",
        **messages,
    }
    keys = sorted(messages)
    ids = strs = b""
    entries = []
    for key in keys:
        id_, str_ = key.encode(), messages[key].encode()
        entries.append((len(ids), len(id_), len(strs), len(str_)))
        ids, strs = ids + id_ + b"\0", strs + str_ + b"\0"
    header_size, table_size = 7 * 4, 8 * len(keys)
    ids_start = header_size + 2 * table_size
    strs_start = ids_start + len(ids)
    table = [value for at, size, _, _ in entries for value in (size, ids_start + at)]
    table += [value for _, _, at, size in entries for value in (size, strs_start + at)]
    header = struct.pack("<7I", 0x950412DE, 0, len(keys), header_size, header_size + table_size, 0, 0)
    return header + struct.pack(f"<{len(table)}I", *table) + ids + strs


_FRENCH = {
    "Slack installations": "Installations Slack",
    "token health": "santé des jetons",
    "has bot": "a un bot",
    "Revoke selected %(verbose_name_plural)s at Slack": "Révoquer chez Slack les %(verbose_name_plural)s",
}


def test_the_admin_speaks_the_language_of_a_catalogue(admin_client, settings, tmp_path):
    """A catalogue under LOCALE_PATHS (or django_slack_store/locale) translates the admin's own strings."""
    messages = tmp_path / "fr" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    (messages / "django.mo").write_bytes(_catalogue(_FRENCH))
    settings.LOCALE_PATHS = [str(tmp_path)]
    settings.LANGUAGE_CODE = "fr"
    DjangoInstallationStore(CLIENT_ID).save(InstallationFactory())  # the list's columns show with a row

    html = admin_client.get("/admin/django_slack_store/slackinstallation/").content.decode()

    for french in ("Installations Slack", "Santé des jetons", "a un bot", "Révoquer chez Slack les"):
        assert french in html
