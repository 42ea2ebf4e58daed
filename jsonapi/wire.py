"""A stored model value in the words of the wire (SPEC §3 audit `changes`).

The audit log records model field names and database-ish values (`is_subscriber`, a naive
UTC datetime string, an integer id); readers see the resource's own member names
(`isSubscriber`, `isSiteAdmin` for `is_superuser`) and wire values (ISO 8601 with zone,
ids as strings). The names come from the resources' serializers, so renaming a member
renames it in the history too.
"""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache

from django.db import models
from django.utils.dateparse import parse_datetime
from rest_framework_json_api.utils import format_field_name

from jsonapi.serializers import ModelSerializer


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


@cache
def _names_by_model() -> dict:
    names: dict = {}
    for serializer in _subclasses(ModelSerializer):
        meta = getattr(serializer, "Meta", None)
        model = getattr(meta, "model", None)
        fields = getattr(meta, "fields", None)
        if model is None or not isinstance(fields, (list, tuple)):
            continue
        declared = getattr(serializer, "_declared_fields", {})
        mapping = names.setdefault(model, {})
        for name in fields:
            field = declared.get(name)
            source = getattr(field, "source", None) or name
            if source != "*" and "." not in source:
                mapping.setdefault(source, format_field_name(name))
    return names


def wire_name(model, field_name: str) -> str:
    """The member name a model field has on its resource (camelCase when it has none)."""
    return _names_by_model().get(model, {}).get(field_name) or format_field_name(field_name)


def _iso(value: datetime) -> str:
    if value.tzinfo is None:  # the audit log stores UTC without its zone
        value = value.replace(tzinfo=UTC)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def wire_value(model, field_name: str, value):
    """A stored value as the resource shows it: ISO 8601 with zone, ids as strings."""
    if value is None or model is None:
        return value
    try:
        field = model._meta.get_field(field_name)
    except Exception:  # a field since removed, or a name that is no field: keep what was stored
        return value
    if field.primary_key or field.many_to_one or field.one_to_one:
        return str(value)
    if isinstance(field, models.DateTimeField):
        parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
        return _iso(parsed) if parsed is not None else value
    if isinstance(field, models.DateField):
        return value.isoformat() if isinstance(value, date) else value
    if isinstance(field, models.BooleanField) and isinstance(value, str):
        return {"True": True, "False": False}.get(value, value)
    if isinstance(field, models.DecimalField):
        return str(value) if isinstance(value, (Decimal, int, float)) else value
    if isinstance(field, models.IntegerField) and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    if isinstance(field, models.JSONField) and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
