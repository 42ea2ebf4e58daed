"""core.db.Prepared: a read compiled once per database gives what the ORM gives."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.authentication import SESSION_BY_KEY, _sessions_by_key
from accounts.models import Session
from core.db import Prepared
from tests.factories import RoleFactory, SessionFactory, UserFactory

pytestmark = pytest.mark.django_db

COLUMNS = [field.attname for field in Session._meta.concrete_fields]
USER_COLUMNS = ["id", "email", "is_active", "is_superuser", "last_login", "date_joined"]


def same_as_the_orm(prepared, key_hash):
    ours = prepared.first(key_hash=key_hash)
    theirs = _sessions_by_key(key_hash).first()
    assert [getattr(ours, name) for name in COLUMNS] == [getattr(theirs, name) for name in COLUMNS]
    assert [getattr(ours.user, name) for name in USER_COLUMNS] == [getattr(theirs.user, name)
                                                                   for name in USER_COLUMNS]
    assert ours._object_grants == theirs._object_grants
    assert getattr(ours, "_permissions", None) == getattr(theirs, "_permissions", None)
    assert ours._state.db == theirs._state.db and not ours._state.adding
    return ours


def test_the_bearer_read_builds_what_the_orm_builds():
    holder = UserFactory(roles=[RoleFactory(permissions=["accounts.view_user"])])
    session = SessionFactory(user=holder)
    prepared = Prepared(_sessions_by_key)
    ours = same_as_the_orm(prepared, session.key_hash)  # the first call compiles
    ours = same_as_the_orm(prepared, session.key_hash)  # later calls only run
    assert ours.user.pk == holder.pk and ours.user_id == holder.pk
    assert ours.last_seen_at.tzinfo is not None  # converters ran (SQLite stores text)
    if hasattr(ours, "_permissions"):
        assert "accounts.view_user" in (ours._permissions if isinstance(ours._permissions, list)
                                        else ours._permissions)


def test_it_compiles_once_and_reads_each_value_it_is_given():
    built = []

    def build(key_hash):
        built.append(key_hash)
        return _sessions_by_key(key_hash)

    prepared = Prepared(build)
    first, second = SessionFactory(), SessionFactory()
    assert prepared.first(key_hash=first.key_hash).pk == first.pk
    assert prepared.first(key_hash=second.key_hash).pk == second.pk
    assert prepared.first(key_hash="no such hash") is None
    assert len(built) == 1 and built[0] != first.key_hash  # compiled with a mark, never re-built
    with CaptureQueriesContext(connection) as queries:
        prepared.first(key_hash=first.key_hash)
    assert len(queries) == 1 and first.key_hash in str(queries[0]["sql"]) + str(queries.captured_queries)


def test_a_value_the_orm_transforms_is_not_prepared_and_still_right():
    session = SessionFactory()
    # `contains` wraps the value in `%…%`: the mark is not among the parameters as given.
    prepared = Prepared(lambda key_hash: Session.objects.filter(key_hash__contains=key_hash))
    assert prepared.first(key_hash=session.key_hash[5:20]).pk == session.pk
    assert prepared._compiled[connection.alias] is None
    assert prepared.first(key_hash="absent") is None


def test_bearer_sign_in_uses_the_prepared_read(api):
    session = SessionFactory()
    SESSION_BY_KEY._compiled.clear()
    for _ in range(2):
        response = api.get("/api/v1/users/me/", HTTP_AUTHORIZATION=f"Bearer {session.token}")
        assert response.status_code == 200, response.content
    assert SESSION_BY_KEY._compiled[connection.alias] is not None
    expired = SessionFactory(expires_at=session.created)
    response = api.get("/api/v1/users/me/", HTTP_AUTHORIZATION=f"Bearer {expired.token}")
    assert response.status_code == 401
