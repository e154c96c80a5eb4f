"""Fixtures of the admin tests: rows saved through the store, users with and without the revoke permission."""

import pytest
from django.contrib.auth.models import Permission

from django_slack_store.stores import DjangoInstallationStore
from tests.support.factories import InstallationFactory
from tests.support.store_api import CLIENT_ID


@pytest.fixture
def store(db):
    return DjangoInstallationStore(client_id=CLIENT_ID)


@pytest.fixture
def install(store):
    """`install(**fields)`: save `InstallationFactory(**fields)` through the store and return it."""

    def install(**fields):
        installation = InstallationFactory(**fields)
        store.save(installation)
        return installation

    return install


@pytest.fixture
def staff_client(client, django_user_model):
    """`staff_client(*codenames)`: the test client logged in as a staff user with just those permissions."""

    def staff_client(*codenames):
        user = django_user_model.objects.create_user("operator", password="pw", is_staff=True)
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label="django_slack_store", codename__in=codenames)
        )
        client.force_login(user)
        return client

    return staff_client
