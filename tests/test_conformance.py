"""Issue 12: what real JSON:API clients need (SPEC §2): paths without the slash, links,
relationship and related endpoints, media types, repeated parameters, timestamps."""

from datetime import UTC

import pytest

from tests.jsonapi import body

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- trailing slash


@pytest.mark.parametrize("path", [
    "/api/v1/memberships", "/api/v1/users", "/api/v1/users/me", "/api/v1/users/me/permissions",
    "/api/v1/users/me/avatar", "/api/v1/version", "/api/v1/ping", "/api/v1/accounts/default",
    "/api/v1/roles?page[size]=1",
])
def test_paths_without_the_slash_are_served(api, world, path):
    response = api.as_user(world["account_admin"]).get(path, HTTP_ACCEPT="*/*")
    assert response.status_code == 200, response.content


def test_details_and_nested_paths_without_the_slash(api, world):
    api.as_user(world["account_admin"])
    account = world.account
    for path in (f"/api/v1/accounts/{account.pk}", f"/api/v1/accounts/{account.pk}/auditlog",
                 f"/api/v1/accounts/{account.pk}/activation-code", f"/api/v1/utilities/{world.utility.pk}"):
        assert api.get(path).status_code == 200, path


def test_writes_without_the_slash(api, world):
    api.as_user(world["account_admin"])
    response = api.post("/api/v1/utilities", body("Utility", {"name": "West", "billingDay": 3},
                                                    {"account": {"data": {"type": "Account",
                                                                          "id": str(world.account.pk)}}}))
    assert response.status_code == 201, response.content
    utility_id = response.document["data"]["id"]
    response = api.patch(f"/api/v1/utilities/{utility_id}", body("Utility", {"name": "Westward"}, id=utility_id))
    assert response.status_code == 200
    assert api.delete(f"/api/v1/utilities/{utility_id}").status_code == 204


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/nope/", "/api/v1/users/x", "/api/v1/users/me/nope",
                                  "/api/v2/users", "/api/v1/users//"])
def test_unrouted_paths_are_jsonapi_404(api, world, path):
    response = api.as_user(world["account_admin"]).get(path)
    assert response.status_code == 404
    assert response.document["errors"][0]["code"] == "not_found"


# --------------------------------------------------------------------------- links and the jsonapi member


def test_every_document_has_the_jsonapi_member(api, world):
    api.as_user(world["account_admin"])
    for path in ("/api/v1/users/me/", "/api/v1/memberships/", "/api/v1/nope/", "/api/v1/users/999999/",
                 "/api/v1/version/"):
        assert api.get(path).document["jsonapi"] == {"version": "1.0"}, path
    assert api.as_user(None).get("/api/v1/users/").document["jsonapi"] == {"version": "1.0"}


def _relationships_have_links(resource):
    url = resource["links"]["self"]
    assert url == f"http://testserver/api/v1/{_COLLECTIONS[resource['type']]}/{resource['id']}/"
    for name, relationship in resource.get("relationships", {}).items():
        assert relationship["links"] == {"self": f"{url}relationships/{name}/", "related": f"{url}{name}/"}


_COLLECTIONS = {"User": "users", "Membership": "memberships", "Utility": "utilities", "Account": "accounts",
                "AccountMembership": "account-memberships", "Role": "roles", "AccountRole": "account-roles",
                "Session": "sessions", "Contact": "contacts", "Invitation": "invitations"}


@pytest.mark.parametrize("fast", [True, False])
def test_resources_and_relationships_have_links(api, world, settings, fast):
    settings.API_FAST_READ = fast
    world.build()
    world.role  # noqa: B018 (built on first use)
    api.as_user(world["site_admin"])
    for path in ("/api/v1/memberships/?include=user,utility", "/api/v1/accounts/?include=consultancyAccount",
                 "/api/v1/users/?include=roles", "/api/v1/account-memberships/?include=account",
                 f"/api/v1/accounts/{world.account.pk}/?include=utilities", "/api/v1/sessions/",
                 "/api/v1/roles/"):
        document = api.get(path).document
        resources = document["data"] if isinstance(document["data"], list) else [document["data"]]
        assert resources, path
        for resource in resources + document.get("included", []):
            _relationships_have_links(resource)


