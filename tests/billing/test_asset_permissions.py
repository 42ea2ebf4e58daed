"""Who may do what with assets (SPEC §3 Assets): one permission matrix per scope, checked
cell by cell by the generic cases in tests/cases.py, and the merchants relationship URL
(GET, POST, PATCH, DELETE) for every persona."""

import pytest

from billing.models import Asset
from tests.billing.factories import AssetFactory, MerchantFactory, ProductFactory
from tests.cases import EVERYONE_ELSE as ELSE
from tests.cases import PermissionMatrix, snapshot
from tests.conftest import World
from tests.jsonapi import body, rel

pytestmark = pytest.mark.django_db

UTILITY_MEMBERS = ("spectator", "member", "leader", "utility_admin")
#: who sees `world.utility` (and so its products): SPEC §3 Utilities
READS_UTILITY = ("account_user", "account_consultant", "account_admin", "consultancy_consultant",
                 "consultancy_admin", *UTILITY_MEMBERS, "site_admin")
#: admins of the utility or of its account
UTILITY_WRITERS = ("account_admin", "utility_admin", "site_admin")
#: who sees `world.account`: its members, its consultancy's consultants and admins (SPEC §1)
READS_ACCOUNT = ("account_user", "account_consultant", "account_admin", "consultancy_consultant",
                 "consultancy_admin", "site_admin")
ACCOUNT_WRITERS = ("account_admin", "site_admin")


def status(code, *personas):
    return dict.fromkeys(personas, code)


def scoped_matrix(readers, writers, created=None):
    """Seen by `readers`, written by `writers`; 404 for everyone else (and anonymous 401)."""
    created = writers if created is None else created
    return {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, **status(200, *readers), ELSE: 404},
        "create": {"anonymous": 401, **status(403, *readers), **status(201, *created), ELSE: 404},
        "partial_update": {"anonymous": 401, **status(403, *readers), **status(200, *writers), ELSE: 404},
        "destroy": {"anonymous": 401, **status(403, *readers), **status(204, *writers), ELSE: 404},
    }


class AssetMatrix(PermissionMatrix):
    url = "/api/v1/assets/"
    resource_type = "Asset"
    model = Asset
    list_max_queries = 3  # session, count, page (merchant ids aggregated in it)
    scope = None

    def scope_id(self, world):
        raise NotImplementedError

    def target(self, world):
        return world._once(f"asset_{self.scope}", lambda: AssetFactory(
            name="target", scope=self.scope, scope_id=self.scope_id(world), secret="s3cr3t-target"))

    def create_body(self, world, persona):
        scope_id = self.scope_id(world)
        return body("Asset", {"name": "new-config", "scope": self.scope, "content": "x = 1",
                              "scopeId": None if scope_id is None else str(scope_id)})

    def patch_body(self, world, obj):
        return body("Asset", {"description": "Rotated", "content": "new-secret"}, id=obj.pk)

    def assert_patched(self, obj):
        from billing import crypto

        assert obj.description == "Rotated" and crypto.decrypt(obj.encrypted_content) == "new-secret"

    def add_listed(self, world, count):
        merchants = MerchantFactory.create_batch(2)
        for index in range(count):
            asset = AssetFactory(name=f"listed-{index}", scope=self.scope, scope_id=self.scope_id(world),
                                 secret=None if index % 2 else f"secret-{index}")
            asset.merchants.set(merchants)


class TestGlobalAssetPermissions(AssetMatrix):
    """Global assets: every signed-in user reads them, site admins write them."""

    scope = "global"
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, ELSE: 200},
        "create": {"anonymous": 401, "site_admin": 201, ELSE: 403},
        "partial_update": {"anonymous": 401, "site_admin": 200, ELSE: 403},
        "destroy": {"anonymous": 401, "site_admin": 204, ELSE: 403},
    }
    list_persona = "outsider"

    def scope_id(self, world):
        return None


class TestUtilityAssetPermissions(AssetMatrix):
    scope = "utility"
    matrix = scoped_matrix(READS_UTILITY, UTILITY_WRITERS)
    list_persona = "member"

    def scope_id(self, world):
        return world.utility.pk


class TestProductAssetPermissions(AssetMatrix):
    """A product's assets: its utility's readers and writers."""

    scope = "product"
    matrix = scoped_matrix(READS_UTILITY, UTILITY_WRITERS)
    list_persona = "account_consultant"

    def scope_id(self, world):
        return world._once("scope_product", lambda: ProductFactory(utility=world.utility)).pk


class TestAccountAssetPermissions(AssetMatrix):
    scope = "account"
    matrix = scoped_matrix(READS_ACCOUNT, ACCOUNT_WRITERS)
    list_persona = "consultancy_admin"

    def scope_id(self, world):
        return world.account.pk


class TestUserAssetPermissions(AssetMatrix):
    """A user's assets are theirs alone (and site admins'). Creating without `scopeId` makes
    one's own, which every signed-in user may."""

    scope = "user"
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, "member": 200, "site_admin": 200, ELSE: 404},
        "create": {"anonymous": 401, ELSE: 201},
        "partial_update": {"anonymous": 401, "member": 200, "site_admin": 200, ELSE: 404},
        "destroy": {"anonymous": 401, "member": 204, "site_admin": 204, ELSE: 404},
    }
    list_persona = "member"

    def scope_id(self, world):
        return world["member"].pk

    def create_body(self, world, persona):
        return body("Asset", {"name": "my-config", "scope": "user", "content": "x = 1"})


# --------------------------------------------------------------------------- /relationships/merchants/

RELATIONSHIP_PERSONAS = [name for name in World.CORE if name != "anonymous"]


def _expected(persona, method):
    if persona not in READS_UTILITY:
        return 404
    if method == "get":
        return 200
    return 200 if persona in UTILITY_WRITERS else 403


@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
@pytest.mark.parametrize("persona", RELATIONSHIP_PERSONAS)
def test_merchants_relationship_url_obeys_the_asset_rules(api, world, persona, method):
    kept, added = MerchantFactory(name="Kept"), MerchantFactory(name="Added")
    asset = AssetFactory(name="conf", scope="utility", scope_id=world.utility.pk)
    asset.merchants.set([kept])
    url = f"/api/v1/assets/{asset.pk}/relationships/merchants/"
    api.as_user(world.persona(persona))
    before = snapshot()
    payload = {"post": rel("Merchant", [added.pk]), "patch": rel("Merchant", [added.pk]),
               "delete": rel("Merchant", [kept.pk])}.get(method)
    response = getattr(api, method)(url, payload) if payload else api.get(url)
    expected = _expected(persona, method)
    assert response.status_code == expected, response.document
    linked = set(asset.merchants.values_list("pk", flat=True))
    if expected != 200 or method == "get":
        assert snapshot() == before and linked == {kept.pk}
        if expected == 200:
            assert response.document["data"] == [{"type": "Merchant", "id": str(kept.pk)}]
        return
    wanted = {"post": {kept.pk, added.pk}, "patch": {added.pk}, "delete": set()}[method]
    assert linked == wanted
    assert {int(item["id"]) for item in response.document["data"]} == wanted


def test_anonymous_gets_401_on_the_relationship_url(api, world):
    asset = AssetFactory(scope="utility", scope_id=world.utility.pk)
    for method in ("get", "post", "patch", "delete"):
        response = getattr(api.as_user(None), method)(f"/api/v1/assets/{asset.pk}/relationships/merchants/",
                                                       None if method == "get" else rel("Merchant"))
        assert response.status_code == 401
