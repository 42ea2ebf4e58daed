"""The fast read path (jsonapi.documents) renders exactly what the standard path renders.

Every list and detail GET of every resource, with every include path and some sparse
fieldsets, is fetched twice over the demo data — once with `API_FAST_READ` on, once off —
as a site admin, an account admin, a consultant, an ordinary member and someone outside
every account, and the parsed documents must be equal (lists in the same order).
"""

import json
import re

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import get_resolver

from accounts.models import Account, User
from jsonapi.documents import Builder
from tests.jsonapi import JsonApiClient

VIEWERS = [
    "admin@roster.example",  # site admin
    "amira.haddad@example.com",  # account admin
    "daniel.okafor@example.com",  # consultant
    "mei.chen@example.org",  # ordinary member
]


@pytest.fixture
def demo(db):
    call_command("seed_demo", verbosity=0)
    outsider = User.objects.create_user(email="outsider@example.com", username="outsider", password="x" * 12)
    return [User.objects.get(email=email) for email in VIEWERS] + [outsider]


def _collections():
    """(list path, viewset) for every resource collection under /api/v1/ (account audit logs
    get the path of one account)."""
    from rest_framework.viewsets import GenericViewSet

    found = {}
    account = Account.objects.exclude(name="").order_by("id").first()
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) != "api/v1/":
            continue
        _walk(pattern.url_patterns, "/api/v1/", found, account)
    return {path: view for path, view in found.items() if issubclass(view, GenericViewSet)}


def _walk(patterns, prefix, found, account):
    for pattern in patterns:
        route = str(pattern.pattern)
        if hasattr(pattern, "url_patterns"):
            _walk(pattern.url_patterns, prefix + route, found, account)
            continue
        callback = pattern.callback
        actions = getattr(callback, "actions", None) or {}
        if actions.get("get") != "list":
            continue
        path = re.sub(r"\(\?P<account_pk>[^)]*\)", str(account.pk), (prefix + route).replace("^", "").rstrip("$"))
        if "(?P" in path:
            continue
        found[path] = callback.cls


def _fetch(client, path, fast):
    with override_settings(API_FAST_READ=fast):
        response = client.get(path)
    return response.status_code, json.loads(response.content) if response.content else None


def _compare(client, path, mismatches):
    fast, slow = _fetch(client, path, True), _fetch(client, path, False)
    if fast != slow:
        mismatches.append((path, _first_difference(fast, slow)))
    return slow


def _first_difference(a, b, where="$"):
    if type(a) is not type(b):
        return f"{where}: {a!r:.200} != {b!r:.200}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return f"{where}.{key} only on one side"
            diff = _first_difference(a[key], b[key], f"{where}.{key}")
            if diff:
                return diff
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{where}: {len(a)} items != {len(b)}"
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            diff = _first_difference(x, y, f"{where}[{index}]")
            if diff:
                return diff
        return None
    return None if a == b else f"{where}: {a!r:.200} != {b!r:.200}"


def _include_paths(view):
    serializer = view.serializer_class
    included = getattr(serializer, "included_serializers", None) or {}
    from rest_framework_json_api.utils import format_field_name

    return [format_field_name(name) for name in included]


def test_every_collection_is_found(demo):
    """The walk below really visits the resources (a broken walk would compare nothing)."""
    paths = set(_collections())
    for expected in ("/api/v1/users/", "/api/v1/roles/", "/api/v1/contacts/", "/api/v1/sessions/",
                     "/api/v1/accounts/", "/api/v1/account-roles/", "/api/v1/account-memberships/",
                     "/api/v1/utilities/", "/api/v1/memberships/", "/api/v1/product-types/", "/api/v1/products/",
                     "/api/v1/charges/", "/api/v1/merchants/"):
        assert expected in paths
    assert any(path.endswith("/auditlog/") for path in paths)


