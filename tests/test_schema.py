"""SPEC §3 "Schema and docs": the OpenAPI document and the docs page (issue 5).

The schema endpoint is not a JSON:API endpoint, so these tests use Django's own client.
"""

import json
import re
from html.parser import HTMLParser

import jsonschema
import pytest
import yaml
from django.contrib.staticfiles import finders
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.validation import validate_schema
from rest_framework_json_api.utils import format_field_name

from jsonapi.views import api_not_found
from tests.factories import SiteAdminFactory, UserFactory

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/api/v1/schema/"
DOCS_URL = "/api/v1/docs/"
METHODS = ("get", "post", "put", "patch", "delete")

# Every endpoint SPEC §3 names, as (method, path). Those whose app has not landed yet are
# checked once they are routed (see test_every_spec_endpoint_that_is_routed_is_documented).
SPEC_ENDPOINTS = [
    ("post", "/api/v1/sessions/"),
    ("get", "/api/v1/sessions/"),
    ("get", "/api/v1/sessions/current/"),
    ("patch", "/api/v1/sessions/current/"),
    ("delete", "/api/v1/sessions/current/"),
    ("get", "/api/v1/sessions/{id}/"),
    ("delete", "/api/v1/sessions/{id}/"),
    ("get", "/api/v1/users/"),
    ("post", "/api/v1/users/"),
    ("get", "/api/v1/users/{id}/"),
    ("patch", "/api/v1/users/{id}/"),
    ("delete", "/api/v1/users/{id}/"),
    ("get", "/api/v1/users/me/"),
    ("patch", "/api/v1/users/me/"),
    ("delete", "/api/v1/users/me/"),
    ("get", "/api/v1/users/{id}/avatar/"),
    ("get", "/api/v1/users/me/avatar/"),
    ("put", "/api/v1/users/me/avatar/"),
    ("delete", "/api/v1/users/me/avatar/"),
    ("get", "/api/v1/users/me/permissions/"),
    ("get", "/api/v1/roles/"),
    ("post", "/api/v1/roles/"),
    ("get", "/api/v1/roles/{id}/"),
    ("patch", "/api/v1/roles/{id}/"),
    ("delete", "/api/v1/roles/{id}/"),
    ("get", "/api/v1/contacts/"),
    ("post", "/api/v1/contacts/"),
    ("get", "/api/v1/contacts/{id}/"),
    ("delete", "/api/v1/contacts/{id}/"),
    ("get", "/api/v1/accounts/"),
    ("post", "/api/v1/accounts/"),
    ("get", "/api/v1/accounts/{id}/"),
    ("patch", "/api/v1/accounts/{id}/"),
    ("delete", "/api/v1/accounts/{id}/"),
    ("get", "/api/v1/accounts/default/"),
    ("get", "/api/v1/accounts/{id}/auditlog/"),
    ("get", "/api/v1/accounts/{id}/activation-code/"),
    ("post", "/api/v1/accounts/{id}/activation-code/refresh/"),
    ("post", "/api/v1/activations/"),
    ("get", "/api/v1/account-roles/"),
    ("post", "/api/v1/account-roles/"),
    ("get", "/api/v1/account-roles/{id}/"),
    ("patch", "/api/v1/account-roles/{id}/"),
    ("delete", "/api/v1/account-roles/{id}/"),
    ("get", "/api/v1/invitations/"),
    ("post", "/api/v1/invitations/"),
    ("get", "/api/v1/invitations/{id}/"),
    ("delete", "/api/v1/invitations/{id}/"),
    ("post", "/api/v1/invitations/{id}/accept/"),
    ("post", "/api/v1/invitations/{id}/decline/"),
    ("get", "/api/v1/account-memberships/"),
    ("post", "/api/v1/account-memberships/"),
    ("get", "/api/v1/account-memberships/{id}/"),
    ("patch", "/api/v1/account-memberships/{id}/"),
    ("delete", "/api/v1/account-memberships/{id}/"),
    ("get", "/api/v1/utilities/"),
    ("post", "/api/v1/utilities/"),
    ("get", "/api/v1/utilities/{id}/"),
    ("patch", "/api/v1/utilities/{id}/"),
    ("delete", "/api/v1/utilities/{id}/"),
    ("get", "/api/v1/utilities/personal/"),
    ("post", "/api/v1/utilities/personal/"),
    ("delete", "/api/v1/utilities/personal/"),
    ("get", "/api/v1/memberships/"),
    ("post", "/api/v1/memberships/"),
    ("get", "/api/v1/memberships/{id}/"),
    ("patch", "/api/v1/memberships/{id}/"),
    ("delete", "/api/v1/memberships/{id}/"),
    ("get", "/api/v1/product-types/"),
    ("get", "/api/v1/product-types/{id}/"),
    ("get", "/api/v1/products/"),
    ("post", "/api/v1/products/"),
    ("get", "/api/v1/products/{id}/"),
    ("patch", "/api/v1/products/{id}/"),
    ("delete", "/api/v1/products/{id}/"),
    ("get", "/api/v1/charges/"),
    ("post", "/api/v1/charges/"),
    ("get", "/api/v1/charges/{id}/"),
    ("get", "/api/v1/merchants/"),
    ("post", "/api/v1/merchants/"),
    ("get", "/api/v1/merchants/{id}/"),
    ("patch", "/api/v1/merchants/{id}/"),
    ("delete", "/api/v1/merchants/{id}/"),
    ("get", "/api/v1/assets/"),
    ("post", "/api/v1/assets/"),
    ("get", "/api/v1/assets/{id}/"),
    ("patch", "/api/v1/assets/{id}/"),
    ("delete", "/api/v1/assets/{id}/"),
    ("get", "/api/v1/assets/{id}/secret/"),
    ("post", "/api/v1/assets/{id}/enable/"),
    ("post", "/api/v1/assets/{id}/disable/"),
    ("get", "/api/v1/assets/{id}/relationships/merchants/"),
    ("post", "/api/v1/assets/{id}/relationships/merchants/"),
    ("patch", "/api/v1/assets/{id}/relationships/merchants/"),
    ("delete", "/api/v1/assets/{id}/relationships/merchants/"),
    ("get", "/api/v1/event-streams/"),
    ("post", "/api/v1/event-streams/"),
    ("get", "/api/v1/event-streams/{id}/"),
    ("delete", "/api/v1/event-streams/{id}/"),
    ("get", "/api/v1/event-streams/{id}/events/"),
    ("get", "/api/v1/event-streams/{id}/sse/"),
    ("get", "/api/v1/version/"),
    ("get", "/api/v1/ping/"),
    ("get", "/api/v1/schema/"),
    ("get", "/api/v1/docs/"),
]

