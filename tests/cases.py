"""Generic API test cases (DESIGN.md rule 8, after NetBox's `APIViewTestCases`).

A resource's tests subclass `PermissionMatrix` and declare the endpoint, how to find or
build its objects, and who may do what:

    class TestAccountPermissions(PermissionMatrix):
        url = "/api/v1/accounts/"
        resource_type = "Account"
        model = Account
        matrix = {
            "list": {"anonymous": 401, "*": 200},
            "retrieve": {"anonymous": 401, "account_user": 200, ..., "*": 404},
            ...
        }

        def target(self, world): ...             # the object retrieved, changed and deleted
        def create_body(self, world, persona): ...  # a valid POST document for that caller
        def patch_body(self, world, obj): ...    # a valid PATCH document

Every cell of the matrix (action × persona of the shared `world`, tests/conftest.py) is
one test. Each checks the status; that an error carries the code its status implies and
every response is a valid JSON:API document (tests/jsonapi.py checks each one); that a
list holds the target exactly when the persona may retrieve it; that an allowed write
did what it says and a refused one changed nothing. The matrix itself is checked too: it
names every SPEC persona for every action, and an object a persona cannot see is a 404
for every action on it, never a 403 (SPEC §1).

Cells the SPEC and the code answer differently go in `disputed` with a note instead of
an expected status: they are not run, and the matrix check lists them as settled by
neither side.
"""

import json

import pytest

from accounts.models import (
    Account,
    AccountMembership,
    AccountRole,
    ActivationCode,
    AuditLogEntry,
    Avatar,
    Contact,
    Role,
    User,
)
from billing.models import Asset, Charge, EventStream, Merchant, Product, ProductType
from memberships.models import Membership, Utility

ACTIONS = ("list", "retrieve", "create", "partial_update", "destroy")
SUCCESS = {"list": 200, "retrieve": 200, "create": 201, "partial_update": 200, "destroy": 204}
ERROR_CODES = {401: "not_authenticated", 403: "permission_denied", 404: "not_found", 405: "method_not_allowed"}
#: anyone else in the row
EVERYONE_ELSE = "*"

# The tables a refused write must leave as they were (sessions are touched by signing in).
WATCHED = (User, User.roles.through, Role, Role.permissions.through, Contact, Avatar, Account,
           Account.account_roles.through, AccountRole, AccountMembership, ActivationCode, Utility, Membership,
           ProductType, Product, Charge, Merchant, Asset, Asset.merchants.through, EventStream)


def snapshot():
    """Every watched row, and the audit log's size: equal snapshots mean nothing changed."""
    rows = {model._meta.db_table: list(model._base_manager.order_by("pk").values()) for model in WATCHED}
    rows["audit entries"] = AuditLogEntry.objects.count()
    return rows