@pytest.mark.parametrize("viewer_index", range(len(VIEWERS) + 1))
def test_fast_documents_equal_standard_documents(demo, viewer_index):
    viewer = demo[viewer_index]
    client = JsonApiClient().as_user(viewer)
    mismatches, fast_paths = [], 0
    for path, view in sorted(_collections().items()):
        includes = _include_paths(view)
        variants = ["?page_size=500", "?page_size=7&page=2"]
        variants += [f"?page_size=500&include={name}" for name in includes]
        if includes:
            variants.append(f"?page_size=500&include={','.join(includes)}")
        for query in variants:
            status, document = _compare(client, path + query, mismatches)
            if status != 200 or not document or not document.get("data"):
                continue
            first = document["data"][0]
            type_name = first["type"]
            members = sorted(first.get("attributes", {}))[:2] + sorted(first.get("relationships", {}))[:1]
            if "include=" not in query:
                _compare(client, f"{path}?page_size=500&fields[{type_name}]={','.join(members)}", mismatches)
                fast_paths += 1
            detail = f"{path}{first['id']}/"
            if not path.endswith("/auditlog/"):
                include = query.split("include=")[1] if "include=" in query else None
                _compare(client, detail + (f"?include={include}" if include else ""), mismatches)
    for path in ("/api/v1/users/me/", "/api/v1/users/me/?include=roles,accountMemberships,memberships",
                 "/api/v1/accounts/default/", "/api/v1/utilities/personal/",
                 "/api/v1/charges/?filter[pbp]=3&include=product,merchant&page_size=500",
                 "/api/v1/charges/?filter[from]=2000-01-01&sort=-amount&page_size=20&page=2",
                 "/api/v1/utilities/?include=products&page_size=500",
                 "/api/v1/products/?sort=-limit&fields[Product]=coinsUsed,atLimit,utility&page_size=500"):
        _compare(client, path, mismatches)
    assert fast_paths >= (8 if viewer_index == 0 else 1)  # the site admin sees something everywhere
    assert not mismatches, "\n".join(f"{path}: {diff}" for path, diff in mismatches[:20])


def test_the_fast_path_is_taken_for_the_hot_lists(demo, rf):
    """Guard against the comparison above passing because both sides took the standard path."""
    from rest_framework.request import Request

    from accounts.api.views import AccountViewSet, UserViewSet
    from billing.api.views import ChargeViewSet, ProductTypeViewSet, ProductViewSet
    from memberships.api.views import MembershipViewSet

    admin = demo[0]
    for view_class, query in ((MembershipViewSet, "include=user,utility"), (AccountViewSet, "include=utilities"),
                              (UserViewSet, "include=roles"), (ProductViewSet, "include=productType,utility"),
                              (ChargeViewSet, "include=product,merchant"), (ProductTypeViewSet, "")):
        request = Request(rf.get(f"/?{query}"))
        request.user = admin
        view = view_class(request=request, action="list", format_kwarg=None, kwargs={})
        assert Builder.for_view(view) is not None, view_class.__name__


@pytest.mark.parametrize("viewer_index", [0, 3])
def test_ids_first_pages_equal_plain_pages(demo, viewer_index, monkeypatch):
    """Every list paginates ids first (jsonapi.pagination); its pages are the plain ones."""
    from jsonapi.pagination import Pagination

    client = JsonApiClient().as_user(demo[viewer_index])
    queries = ["?page_size=3&page=2", "?page_size=4&page=3&sort=-id", "?page_size=5&page=2&sort=created"]
    compared = 0
    for path, view in sorted(_collections().items()):
        for query in queries:
            ids_first = client.get(path + query)
            with monkeypatch.context() as patch:
                patch.setattr(view, "pagination_class", Pagination)
                plain = client.get(path + query)
            assert ids_first.status_code == plain.status_code, path + query
            assert json.loads(ids_first.content) == json.loads(plain.content), path + query
            compared += ids_first.status_code == 200
    assert compared >= 10
