"""Issue 12: the seed-004 flows through a Python client generated from Roster's OpenAPI document
by openapi-python-client (scripts/clients/run_js.sh generates it from the live server's
/api/v1/schema/ into a temp dir, with scripts/clients/python/openapi-python-client.yaml, then
runs this against the same server).

    python scripts/clients/python/flows.py GENERATED_DIR BASE_URL     (ROSTER_EMAIL, ROSTER_PASSWORD)

Configured: the base URL and the bearer token (`AuthenticatedClient`), nothing about the media
type: the generated operations send the document's `application/vnd.api+json` as they are.
Request bodies are built from dicts with the generated models' `from_dict` (so a body is what
the type allows); links are followed with the generated client's own httpx session and parsed
with the generated models.
"""

import os
import secrets
import sys
import time


def main(generated, base):
    sys.path.insert(0, generated)
    from roster_client import AuthenticatedClient, Client
    from roster_client.api.account import accounts_create
    from roster_client.api.membership import (
        memberships_create,
        memberships_destroy,
        memberships_list,
        memberships_partial_update,
        memberships_retrieve,
    )
    from roster_client.api.role import roles_create
    from roster_client.api.session import sessions_create
    from roster_client.api.user import users_create
    from roster_client.api.users import (
        users_relationships_roles_add,
        users_relationships_roles_remove,
        users_relationships_roles_retrieve,
    )
    from roster_client.api.utilities import utilities_relationships_memberships_retrieve
    from roster_client.api.utility import utilities_create, utilities_retrieve
    from roster_client.models import (
        AccountRequest,
        ErrorDocument,
        MembershipList,
        MembershipRequest,
        PatchedMembershipRequest,
        RoleRequest,
        SessionRequest,
        UserRequest,
        UsersRelationshipsRolesAddBody,
        UsersRelationshipsRolesRemoveBody,
        UtilityRequest,
    )
    from roster_client.models.memberships_list_fields_membership_item import MembershipsListFieldsMembershipItem
    from roster_client.models.memberships_list_include_item import MembershipsListIncludeItem

    def ok(response, status, what):
        assert response.status_code == status, f"{what}: {response.status_code} {response.content[:500]!r}"
        assert response.parsed is not None and not isinstance(response.parsed, (ErrorDocument, str)), what
        return response.parsed

    passed = []

    def flow(name):
        def run(body):
            body()
            passed.append(name)
            print(f"ok - openapi-python-client: {name}", flush=True)
        return run

    anonymous = Client(base_url=base, timeout=30)
    session = ok(sessions_create.sync_detailed(client=anonymous, body=SessionRequest.from_dict({"data": {
        "type": "Session", "attributes": {"email": os.environ["ROSTER_EMAIL"],
                                          "password": os.environ["ROSTER_PASSWORD"]}}})), 201, "sign in")
    client = AuthenticatedClient(base_url=base, token=session.data.attributes.token, timeout=30)
    stamp = format(int(time.time() * 1000), "x")
    world = {"people": [], "members": []}

    @flow("sign in and set up")
    def _():
        account = ok(accounts_create.sync_detailed(client=client, body=AccountRequest.from_dict({"data": {
            "type": "Account", "attributes": {"name": f"Python Co {stamp}"}}})), 201, "account")
        world["account"] = account.data.id
        utility = ok(utilities_create.sync_detailed(client=client, body=UtilityRequest.from_dict({"data": {
            "type": "Utility", "attributes": {"name": "Python Grid", "billingDay": 1},
            "relationships": {"account": {"data": {"type": "Account", "id": int(world["account"])}}}}})),
            201, "utility")
        world["utility"] = utility.data.id
        for index in range(5):
            user = ok(users_create.sync_detailed(client=client, body=UserRequest.from_dict({"data": {
                "type": "User", "attributes": {
                    "email": f"py-{stamp}-{index}@example.com", "firstName": "Py", "lastName": f"Person {index}",
                    "password": secrets.token_urlsafe(16)}}})),
                201, "user")
            world["people"].append(user.data.id)
        for index in range(3):
            membership = ok(memberships_create.sync_detailed(client=client, body=MembershipRequest.from_dict({"data": {
                "type": "Membership", "attributes": {"isSubscriber": bool(index % 2)},
                "relationships": {"user": {"data": {"type": "User", "id": int(world["people"][index])}},
                                  "utility": {"data": {"type": "Utility", "id": int(world["utility"])}}}}})),
                201, "membership")
            world["members"].append(membership.data.id)

    @flow("list and follow links.next")
    def _():
        page = ok(memberships_list.sync_detailed(client=client, filterutility=world["utility"], pagesize=2),
                  200, "list")
        assert page.meta.pagination.count == 3
        seen = [item.id for item in page.data]
        pages = 1
        while page.links.next_:
            response = client.get_httpx_client().get(page.links.next_)  # the link, as the server wrote it
            assert response.status_code == 200, response.text
            page = MembershipList.from_dict(response.json())
            seen += [item.id for item in page.data]
            pages += 1
        assert pages == 2 and sorted(seen) == sorted(world["members"]), (pages, seen)

    @flow("include and resolve")
    def _():
        page = ok(memberships_list.sync_detailed(
            client=client, filterutility=world["utility"],
            include=[MembershipsListIncludeItem.USER, MembershipsListIncludeItem.UTILITY]), 200, "include")
        assert len(page.data) == 3
        included = {(item.type_, item.id): item for item in page.included}
        for membership in page.data:
            user = included[("User", membership.relationships.user.data.id)]
            utility = included[("Utility", membership.relationships.utility.data.id)]
            assert "@" in user.attributes.email and utility.attributes.name == "Python Grid"

    @flow("sparse fields")
    def _():
        page = ok(memberships_list.sync_detailed(
            client=client, filterutility=world["utility"],
            fields_membership=[MembershipsListFieldsMembershipItem.ROLE]), 200, "sparse fields")
        assert len(page.data) == 3
        for membership in page.data:
            assert set(membership.attributes.to_dict()) == {"role"}, membership.attributes.to_dict()
            assert not membership.relationships or not membership.relationships.to_dict()

    @flow("create with numeric ids, retrieve, write back, delete")
    def _():
        response = memberships_create.sync_detailed(client=client, body=MembershipRequest.from_dict({"data": {
            "type": "Membership", "attributes": {"isSubscriber": True},
            "relationships": {"user": {"data": {"type": "User", "id": int(world["people"][4])}},
                              "utility": {"data": {"type": "Utility", "id": int(world["utility"])}}}}}))
        membership_id = ok(response, 201, "create").data.id
        assert membership_id.isdigit()
        assert response.headers["Location"] == f"{base}/api/v1/memberships/{membership_id}/"
        read = ok(memberships_retrieve.sync_detailed(membership_id, client=client), 200, "retrieve").data
        assert read.attributes.role == "spectator" and read.attributes.is_subscriber is True
        document = read.to_dict()  # everything read, one attribute changed; the request type keeps what it may send
        document["attributes"]["role"] = "leader"
        patched = ok(memberships_partial_update.sync_detailed(
            membership_id, client=client, body=PatchedMembershipRequest.from_dict({"data": document})), 200, "patch")
        assert patched.data.attributes.role == "leader"
        again = ok(memberships_retrieve.sync_detailed(membership_id, client=client), 200, "re-read").data
        assert again.attributes.role == "leader"
        assert again.attributes.is_subscriber_datetime == read.attributes.is_subscriber_datetime
        assert memberships_destroy.sync_detailed(membership_id, client=client).status_code == 204
        gone = memberships_retrieve.sync_detailed(membership_id, client=client)
        assert gone.status_code == 404 and isinstance(gone.parsed, ErrorDocument)
        assert gone.parsed.errors[0].code == "not_found"

    @flow("follow relationship links")
    def _():
        grid = ok(utilities_retrieve.sync_detailed(world["utility"], client=client), 200, "utility").data
        links = grid.relationships.memberships.links
        assert grid.relationships.memberships.meta.count == 3
        linkage = ok(utilities_relationships_memberships_retrieve.sync_detailed(world["utility"], client=client),
                     200, "linkage")
        assert sorted(item.id for item in linkage.data) == sorted(world["members"])
        assert linkage.meta.pagination.count == 3
        http = client.get_httpx_client()
        for url in (links.self_, links.related):
            response = http.get(url)
            assert response.status_code == 200, (url, response.text)
            assert {item["type"] for item in response.json()["data"]} == {"Membership"} or url == links.self_
            assert len(response.json()["data"]) == 3
        account = http.get(grid.relationships.account.links.related).json()["data"]
        assert account["type"] == "Account" and account["id"] == world["account"]

    @flow("write a to-many relationship")
    def _():
        role = ok(roles_create.sync_detailed(client=client, body=RoleRequest.from_dict({"data": {
            "type": "Role", "attributes": {"name": f"Python role {stamp}"}}})), 201, "role").data
        person = world["people"][0]
        body = {"data": [{"type": "Role", "id": role.id}]}
        added = users_relationships_roles_add.sync_detailed(
            person, client=client, body=UsersRelationshipsRolesAddBody.from_dict(body))
        assert added.status_code < 300, added.content
        linkage = ok(users_relationships_roles_retrieve.sync_detailed(person, client=client), 200, "roles")
        assert [item.id for item in linkage.data] == [role.id]
        removed = users_relationships_roles_remove.sync_detailed(
            person, client=client, body=UsersRelationshipsRolesRemoveBody.from_dict(body))
        assert removed.status_code < 300, removed.content
        assert ok(users_relationships_roles_retrieve.sync_detailed(person, client=client), 200, "roles").data == []

    print(f"openapi-python-client: {len(passed)} flows passed")


if __name__ == "__main__":
    main(*sys.argv[1:3])
