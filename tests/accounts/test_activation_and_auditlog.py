from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.api.serializers import audit_changes_for_wire
from accounts.models import ACTIVATION_ALPHABET, Account, AccountMembership, ActivationCode, AuditLogEntry
from tests.factories import UserFactory
from tests.jsonapi import body, matrix, rel

Role = AccountMembership.Role


def code_url(account):
    return f"/api/v1/accounts/{account.pk}/activation-code/"


@pytest.mark.django_db
class TestActivationCodes:
    @pytest.mark.parametrize(*matrix(anonymous=401, outsider=404, account_user=403, account_consultant=403,
                                     consultancy_admin=403, account_admin=200, site_admin=200))
    def test_who_reads_the_code(self, api, world, caller, expected):
        assert api.as_user(world[caller]).get(code_url(world.account)).status_code == expected

    def test_code_shape_and_lifetime(self, api, world):
        response = api.as_user(world["account_admin"]).get(code_url(world.account))
        data = response.document["data"]
        assert data["type"] == "ActivationCode"
        code = data["attributes"]["activationCode"]
        assert len(code) == 8 and set(code) <= set(ACTIVATION_ALPHABET)
        assert not set(code) & set("0O1Il")
        assert 3590 <= data["attributes"]["timeLeft"] <= 3600
        again = api.get(code_url(world.account)).document["data"]["attributes"]["activationCode"]
        assert again == code

    def test_codes_come_from_a_wide_alphabet(self, api, world):
        api.as_user(world["account_admin"])
        seen = set()
        for _ in range(40):
            seen |= set(api.post(f"{code_url(world.account)}refresh/").document["data"]["attributes"][
                "activationCode"])
        assert len(seen) > 30

    def test_refresh_kills_the_old_code_at_once(self, api, world):
        api.as_user(world["account_admin"])
        old = api.get(code_url(world.account)).document["data"]["attributes"]["activationCode"]
        refreshed = api.post(f"{code_url(world.account)}refresh/")
        assert refreshed.status_code == 201
        new = refreshed.document["data"]["attributes"]["activationCode"]
        assert new != old
        joiner = UserFactory()
        stale = api.as_user(joiner).post("/api/v1/activations/", body("Activation", {"activationCode": old}))
        assert stale.status_code == 400 and stale.document["errors"][0]["code"] == "invalid_activation_code"
        assert api.post("/api/v1/activations/", body("Activation", {"activationCode": new})).status_code == 201

    @pytest.mark.parametrize(*matrix(account_user=403, account_consultant=403, account_admin=201))
    def test_who_refreshes(self, api, world, caller, expected):
        assert api.as_user(world[caller]).post(f"{code_url(world.account)}refresh/").status_code == expected

    def test_refresh_is_audited_without_the_code(self, api, world):
        api.as_user(world["account_admin"])
        code = api.post(f"{code_url(world.account)}refresh/").document["data"]["attributes"]["activationCode"]
        entries = AuditLogEntry.objects.filter(content_type__model="activationcode", account_id=world.account.pk)
        assert entries.exists()
        assert all(code not in str(e.changes) for e in entries)
        log = api.get(f"/api/v1/accounts/{world.account.pk}/auditlog/?filter[objectType]=ActivationCode")
        assert log.document["data"] and all(code not in str(e) for e in log.document["data"])


