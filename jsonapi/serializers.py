"""The serializer bases every resource builds on: strict fields, strict members, and
relationship fields that refuse what the caller may not see (SPEC §2)."""

import json
import re
from datetime import timedelta

from django.db import models
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import MANY_RELATION_KWARGS
from rest_framework.utils.encoders import JSONEncoder
from rest_framework_json_api import relations as dja_relations
from rest_framework_json_api import serializers as dja_serializers
from rest_framework_json_api.utils import format_field_name, get_resource_type_from_queryset, is_relationship_field

from jsonapi.errors import ApiError, error_object
from jsonapi.query import is_id_text


class PrivateFieldMixin:
    """An attribute only some callers may read: left out of the resource unless the caller
    holds `permission` on the object (`user.has_perm(permission, obj)`), on both read paths."""

    def __init__(self, *args, permission: str, **kwargs):
        self.permission = permission
        super().__init__(*args, **kwargs)

    def get_attribute(self, instance):
        request = self.context.get("request")
        viewer = getattr(request, "user", None)
        if viewer is None or not viewer.has_perm(self.permission, instance):
            raise SkipField
        return super().get_attribute(instance)


def private(field_class):
    """`private(serializers.DateTimeField)(permission=..., read_only=True)`."""
    return type(f"Private{field_class.__name__}", (PrivateFieldMixin, field_class), {})


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: "yes", 1 or "true" are a 400, not quietly coerced."""

    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        self.fail("invalid", input=data)


class StrictIntegerField(serializers.IntegerField):
    """JSON whole numbers only: "5", 5.0 or true are a 400."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


_INCLUDED_TYPES = {}


class IdOrderedManyRelatedField(serializers.ManyRelatedField):
    """A to-many relationship's `data`, always in id order (whatever order the related model
    sorts itself in), so every path that renders it agrees."""

    def to_representation(self, iterable):
        return [self.child_relation.to_representation(value) for value in sorted(iterable, key=_pk)]


def _pk(value):
    return value.pk


class ResourceRelatedField(dja_relations.ResourceRelatedField):
    """Relationship ids as strings or numbers; anything that is not an id is a 400, never a 500."""

    def get_resource_type_from_included_serializer(self):
        # DJA answers this with two inflection calls per relationship per row; the answer
        # depends only on the parent serializer class and the field's name.
        key = (type(self.get_parent_serializer()), self.field_name or self.parent.field_name)
        try:
            return _INCLUDED_TYPES[key]
        except KeyError:
            resource_type = _INCLUDED_TYPES[key] = super().get_resource_type_from_included_serializer()
            return resource_type

    @classmethod
    def many_init(cls, *args, **kwargs):
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        list_kwargs.update({key: value for key, value in kwargs.items() if key in MANY_RELATION_KWARGS})
        return IdOrderedManyRelatedField(**list_kwargs)

    def conflict(self, key, **kwargs):
        name = self.field_name or getattr(self.parent, "field_name", "")
        message = self.error_messages[key].format(**kwargs)
        raise ApiError(message, status_code=409, pointer=f"/data/relationships/{format_field_name(name)}")

    def to_internal_value(self, data):
        if isinstance(data, dict) and "id" in data:
            raw = data["id"]
            if isinstance(raw, bool) or not is_id_text(str(raw)):
                self.fail("does_not_exist", pk_value=raw)
            data = {**data, "id": str(raw)}
        return super().to_internal_value(data)


_FRACTION = re.compile(r"T[0-9:]+(?:\.([0-9]+))?")