@pytest.mark.parametrize("fast", [True, False])
def test_unbounded_relationships_carry_a_count_not_ids(api, world, settings, fast):
    settings.API_FAST_READ = fast
    world.build()
    api.as_user(world["account_admin"])
    utility = api.get(f"/api/v1/utilities/{world.utility.pk}/").document["data"]
    memberships = utility["relationships"]["memberships"]
    assert "data" not in memberships and memberships["meta"] == {"count": 4}
    account = api.get(f"/api/v1/accounts/{world.account.pk}/").document["data"]["relationships"]
    assert "data" not in account["utilities"] and account["utilities"]["meta"] == {"count": 1}
    assert "data" not in account["accountMemberships"] and account["accountMemberships"]["meta"]["count"] == 3
    assert account["accountRoles"]["data"] == []  # bounded: data
    me = api.get("/api/v1/users/me/").document["data"]["relationships"]
    assert me["accountMemberships"]["meta"] == {"count": 1} and "data" not in me["accountMemberships"]
    assert me["roles"]["data"] == []


@pytest.mark.parametrize("fast", [True, False])
def test_counts_hold_what_the_caller_may_see(api, world, settings, fast):
    settings.API_FAST_READ = fast
    world.build()
    # a spectator sees the utility and every membership of it; an outsider's own user counts only theirs
    member = api.as_user(world["member"]).get("/api/v1/memberships/?include=user").document
    for user in member["included"]:
        assert user["relationships"]["memberships"]["meta"]["count"] >= 1
        assert "data" not in user["relationships"]["memberships"]


@pytest.mark.parametrize("fast", [True, False])
def test_an_included_unbounded_relationship_carries_its_linkage(api, world, settings, fast):
    """Full linkage (JSON:API): what is included is identified by the relationship."""
    settings.API_FAST_READ = fast
    world.build()
    document = api.as_user(world["account_admin"]).get(
        f"/api/v1/utilities/{world.utility.pk}/?include=memberships").document
    relationship = document["data"]["relationships"]["memberships"]
    assert relationship["meta"] == {"count": 4} and len(relationship["data"]) == 4
    assert {r["id"] for r in relationship["data"]} == {r["id"] for r in document["included"]}


# --------------------------------------------------------------------------- relationship endpoints


def test_relationship_endpoints_answer_to_one(api, world):
    membership = world.membership_of("member")
    api.as_user(world["member"])
    response = api.get(f"/api/v1/memberships/{membership.pk}/relationships/utility/")
    assert response.status_code == 200
    assert response.document["data"] == {"type": "Utility", "id": str(world.utility.pk)}
    assert response.document["links"]["related"].endswith(f"/memberships/{membership.pk}/utility/")
    related = api.get(f"/api/v1/memberships/{membership.pk}/utility/")
    assert related.status_code == 200 and related.document["data"]["id"] == str(world.utility.pk)
    # a member of the utility does not see its account: the related resource is a 404
    assert api.get(f"/api/v1/utilities/{world.utility.pk}/account/").status_code == 404
    assert api.get(f"/api/v1/utilities/{world.utility.pk}/relationships/account/").document["data"] == {
        "type": "Account", "id": str(world.account.pk)}


def test_relationship_endpoints_are_404_for_the_unseen(api, world):
    membership = world.membership_of("member")
    api.as_user(world["outsider"])
    for path in (f"/api/v1/memberships/{membership.pk}/relationships/utility/",
                 f"/api/v1/memberships/{membership.pk}/utility/",
                 f"/api/v1/utilities/{world.utility.pk}/memberships/",
                 f"/api/v1/utilities/{world.utility.pk}/relationships/memberships/",
                 f"/api/v1/memberships/{membership.pk}/relationships/nope/"):
        assert api.get(path).status_code == 404, path


def test_unbounded_relationship_linkage_is_paginated(api, world):
    world.build()
    api.as_user(world["account_admin"])
    response = api.get(f"/api/v1/utilities/{world.utility.pk}/relationships/memberships/?page[size]=3")
    document = response.document
    assert response.status_code == 200
    assert len(document["data"]) == 3 and all(item["type"] == "Membership" for item in document["data"])
    assert document["meta"]["pagination"]["count"] == 4
    assert document["links"]["next"] and document["links"]["self"].endswith("/relationships/memberships/")
    second = api.get(_path(document["links"]["next"])).document
    assert len(second["data"]) == 1
    assert api.get(f"/api/v1/utilities/{world.utility.pk}/relationships/memberships/?sort=id").status_code == 400