@pytest.mark.django_db
class TestActivations:
    def test_joining_as_user(self, api, world):
        code = api.as_user(world["account_admin"]).get(code_url(world.account)).document["data"]["attributes"][
            "activationCode"]
        joiner = UserFactory()
        response = api.as_user(joiner).post("/api/v1/activations/", body("Activation", {"activationCode": code}))
        assert response.status_code == 201
        assert response.document["data"]["type"] == "AccountMembership"
        assert response.document["data"]["attributes"]["role"] == "user"
        membership = AccountMembership.objects.get(user=joiner)
        assert membership.account == world.account and membership.role == Role.USER
        again = api.post("/api/v1/activations/", body("Activation", {"activationCode": code}))
        assert again.status_code == 409 and again.document["errors"][0]["code"] == "duplicate"

    def test_wrong_and_expired_codes_look_alike(self, api, world):
        api.as_user(world["account_admin"]).get(code_url(world.account))
        activation = ActivationCode.objects.get(account=world.account)
        ActivationCode.objects.filter(pk=activation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        joiner = UserFactory()
        api.as_user(joiner)
        expired = api.post("/api/v1/activations/", body("Activation", {"activationCode": activation.code}))
        wrong = api.post("/api/v1/activations/", body("Activation", {"activationCode": "ZZZZZZZZ"}))
        assert expired.status_code == wrong.status_code == 400
        assert expired.document == wrong.document
        assert expired.document["errors"][0]["source"]["pointer"] == "/data/attributes/activationCode"
        assert not AccountMembership.objects.filter(user=joiner).exists()

    def test_expired_code_is_reissued_on_read(self, api, world):
        api.as_user(world["account_admin"])
        old = api.get(code_url(world.account)).document["data"]["attributes"]["activationCode"]
        ActivationCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        assert api.get(code_url(world.account)).document["data"]["attributes"]["activationCode"] != old

    def test_activation_needs_sign_in_and_a_code(self, api, world):
        assert api.post("/api/v1/activations/", body("Activation", {"activationCode": "x"})).status_code == 401
        missing = api.as_user(world["account_user"]).post("/api/v1/activations/", body("Activation", {}))
        assert missing.status_code == 400 and missing.document["errors"][0]["code"] == "required"

    def test_activations_are_throttled_per_user(self, api, world, settings):
        from rest_framework.settings import api_settings
        from rest_framework.throttling import SimpleRateThrottle

        rates = {**api_settings.DEFAULT_THROTTLE_RATES, "activation": "3/hour"}
        original = SimpleRateThrottle.THROTTLE_RATES
        SimpleRateThrottle.THROTTLE_RATES = rates
        try:
            api.as_user(UserFactory())
            statuses = [api.post("/api/v1/activations/", body("Activation", {"activationCode": "ZZZZZZZZ"}))
                        .status_code for _ in range(4)]
            assert statuses == [400, 400, 400, 429]
            assert api.as_user(UserFactory()).post("/api/v1/activations/", body(
                "Activation", {"activationCode": "ZZZZZZZZ"})).status_code == 400
        finally:
            SimpleRateThrottle.THROTTLE_RATES = original

    def test_unknown_attributes_and_a_missing_code_are_400(self, api, world):
        api.as_user(world["member"])
        unknown = api.post("/api/v1/activations/", body("Activation", {"activationCode": "ABCDEFGH", "x": 1}))
        assert unknown.status_code == 400
        missing = api.post("/api/v1/activations/", body("Activation", {}))
        assert missing.document["errors"][0]["source"]["pointer"] == "/data/attributes/activationCode"


def log_url(account, query=""):
    return f"/api/v1/accounts/{account.pk}/auditlog/{query}"


@pytest.mark.django_db
class TestAuditLog:
    @pytest.mark.parametrize(*matrix(anonymous=401, outsider=404, consultancy_user=404, account_user=403,
                                     account_consultant=200, account_admin=200, consultancy_consultant=200,
                                     consultancy_admin=200, site_admin=200))
    def test_who_reads(self, api, world, caller, expected):
        assert api.as_user(world[caller]).get(log_url(world.account)).status_code == expected

    def test_everything_inside_the_account_newest_first(self, api, world):
        world.build()
        api.as_user(world["account_admin"])
        api.patch(f"/api/v1/accounts/{world.account.pk}/", body("Account", {"primaryColor": "#abcdef"},
                                                                     id=world.account.pk))
        target = AccountMembership.objects.get(user=world["account_user"])
        api.patch(f"/api/v1/account-memberships/{target.pk}/", body("AccountMembership", {"role": "consultant"},
                                                                    id=target.pk))
        document = api.get(log_url(world.account)).document
        first = document["data"][0]
        assert first["type"] == "AuditLogEntry"
        assert first["attributes"]["objectType"] == "AccountMembership"
        assert first["attributes"]["action"] == "update"
        assert first["attributes"]["changes"] == {"role": ["user", "consultant"]}
        assert first["relationships"]["actor"]["data"] == {"type": "User", "id": str(world["account_admin"].pk)}
        assert set(first["attributes"]) == {"timestamp", "action", "objectType", "objectId", "objectRepr",
                                            "changes", "remoteAddr"}
        second = document["data"][1]
        assert second["attributes"]["objectType"] == "Account"
        assert second["attributes"]["changes"] == {"primaryColor": [None, "#abcdef"]}
        stamps = [e["attributes"]["timestamp"] for e in document["data"]]
        assert stamps == sorted(stamps, reverse=True)
        other = AuditLogEntry.objects.filter(account_id=world.other_account.pk).values_list("pk", flat=True)
        assert not {e["id"] for e in document["data"]} & {str(pk) for pk in other}

    def test_changes_speak_the_wire(self, api, world):
        """Keys are the resource's member names, values its wire values (SPEC §3 auditlog)."""
        api.as_user(world["account_admin"])
        utility = world.utility
        created = api.post("/api/v1/memberships/", body("Membership", {"isSubscriber": True},
                                                        {"user": rel("User", world["account_user"].pk),
                                                         "utility": rel("Utility", utility.pk)}))
        assert created.status_code == 201, created.document
        api.patch(f"/api/v1/utilities/{utility.pk}/", body("Utility", {"subscriberSeats": 7}, id=utility.pk))
        entries = api.get(log_url(world.account, "?filter[objectType]=Membership,Utility")).document["data"]
        by_type = {entry["attributes"]["objectType"]: entry["attributes"]["changes"] for entry in reversed(entries)}
        membership = by_type["Membership"]
        resource = created.document["data"]
        assert membership["user"] == [None, str(world["account_user"].pk)]
        assert membership["utility"] == [None, str(utility.pk)]
        assert membership["isSubscriber"] == [None, True]
        assert membership["isSubscriberDatetime"] == [None, resource["attributes"]["isSubscriberDatetime"]]
        assert membership["created"][1].endswith("Z") and "T" in membership["created"][1]
        assert "is_subscriber" not in membership and "isSubscriberDatetime" in membership
        assert by_type["Utility"] == {"subscriberSeats": [None, 7]}

    def test_a_member_named_apart_from_its_field_keeps_its_wire_name(self, world):
        """`is_superuser` is `isSiteAdmin` on the wire; older entries stored text values."""
        changes = {"is_superuser": ["False", "True"], "date_joined": ["2026-01-02 03:04:05", None],
                   "password": ["x", "y"]}
        assert audit_changes_for_wire(type(world["account_user"]), changes) == {
            "isSiteAdmin": [False, True], "dateJoined": ["2026-01-02T03:04:05Z", None],
            "password": ["********", "********"]}

    def test_filters(self, api, world):
        api.as_user(world["account_admin"])
        api.patch(f"/api/v1/accounts/{world.account.pk}/", body("Account", {"dataRetention": 7},
                                                                     id=world.account.pk))
        updates = api.get(log_url(world.account, "?filter[action]=update")).document["data"]
        assert updates and all(e["attributes"]["action"] == "update" for e in updates)
        typed = api.get(log_url(world.account, "?filter[objectType]=Account")).document["data"]
        assert typed and all(e["attributes"]["objectType"] == "Account" for e in typed)
        mine = api.get(log_url(world.account, f"?filter[actor]={world['account_admin'].pk}")).document["data"]
        assert [e["attributes"]["action"] for e in mine] == ["update"]
        future = (timezone.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        assert api.get(log_url(world.account, f"?filter[since]={future}")).document["data"] == []
        assert api.get(log_url(world.account, f"?filter[until]={future}")).document["data"]
        for bad in ("filter[action]=explode", "filter[objectType]=Nope", "filter[since]=yesterday",
                    "filter[actor]=abc", "filter[bogus]=1", "sort=action"):
            assert api.get(log_url(world.account, f"?{bad}")).status_code == 400, bad

    def test_include_actor(self, api, world):
        api.as_user(world["account_admin"]).patch(f"/api/v1/accounts/{world.account.pk}/", body(
            "Account", {"dataRetention": 3}, id=world.account.pk))
        document = api.get(log_url(world.account, "?include=actor")).document
        assert any(item["type"] == "User" for item in document["included"])

    def test_query_count_is_fixed(self, api, world, django_assert_max_num_queries):
        for n in range(120):
            Account.objects.filter(pk=world.account.pk).update(name=f"Acme {n}")
            account = Account.objects.get(pk=world.account.pk)
            account.data_retention = n
            account.save()
        api.as_user(world["account_admin"])
        with django_assert_max_num_queries(5):
            small = api.get(log_url(world.account, "?page_size=5"))
        with django_assert_max_num_queries(5):
            large = api.get(log_url(world.account, "?page_size=200"))
        total = AuditLogEntry.objects.filter(account_id=world.account.pk).count()
        assert total > 120
        assert len(small.document["data"]) == 5 and len(large.document["data"]) == min(total, 200)
        with django_assert_max_num_queries(5):
            deep = api.get(log_url(world.account, "?page_size=10&page=12"))
        assert len(deep.document["data"]) == 10

    def test_history_is_one_indexed_lookup_on_the_account_id(self, world):
        from django.db import connection

        plan = AuditLogEntry.objects.filter(account_id=world.account.pk).order_by("-timestamp", "-id").explain()
        if connection.vendor == "sqlite":
            assert "auditlog_account_page_idx" in plan
        index_names = {index.name for index in AuditLogEntry._meta.indexes}
        assert "auditlog_account_page_idx" in index_names

    def test_unknown_account_is_404_even_for_site_admins(self, api, world):
        assert api.as_user(world["site_admin"]).get("/api/v1/accounts/999999/auditlog/").status_code == 404
