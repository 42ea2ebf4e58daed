"""A secret's content never leaves the server but through `/secret/` (SPEC §3 Assets,
issue 14): not in any API response (lists, details, includes, sparse fields, relationship
and related URLs, writes, errors, the audit log), not in a log record, not in an audit
entry, not on an admin page. Nor does its ciphertext."""

import logging

import pytest

from accounts.models import AuditLogEntry
from billing import crypto
from billing.models import Asset
from tests.billing.factories import MerchantFactory
from tests.jsonapi import body, rel

pytestmark = pytest.mark.django_db

FIRST = "first-secret-Quokka-91c4e0"
SECOND = "second-secret-Wombat-5fa2b8"


@pytest.fixture
def secret_world(api, world):
    """A utility secret, written (created, changed, given merchants, disabled) through the API
    by the utility's admin, and a global one by a site admin."""
    merchant = MerchantFactory(name="Data Manager")
    api.as_user(world["utility_admin"])
    response = api.post("/api/v1/assets/", body("Asset", {
        "name": "db-password", "scope": "utility", "scopeId": str(world.utility.pk), "content": FIRST,
        "isSecret": True}, {"merchants": rel("Merchant", [merchant.pk])}))
    assert response.status_code == 201, response.document
    asset_id = response.document["data"]["id"]
    responses = [response]
    responses.append(api.patch(f"/api/v1/assets/{asset_id}/", body("Asset", {"content": SECOND}, id=asset_id)))
    responses.append(api.post(f"/api/v1/assets/{asset_id}/disable/"))
    responses.append(api.post(f"/api/v1/assets/{asset_id}/enable/"))
    responses.append(api.delete(f"/api/v1/assets/{asset_id}/relationships/merchants/", rel("Merchant", [merchant.pk])))
    responses.append(api.post(f"/api/v1/assets/{asset_id}/relationships/merchants/", rel("Merchant", [merchant.pk])))
    responses.append(api.patch(f"/api/v1/assets/{asset_id}/relationships/merchants/",
                               rel("Merchant", [merchant.pk])))
    # refused writes whose errors might quote what was sent
    responses.append(api.post("/api/v1/assets/", body("Asset", {
        "name": "db-password", "scope": "utility", "scopeId": str(world.utility.pk), "content": FIRST,
        "isSecret": True})))
    responses.append(api.post("/api/v1/assets/", body("Asset", {
        "name": "too-big", "scope": "utility", "scopeId": str(world.utility.pk),
        "content": FIRST * 5000, "isSecret": True})))
    responses.append(api.patch(f"/api/v1/assets/{asset_id}/", body("Asset", {"content": 5, "isSecret": False},
                                                                   id=asset_id)))
    api.as_user(world["site_admin"])
    responses.append(api.post("/api/v1/assets/", body("Asset", {
        "name": "global-token", "scope": "global", "content": FIRST, "isSecret": True})))
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 200, 200, 200, 400, 400, 400, 201]
    return Asset.objects.get(pk=asset_id), merchant, responses


def ciphertexts():
    return list(Asset.objects.filter(is_secret=True).values_list("encrypted_content", flat=True))


def assert_nothing_secret(text, where):
    for secret in (FIRST, SECOND, *ciphertexts()):
        assert secret not in text, f"{where} shows a secret or its ciphertext"


def test_the_secret_is_stored_encrypted(secret_world):
    asset, _merchant, _responses = secret_world
    assert crypto.decrypt(asset.encrypted_content) == SECOND and asset.content == ""


def test_no_api_response_shows_a_secret(api, world, secret_world):
    asset, merchant, responses = secret_world
    for response in responses:
        assert_nothing_secret(response.content.decode(), response.request["PATH_INFO"])
    readers = ["utility_admin", "spectator", "account_consultant", "site_admin"]
    urls = [
        "/api/v1/assets/", "/api/v1/assets/?include=creator,merchants", "/api/v1/assets/?fields[Asset]=content",
        "/api/v1/assets/?filter[scope]=utility,global&sort=-updated",
        f"/api/v1/assets/{asset.pk}/", f"/api/v1/assets/{asset.pk}/?include=merchants,creator",
        f"/api/v1/assets/{asset.pk}/?fields[Asset]=content,isSecret",
        f"/api/v1/assets/{asset.pk}/relationships/merchants/", f"/api/v1/assets/{asset.pk}/relationships/creator/",
        f"/api/v1/assets/{asset.pk}/merchants/", f"/api/v1/assets/{asset.pk}/creator/",
        f"/api/v1/merchants/{merchant.pk}/", f"/api/v1/accounts/{world.account.pk}/auditlog/?page_size=500",
        f"/api/v1/accounts/{world.account.pk}/auditlog/?include=actor&filter[objectType]=Asset",
        f"/api/v1/assets/{asset.pk}/secret/",  # 403 for all but the site admin (checked below)
    ]
    for persona in readers:
        api.as_user(world[persona])
        for url in urls:
            response = api.get(url)
            if persona == "site_admin" and url.endswith("/secret/"):
                assert response.document["data"]["attributes"]["content"] == SECOND
                continue
            assert response.status_code in (200, 403, 404), (url, response.status_code)
            assert_nothing_secret(response.content.decode(), f"GET {url} as {persona}")
    listed = api.as_user(world["utility_admin"]).get("/api/v1/assets/").document["data"]
    assert {item["attributes"]["content"] for item in listed} == {None}