def test_related_collection_is_the_filtered_list(api, world):
    world.build()
    api.as_user(world["account_admin"])
    other = world.other_utility  # noqa: F841 (a utility whose memberships must not show)
    response = api.get(f"/api/v1/utilities/{world.utility.pk}/memberships/?include=user&sort=-created&page[size]=2")
    assert response.status_code == 200
    document = response.document
    assert len(document["data"]) == 2 and document["meta"]["pagination"]["count"] == 4
    assert all(r["relationships"]["utility"]["data"]["id"] == str(world.utility.pk) for r in document["data"])
    assert {r["type"] for r in document["included"]} == {"User"}
    assert f"/utilities/{world.utility.pk}/memberships/" in document["links"]["next"]
    users = api.get(f"/api/v1/accounts/{world.account.pk}/accountMemberships/").document
    assert len(users["data"]) == 3
    assert api.get(f"/api/v1/utilities/{world.utility.pk}/memberships/?filter[nope]=1").status_code == 400


def _path(url):
    """The path and query of an absolute link (the test client takes paths)."""
    assert url.startswith("http://testserver/"), url
    return url.removeprefix("http://testserver")


def test_relationship_links_are_followed(api, world):
    world.build()
    api.as_user(world["site_admin"])
    document = api.get(f"/api/v1/accounts/{world.account.pk}/").document
    for relationship in document["data"]["relationships"].values():
        for link in relationship["links"].values():
            response = api.get(_path(link))
            assert response.status_code == 200, link


class TestWritableToMany:
    def test_site_admin_replaces_adds_and_removes_roles(self, api, world, audit_entries):
        from accounts.models import Role

        user = world["account_user"]
        first, second = Role.objects.create(name="First"), Role.objects.create(name="Second")
        url = f"/api/v1/users/{user.pk}/relationships/roles/"
        api.as_user(world["site_admin"])
        before = audit_entries()
        response = api.patch(url, {"data": [{"type": "Role", "id": str(first.pk)}]})
        assert response.status_code == 200, response.content
        assert response.document["data"] == [{"type": "Role", "id": str(first.pk)}]
        assert audit_entries() > before
        response = api.post(url, {"data": [{"type": "Role", "id": second.pk}]})  # numeric ids too
        assert [item["id"] for item in response.document["data"]] == [str(first.pk), str(second.pk)]
        response = api.delete(url, {"data": [{"type": "Role", "id": str(first.pk)}]})
        assert response.document["data"] == [{"type": "Role", "id": str(second.pk)}]
        assert list(user.roles.all()) == [second]
        assert api.get(url).document["data"] == [{"type": "Role", "id": str(second.pk)}]

    def test_others_may_not_change_roles(self, api, world):
        from accounts.models import Role

        role = Role.objects.create(name="First")
        user = world["account_user"]
        url = f"/api/v1/users/{user.pk}/relationships/roles/"
        payload = {"data": [{"type": "Role", "id": str(role.pk)}]}
        assert api.as_user(user).patch(url, payload).status_code == 403  # not even one's own
        assert api.as_user(world["account_admin"]).post(url, payload).status_code == 403
        assert api.as_user(world["outsider"]).post(url, payload).status_code == 404
        assert api.as_user(None).post(url, payload).status_code == 401
        assert not user.roles.exists()

    def test_account_roles_through_the_relationship(self, api, world):
        account, label = world.account, world.account_role
        url = f"/api/v1/accounts/{account.pk}/relationships/accountRoles/"
        payload = {"data": [{"type": "AccountRole", "id": str(label.pk)}]}
        assert api.as_user(world["account_admin"]).post(url, payload).status_code == 403
        assert not account.account_roles.exists()
        response = api.as_user(world["site_admin"]).post(url, payload)
        assert response.status_code == 200 and list(account.account_roles.all()) == [label]
        assert api.delete(url, payload).document["data"] == []

    @pytest.mark.parametrize("payload,status", [
        ({"data": {"type": "Role", "id": "1"}}, 400),
        ({"data": [{"type": "Account", "id": "1"}]}, 409),
        ({"data": [{"type": "Role", "id": "999999"}]}, 400),
        ({"data": [{"type": "Role"}]}, 400),
        ({"nodata": []}, 400),
    ])
    def test_bad_identifiers(self, api, world, payload, status):
        user = world["account_user"]
        response = api.as_user(world["site_admin"]).patch(f"/api/v1/users/{user.pk}/relationships/roles/", payload)
        assert response.status_code == status, response.content
        assert not user.roles.exists()

    def test_read_only_relationships_are_not_written(self, api, world):
        url = f"/api/v1/users/{world['account_user'].pk}/relationships/memberships/"
        response = api.as_user(world["site_admin"]).post(url, {"data": []})
        assert response.status_code in (403, 405)


