"""Deep pages of an account's audit log: the rows and order of a plain OFFSET, served ids first."""

import random
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.api.views import AccountAuditLogViewSet
from accounts.models import Account, AccountMembership, AuditLogEntry
from jsonapi.pagination import IdsFirstPagination, Pagination, ids_first
from memberships.models import Utility
from tests.factories import UserFactory

Action = AuditLogEntry.Action
PAGE = 7
TIMES = 25  # fewer distinct timestamps than entries: ties must be broken by id

# Every `sort` the endpoint accepts (`timestamp` and `id`, either direction, alone or both)
# and the ordering a plain query needs for the same rows: `id` is appended ascending
# when the client leaves it out; without `sort`, newest first.
SORTS = [
    ("", ("-timestamp", "-id")),
    ("timestamp", ("timestamp", "id")),
    ("-timestamp", ("-timestamp", "id")),
    ("id", ("id",)),
    ("-id", ("-id",)),
    ("timestamp,id", ("timestamp", "id")),
    ("timestamp,-id", ("timestamp", "-id")),
    ("-timestamp,id", ("-timestamp", "id")),
    ("-timestamp,-id", ("-timestamp", "-id")),
    ("id,timestamp", ("id", "timestamp")),
    ("id,-timestamp", ("id", "-timestamp")),
    ("-id,timestamp", ("-id", "timestamp")),
    ("-id,-timestamp", ("-id", "-timestamp")),
]


@pytest.fixture
def history(world):
    """A long, shuffled history for `world.account`, interleaved with another account's.

    Timestamps repeat and do not follow ids, so every sort orders the rows differently.
    """
    rng = random.Random(6)
    start = timezone.now() - timedelta(days=30)
    stamps = [start + timedelta(hours=n) for n in range(TIMES)]
    types = list(ContentType.objects.get_for_models(Account, AccountMembership, Utility).values())
    actors = [world["account_admin"], world["account_consultant"], UserFactory(), None]
    entries = [
        AuditLogEntry(
            account_id=world.other_account.pk if n % 5 == 0 else world.account.pk,
            timestamp=rng.choice(stamps),
            action=rng.choice([Action.CREATE, Action.UPDATE, Action.DELETE]),
            content_type=rng.choice(types),
            actor=rng.choice(actors),
            object_pk=str(n),
            object_id=n,
            object_repr=f"object {n}",
            changes={"name": [None, str(n)]},
        )
        for n in range(260)
    ]
    AuditLogEntry.objects.bulk_create(entries)
    return {"stamps": stamps, "actors": actors}


def filter_cases(world, history):
    """(query string, the same filter as ORM keyword arguments)."""
    admin, consultant = world["account_admin"], world["account_consultant"]
    since, until = history["stamps"][5], history["stamps"][20]
    iso = lambda moment: moment.isoformat().replace("+00:00", "Z")  # noqa: E731
    return [
        ("", {}),
        ("filter[action]=update,delete", {"action__in": [Action.UPDATE, Action.DELETE]}),
        ("filter[objectType]=Utility", {"content_type": ContentType.objects.get_for_model(Utility)}),
        (f"filter[actor]={admin.pk},{consultant.pk}", {"actor_id__in": [admin.pk, consultant.pk]}),
        (f"filter[since]={iso(since)}&filter[until]={iso(until)}&filter[action]=create",
         {"timestamp__gte": since, "timestamp__lt": until, "action": Action.CREATE}),
    ]


def log_url(account, query):
    return f"/api/v1/accounts/{account.pk}/auditlog/?{query}"


