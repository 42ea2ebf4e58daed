"""Assets (SPEC §3): names and scopes, content up to 64 KiB, secrets encrypted at rest and
read only from `/secret/`, enable and disable, filters, deleting a scope object, the
permission's move from ProductType to Asset."""

import importlib

import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import Permission
from django.db import IntegrityError, connection, transaction
from guardian.shortcuts import assign_perm

from accounts.models import AuditLogEntry
from billing import crypto
from billing.models import ASSET_CONTENT_MAX_BYTES, Asset
from tests.billing.factories import AssetFactory, MerchantFactory, ProductFactory
from tests.cases import snapshot
from tests.factories import UserFactory, holder_of
from tests.jsonapi import body, rel

pytestmark = pytest.mark.django_db

SECRET = "correct-horse-battery-staple-7d1e"


def create(api, attributes, status=201):
    response = api.post("/api/v1/assets/", body("Asset", attributes))
    assert response.status_code == status, response.document
    return response


def utility_asset(world, **attributes):
    return {"scope": "utility", "scopeId": str(world.utility.pk), "name": "conf", **attributes}


def pointer(response):
    return [error.get("source", {}).get("pointer") for error in response.document["errors"]]


# --------------------------------------------------------------------------- names and scopes


@pytest.mark.parametrize("name", ["", "Upper", "with_underscore", "dot.ted", "a" * 64, "space d", "ünï"])
def test_a_name_outside_the_pattern_is_a_400_at_name(api, world, name):
    api.as_user(world["utility_admin"])
    before = snapshot()
    response = create(api, utility_asset(world, name=name), status=400)
    assert set(pointer(response)) == {"/data/attributes/name"}
    assert snapshot() == before


def test_names_of_63_characters_with_digits_and_hyphens_are_fine(api, world):
    api.as_user(world["utility_admin"])
    create(api, utility_asset(world, name="a-0" * 21))


def test_a_name_is_unique_within_its_scope_only(api, world):
    api.as_user(world["account_admin"])
    create(api, utility_asset(world, name="token"))
    before = snapshot()
    response = create(api, utility_asset(world, name="token"), status=400)
    assert response.document["errors"][0]["code"] == "unique"
    assert pointer(response) == ["/data/attributes/name"]
    assert snapshot() == before
    # the same name in another scope, or another utility, is another asset
    create(api, {"scope": "utility", "scopeId": str(world.second_utility.pk), "name": "token"})
    create(api, {"scope": "account", "scopeId": str(world.account.pk), "name": "token"})


def test_renaming_onto_a_taken_name_is_a_400(api, world):
    AssetFactory(name="taken", scope="utility", scope_id=world.utility.pk)
    asset = AssetFactory(name="free", scope="utility", scope_id=world.utility.pk)
    api.as_user(world["utility_admin"])
    response = api.patch(f"/api/v1/assets/{asset.pk}/", body("Asset", {"name": "taken"}, id=asset.pk))
    assert response.status_code == 400 and response.document["errors"][0]["code"] == "unique"
    asset.refresh_from_db()
    assert asset.name == "free"


def test_global_names_are_unique_too(api, site_admin):
    api.as_user(site_admin)
    create(api, {"scope": "global", "name": "motd", "content": "hello"})
    response = create(api, {"scope": "global", "name": "motd"}, status=400)
    assert response.document["errors"][0]["code"] == "unique"


def test_the_database_itself_refuses_a_second_name_in_a_scope(world):
    AssetFactory(name="dup", scope="utility", scope_id=world.utility.pk)
    AssetFactory(name="dup")  # global
    for scope, scope_id in (("utility", world.utility.pk), ("global", None)):
        with pytest.raises(IntegrityError), transaction.atomic():
            Asset.objects.create(name="dup", scope=scope, scope_id=scope_id)