@pytest.mark.parametrize("fast", [True, False])
def test_a_resource_written_back_as_read_is_accepted(api, world, settings, fast):
    settings.API_FAST_READ = fast
    world.build()
    api.as_user(world["account_admin"])
    for path, change in ((f"/api/v1/utilities/{world.utility.pk}/", {"name": "Northern"}),
                         (f"/api/v1/utilities/{world.utility.pk}/?include=memberships", {"name": "Nordic"}),
                         ("/api/v1/users/me/", {"firstName": "Round"})):
        data = api.get(path).document["data"]
        data["attributes"].update(change)
        response = api.patch(path.split("?")[0], {"data": data})
        assert response.status_code == 200, response.content
    bad = api.get(f"/api/v1/utilities/{world.utility.pk}/").document["data"]
    bad["relationships"]["memberships"] = {"data": []}
    response = api.patch(f"/api/v1/utilities/{world.utility.pk}/", {"data": bad})
    assert response.status_code == 400
    assert response.document["errors"][0]["source"]["pointer"] == "/data/relationships/memberships"
    bad["relationships"] = {"nope": {"meta": {"count": 1}}}
    assert api.patch(f"/api/v1/utilities/{world.utility.pk}/", {"data": bad}).status_code == 400


# --------------------------------------------------------------------------- wire details


def test_a_media_type_parameter_is_415_charset_included(api, world):
    api.as_user(world["account_admin"])
    for content_type in ("application/vnd.api+json; charset=utf-8", "application/vnd.api+json;charset=UTF-8"):
        response = api.patch(f"/api/v1/utilities/{world.utility.pk}/",
                             body("Utility", {"name": "Changed"}, id=world.utility.pk), content_type=content_type)
        assert response.status_code == 415
        assert response.document["errors"][0]["code"] == "unsupported_media_type"
    world.utility.refresh_from_db()
    assert world.utility.name == "North"


def test_created_resources_have_a_location(api, world, user):
    from accounts.models import Session

    api.as_user(world["account_admin"])
    response = api.post("/api/v1/utilities/", body("Utility", {"name": "West", "billingDay": 3}, {
        "account": {"data": {"type": "Account", "id": world.account.pk}}}))
    assert response.status_code == 201
    assert response["Location"] == f"http://testserver/api/v1/utilities/{response.document['data']['id']}/"
    assert response["Location"] == response.document["data"]["links"]["self"]
    personal = api.post("/api/v1/utilities/personal/", body("Utility", {"billingDay": 3}))
    assert personal["Location"].endswith(f"/api/v1/utilities/{personal.document['data']['id']}/")
    user.set_password("a long enough passphrase")
    user.save()
    signed_in = api.as_user(None).post("/api/v1/sessions/", body("Session", {
        "email": user.email, "password": "a long enough passphrase"}))
    assert signed_in.status_code == 201
    assert signed_in["Location"].endswith(f"/api/v1/sessions/{signed_in.document['data']['id']}/")
    assert Session.objects.filter(pk=signed_in.document["data"]["id"]).exists()


def test_signing_in_sets_no_cookie(api, user):
    user.set_password("a long enough passphrase")
    user.save()
    response = api.as_user(None).post("/api/v1/sessions/", body("Session", {
        "email": user.email, "password": "a long enough passphrase"}))
    assert response.status_code == 201
    assert not response.cookies, response.cookies
    assert "Set-Cookie" not in response


@pytest.mark.parametrize("path", ["/api/v1/users/me/", "/api/v1/memberships/", "/api/v1/version/"])
def test_responses_vary_on_accept(api, world, path):
    response = api.as_user(world["account_admin"]).get(path)
    assert "Accept" in [part.strip() for part in response["Vary"].split(",")]


def test_head_has_no_body(world, rf):
    from django.http import HttpResponse

    from jsonapi.middleware import ApiRequestMiddleware

    middleware = ApiRequestMiddleware(lambda request: HttpResponse(b'{"data": []}'))
    response = middleware(rf.head("/api/v1/memberships/"))
    assert response.content == b"" and response["Content-Length"] == "12"
    assert middleware(rf.get("/api/v1/memberships/")).content == b'{"data": []}'


