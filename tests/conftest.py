import pytest
from django.db import connection

from tests.factories import RoleFactory, SiteAdminFactory, UserFactory
from tests.jsonapi import JsonApiClient


@pytest.fixture
def api():
    return JsonApiClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def site_admin(db):
    return SiteAdminFactory()


@pytest.fixture
def make_user(db):
    return UserFactory


@pytest.fixture
def make_role(db):
    return RoleFactory


@pytest.fixture(autouse=True)
def _fresh_caches():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def audit_entries(db):
    """Count of audit log entries: every write adds at least one."""
    from accounts.models import AuditLogEntry

    return lambda: AuditLogEntry.objects.count()


def pytest_collection_modifyitems(config, items):
    """Tests marked postgres_only need real row locks and concurrency."""
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres_only" in item.keywords and connection.vendor != "postgresql":
            item.add_marker(skip)