class PermissionMatrix:
    """Generic permission-matrix cases for one JSON:API collection; subclass and declare."""

    #: the collection's URL, e.g. "/api/v1/accounts/"
    url: str = None
    #: the JSON:API `type` of its resources
    resource_type: str = None
    model = None
    #: world personas this resource's matrix covers beyond `World.CORE`
    extra_personas: tuple = ()
    #: {action: {persona: status}}; EVERYONE_ELSE ("*") covers the personas not named
    matrix: dict = None
    #: {(action, persona): why} — cells the SPEC and the code disagree on; not run
    disputed: dict = {}
    #: the persona whose list the query bound is checked for, and the bound
    list_persona: str = "site_admin"
    list_max_queries: int = None

    # ------------------------------------------------------------------ what a resource declares

    def target(self, world):
        """The object every persona reads, changes and deletes."""
        raise NotImplementedError

    def create_body(self, world, persona):
        """A valid POST document for `persona` (anything it needs, e.g. someone the caller may
        add, is built here, before the snapshot)."""
        raise NotImplementedError

    def patch_body(self, world, obj):
        """A PATCH document for `obj` every persona allowed to change it may send."""
        raise NotImplementedError

    def add_listed(self, world, count):
        """Make `count` more objects that `list_persona` lists."""
        raise NotImplementedError

    def assert_patched(self, obj):
        """After an allowed PATCH: the change is in the database (`obj` is refreshed)."""

    # ------------------------------------------------------------------ the cells

    @classmethod
    def personas(cls):
        from tests.conftest import World

        return list(World.CORE) + list(cls.extra_personas)

    @classmethod
    def expected(cls, action):
        """[(persona, status)] for every cell of `action` that is not disputed."""
        row = cls.matrix.get(action, {})
        cells = []
        for persona in cls.personas():
            if (action, persona) in cls.disputed:
                continue
            status = row.get(persona, row.get(EVERYONE_ELSE))
            if status is not None:
                cells.append((persona, status))
        return cells

    def pytest_generate_tests(self, metafunc):
        action = getattr(metafunc.function, "matrix_action", None)
        if action is not None:
            metafunc.parametrize("persona,expected", self.expected(action),
                                 ids=[f"{persona}-{status}" for persona, status in self.expected(action)])

    def detail_url(self, obj):
        return f"{self.url}{obj.pk}/"

    def check_response(self, response, expected):
        assert response.status_code == expected, (
            f"{response.request['REQUEST_METHOD']} {response.request['PATH_INFO']}: expected {expected}, got "
            f"{response.status_code}: {json.dumps(getattr(response, 'document', None))[:500]}")
        if expected in ERROR_CODES:
            codes = [error["code"] for error in response.document["errors"]]
            assert codes == [ERROR_CODES[expected]], codes

    def seen_by(self, persona):
        """Does the matrix say `persona` may read the target (None: disputed)?"""
        if ("retrieve", persona) in self.disputed:
            return None
        return dict(self.expected("retrieve")).get(persona) == 200

    # ------------------------------------------------------------------ the generic tests

    def test_matrix_names_every_persona_and_hides_unseen_objects(self):
        problems = []
        for action in ACTIONS:
            row = self.matrix.get(action)
            if row is None:
                problems.append(f"no row for {action}")
                continue
            unknown = set(row) - set(self.personas()) - {EVERYONE_ELSE}
            problems += [f"{action}: {name} is no persona of this matrix" for name in sorted(unknown)]
            cells = dict(self.expected(action))
            for persona in self.personas():
                if persona not in cells and (action, persona) not in self.disputed:
                    problems.append(f"{action}: nothing said for {persona}")
                    continue
                status = cells.get(persona)
                if persona == "anonymous" and status not in (None, 401):
                    problems.append(f"{action}: anonymous gets {status}, not 401")
                seen = self.seen_by(persona)
                if action in ("partial_update", "destroy") and status is not None and seen is not None:
                    if not seen and status not in (401, 404, 405):
                        problems.append(f"{action}: {persona} cannot see the object but gets {status}, not 404")
                    if seen and status == 404:
                        problems.append(f"{action}: {persona} sees the object but gets 404, not 403")
                if action == "list" and status not in (None, 200, 401):
                    problems.append(f"list: {persona} gets {status}; lists hold what one sees")
        assert not problems, "\n".join(problems)

    def test_list(self, api, world, persona, expected):
        target = self.target(world)
        response = api.as_user(world.persona(persona)).get(f"{self.url}?page_size=500")
        self.check_response(response, expected)
        if expected == 200:
            ids = [item["id"] for item in response.document["data"]]
            assert {item["type"] for item in response.document["data"]} <= {self.resource_type}
            seen = self.seen_by(persona)
            if seen is not None:
                assert (str(target.pk) in ids) == seen, f"{persona} {'misses' if seen else 'lists'} the target"

    test_list.matrix_action = "list"

    def test_retrieve(self, api, world, persona, expected):
        target = self.target(world)
        response = api.as_user(world.persona(persona)).get(self.detail_url(target))
        self.check_response(response, expected)
        if expected == 200:
            data = response.document["data"]
            assert (data["type"], data["id"]) == (self.resource_type, str(target.pk))

    test_retrieve.matrix_action = "retrieve"

    def test_create(self, api, world, persona, expected):
        payload = self.create_body(world, persona)
        api.as_user(world.persona(persona))
        before = snapshot()
        response = api.post(self.url, payload)
        self.check_response(response, expected)
        if expected == SUCCESS["create"]:
            data = response.document["data"]
            assert data["type"] == self.resource_type
            assert self.model._base_manager.filter(pk=data["id"]).exists()
            # SPEC §2: every 201 carries the new resource's URL.
            assert response["Location"].endswith(f"{self.url}{data['id']}/")
        else:
            assert snapshot() == before, "a refused create changed something"

    test_create.matrix_action = "create"

    def test_partial_update(self, api, world, persona, expected):
        target = self.target(world)
        payload = self.patch_body(world, target)
        api.as_user(world.persona(persona))
        before = snapshot()
        response = api.patch(self.detail_url(target), payload)
        self.check_response(response, expected)
        if expected == SUCCESS["partial_update"]:
            assert response.document["data"]["id"] == str(target.pk)
            target.refresh_from_db()
            self.assert_patched(target)
        else:
            assert snapshot() == before, "a refused change changed something"

    test_partial_update.matrix_action = "partial_update"

    def test_destroy(self, api, world, persona, expected):
        target = self.target(world)
        api.as_user(world.persona(persona))
        before = snapshot()
        response = api.delete(self.detail_url(target))
        self.check_response(response, expected)
        if expected == SUCCESS["destroy"]:
            assert not self.model._base_manager.filter(pk=target.pk).exists()
        else:
            assert snapshot() == before, "a refused delete changed something"

    test_destroy.matrix_action = "destroy"

    def test_list_queries_are_bounded_at_any_page_size(self, api, world, django_assert_max_num_queries):
        if self.list_max_queries is None:
            pytest.skip("this resource declares no list query bound")
        self.target(world)
        self.add_listed(world, 30)
        api.as_user(world.persona(self.list_persona))
        with django_assert_max_num_queries(self.list_max_queries):
            small = api.get(f"{self.url}?page_size=2")
        with django_assert_max_num_queries(self.list_max_queries):
            large = api.get(f"{self.url}?page_size=100")
        assert small.status_code == large.status_code == 200
        assert len(small.document["data"]) == 2 and len(large.document["data"]) > 30