@pytest.mark.parametrize("fast", [True, False])
def test_repeated_parameters_are_joined(api, world, settings, fast):
    settings.API_FAST_READ = fast
    world.build()
    api.as_user(world["account_admin"])
    joined = api.get("/api/v1/memberships/?include=user,utility&fields[Membership]=role,user"
                     "&sort=role,-id").document
    repeated = api.get("/api/v1/memberships/?include=user&include=utility&fields[Membership]=role"
                       "&fields[Membership]=user&sort=role&sort=-id").document
    joined.pop("links"), repeated.pop("links")
    assert joined == repeated
    utility = world.utility.pk
    one = api.get(f"/api/v1/memberships/?filter[role]=member&filter[role]=leader&filter[utility]={utility}")
    assert {r["attributes"]["role"] for r in one.document["data"]} == {"member", "leader"}
    assert api.get("/api/v1/memberships/?page=1&page=2").status_code == 400


@pytest.mark.parametrize("query,parameter", [
    ("page[offset]=10", "page[offset]"), ("page[limit]=10", "page[limit]"),
    ("fields[Membership]=nope", "fields[Membership]"), ("fields[Membership]=role,nope", "fields[Membership]"),
    ("fields[Nope]=role", "fields[Nope]"), ("fields[User]=password", "fields[User]"),
])
def test_unknown_page_members_and_sparse_fields_are_400(api, world, query, parameter):
    response = api.as_user(world["account_admin"]).get(f"/api/v1/memberships/?include=user&{query}")
    assert response.status_code == 400
    assert response.document["errors"][0]["source"] == {"parameter": parameter}


def test_sparse_fields_of_included_types_are_taken(api, world):
    world.build()
    response = api.as_user(world["account_admin"]).get(
        "/api/v1/memberships/?include=user&fields[User]=email&fields[Membership]=role,user")
    assert response.status_code == 200
    assert all(set(r["attributes"]) == {"email"} for r in response.document["included"])


class TestTimestampsWrittenBack:
    def _membership(self, world):
        return world.membership_of("member")

    @pytest.mark.parametrize("shape", ["ms", "ms_offset", "seconds", "full"])
    def test_same_instant_at_the_precision_sent_is_unchanged(self, api, world, shape):
        from datetime import timedelta, timezone

        membership = self._membership(world)
        created = membership.created
        text = {
            "ms": created.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "ms_offset": created.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="milliseconds"),
            "seconds": created.astimezone(timezone(timedelta(hours=-5))).isoformat(timespec="seconds"),
            "full": created.isoformat(),
        }[shape]
        response = api.as_user(world["utility_admin"]).patch(
            f"/api/v1/memberships/{membership.pk}/",
            body("Membership", {"created": text, "isSubscriberDatetime": None if False else
                                membership.is_subscriber_datetime.isoformat(timespec="milliseconds"),
                                "isSubscriber": True}, id=membership.pk))
        assert response.status_code == 200, response.content

    def test_a_different_instant_is_400(self, api, world):
        from datetime import timedelta

        membership = self._membership(world)
        other = (membership.created + timedelta(milliseconds=5)).isoformat(timespec="milliseconds")
        response = api.as_user(world["utility_admin"]).patch(
            f"/api/v1/memberships/{membership.pk}/", body("Membership", {"created": other, "role": "leader"},
                                                          id=membership.pk))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/created"
        membership.refresh_from_db()
        assert membership.role == "member"


def test_a_failed_sign_in_sets_no_cookie(api, user):
    response = api.as_user(None).post("/api/v1/sessions/", body("Session", {"email": user.email, "password": "x"}))
    assert response.status_code == 401
    assert not response.cookies


@pytest.mark.django_db
def test_an_empty_to_one_relationship_is_null_linkage(api, world):
    """An account without a consultancy: `data` is null on its relationship URL, not an
    identifier with the id "None" (found by the fuzz pass)."""
    api.as_user(world["outsider"])
    account = api.post("/api/v1/accounts/", body("Account", {"name": "No Consultancy"})).document["data"]["id"]
    response = api.get(f"/api/v1/accounts/{account}/relationships/consultancyAccount/")
    assert response.status_code == 200 and response.document["data"] is None, response.document
    related = api.get(f"/api/v1/accounts/{account}/consultancyAccount/")
    assert related.status_code == 200 and related.document["data"] is None, related.document


def test_decimal_attributes_are_strings_in_the_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    product = schema["components"]["schemas"]["Product"]["properties"]["attributes"]["properties"]
    assert product["coinsUsed"]["type"] == "string"
