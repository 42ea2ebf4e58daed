"""The JSON:API parser: every malformed document is a 400 (or the 403 / 409 JSON:API names).

DRF imports the classes named in REST_FRAMEWORK while `rest_framework.views` is still
loading, so this module must not import DRF's views (nor anything that does).
"""

import json

from rest_framework_json_api import parsers as dja_parsers
from rest_framework_json_api.utils import get_resource_name

from jsonapi.errors import ApiError
from jsonapi.renderers import JSONAPIRenderer


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON value")


class JSONAPIParser(dja_parsers.JSONParser):
    """DJA's parser made total: every malformed document is a 400, never a crash.

    It also records which members the client sent under `attributes` and `relationships`,
    so serializers can refuse unknown or misplaced ones (see StrictSerializerMixin).
    """

    renderer_class = JSONAPIRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            raw = stream.read() if stream is not None else b""
            result = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant) if raw else None
        except RecursionError:
            raise ApiError("The body is nested too deeply.", pointer="") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(f"The body is not valid JSON: {exc}", pointer="") from None
        return self.parse_data(result, parser_context)

    def parse_data(self, result, parser_context):
        if not isinstance(result, dict) or "data" not in result:
            raise ApiError("The document must be an object with a top-level `data` member.", pointer="",
                           code="required")
        data = result["data"]
        from rest_framework_json_api.views import RelationshipView

        view = (parser_context or {}).get("view")
        takes_identifiers = getattr(view, "takes_identifiers", None)
        if isinstance(view, RelationshipView) or (takes_identifiers is not None and takes_identifiers()):
            return self._identifiers(data, "/data")
        if not isinstance(data, dict):
            raise ApiError("`data` must be a single resource object.", pointer="/data")
        if not isinstance(data.get("type"), str) or not data.get("type"):
            raise ApiError("The resource object needs a `type`.", pointer="/data/type", code="required")
        if "id" in data and not isinstance(data["id"], (str, int)) or isinstance(data.get("id"), bool):
            raise ApiError("`id` must be a string.", pointer="/data/id")
        for member in ("attributes", "relationships", "meta"):
            if member in data and not isinstance(data[member], dict):
                raise ApiError(f"`{member}` must be an object.", pointer=f"/data/{member}")
        echoed = []
        for name, value in list((data.get("relationships") or {}).items()):
            if isinstance(value, dict) and value and "data" not in value and set(value) <= {"links", "meta"}:
                # a relationship written back as it was read (links and a count, no linkage):
                # it asks for no change, so it is set aside (its name is still checked)
                echoed.append(name)
                data["relationships"] = {k: v for k, v in data["relationships"].items() if k != name}
                continue
            if not isinstance(value, dict) or "data" not in value:
                raise ApiError("A relationship must be an object with a `data` member.",
                               pointer=f"/data/relationships/{name}")
            self._identifiers(value["data"], f"/data/relationships/{name}/data")
        request = (parser_context or {}).get("request")
        method = getattr(request, "method", None)
        if method == "POST" and data.get("id") not in (None, ""):
            raise ApiError("Client-generated ids are not supported.", status_code=403, pointer="/data/id")
        expected = get_resource_name(parser_context or {}, expand_polymorphic_types=True)
        if method in ("POST", "PATCH") and isinstance(expected, str) and data["type"] != expected:
            raise ApiError(f"This endpoint takes `{expected}` resources, not `{data['type']}`.", status_code=409,
                           pointer="/data/type")
        if method == "PATCH" and view is not None:
            lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
            url_id = view.kwargs.get(lookup) if lookup else None
            if "id" not in data:
                raise ApiError("The resource object needs its `id`.", pointer="/data/id", code="required")
            if url_id is not None and str(data["id"]) != str(url_id):
                raise ApiError(f"The body's id ({data['id']}) is not the URL's ({url_id}).", status_code=409,
                               pointer="/data/id")
        parsed = super().parse_data(result, parser_context)
        parsed["_members"] = {
            "attributes": list((data.get("attributes") or {}).keys()),
            "relationships": list((data.get("relationships") or {}).keys()) + echoed,
            "echoed": echoed,
        }
        return parsed

    @staticmethod
    def _identifiers(data, pointer):
        items = data if isinstance(data, list) else [data]
        for position, item in enumerate(items):
            if item is None and not isinstance(data, list):
                continue
            here = f"{pointer}/{position}" if isinstance(data, list) else pointer
            if not isinstance(item, dict) or not isinstance(item.get("type"), str) or "id" not in item:
                raise ApiError("A resource identifier needs `type` and `id`.", pointer=here)
            if not isinstance(item["id"], (str, int)) or isinstance(item["id"], bool):
                raise ApiError("A resource identifier's `id` must be a string or a number.", pointer=f"{here}/id")
        return data