def test_the_audit_log_records_secret_changes_masked(api, world, secret_world):
    asset, _merchant, _responses = secret_world
    entries = AuditLogEntry.objects.filter(content_type__model="asset")
    assert entries.filter(action=AuditLogEntry.Action.CREATE).count() == 2
    update = entries.filter(object_pk=str(asset.pk), action=AuditLogEntry.Action.UPDATE,
                            changes__icontains="encrypted_content").get()
    assert update.actor == world["utility_admin"] and update.account_id == world.account.pk
    assert "encrypted_content" in update.changes_dict and "content" not in update.changes_dict
    assert update.changes_dict["encrypted_content"] == ["********", "********"]
    for entry in AuditLogEntry.objects.all():
        text = " ".join(str(value) for value in (entry.changes, entry.changes_text, entry.object_repr,
                                                 entry.serialized_data, entry.additional_data))
        assert_nothing_secret(text, f"audit entry {entry.pk}")
    # on the wire: the change is there, its values masked
    api.as_user(world["account_admin"])
    document = api.get(f"/api/v1/accounts/{world.account.pk}/auditlog/?filter[objectType]=Asset").document
    changes = [entry["attributes"]["changes"] for entry in document["data"]]
    assert any(change.get("encryptedContent") == ["********", "********"] for change in changes)


def test_no_log_record_shows_a_secret(api, world, caplog, settings):
    caplog.set_level(logging.DEBUG)
    settings.DEBUG = False
    # every write path again, with the log captured from the first request on
    merchant = MerchantFactory()
    api.as_user(world["utility_admin"])
    created = api.post("/api/v1/assets/", body("Asset", {
        "name": "logged", "scope": "utility", "scopeId": str(world.utility.pk), "content": FIRST, "isSecret": True}))
    asset_id = created.document["data"]["id"]
    api.patch(f"/api/v1/assets/{asset_id}/", body("Asset", {"content": SECOND}, id=asset_id))
    api.post(f"/api/v1/assets/{asset_id}/relationships/merchants/", rel("Merchant", [merchant.pk]))
    api.post("/api/v1/assets/", body("Asset", {"name": "logged", "scope": "utility",
                                               "scopeId": str(world.utility.pk), "content": FIRST}))
    api.post("/api/v1/assets/", body("Asset", {"name": "BAD", "scope": "utility", "scopeId": "x",
                                               "content": FIRST, "isSecret": True}))
    api.get(f"/api/v1/assets/{asset_id}/secret/")  # 403, logged as a warning
    api.as_user(world["site_admin"]).get(f"/api/v1/assets/{asset_id}/secret/")
    assert caplog.records, "nothing was logged at all: the capture is not working"
    for record in caplog.records:
        text = " ".join([record.getMessage(), str(record.args), str(record.exc_text or ""),
                         str(getattr(record, "request", "")), str(record.__dict__)])
        assert_nothing_secret(text, f"log record {record.name}")


# --------------------------------------------------------------------------- the admin


@pytest.fixture
def admin_client(client, world):
    client.force_login(world["site_admin"])
    return client


def test_no_admin_page_shows_a_secret(admin_client, world, secret_world):
    asset, _merchant, _responses = secret_world
    entry = AuditLogEntry.objects.filter(content_type__model="asset").latest("pk")
    pages = ["/admin/billing/asset/", "/admin/billing/asset/?q=db-password", "/admin/billing/asset/?is_secret__exact=1",
             f"/admin/billing/asset/{asset.pk}/change/", f"/admin/billing/asset/{asset.pk}/history/",
             f"/admin/billing/asset/{asset.pk}/delete/", "/admin/billing/asset/add/",
             "/admin/accounts/auditlogentry/", f"/admin/accounts/auditlogentry/{entry.pk}/change/",
             f"/admin/memberships/utility/{world.utility.pk}/change/"]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert_nothing_secret(response.content.decode(), page)
    assert "(secret: never shown)" in admin_client.get("/admin/billing/asset/").content.decode()


