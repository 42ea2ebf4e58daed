"""Bearer authentication reads the caller's global permissions with the session (one query)
and primes Django's permission cache with them: it must hold exactly what the backends grant."""

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIRequestFactory

from accounts.authentication import BearerTokenAuthentication
from accounts.models import User
from tests.factories import RoleFactory, UserFactory
from tests.jsonapi import token_for


def _perm(name):
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def _request(user):
    return APIRequestFactory().get("/api/v1/ping/", HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")


def _authenticated(request):
    return BearerTokenAuthentication().authenticate(request)[0]


@pytest.mark.django_db
@pytest.mark.parametrize("grants", [
    [],
    ["direct"],
    ["group"],
    ["role"],
    ["direct", "group", "role"],
])
def test_primed_permissions_are_what_the_backends_grant(grants, django_assert_num_queries):
    user = UserFactory()
    if "direct" in grants:
        user.user_permissions.add(_perm("accounts.view_user"))
    if "group" in grants:
        group = Group.objects.create(name="Helpers")
        group.permissions.add(_perm("accounts.add_user"), _perm("accounts.view_user"))
        user.groups.add(group)
    if "role" in grants:
        role = RoleFactory()
        role.permissions.add(_perm("accounts.change_user"))
        user.roles.add(role)
    expected = User.objects.get(pk=user.pk).get_all_permissions()  # computed by the backends themselves
    request = _request(user)
    with django_assert_num_queries(1):  # the session lookup; has_perm asks nothing more
        caller = _authenticated(request)
        assert caller.get_all_permissions() == expected
        assert caller.has_perm("accounts.view_user") == ("accounts.view_user" in expected)


@pytest.mark.django_db
def test_site_admins_keep_every_permission():
    admin = UserFactory(is_superuser=True)
    caller = _authenticated(_request(admin))
    assert caller.has_perm("accounts.delete_user") and caller.has_perm("memberships.add_membership")