def _same_instant(sent, current, text) -> bool:
    """Whether a timestamp written back denotes the current one to the precision it was sent
    with (SPEC §2: a JavaScript client keeps milliseconds), in any offset."""
    if sent is None or current is None:
        return sent == current
    match = _FRACTION.search(text)
    digits = min(len(match.group(1) or "") if match else 0, 6)
    step = 10 ** (6 - digits)
    truncated = current.replace(microsecond=current.microsecond // step * step)
    if sent == truncated:
        return True
    rounded = truncated + timedelta(microseconds=step) if current.microsecond % step * 2 >= step else truncated
    return sent == rounded


def _jsonable(value):
    return json.loads(json.dumps(value, cls=JSONEncoder))


def _same_relationship(current, sent):
    def key(item):
        return None if item is None else (item.get("type"), str(item.get("id")))

    if isinstance(current, list) or isinstance(sent, list):
        if not isinstance(current, list) or not isinstance(sent, list):
            return False
        return sorted(map(key, current), key=str) == sorted(map(key, sent), key=str)
    return key(current) == key(sent)


class StrictSerializerMixin:
    """Refuse what a lenient DRF serializer would silently drop (SPEC §2).

    - a member the resource does not have, or sent under the wrong object: 400;
    - a read-only member on create, or on update with a value other than the current one: 400;
    - a member listed in `Meta.fixed_fields`: writable on create, then read-only.
    Members sent back unchanged on update are ignored.
    """

    def to_internal_value(self, data):
        if isinstance(data, dict) and "_members" in data:
            data = dict(data)
            members = data.pop("_members")
            data.pop("_meta", None)
            self._check_members(members, data)
        return super().to_internal_value(data)

    def _check_members(self, members, data):
        fields = self.fields
        by_wire_name = {format_field_name(name): (name, field) for name, field in fields.items() if name != "id"}
        fixed = set(getattr(getattr(self, "Meta", None), "fixed_fields", ()))
        echoed = set(members.get("echoed", ()))
        errors = []
        for kind in ("attributes", "relationships"):
            for wire in members[kind]:
                pointer = f"/data/{kind}/{wire}"
                if wire not in by_wire_name:
                    errors.append(error_object(f"`{wire}` is not a member of this resource.", pointer=pointer))
                    continue
                name, field = by_wire_name[wire]
                is_rel = is_relationship_field(field)
                if is_rel != (kind == "relationships"):
                    where = "relationships" if is_rel else "attributes"
                    errors.append(error_object(f"`{wire}` belongs under `{where}`.", pointer=pointer))
                    continue
                if kind == "relationships" and wire in echoed:
                    continue  # written back without linkage: asks for no change (jsonapi.parsers)
                locked = field.read_only or (self.instance is not None and name in fixed)
                if not locked:
                    continue
                if self.instance is None:
                    errors.append(error_object(f"`{wire}` is read-only.", pointer=pointer))
                elif self._differs(name, field, data.get(name), is_rel):
                    errors.append(error_object(f"`{wire}` cannot be changed.", pointer=pointer))
                else:
                    data.pop(name, None)
        if errors:
            raise ApiError.many(errors)

    def _differs(self, name, field, sent, is_rel):
        try:
            if hasattr(field, "current_linkage"):  # an unbounded relationship: its ids are not at hand
                attribute = current = field.current_linkage(self.instance)
            else:
                attribute = field.get_attribute(self.instance)
                current = field.to_representation(attribute) if attribute is not None else None
        except Exception:
            return True
        if is_rel:
            return not _same_relationship(_jsonable(current), sent)
        if isinstance(field, serializers.DateTimeField) and isinstance(sent, str):
            try:
                return not _same_instant(field.to_internal_value(sent), attribute, sent)
            except serializers.ValidationError:
                return True
        return _jsonable(current) != sent


class ModelSerializer(StrictSerializerMixin, dja_serializers.ModelSerializer):
    serializer_related_field = ResourceRelatedField
    serializer_field_mapping = {
        **dja_serializers.ModelSerializer.serializer_field_mapping,
        **dict.fromkeys((models.IntegerField, models.BigIntegerField, models.SmallIntegerField,
                         models.PositiveIntegerField, models.PositiveSmallIntegerField,
                         models.PositiveBigIntegerField), StrictIntegerField),
        models.BooleanField: StrictBooleanField,
    }


class Serializer(dja_serializers.Serializer):
    pass


class VisibleResourceRelatedField(ResourceRelatedField):
    """A relationship whose targets are limited to what the caller may see.

    An id the caller cannot see is refused exactly like one that does not exist. The check
    runs only when a body is validated, so reads pay nothing for it.
    """

    def to_internal_value(self, data):
        obj = super().to_internal_value(data)
        request = self.context.get("request")
        visible = type(obj).objects.for_user(getattr(request, "user", None))
        if not visible.filter(pk=obj.pk).exists():
            self.fail("does_not_exist", pk_value=obj.pk)
        return obj


class ParentRelatedField(ResourceRelatedField):
    """The parent a new object is written into (e.g. a membership's account).

    A parent the caller cannot see answers 404, exactly like one that does not exist, so
    ids leak nothing (SPEC §2). Whether they may write into a parent they do see is a
    permission question, answered with 403 by the view.
    """

    def to_internal_value(self, data):
        if not isinstance(data, dict) or "type" not in data or "id" not in data:
            return super().to_internal_value(data)  # DJA's own errors for malformed identifiers
        expected = get_resource_type_from_queryset(self.get_queryset())
        if data["type"] != expected:
            self.conflict("incorrect_relation_type", relation_type=expected, received_type=data["type"])
        raw = data["id"]
        obj = None
        if not isinstance(raw, bool) and is_id_text(str(raw)):
            request = self.context.get("request")
            # The view checks the parent before the body validates (RosterViewSet.initial): the
            # same lookup for the same caller is answered once per request.
            found = request.__dict__.setdefault("_parents", {}) if request is not None else {}
            key = (type(self.parent), self.field_name, int(raw))
            if key not in found:
                found[key] = self.get_queryset().for_user(getattr(request, "user", None)).filter(pk=int(raw)).first()
            obj = found[key]
        if obj is None:
            raise ApiError(f"There is no {expected} {raw} here.", status_code=404)
        return obj