def test_the_database_refuses_a_scope_id_that_does_not_fit_the_scope():
    for scope, scope_id in (("global", 5), ("utility", None)):
        with pytest.raises(IntegrityError), transaction.atomic():
            Asset.objects.create(name="bad", scope=scope, scope_id=scope_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        Asset.objects.create(name="both", scope="global", is_secret=True, content="clear", encrypted_content="x")


def test_a_user_asset_is_the_callers_by_default(api, world):
    api.as_user(world["member"])
    response = create(api, {"scope": "user", "name": "ssh-key", "content": "k"})
    assert response.document["data"]["attributes"]["scopeId"] == str(world["member"].pk)
    assert response.document["data"]["relationships"]["creator"]["data"]["id"] == str(world["member"].pk)


@pytest.mark.parametrize("scope_id,status,code", [
    (None, 400, "required"), ("abc", 400, "invalid"), ("12.5", 400, "invalid"), (True, 400, "invalid"),
    ("999999", 404, "not_found"),
])
def test_a_missing_malformed_or_unknown_scope_id(api, world, scope_id, status, code):
    api.as_user(world["account_admin"])
    before = snapshot()
    attributes = {"scope": "utility", "name": "conf"}
    if scope_id is not None:
        attributes["scopeId"] = scope_id
    response = create(api, attributes, status=status)
    assert response.document["errors"][0]["code"] == code
    if status == 400:
        assert pointer(response) == ["/data/attributes/scopeId"]
    assert snapshot() == before


def test_scope_ids_may_be_numbers(api, world):
    api.as_user(world["utility_admin"])
    create(api, {"scope": "utility", "scopeId": world.utility.pk, "name": "conf"})


def test_a_scope_object_the_caller_cannot_see_is_a_404_before_the_body_is_judged(api, world):
    api.as_user(world["account_admin"])
    # another account's utility: unseen, so 404 even with a bad name
    response = create(api, {"scope": "utility", "scopeId": str(world.other_utility.pk), "name": "BAD NAME"},
                      status=404)
    assert response.document["errors"][0]["code"] == "not_found"
    # seen but not theirs to write: 403 (a spectator of the utility)
    api.as_user(world["spectator"])
    assert create(api, utility_asset(world, name="BAD NAME"), status=403).document["errors"][0]["code"] == (
        "permission_denied")


def test_a_global_asset_takes_no_scope_id(api, site_admin):
    api.as_user(site_admin)
    response = create(api, {"scope": "global", "scopeId": "3", "name": "x"}, status=400)
    assert pointer(response) == ["/data/attributes/scopeId"]


def test_another_users_scope_is_404_when_unseen_403_when_seen(api, world):
    api.as_user(world["outsider"])
    assert create(api, {"scope": "user", "scopeId": str(world["member"].pk), "name": "x"}, status=404)
    # the leader shares the utility with the member, so sees them, and may not write their assets
    api.as_user(world["leader"])
    assert create(api, {"scope": "user", "scopeId": str(world["member"].pk), "name": "x"}, status=403)
    api.as_user(world["site_admin"])
    create(api, {"scope": "user", "scopeId": str(world["member"].pk), "name": "x"})


def test_an_unknown_scope_is_a_400(api, world):
    api.as_user(world["member"])
    response = create(api, {"scope": "planet", "name": "x"}, status=400)
    assert pointer(response) == ["/data/attributes/scope"]


# --------------------------------------------------------------------------- fixed members


def test_is_secret_scope_and_scope_id_are_fixed_after_create(api, world):
    asset = AssetFactory(scope="utility", scope_id=world.utility.pk)
    api.as_user(world["utility_admin"])
    url = f"/api/v1/assets/{asset.pk}/"
    for attributes, member in (({"isSecret": True}, "isSecret"), ({"scope": "global"}, "scope"),
                               ({"scopeId": str(world.second_utility.pk)}, "scopeId"),
                               ({"enabled": False}, "enabled")):
        before = snapshot()
        response = api.patch(url, body("Asset", attributes, id=asset.pk))
        assert response.status_code == 400, response.document
        assert pointer(response) == [f"/data/attributes/{member}"]
        assert snapshot() == before
    # written back unchanged: ignored
    response = api.patch(url, body("Asset", {"isSecret": False, "scope": "utility", "enabled": True,
                                             "scopeId": str(world.utility.pk), "description": "d"}, id=asset.pk))
    assert response.status_code == 200, response.document


def test_a_secret_written_back_as_read_keeps_its_content(api, world):
    asset = AssetFactory(scope="utility", scope_id=world.utility.pk, secret=SECRET)
    api.as_user(world["utility_admin"])
    read = api.get(f"/api/v1/assets/{asset.pk}/").document["data"]
    attributes = {key: value for key, value in read["attributes"].items() if key not in ("created", "updated")}
    attributes["description"] = "now described"
    response = api.patch(f"/api/v1/assets/{asset.pk}/", body("Asset", attributes, id=asset.pk))
    assert response.status_code == 200, response.document
    asset.refresh_from_db()
    assert crypto.decrypt(asset.encrypted_content) == SECRET and asset.description == "now described"


def test_null_content_is_refused_for_a_plain_asset(api, world):
    asset = AssetFactory(scope="utility", scope_id=world.utility.pk)
    api.as_user(world["utility_admin"])
    response = api.patch(f"/api/v1/assets/{asset.pk}/", body("Asset", {"content": None}, id=asset.pk))
    assert response.status_code == 400 and pointer(response) == ["/data/attributes/content"]


# --------------------------------------------------------------------------- 64 KiB


@pytest.mark.parametrize("secret", [False, True])
def test_content_is_at_most_64_kib_counted_as_utf8_bytes(api, world, secret):
    api.as_user(world["utility_admin"])
    exactly = "é" * (ASSET_CONTENT_MAX_BYTES // 2)  # 2 bytes each: 65536 bytes, 32768 characters
    create(api, utility_asset(world, name="full", content=exactly, isSecret=secret))
    before = snapshot()
    for too_big in ("é" * (ASSET_CONTENT_MAX_BYTES // 2) + "x", "x" * (ASSET_CONTENT_MAX_BYTES + 1)):
        response = create(api, utility_asset(world, name="over", content=too_big, isSecret=secret), status=400)
        assert pointer(response) == ["/data/attributes/content"]
        assert too_big[:20] not in response.content.decode()
    assert snapshot() == before
    stored = Asset.objects.get(name="full")
    assert (crypto.decrypt(stored.encrypted_content) if secret else stored.content) == exactly


# --------------------------------------------------------------------------- encryption at rest


def test_a_secret_is_stored_encrypted_and_nowhere_in_clear(api, world):
    api.as_user(world["utility_admin"])
    response = create(api, utility_asset(world, name="db-password", content=SECRET, isSecret=True))
    asset = Asset.objects.get(pk=response.document["data"]["id"])
    assert asset.content == "" and asset.encrypted_content and SECRET not in asset.encrypted_content
    assert crypto.decrypt(asset.encrypted_content) == SECRET
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM billing_asset")
        assert not any(SECRET in str(value) for row in cursor.fetchall() for value in row)


def test_keys_rotate_with_the_command(settings, world):
    from cryptography.fernet import Fernet
    from django.core.management import call_command
    from django.core.management.base import CommandError

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ROSTER_ASSET_KEYS = [old]
    first = AssetFactory(name="one", secret="first secret")
    second = AssetFactory(name="two", secret="second secret")
    AssetFactory(name="plain")
    settings.ROSTER_ASSET_KEYS = [new, old]
    assert crypto.decrypt(first.encrypted_content) == "first secret"  # the old key still reads it

    from io import StringIO

    out = StringIO()
    call_command("rotate_asset_keys", "--batch-size", "1", stdout=out)
    assert "Re-encrypted 2 of 2" in out.getvalue()
    settings.ROSTER_ASSET_KEYS = [new]
    for asset, text in ((first, "first secret"), (second, "second secret")):
        asset.refresh_from_db()
        assert crypto.decrypt(asset.encrypted_content) == text
    out = StringIO()
    call_command("rotate_asset_keys", stdout=out)
    assert "Re-encrypted 0 of 2" in out.getvalue()
    # a key dropped too early: the command names the row, never its content
    settings.ROSTER_ASSET_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError) as failure:
        call_command("rotate_asset_keys", stdout=StringIO())
    assert str(first.pk) in str(failure.value) and "first secret" not in str(failure.value)
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(first.encrypted_content)


def test_development_derives_a_key_from_the_secret_key(settings):
    settings.ROSTER_ASSET_KEYS = []
    token = crypto.encrypt("x")
    assert crypto.configured_keys() == (crypto.derived_key(settings.SECRET_KEY),)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only"
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(token)


def test_settings_refuse_a_key_that_is_no_fernet_key_without_showing_it():
    from django.core.exceptions import ImproperlyConfigured

    from config.settings.base import check_asset_keys

    with pytest.raises(ImproperlyConfigured) as refused:
        check_asset_keys(["Zm9vYmFyLW5vdC1hLWtleQ"])
    assert "Zm9vYmFyLW5vdC1hLWtleQ" not in str(refused.value) and "key 1 of 1" in str(refused.value)


# --------------------------------------------------------------------------- /secret/


def test_secret_holders_who_see_the_asset_read_it_with_no_store(api, world):
    asset = AssetFactory(scope="utility", scope_id=world.utility.pk, secret=SECRET)
    url = f"/api/v1/assets/{asset.pk}/secret/"
    reader = holder_of("billing.view_secret_asset")
    from tests.factories import MembershipFactory

    MembershipFactory(user=reader, utility=world.utility, role="spectator")
    response = api.as_user(reader).get(url)
    assert response.status_code == 200, response.document
    assert response["Cache-Control"] == "no-store"
    data = response.document["data"]
    assert (data["type"], data["id"], data["attributes"]) == ("AssetSecret", str(asset.pk),
                                                              {"name": asset.name, "content": SECRET})
    assert api.as_user(world["site_admin"]).get(url).document["data"]["attributes"]["content"] == SECRET


def test_secret_refusals(api, world):
    asset = AssetFactory(scope="utility", scope_id=world.utility.pk, secret=SECRET)
    plain = AssetFactory(scope="utility", scope_id=world.utility.pk, name="plain")
    url = f"/api/v1/assets/{asset.pk}/secret/"
    # a holder who cannot see the asset: 404
    assert api.as_user(holder_of("billing.view_secret_asset")).get(url).status_code == 404
    # who sees it without the permission, its writers included: 403
    for persona in ("spectator", "utility_admin", "account_admin"):
        response = api.as_user(world[persona]).get(url)
        assert response.status_code == 403, persona
        assert SECRET not in response.content.decode()
    assert api.as_user(world["outsider"]).get(url).status_code == 404
    assert api.as_user(None).get(url).status_code == 401
    assert api.as_user(world["site_admin"]).get(f"/api/v1/assets/{plain.pk}/secret/").status_code == 404
    assert api.as_user(world["site_admin"]).get("/api/v1/assets/999999/secret/").status_code == 404


def test_an_object_grant_on_one_asset_reads_that_secret_only(api, world):
    asset = AssetFactory(scope="utility", scope_id=world.utility.pk, secret=SECRET)
    other = AssetFactory(scope="utility", scope_id=world.utility.pk, secret="other", name="other")
    reader = world["member"]
    assign_perm("billing.view_secret_asset", reader, asset)
    api.as_user(reader)
    assert api.get(f"/api/v1/assets/{asset.pk}/secret/").document["data"]["attributes"]["content"] == SECRET
    assert api.get(f"/api/v1/assets/{other.pk}/secret/").status_code == 403


def test_the_permission_moved_to_asset_and_its_holders_keep_it(world):
    permission = Permission.objects.get(codename="view_secret_asset")
    assert permission.content_type.model == "asset"
    holder = holder_of("billing.view_secret_asset")
    direct = UserFactory()
    direct.user_permissions.add(permission)
    migration = importlib.import_module("billing.migrations.0003_assets")
    # back as it was before the migration, then forward again: the same row, the same holders
    migration.to_product_type(global_apps, None)
    permission.refresh_from_db()
    assert permission.content_type.model == "producttype"
    migration.to_asset(global_apps, None)
    permission.refresh_from_db()
    assert permission.content_type.model == "asset"
    for user in (holder, direct):
        user = type(user).objects.get(pk=user.pk)
        assert user.has_perm("billing.view_secret_asset")


def test_the_permission_merges_when_both_rows_exist(world):
    from django.contrib.contenttypes.models import ContentType

    kept = Permission.objects.get(codename="view_secret_asset")
    product_type = ContentType.objects.get(app_label="billing", model="producttype")
    stale = Permission.objects.create(codename="view_secret_asset", name="old", content_type=product_type)
    role_holder = holder_of()
    role_holder.roles.first().permissions.add(stale)
    direct = UserFactory()
    direct.user_permissions.add(stale)
    importlib.import_module("billing.migrations.0003_assets").to_asset(global_apps, None)
    assert not Permission.objects.filter(pk=stale.pk).exists()
    for user in (role_holder, direct):
        assert type(user).objects.get(pk=user.pk).has_perm("billing.view_secret_asset")
    assert Permission.objects.filter(codename="view_secret_asset").get() == kept


# --------------------------------------------------------------------------- enable / disable


def test_enable_and_disable(api, world, audit_entries):
    asset = AssetFactory(scope="utility", scope_id=world.utility.pk)
    api.as_user(world["utility_admin"])
    response = api.post(f"/api/v1/assets/{asset.pk}/disable/")
    assert response.status_code == 200, response.document
    assert response.document["data"]["attributes"]["enabled"] is False
    entry = AuditLogEntry.objects.filter(object_pk=str(asset.pk)).latest("pk")
    assert entry.changes_dict["enabled"] == ["True", "False"] or entry.changes_dict["enabled"] == [True, False]
    assert entry.actor == world["utility_admin"] and entry.account_id == world.account.pk
    before = audit_entries()
    assert api.post(f"/api/v1/assets/{asset.pk}/disable/").status_code == 200
    assert audit_entries() == before  # already disabled: nothing changed
    assert api.post(f"/api/v1/assets/{asset.pk}/enable/").document["data"]["attributes"]["enabled"] is True


def test_enable_and_disable_refusals(api, world):
    asset = AssetFactory(scope="utility", scope_id=world.utility.pk, enabled=False)
    for persona, expected in (("spectator", 403), ("leader", 403), ("outsider", 404), ("anonymous", 401)):
        api.as_user(world.persona(persona))
        before = snapshot()
        response = api.post(f"/api/v1/assets/{asset.pk}/enable/")
        assert response.status_code == expected, persona
        assert snapshot() == before


# --------------------------------------------------------------------------- merchants


def test_merchants_are_set_on_create_and_patch_and_audited(api, world):
    first, second = MerchantFactory(), MerchantFactory()
    api.as_user(world["account_admin"])
    response = create(api, {"scope": "account", "scopeId": str(world.account.pk), "name": "dm-config"} | {})
    asset_id = response.document["data"]["id"]
    response = api.patch(f"/api/v1/assets/{asset_id}/", body("Asset", relationships={
        "merchants": rel("Merchant", [first.pk, second.pk])}, id=asset_id))
    assert response.status_code == 200, response.document
    assert [m["id"] for m in response.document["data"]["relationships"]["merchants"]["data"]] == [
        str(first.pk), str(second.pk)]
    response = api.delete(f"/api/v1/assets/{asset_id}/relationships/merchants/", rel("Merchant", [first.pk]))
    assert response.document["data"] == [{"type": "Merchant", "id": str(second.pk)}]
    entries = AuditLogEntry.objects.filter(object_pk=asset_id, changes__icontains="merchants")
    assert entries.count() >= 2 and all(e.actor == world["account_admin"] for e in entries)
    assert all(e.account_id == world.account.pk for e in entries)
    # an unknown merchant changes nothing
    response = api.post(f"/api/v1/assets/{asset_id}/relationships/merchants/", rel("Merchant", [999999]))
    assert response.status_code == 400
    assert list(Asset.objects.get(pk=asset_id).merchants.all()) == [second]


# --------------------------------------------------------------------------- lists


def test_filters_by_scope_and_scope_id(api, world):
    a = AssetFactory(scope="utility", scope_id=world.utility.pk, name="a")
    b = AssetFactory(scope="utility", scope_id=world.second_utility.pk, name="b")
    c = AssetFactory(scope="account", scope_id=world.account.pk, name="c")
    g = AssetFactory(name="g")
    api.as_user(world["account_admin"])

    def ids(query):
        response = api.get(f"/api/v1/assets/?{query}")
        assert response.status_code == 200, response.document
        return {int(item["id"]) for item in response.document["data"]}

    assert ids("") == {a.pk, b.pk, c.pk, g.pk}
    assert ids("filter[scope]=utility") == {a.pk, b.pk}
    assert ids("filter[scope]=account,global") == {c.pk, g.pk}
    assert ids(f"filter[scopeId]={world.utility.pk},{world.account.pk}") == {a.pk, c.pk}
    assert ids(f"filter[scope]=utility&filter[scopeId]={world.utility.pk}") == {a.pk}
    # ids are per table: filter[scopeId] alone matches that id in any scope
    unseen = f"filter[scope]=utility&filter[scopeId]={world.other_utility.pk}"
    assert ids(unseen) == set()  # unseen: empty, no error
    for bad in ("filter[scope]=planet", "filter[scopeId]=x", "filter[secretContent]=1", "sort=content"):
        assert api.get(f"/api/v1/assets/?{bad}").status_code == 400, bad


def test_the_outsider_lists_only_global_assets_and_their_own(api, world):
    AssetFactory(scope="utility", scope_id=world.utility.pk, name="u")
    AssetFactory(scope="account", scope_id=world.account.pk, name="acc")
    AssetFactory(scope="user", scope_id=world["member"].pk, name="mine")
    own = AssetFactory(scope="user", scope_id=world["outsider"].pk, name="outsiders")
    other = AssetFactory(scope="account", scope_id=world.other_account.pk, name="theirs")
    g = AssetFactory(name="g")
    response = api.as_user(world["outsider"]).get("/api/v1/assets/")
    assert {int(item["id"]) for item in response.document["data"]} == {own.pk, other.pk, g.pk}


def test_detail_costs_a_fixed_number_of_queries(api, world, django_assert_max_num_queries):
    asset = AssetFactory(scope="product", scope_id=ProductFactory(utility=world.utility).pk, secret="x")
    asset.merchants.set(MerchantFactory.create_batch(3))
    api.as_user(world["member"])
    with django_assert_max_num_queries(2):  # session, the asset with its merchant ids
        assert api.get(f"/api/v1/assets/{asset.pk}/").status_code == 200


# --------------------------------------------------------------------------- deleting the scope


def test_deleting_a_scope_object_deletes_its_assets_and_the_log_keeps_them(api, world):
    product = ProductFactory(utility=world.utility)
    gone = [AssetFactory(scope="utility", scope_id=world.utility.pk, name="u", secret=SECRET),
            AssetFactory(scope="product", scope_id=product.pk, name="p"),
            AssetFactory(scope="account", scope_id=world.account.pk, name="a")]
    kept = [AssetFactory(scope="utility", scope_id=world.other_utility.pk, name="elsewhere"),
            AssetFactory(scope="account", scope_id=world.other_account.pk, name="elsewhere"),
            AssetFactory(name="global")]
    for asset in gone:
        asset.merchants.add(MerchantFactory())
    api.as_user(world["account_admin"])
    assert api.delete(f"/api/v1/accounts/{world.account.pk}/").status_code == 204
    assert not Asset.objects.filter(pk__in=[a.pk for a in gone]).exists()
    assert Asset.objects.filter(pk__in=[a.pk for a in kept]).count() == 3
    deleted = AuditLogEntry.objects.filter(content_type__model="asset", action=AuditLogEntry.Action.DELETE)
    assert {int(e.object_pk) for e in deleted} == {a.pk for a in gone}
    assert {e.account_id for e in deleted} == {world.account.pk}
    assert all(SECRET not in str(e.changes) for e in deleted)


def test_deleting_a_utility_or_product_or_user_deletes_their_assets(api, world):
    product = ProductFactory(utility=world.second_utility)
    of_product = AssetFactory(scope="product", scope_id=product.pk)
    of_utility = AssetFactory(scope="utility", scope_id=world.second_utility.pk)
    other = AssetFactory(scope="utility", scope_id=world.utility.pk)
    api.as_user(world["account_admin"])
    assert api.delete(f"/api/v1/products/{product.pk}/").status_code == 204
    assert not Asset.objects.filter(pk=of_product.pk).exists() and Asset.objects.filter(pk=of_utility.pk).exists()
    assert api.delete(f"/api/v1/utilities/{world.second_utility.pk}/").status_code == 204
    assert not Asset.objects.filter(pk=of_utility.pk).exists() and Asset.objects.filter(pk=other.pk).exists()
    person = UserFactory()
    mine = AssetFactory(scope="user", scope_id=person.pk)
    made = AssetFactory(scope="utility", scope_id=world.utility.pk, name="made", creator=person)
    api.as_user(world["site_admin"])
    assert api.delete(f"/api/v1/users/{person.pk}/").status_code == 204
    assert not Asset.objects.filter(pk=mine.pk).exists()
    made.refresh_from_db()
    assert made.creator is None  # what they made for a utility stays


# --------------------------------------------------------------------------- the OpenAPI document


def test_the_openapi_document_describes_assets_and_their_answers(api, client, world):
    import json

    from tests.test_schema import assert_matches_document

    document = json.loads(client.get("/api/v1/schema/", {"format": "json"}).content)
    paths = document["paths"]
    assert set(paths["/api/v1/assets/{id}/relationships/merchants/"]) == {"get", "post", "patch", "delete"}
    secret = paths["/api/v1/assets/{id}/secret/"]["get"]
    assert {"200", "403", "404"} <= set(secret["responses"])
    assert secret["responses"]["200"]["content"]["application/vnd.api+json"]["schema"] == {
        "$ref": "#/components/schemas/AssetSecretDocument"}
    for toggle in ("enable", "disable"):
        assert {"200", "403", "404"} <= set(paths[f"/api/v1/assets/{{id}}/{toggle}/"]["post"]["responses"])
    filters = {p["name"] for p in paths["/api/v1/assets/"]["get"]["parameters"]}
    assert {"filter[scope]", "filter[scopeId]"} <= filters

    asset = AssetFactory(scope="utility", scope_id=world.utility.pk, secret=SECRET)
    asset.merchants.add(MerchantFactory())
    api.as_user(world["site_admin"])
    for method, path, url in [
        ("get", "/api/v1/assets/", "/api/v1/assets/?include=merchants,creator"),
        ("get", "/api/v1/assets/{id}/", f"/api/v1/assets/{asset.pk}/"),
        ("get", "/api/v1/assets/{id}/secret/", f"/api/v1/assets/{asset.pk}/secret/"),
        ("get", "/api/v1/assets/{id}/relationships/merchants/", f"/api/v1/assets/{asset.pk}/relationships/merchants/"),
    ]:
        assert_matches_document(document, method, path, api.get(url))
    assert_matches_document(document, "post", "/api/v1/assets/{id}/disable/",
                            api.post(f"/api/v1/assets/{asset.pk}/disable/"))
    created = api.post("/api/v1/assets/", body("Asset", {"scope": "global", "name": "g", "content": "v"}))
    assert_matches_document(document, "post", "/api/v1/assets/", created)
    api.as_user(world["spectator"])
    refused = api.get(f"/api/v1/assets/{asset.pk}/secret/")
    assert refused.status_code == 403
    assert_matches_document(document, "get", "/api/v1/assets/{id}/secret/", refused)


# --------------------------------------------------------------------------- production settings


def _manage(*args, **env):
    import os
    import subprocess
    import sys
    from pathlib import Path

    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment.update(DJANGO_DEBUG="false", DJANGO_SECRET_KEY="p" * 50, DJANGO_ALLOWED_HOSTS="roster.example.org",
                       **env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=Path(__file__).resolve().parents[2],
                          env=environment, capture_output=True, text=True, timeout=120)


def test_production_refuses_to_start_without_asset_keys():
    result = _manage("check")
    assert result.returncode != 0 and "DJANGO_ASSET_KEYS must be set in production" in result.stderr


def test_production_refuses_a_bad_asset_key_without_printing_it():
    from cryptography.fernet import Fernet

    bad = "bm90LWEtZmVybmV0LWtleS1hdC1hbGw"
    result = _manage("check", DJANGO_ASSET_KEYS=f"{Fernet.generate_key().decode()},{bad}")
    assert result.returncode != 0 and "key 2 of 2 is not a Fernet key" in result.stderr
    assert bad not in result.stderr + result.stdout
    good = _manage("check", DJANGO_ASSET_KEYS=Fernet.generate_key().decode())
    assert good.returncode == 0, good.stderr
