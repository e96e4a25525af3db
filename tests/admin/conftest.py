import pytest
from django.contrib.auth.models import Permission

DASHBOARD = "/admin/django_rq_lite/queue/"


def make_staff(django_user_model, username, *codenames):
    user = django_user_model.objects.create_user(
        username, password="unused-password", is_staff=True
    )
    permissions = Permission.objects.filter(
        content_type__app_label="django_rq_lite", codename__in=codenames
    )
    assert permissions.count() == len(codenames)
    user.user_permissions.add(*permissions)
    return user


@pytest.fixture
def view_client(client, django_user_model):
    """A client logged in as staff with only the "view" permission."""
    client.force_login(make_staff(django_user_model, "viewer", "view_queue"))
    return client


@pytest.fixture
def change_client(client, django_user_model):
    """A client logged in as staff with the "change" permission only."""
    client.force_login(make_staff(django_user_model, "operator", "change_queue"))
    return client


@pytest.fixture
def staff_client(client, django_user_model):
    """A client logged in as staff without dashboard permissions."""
    client.force_login(make_staff(django_user_model, "clerk"))
    return client
