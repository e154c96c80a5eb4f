from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_agree():
    """`makemigrations --check` is clean: the app sets its own default_auto_field."""
    out = StringIO()
    call_command("makemigrations", "django_slack_store", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