# Operations anyone may call (SPEC §3): signing in, the service endpoints, schema and docs.
PUBLIC = {
    ("post", "/api/v1/sessions/"),
    ("get", "/api/v1/version/"),
    ("get", "/api/v1/ping/"),
    ("get", "/api/v1/schema/"),
    ("get", "/api/v1/docs/"),
}


@pytest.fixture(scope="module")
def document(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get(SCHEMA_URL, {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def normalised(path):
    """`/api/v1/accounts/{account_id}/auditlog/` and `{id}` alike become `{}`."""
    return re.sub(r"\{[^}]+\}", "{}", path)


# --------------------------------------------------------------------------- the document


def test_schema_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.0")
    validate_schema(document)  # drf-spectacular's bundled OpenAPI 3.0 JSON Schema


def test_schema_is_yaml_by_default(client):
    response = client.get(SCHEMA_URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert "json" not in response["Content-Type"]
    assert yaml.safe_load(response.content)["openapi"].startswith("3.0")


@pytest.mark.parametrize("query, accept", [({"format": "json"}, None),
                                           ({}, "application/vnd.oai.openapi+json")])
def test_schema_is_json_on_request(client, query, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.get(SCHEMA_URL, query, **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert json.loads(response.content)["paths"]


@pytest.mark.parametrize("url", [SCHEMA_URL, DOCS_URL])
def test_schema_and_docs_are_public(client, url):
    assert client.get(url).status_code == 200
    # A dead token is no reason to refuse a public page.
    assert client.get(url, HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 200


def test_schema_and_docs_are_the_same_for_everyone(client, document):
    client.force_login(UserFactory())
    assert json.loads(client.get(SCHEMA_URL, {"format": "json"}).content) == document
    client.force_login(SiteAdminFactory())
    assert json.loads(client.get(SCHEMA_URL, {"format": "json"}).content) == document


def test_schema_errors_are_jsonapi_error_documents(client):
    response = client.get(SCHEMA_URL, {"format": "xml"})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/vnd.api+json"
    assert json.loads(response.content)["errors"][0]["code"] == "not_found"


# --------------------------------------------------------------------------- every endpoint


def routed_api_endpoints():
    """(method, normalised path) of every /api/v1/ route, read off the URL resolver."""
    found = set()

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if not route.startswith("api/v1/") or pattern.callback is api_not_found:
                    continue
                for method in methods_of(pattern.callback):
                    for expanded in relationship_routes(route, method, pattern.callback):
                        found.add((method, "/" + template(expanded)))

    walk(get_resolver().url_patterns, "")
    return found


def relationship_routes(route, method, callback):
    """A relationship or related route, once per relationship it serves; its writes only for
    the writable ones (the others answer 403 and are not documented)."""
    match = re.search(r"\(\?P<relationship>([^)]*)\)", route)
    if match is None:
        return [route]
    meta = callback.cls.serializer_class.Meta
    writable = {format_field_name(name) for name in getattr(meta, "writable_relationships", ())}
    names = [name for name in match.group(1).split("|") if method == "get" or name in writable]
    return [route.replace(match.group(0), name) for name in names]


def template(route):
    route = route.replace("/?$", "/")  # the trailing slash is optional (both are served)
    route = route.replace("^", "").replace("$", "").replace("\\.", ".")
    route = re.sub(r"\(\?P<[^>]+>[^)]*\)", "{}", route)  # regex groups
    route = re.sub(r"<[^>]+>", "{}", route)  # path converters
    return route


def methods_of(callback):
    view_class = getattr(callback, "cls", None) or callback.view_class  # DRF views; plain ones (SSE)
    initkwargs = getattr(callback, "initkwargs", None) or {}
    # `schema_methods`: the route serves more, documented on another route (users/me/avatar/)
    allowed = initkwargs.get("schema_methods") or initkwargs.get("http_method_names", view_class.http_method_names)
    actions = getattr(callback, "actions", None)
    if actions:  # a viewset route: method → action
        return {method for method in actions if method in METHODS and method in allowed}
    return {method for method in METHODS if method in allowed and hasattr(view_class, method)}


def test_every_routed_api_endpoint_is_documented(document):
    routed = routed_api_endpoints()
    documented = {(method, normalised(path)) for method, path, _ in operations(document)}
    assert len(routed) > 50
    assert routed - documented == set()
    assert documented - routed == set(), "the document describes routes that do not exist"


def test_every_spec_endpoint_that_is_routed_is_documented(document):
    routed = routed_api_endpoints()
    documented = {(method, normalised(path)) for method, path, _ in operations(document)}
    wanted = {(method, normalised(path)) for method, path in SPEC_ENDPOINTS}
    live = wanted & routed
    # Sessions, users, roles, contacts, accounts, memberships, service, schema and docs have landed.
    assert len(live) >= 60
    assert live - documented == set()


# --------------------------------------------------------------------------- security


def test_security_schemes_are_bearer_and_session_cookie(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["cookieAuth"]["type"] == "apiKey"
    assert schemes["cookieAuth"]["in"] == "cookie"
    assert schemes["cookieAuth"]["name"] == "sessionid"


def test_each_operation_states_who_may_call_it(document):
    for method, path, operation in operations(document):
        if (method, path) in PUBLIC:
            assert operation.get("security") == [], (method, path)
        else:
            assert operation.get("security") == [{"bearerAuth": []}, {"cookieAuth": []}], (method, path)
            assert "401" in operation["responses"], (method, path)
            assert operation["responses"]["401"]["headers"]["WWW-Authenticate"]


# --------------------------------------------------------------------------- the wire


def test_errors_are_jsonapi_error_objects(document):
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"status", "code", "detail"}
    assert set(error["properties"]["source"]["properties"]) == {"pointer", "parameter"}
    for method, path, operation in operations(document):
        if path in (SCHEMA_URL, DOCS_URL):
            continue
        responses = operation["responses"]
        # 414: the HTTP server in front refuses an overlong request line, on any operation
        assert {"400", "406", "414"} <= set(responses), (method, path)
        if method in ("post", "patch") and "requestBody" in operation:
            assert {"409", "413", "415"} <= set(responses), (method, path)
        for status, response in responses.items():
            if status.startswith(("4", "5")) and status != "414":
                schema = response["content"]["application/vnd.api+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorDocument"}, (method, path, status)


def test_generated_parameter_names_do_not_collide(document):
    for path, operations_ in document["paths"].items():
        for method, operation in operations_.items():
            names = [re.sub(r"[^a-z0-9]+", "_", p["name"].lower()).strip("_")
                     for p in operation.get("parameters", [])]
            assert len(names) == len(set(names)), (method, path, names)


def test_query_parameters_have_their_wire_names(document):
    parameters = {p["name"] for p in document["paths"]["/api/v1/memberships/"]["get"]["parameters"]}
    assert {"filter[utility]", "filter[user]", "filter[isSubscriber]", "filter[role]", "sort", "include",
            "fields[Membership]", "fields[User]", "fields[Utility]", "page[number]", "page[size]"} <= parameters
    # `page` and `page_size` are served but not documented: generators would name them like the
    # JSON:API spellings (issue 12)
    assert not {"page", "page_size"} & parameters
    include = next(p for p in document["paths"]["/api/v1/memberships/"]["get"]["parameters"]
                   if p["name"] == "include")
    assert {"user", "utility"} <= set(include["schema"]["items"]["enum"])
    assert include["explode"] is False
    sort = next(p for p in document["paths"]["/api/v1/accounts/"]["get"]["parameters"] if p["name"] == "sort")
    assert {"name", "-name", "memberCount", "-utilityCount", "created"} <= set(sort["schema"]["items"]["enum"])
    detail = {p["name"] for p in document["paths"]["/api/v1/memberships/{id}/"]["get"]["parameters"]}
    assert not any(name.startswith(("filter[", "page", "sort")) for name in detail)


def test_write_only_members_are_not_offered_as_sparse_fields(document):
    fields = next(p for p in document["paths"]["/api/v1/users/"]["get"]["parameters"] if p["name"] == "fields[User]")
    assert "password" not in fields["schema"]["items"]["enum"]
    assert "email" in fields["schema"]["items"]["enum"]


def test_ids_are_strings_and_relationships_are_resource_identifiers(document):
    schemas = document["components"]["schemas"]
    membership = schemas["Membership"]["properties"]
    assert membership["id"]["type"] == "string"
    utility = membership["relationships"]["properties"]["utility"]["properties"]["data"]
    assert utility["properties"]["type"]["enum"] == ["Utility"]
    assert utility["properties"]["id"]["type"] == "string"
    request = schemas["MembershipRequest"]["properties"]["data"]["properties"]["relationships"]
    request_id = request["properties"]["utility"]["properties"]["data"]["properties"]["id"]
    assert {branch["type"] for branch in request_id["oneOf"]} == {"string", "integer"}
    assert "password" in schemas["UserRequest"]["properties"]["data"]["properties"]["attributes"]["properties"]
    assert "password" not in schemas["User"]["properties"]["attributes"]["properties"]


def test_compound_documents_have_included(document):
    page = document["components"]["schemas"]["MembershipList"]
    refs = {item["$ref"].rsplit("/", 1)[1] for item in page["properties"]["included"]["items"]["oneOf"]}
    assert {"User", "Utility"} <= refs
    assert set(page["required"]) == {"data", "links", "meta"}
    assert page["properties"]["meta"]["properties"]["pagination"]["required"] == ["page", "pages", "count"]


def test_custom_endpoints_are_described(document):
    paths = document["paths"]
    avatar = paths["/api/v1/users/me/avatar/"]
    assert set(avatar["get"]["responses"]["200"]["content"]) == {"image/png", "image/jpeg"}
    assert set(avatar["put"]["requestBody"]["content"]) == {"image/png", "image/jpeg"}
    assert "204" in avatar["delete"]["responses"]
    ref = paths["/api/v1/users/me/"]["get"]["responses"]["200"]["content"]["application/vnd.api+json"]["schema"]
    assert ref == {"$ref": "#/components/schemas/UserDocument"}
    assert "201" in paths["/api/v1/utilities/personal/"]["post"]["responses"]
    assert "201" in paths["/api/v1/accounts/{id}/activation-code/refresh/"]["post"]["responses"]
    activation = paths["/api/v1/activations/"]["post"]["responses"]["201"]["content"]
    assert activation["application/vnd.api+json"]["schema"] == {
        "$ref": "#/components/schemas/AccountMembershipDocument"}
    permissions = {p["name"] for p in paths["/api/v1/users/me/permissions/"]["get"]["parameters"]}
    assert permissions == {"objectType", "objectId"}
    assert paths["/api/v1/sessions/current/"]["patch"]["requestBody"].get("required") is not True
    assert "503" in paths["/api/v1/ping/"]["get"]["responses"]
    assert "429" in paths["/api/v1/sessions/"]["post"]["responses"]
    # Only the routed methods of the activation-code URLs.
    assert set(paths["/api/v1/accounts/{id}/activation-code/"]) == {"get"}
    assert set(paths["/api/v1/accounts/{id}/activation-code/refresh/"]) == {"post"}


# --------------------------------------------------------------------------- responses match the document


def _jsonschema(node):
    """OpenAPI 3.0 schema → JSON Schema: `nullable` becomes a `null` type."""
    if isinstance(node, list):
        return [_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _jsonschema(value) for key, value in node.items()
              if key not in ("nullable", "readOnly", "writeOnly", "example", "x-spec-enum-id")}
    if node.get("nullable"):
        if "enum" in result:
            result["enum"] = [*result["enum"], None]
        return {"anyOf": [result, {"type": "null"}]}
    return result


def assert_matches_document(document, method, path, response):
    documented = document["paths"][path][method]["responses"][str(response.status_code)]
    media_type = response["Content-Type"].split(";")[0]
    schema = documented["content"][media_type]["schema"]
    root = {**_jsonschema({"components": document["components"]}), **_jsonschema(schema)}
    jsonschema.validate(json.loads(response.content), root, cls=jsonschema.Draft7Validator)


def test_responses_match_the_document(api, document):
    from accounts import services as account_services
    from memberships import services as membership_services

    admin = SiteAdminFactory()
    member = UserFactory()
    account = account_services.account_create(actor=admin, data={"name": "Schema Co"})
    utility = membership_services.utility_create(actor=admin, account=account, name="Grid", billing_day=3,
                                                 subscriber_seats=None)
    membership = membership_services.membership_create(actor=admin, user=member, utility=utility,
                                                       is_subscriber=True, role="member")
    api.as_user(admin)
    checks = [
        ("get", "/api/v1/memberships/", "/api/v1/memberships/?include=user,utility"),
        ("get", "/api/v1/memberships/{id}/", f"/api/v1/memberships/{membership.pk}/?include=utility"),
        ("get", "/api/v1/accounts/{id}/", f"/api/v1/accounts/{account.pk}/?include=utilities,accountMemberships"),
        ("get", "/api/v1/accounts/{account_id}/auditlog/", f"/api/v1/accounts/{account.pk}/auditlog/?include=actor"),
        ("get", "/api/v1/users/me/", "/api/v1/users/me/?include=roles"),
        ("get", "/api/v1/users/me/permissions/", "/api/v1/users/me/permissions/"),
        ("get", "/api/v1/accounts/{id}/activation-code/", f"/api/v1/accounts/{account.pk}/activation-code/"),
        ("get", "/api/v1/version/", "/api/v1/version/"),
        ("get", "/api/v1/sessions/", "/api/v1/sessions/?page_size=1"),
        ("get", "/api/v1/memberships/", "/api/v1/memberships/?sort=nope"),  # 400
        ("get", "/api/v1/memberships/{id}/", "/api/v1/memberships/999999/"),  # 404
    ]
    for method, path, url in checks:
        response = api.get(url)
        assert_matches_document(document, method, path, response)
    created = api.post("/api/v1/utilities/", {"data": {
        "type": "Utility", "attributes": {"name": "Second", "billingDay": 7},
        "relationships": {"account": {"data": {"type": "Account", "id": str(account.pk)}}}}})
    assert created.status_code == 201
    assert_matches_document(document, "post", "/api/v1/utilities/", created)
    anonymous = api.as_user(None).get("/api/v1/users/")
    assert_matches_document(document, "get", "/api/v1/users/", anonymous)


# --------------------------------------------------------------------------- the docs page


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_docs_page_uses_only_assets_served_by_us(client, settings):
    response = client.get(DOCS_URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    parser = _Assets()
    parser.feed(html)
    assert len(parser.urls) >= 4  # stylesheet, scripts, icon, the init script
    init_scripts = [url for url in parser.urls if url.startswith(f"{DOCS_URL}?")]
    assert len(init_scripts) == 1  # from the page's own URL, not inline (Content-Security-Policy)
    for url in parser.urls:
        assert not re.match(r"^(https?:)?//", url), f"{url} is fetched from elsewhere"
        if url in init_scripts:
            continue
        assert url.startswith(settings.STATIC_URL), url
        assert finders.find(url.removeprefix(settings.STATIC_URL)), f"{url} is not a static file we serve"
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost|testserver)[^\s\"']+\.(js|css)", html)
    script = client.get(init_scripts[0].replace("&amp;", "&")).content.decode()
    assert SCHEMA_URL in script
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost|testserver)[^\s\"']+\.(js|css)", script)


def test_docs_assets_are_served(client, settings):
    parser = _Assets()
    parser.feed(client.get(DOCS_URL).content.decode())
    for url in parser.urls:
        response = client.get(url)
        assert response.status_code == 200, url


def test_issue_12_links_relationship_endpoints_location_and_avatar(document):
    paths = document["paths"]
    assert set(paths["/api/v1/users/{id}/avatar/"]) == {"get"}
    assert {"put", "delete"} <= set(paths["/api/v1/users/me/avatar/"])
    assert set(paths["/api/v1/users/{id}/relationships/roles/"]) == {"get", "patch", "post", "delete"}
    assert set(paths["/api/v1/accounts/{id}/relationships/accountRoles/"]) == {"get", "patch", "post", "delete"}
    assert set(paths["/api/v1/utilities/{id}/relationships/memberships/"]) == {"get"}
    assert set(paths["/api/v1/utilities/{id}/memberships/"]) == {"get"}
    assert set(paths["/api/v1/memberships/{id}/utility/"]) == {"get"}
    created = paths["/api/v1/utilities/"]["post"]["responses"]["201"]
    assert "Location" in created["headers"]
    assert "Location" in paths["/api/v1/sessions/"]["post"]["responses"]["201"]["headers"]
    ids = [operation["operationId"] for item in paths.values() for operation in item.values()]
    assert len(ids) == len(set(ids))
    utility = document["components"]["schemas"]["Utility"]["properties"]["relationships"]["properties"]
    assert utility["memberships"]["required"] == ["links", "meta"]
    assert utility["account"]["properties"]["links"]["required"] == ["self", "related"]


def test_a_python_client_generates_every_schema_without_warnings(document, tmp_path):
    """openapi-python-client drops a schema whose generated class names collide (it did for
    `Product`, whose `type` enum became a class `ProductType`); it must parse the whole document."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    generator = Path(sys.executable).with_name("openapi-python-client")
    if not generator.exists():
        generator = shutil.which("openapi-python-client")
    assert generator, "openapi-python-client is pinned in requirements-dev.txt"
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(document))
    config = Path(__file__).resolve().parent.parent / "scripts" / "clients" / "python" / "openapi-python-client.yaml"
    run = subprocess.run([str(generator), "generate", "--path", str(source), "--config", str(config), "--meta", "none",
                          "--output-path", str(tmp_path / "client")], capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Warning" not in output and "Unable to process" not in output, output


def test_deletes_that_can_conflict_document_409(document):
    # last_admin (accounts, account memberships), an owner leaving their personal utility
    # (memberships), has_charges (products): the fuzz pass met an undocumented 409 here
    for path in ("/api/v1/memberships/{id}/", "/api/v1/account-memberships/{id}/", "/api/v1/products/{id}/"):
        assert "409" in document["paths"][path]["delete"]["responses"], path