def pages_to_check(count):
    last = max(1, -(-count // PAGE))
    return sorted({1, 2, last // 2, last - 1, last} - {0})


@pytest.mark.django_db
class TestDeepPages:
    @pytest.mark.parametrize("sort,ordering", SORTS)
    def test_every_page_holds_the_rows_of_a_plain_offset(self, api, world, history, sort, ordering):
        api.as_user(world["account_admin"])
        for query, orm_filter in filter_cases(world, history):
            expected = AuditLogEntry.objects.filter(account_id=world.account.pk, **orm_filter).order_by(*ordering)
            count = expected.count()
            assert count > 2 * PAGE, query  # the fixture must give every filter several pages
            for number in pages_to_check(count):
                params = "&".join(p for p in (query, f"sort={sort}" if sort else "", f"page_size={PAGE}",
                                               f"page={number}") if p)
                document = api.get(log_url(world.account, params)).document
                start = (number - 1) * PAGE
                wanted = [str(pk) for pk in expected.values_list("pk", flat=True)[start:start + PAGE]]
                assert [entry["id"] for entry in document["data"]] == wanted, params
                assert document["meta"]["pagination"] == {"page": number, "pages": -(-count // PAGE),
                                                          "count": count}

    @pytest.mark.parametrize("query", [
        "page_size=7&page=5",
        "page[size]=7&page[number]=5",
        "page=2",
        "page_size=7&page=1&sort=-timestamp",
        "page_size=7&page=3&include=actor",
        "page_size=7&page=4&filter[action]=update&sort=timestamp",
        "page_size=7&page=999",
        "page_size=7&page=1&filter[action]=delete&filter[since]=2100-01-01T00:00:00Z",
    ])
    def test_the_document_is_what_plain_pagination_gives(self, api, world, history, monkeypatch, query):
        api.as_user(world["account_admin"])
        url = log_url(world.account, query)
        ids_first_response = api.get(url)
        monkeypatch.setattr(AccountAuditLogViewSet, "pagination_class", Pagination)
        plain_response = api.get(url)
        assert ids_first_response.status_code == plain_response.status_code
        assert ids_first_response.document == plain_response.document

    def test_links_and_meta(self, api, world, history):
        count = AuditLogEntry.objects.filter(account_id=world.account.pk).count()
        pages = -(-count // PAGE)
        api.as_user(world["account_admin"])
        document = api.get(log_url(world.account, f"page[size]={PAGE}&page[number]=3")).document
        base = f"http://testserver/api/v1/accounts/{world.account.pk}/auditlog/?page%5Bnumber%5D="
        assert document["meta"]["pagination"] == {"page": 3, "pages": pages, "count": count}
        assert document["links"] == {
            "first": f"{base}1&page%5Bsize%5D={PAGE}",
            "last": f"{base}{pages}&page%5Bsize%5D={PAGE}",
            "next": f"{base}4&page%5Bsize%5D={PAGE}",
            "prev": f"{base}2&page%5Bsize%5D={PAGE}",
        }
        last = api.get(log_url(world.account, f"page_size={PAGE}&page={pages}")).document
        assert len(last["data"]) == count - (pages - 1) * PAGE
        assert last["links"]["next"] is None and last["links"]["prev"].endswith(f"page={pages - 1}&page_size={PAGE}")

    @pytest.mark.parametrize("query", [
        "page_size=5",
        "page_size=200",
        "page_size=7&page=30",
        "page_size=7&page=15&sort=-id&filter[action]=update,create",
        "page_size=7&page=3&include=actor",
        "page_size=100&page=2&include=actor",
    ])
    def test_query_count_is_fixed(self, api, world, history, django_assert_max_num_queries, query):
        api.as_user(world["account_admin"])
        # Who may read (3), the count, the page; an included actor adds its relationships (3)
        # and the check that the caller may see each included user (3), whatever the page size.
        with django_assert_max_num_queries(5 if "include" not in query else 11):
            response = api.get(log_url(world.account, query))
        assert response.status_code == 200 and response.document["data"]

    def test_deep_pages_offset_over_primary_keys_only(self, api, world, history):
        api.as_user(world["account_admin"])
        with CaptureQueriesContext(connection) as queries:
            api.get(log_url(world.account, "page_size=7&page=20"))
        paged = [q["sql"] for q in queries.captured_queries if "OFFSET" in q["sql"]]
        assert len(paged) == 1
        outer, inner = paged[0].split(" IN (SELECT ", 1)
        assert "LIMIT" not in outer and "OFFSET" not in outer
        assert inner.split(" FROM ", 1)[0] == 'U0."id" AS "pk"'


@pytest.mark.django_db
class TestIndex:
    def test_counts_and_page_ids_are_read_from_the_index_alone(self, world, history):
        assert "auditlog_account_page_idx" in {index.name for index in AuditLogEntry._meta.indexes}
        if connection.vendor != "sqlite":
            return  # PostgreSQL plans by table statistics; its plans are checked on the benchmark data
        for _query, orm_filter in filter_cases(world, history):
            entries = AuditLogEntry.objects.filter(account_id=world.account.pk, **orm_filter)
            ordered = entries.order_by("-timestamp", "-id")
            for plan in (entries.values("pk").explain(), ordered.values("pk")[70:77].explain()):
                assert "COVERING INDEX auditlog_account_page_idx" in plan, (orm_filter, plan)
            with CaptureQueriesContext(connection) as queries:
                entries.count()
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN QUERY PLAN {queries.captured_queries[0]['sql']}")
                assert "COVERING INDEX auditlog_account_page_idx" in str(cursor.fetchall()), orm_filter


@pytest.mark.django_db
class TestIdsFirst:
    def test_same_rows_and_related_objects_as_a_slice(self, world, history, django_assert_num_queries):
        queryset = (AuditLogEntry.objects.filter(account_id=world.account.pk).select_related("content_type", "actor")
                    .prefetch_related("actor__roles").order_by("timestamp", "-id"))
        with django_assert_num_queries(2):  # the page, and the actors' roles
            rows = list(ids_first(queryset, 30, 45))
            [(row.content_type.model, row.actor and list(row.actor.roles.all())) for row in rows]
        assert rows == list(queryset[30:45])

    def test_querysets_it_cannot_rebuild_are_sliced_as_usual(self, world, history):
        from django.db.models import Count

        entries = AuditLogEntry.objects.filter(account_id=world.account.pk).order_by("-timestamp", "-id")
        for queryset in (
            entries.annotate(n=Count("id")),
            entries.values("id", "action"),
            entries.distinct(),
            entries.only("id"),
            AuditLogEntry.objects.order_by(),
        ):
            sliced = ids_first(queryset, 3, 9)
            assert sliced.query.low_mark == 3 and sliced.query.high_mark == 9
            assert list(sliced) == list(queryset[3:9])

    def test_the_paginator_keeps_the_api_pagination(self):
        assert issubclass(IdsFirstPagination, Pagination)
        assert AccountAuditLogViewSet.pagination_class is IdsFirstPagination
