"""Test helpers: a client that checks every API response's JSON:API shape, request bodies,
and `matrix()` for hand-written parametrized cells (whole permission matrices are
declared with tests/cases.py)."""

import json
import re
from functools import lru_cache
from pathlib import Path

import jsonschema
from rest_framework.test import APIClient

MEDIA_TYPE = "application/vnd.api+json"
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
TYPE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
INTEGER_ID = re.compile(r"^[0-9]+$")


@lru_cache(maxsize=1)
def _validator():
    # The official schema's `"patternProperties": {"": true}` means "any name"; python-jsonschema
    # joins the patterns and takes the empty one for none, so the same rule is spelled ".*".
    schema = _any_name(json.loads((Path(__file__).parent / "jsonapi-schema-1.0.json").read_text()))
    return jsonschema.Draft7Validator(schema)


def _any_name(node):
    if isinstance(node, dict):
        return {
            key: ({".*" if name == "" else name: _any_name(rule) for name, rule in value.items()}
                  if key == "patternProperties" else _any_name(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_any_name(item) for item in node]
    return node


def assert_jsonapi(response):
    """Fail unless the response is a well-formed JSON:API document by SPEC §2's conventions."""
    path = response.request.get("PATH_INFO", "")
    content_type = response.get("Content-Type", "")
    if response.status_code == 204:
        assert not response.content, f"204 with a body from {path}"
        return None
    if content_type.startswith("image/"):
        assert response.status_code == 200, f"image with status {response.status_code} from {path}"
        return None
    assert content_type.split(";")[0] == MEDIA_TYPE, f"{path} answered {content_type!r}"
    document = json.loads(response.content)
    errors = sorted(_validator().iter_errors(document), key=str)
    assert not errors, f"{path} is not JSON:API: {errors[0].message} at {list(errors[0].absolute_path)}"
    if response.status_code >= 400:
        assert "errors" in document, f"{response.status_code} without errors from {path}"
        for error in document["errors"]:
            assert error.get("status") == str(response.status_code), error
            assert error.get("code"), f"error without code: {error}"
            assert error.get("detail"), f"error without detail: {error}"
        if response.status_code == 401:
            assert response.get("WWW-Authenticate", "").startswith("Bearer"), "401 without a Bearer challenge"
    else:
        assert response.status_code < 300 or response.status_code in (301, 302, 304)
        resources = document.get("data")
        resources = resources if isinstance(resources, list) else [resources] if resources else []
        for resource in resources + document.get("included", []):
            _check_resource(resource, path)
    return document


def _check_resource(resource, path):
    assert TYPE_NAME.match(resource["type"]), f"type {resource['type']!r} from {path}"
    assert INTEGER_ID.match(resource["id"]), f"id {resource['id']!r} from {path}"
    for member in ("attributes", "relationships"):
        for name in resource.get(member, {}):
            assert CAMEL.match(name), f"{member} member {name!r} of {resource['type']} is not camelCase"
    for name, relationship in resource.get("relationships", {}).items():
        data = relationship.get("data")
        for item in data if isinstance(data, list) else [data] if data else []:
            assert TYPE_NAME.match(item["type"]) and INTEGER_ID.match(item["id"]), (name, item)


def token_for(user):
    """Open a bearer session for `user` the way sign-in does, without the HTTP round trip."""
    from tests.factories import SessionFactory

    return SessionFactory(user=user).token


class JsonApiClient(APIClient):
    """APIClient that speaks application/vnd.api+json and checks every API response."""

    def as_user(self, user):
        """Send the next requests with a real bearer token of `user` (None: anonymous)."""
        self.credentials()
        self.logout()
        if user is not None:
            self.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
        return self

    def generic(self, method, path, data="", content_type=None, secure=False, **extra):
        if content_type is None and data not in ("", None):
            content_type = MEDIA_TYPE
        if data is None:
            data = ""
        elif not isinstance(data, (str, bytes)):
            data = json.dumps(data)
        response = super().generic(method, path, data, content_type or MEDIA_TYPE, secure=secure, **extra)
        if path.startswith("/api/"):
            response.document = assert_jsonapi(response)
        return response

    # JSON bodies by default; each verb passes straight to generic() so nothing re-encodes them.
    def get(self, path, data=None, **extra):
        return super().get(path, data=data, **extra)

    def post(self, path, data=None, content_type=None, **extra):
        return self.generic("POST", path, data, content_type, **extra)

    def patch(self, path, data=None, content_type=None, **extra):
        return self.generic("PATCH", path, data, content_type, **extra)

    def put(self, path, data=None, content_type=None, **extra):
        return self.generic("PUT", path, data, content_type, **extra)

    def delete(self, path, data=None, content_type=None, **extra):
        return self.generic("DELETE", path, data, content_type, **extra)


def body(type_, attributes=None, relationships=None, id=None):
    """A request document: body("User", {"email": ...}, {"roles": rel("Role", 1, many=True)})."""
    data = {"type": type_}
    if id is not None:
        data["id"] = str(id)
    if attributes is not None:
        data["attributes"] = attributes
    if relationships is not None:
        data["relationships"] = relationships
    return {"data": data}


def rel(type_, *ids):
    """A relationship object: rel("User", 3) or rel("Role", 1, 2) for to-many (rel("Role") = none)."""
    if len(ids) == 1 and not isinstance(ids[0], (list, tuple)):
        return {"data": {"type": type_, "id": str(ids[0])}}
    items = ids[0] if len(ids) == 1 else ids
    return {"data": [{"type": type_, "id": str(i)} for i in items]}


def matrix(**expected):
    """Parametrize a test over callers: @pytest.mark.parametrize(*matrix(anonymous=401, outsider=404))."""
    return "caller,expected", list(expected.items())
