"""The public modules' `__all__` is what the docs call public API (docs/layout.md): every name exists and is
documented."""

import importlib
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PUBLIC_MODULES = [
    "django_slack_store.admin",
    "django_slack_store.bolt",
    "django_slack_store.crypto",
    "django_slack_store.exceptions",
    "django_slack_store.models",
    "django_slack_store.native",
    "django_slack_store.signals",
    "django_slack_store.stores",
    "django_slack_store.transfer",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_name_exists_and_is_documented(name):
    module = importlib.import_module(name)
    docs = "\n".join(path.read_text() for path in DOCS.glob("*.md"))
    assert module.__all__, f"{name} declares no public API"
    for public in module.__all__:
        assert hasattr(module, public), f"{name}.{public} is in __all__ but missing"
        assert public in docs, f"{name}.{public} is public API that docs/ never mentions"
