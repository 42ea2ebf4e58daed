"""Issue 12: the seed-004 flows through a real JSON:API client library, unmodified and at its
defaults, against a live server: jsonapi-requests (its ORM and its plain endpoint API).

The only thing configured is what any client of this API must be given: the API root and
the bearer token (a `requests` auth object).
"""

import pytest
import requests
from jsonapi_requests import orm
from jsonapi_requests.data import JsonApiObject
from jsonapi_requests.request_factory import ApiClientError

from memberships.models import Membership
from tests.factories import AccountFactory, MembershipFactory, SiteAdminFactory, UserFactory, UtilityFactory
from tests.jsonapi import token_for

pytestmark = pytest.mark.django_db(transaction=True)


class Bearer(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


@pytest.fixture
def world(transactional_db):
    admin = SiteAdminFactory()
    account = AccountFactory(name="Live Co")
    utility = UtilityFactory(account=account, name="Live Grid")
    people = UserFactory.create_batch(5)
    for index, person in enumerate(people[:3]):
        MembershipFactory(user=person, utility=utility, is_subscriber=bool(index % 2))
    return {"admin": admin, "account": account, "utility": utility, "people": people}


@pytest.fixture
def api(live_server, world):
    return orm.OrmApi.config({"API_ROOT": f"{live_server.url}/api/v1/", "AUTH": Bearer(token_for(world["admin"])),
                              "TIMEOUT": 30})


@pytest.fixture
def models(api):
    client = api

    class User(orm.ApiModel):
        class Meta:
            type = "User"
            api = client
            path = "users"

        email = orm.AttributeField("email")
        memberships = orm.RelationField("memberships")

    class Utility(orm.ApiModel):
        class Meta:
            type = "Utility"
            api = client
            path = "utilities"

        name = orm.AttributeField("name")
        account = orm.RelationField("account")

    class Membership(orm.ApiModel):
        class Meta:
            type = "Membership"
            api = client
            path = "memberships"

        is_subscriber = orm.AttributeField("isSubscriber")
        role = orm.AttributeField("role")
        user = orm.RelationField("user")
        utility = orm.RelationField("utility")

    return {"User": User, "Utility": Utility, "Membership": Membership}


def _follow(api, url):
    """A link the server wrote, fetched with the library's own request machinery. (Its public
    `request()` joins a path onto the root and, by default, appends a slash to the whole URL,
    query string included, so a link is fetched as it is, without that step.)"""
    return api.api.requests._request(url, "GET")


def test_list_and_follow_next_links(api, models, world):
    response = api.endpoint("memberships").get(params={"page[size]": 2})
    seen = [item.id for item in response.content.data]
    while response.content.links.get("next"):
        response = _follow(api, response.content.links["next"])
        seen += [item.id for item in response.content.data]
    assert sorted(seen, key=int) == sorted((str(pk) for pk in Membership.objects.values_list("pk", flat=True)),
                                           key=int)


def test_include_and_resolve(models, world):
    memberships = models["Membership"].get_list(params={"include": "user,utility"})
    assert len(memberships) == 3
    for membership in memberships:
        assert not membership.user.is_stub and "@" in membership.user.email  # resolved from `included`
        assert membership.utility.name == "Live Grid"


def test_sparse_fields(api, world):
    response = api.endpoint("memberships").get(params={"fields[Membership]": "role"})
    for item in response.content.data:
        assert set(item.attributes) == {"role"} and not item.relationships


def test_create_with_numeric_ids_retrieve_patch_and_delete(api, models, world):
    person = world["people"][4]
    document = {"data": {"type": "Membership", "attributes": {"isSubscriber": True},
                         "relationships": {"user": {"data": {"type": "User", "id": person.pk}},
                                           "utility": {"data": {"type": "Utility", "id": world["utility"].pk}}}}}
    created = api.endpoint("memberships").post(json=document)
    assert created.status_code == 201
    membership_id = created.content.data.id
    membership = models["Membership"].from_id(membership_id)
    assert membership.role == "spectator" and membership.is_subscriber is True
    membership.role = "leader"
    membership.save()  # the library writes back the whole record it read
    assert Membership.objects.get(pk=membership_id).role == "leader"
    membership.delete()
    assert not Membership.objects.filter(pk=membership_id).exists()
    with pytest.raises(ApiClientError) as refused:
        models["Membership"].from_id(membership_id).refresh()
    assert refused.value.status_code == 404


def test_create_through_the_orm(models, world):
    person = world["people"][3]
    membership = models["Membership"]()
    membership.is_subscriber = False
    membership.user = models["User"].from_id(str(person.pk))
    membership.utility = models["Utility"].from_id(str(world["utility"].pk))
    membership.save()
    assert membership.id and Membership.objects.filter(pk=membership.id, user=person).exists()


def test_follow_relationship_links(api, models, world):
    utility = models["Utility"].from_id(str(world["utility"].pk))
    utility.refresh()
    links = utility.relationships["memberships"].links
    linkage = _follow(api, links["self"]).payload
    assert len(linkage["data"]) == 3 and linkage["meta"]["pagination"]["count"] == 3
    related = _follow(api, links["related"]).content
    assert {item.type for item in related.data} == {"Membership"} and len(related.data) == 3
    account = _follow(api, utility.relationships["account"].links["related"]).content.data
    assert account.type == "Account" and account.id == str(world["account"].pk)


def test_write_a_to_many_relationship(api, world):
    from accounts.models import Role

    role = Role.objects.create(name="Live role")
    person = world["people"][0]
    url = f"users/{person.pk}/relationships/roles/"
    api.endpoint(url).post(json={"data": [{"type": "Role", "id": str(role.pk)}]})
    assert list(person.roles.all()) == [role]
    api.endpoint(url).delete(json={"data": [{"type": "Role", "id": str(role.pk)}]})
    assert not person.roles.exists()


def test_paths_are_built_without_the_slash(api, world):
    # the library joins `API_ROOT` and the path as given: no trailing slash
    response = api.endpoint(f"utilities/{world['utility'].pk}").get()
    assert isinstance(response.content.data, JsonApiObject) and response.content.data.type == "Utility"
    assert response.content.jsonapi == {"version": "1.0"}