def test_the_admin_writes_secrets_through_the_service(admin_client, world):
    response = admin_client.post("/admin/billing/asset/add/", {
        "name": "admin-made", "description": "", "scope": "utility", "scope_id": str(world.utility.pk),
        "is_secret": "on", "content": FIRST})
    assert response.status_code == 302, response.content.decode()[:2000]
    asset = Asset.objects.get(name="admin-made")
    assert asset.content == "" and crypto.decrypt(asset.encrypted_content) == FIRST
    assert asset.creator == world["site_admin"]
    created = AuditLogEntry.objects.get(content_type__model="asset", object_pk=str(asset.pk),
                                        action=AuditLogEntry.Action.CREATE)
    assert created.actor == world["site_admin"]
    url = f"/admin/billing/asset/{asset.pk}/change/"
    # the change form starts empty for a secret; left empty, the secret stays
    form = admin_client.get(url).context["adminform"].form
    assert form.initial.get("content") == ""
    assert admin_client.post(url, {"name": "admin-made", "description": "described", "content": ""}).status_code == 302
    asset.refresh_from_db()
    assert crypto.decrypt(asset.encrypted_content) == FIRST and asset.description == "described"
    # typed in, it replaces the secret, encrypted
    assert admin_client.post(url, {"name": "admin-made", "description": "described", "content": SECOND}
                             ).status_code == 302
    asset.refresh_from_db()
    assert crypto.decrypt(asset.encrypted_content) == SECOND and asset.content == ""
    for entry in AuditLogEntry.objects.filter(object_pk=str(asset.pk)):
        assert_nothing_secret(str(entry.changes), "admin's audit entry")


def test_the_admin_refuses_an_oversized_or_duplicate_asset(admin_client, world):
    from billing.models import ASSET_CONTENT_MAX_BYTES

    base = {"description": "", "scope": "utility", "scope_id": str(world.utility.pk), "is_secret": "on"}
    response = admin_client.post("/admin/billing/asset/add/", {**base, "name": "big",
                                                                "content": "x" * (ASSET_CONTENT_MAX_BYTES + 1)})
    assert response.status_code == 200 and not Asset.objects.filter(name="big").exists()
    assert admin_client.post("/admin/billing/asset/add/", {**base, "name": "one", "content": FIRST}).status_code == 302
    response = admin_client.post("/admin/billing/asset/add/", {**base, "name": "one", "content": SECOND})
    assert response.status_code == 200 and Asset.objects.filter(name="one").count() == 1
    assert_nothing_secret(response.content.decode(), "the refused form")


def test_admin_actions_enable_and_disable(admin_client, world):
    from tests.billing.factories import AssetFactory

    assets = [AssetFactory(scope="utility", scope_id=world.utility.pk) for _ in range(2)]
    response = admin_client.post("/admin/billing/asset/", {"action": "disable_assets",
                                                           "_selected_action": [a.pk for a in assets]})
    assert response.status_code == 302
    assert not Asset.objects.filter(pk__in=[a.pk for a in assets], enabled=True).exists()


def test_deletion_summaries_count_the_assets_a_delete_removes(admin_client, world):
    from tests.billing.factories import AssetFactory, ProductFactory
    from tests.factories import UserFactory

    product = ProductFactory(utility=world.utility)
    AssetFactory(scope="account", scope_id=world.account.pk, name="acc")
    AssetFactory(scope="utility", scope_id=world.utility.pk, name="util")
    AssetFactory(scope="product", scope_id=product.pk, name="prod", secret=FIRST)
    AssetFactory(scope="utility", scope_id=world.other_utility.pk, name="elsewhere")
    person = UserFactory()
    AssetFactory(scope="user", scope_id=person.pk, name="personal")

    def counted(url):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_nothing_secret(response.content.decode(), url)
        return dict(response.context["model_count"]).get("assets", 0)

    assert counted(f"/admin/accounts/account/{world.account.pk}/delete/") == 3
    assert counted(f"/admin/memberships/utility/{world.utility.pk}/delete/") == 2
    assert counted(f"/admin/billing/product/{product.pk}/delete/") == 1
    assert counted(f"/admin/accounts/user/{person.pk}/delete/") == 1
    assert counted(f"/admin/memberships/utility/{world.second_utility.pk}/delete/") == 0
    response = admin_client.post(f"/admin/accounts/account/{world.account.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert set(Asset.objects.values_list("name", flat=True)) == {"elsewhere", "personal"}
