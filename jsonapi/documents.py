"""The fast read path: JSON:API documents for GET lists and details, built in one pass.

djangorestframework-jsonapi renders a page by serialising every row to a dict, then walking
every field of every row again to sort attributes from relationships, looking up resource
types per row, and building a fresh serializer for each included object; to-many
relationships are filled by prefetching whole model instances. Here the work that depends
only on the serializer class is done once per request (a `Plan`); to-many relationships
travel as id arrays aggregated in SQL (`json_group_array` on SQLite, `array_agg` on
PostgreSQL) inside the query that reads their rows; a to-one include that needs nothing but
its own row is read with the page (a join, its visibility an `EXISTS` column), other
included resources by id through `for_user()` (which is also their visibility check); rows
become resource objects in one loop and the document is encoded with orjson. A list costs
session + count + page, plus one query per include that cannot ride along.

The documents are exactly what the standard path produces (DJA's renderer plus
`jsonapi.renderers.visible_included`); `tests/test_fast_read.py` renders every resource and include
path both ways and compares them. A serializer the plan does not understand (an overridden
`to_representation`, hyperlinked relationships, meta fields) falls back to the standard
path, as does everything when the `API_FAST_READ` setting is off.

What a resource needs read with it is declared on its serializer's fields and derived here
as on the standard path (`jsonapi.planning`): a `VisibleRelatedField` holds the related
objects the caller may see, `Related.objects.for_user(viewer)`; any other to-many relation
holds all of it; `CountField`s are annotated by the model's queryset. To-many `data` is in
id order on every path (`jsonapi.serializers.IdOrderedManyRelatedField`).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from operator import attrgetter

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, Subquery, Value
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import ManyRelatedField, PKOnlyObject
from rest_framework.settings import ISO_8601, api_settings
from rest_framework_json_api.relations import HyperlinkedMixin
from rest_framework_json_api.relations import ResourceRelatedField as DJAResourceRelatedField
from rest_framework_json_api.utils import (
    format_field_name,
    get_included_resources,
    get_resource_type_from_model,
    get_resource_type_from_serializer,
    undo_format_field_name,
)

from core.db import JSONGroupArray, aggregates_ids, read_json_array
from jsonapi import planning
from jsonapi.links import Linker, linker_for, relationship_links
from jsonapi.serializers import ModelSerializer

# A scoped relation's key in a plan: its source under the prefix the standard path's
# prefetches store it at (`jsonapi.planning.scoped_attr`), so one strip removes both.
VISIBLE_PREFIX = "_visible_"


# --------------------------------------------------------------------------- encoding


# --------------------------------------------------------------------------- plans


@cache
def wire_name(name: str) -> str:
    return format_field_name(name)


def _converter(field):
    """`field.to_representation`, minus DRF's per-call overhead for the common exact types.
    Each shortcut returns what DRF returns; anything unusual goes to the field itself."""
    kind = type(field)
    to_representation = field.to_representation
    if kind.to_representation is serializers.DateTimeField.to_representation:
        output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
        if output_format is None or output_format.lower() != ISO_8601:
            return to_representation
        zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
        if zone is None:
            return to_representation

        def datetime_iso(value):
            if type(value) is not datetime or value.tzinfo is None:
                return to_representation(value)
            text = value.astimezone(zone).isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text

        return datetime_iso
    if kind.to_representation is serializers.BooleanField.to_representation:
        return lambda value: value if value is True or value is False else to_representation(value)
    if kind.to_representation is serializers.CharField.to_representation:
        return lambda value: value if type(value) is str else to_representation(value)
    if kind.to_representation is serializers.IntegerField.to_representation:
        return lambda value: value if type(value) is int else to_representation(value)
    return to_representation


def _plain_relation(field) -> bool:
    """A DJA resource relation with no links: `{"data": identifier}` and nothing else."""
    return isinstance(field, DJAResourceRelatedField) and not (
        isinstance(field, HyperlinkedMixin) and (field.self_link_view_name or field.related_link_view_name)
    ) and type(field).to_representation is DJAResourceRelatedField.to_representation


def _identifier_type(relation) -> str:
    resource_type = relation.get_resource_type_from_included_serializer()
    if resource_type is not None:
        return resource_type
    model = getattr(relation, "model", None) or relation.get_queryset().model
    return get_resource_type_from_model(model)


class Unsupported(Exception):
    """The serializer renders something the plan cannot reproduce exactly."""


class Plan:
    """How one serializer class renders, bound to this request's serializer instance."""

    def __init__(self, serializer, sparse, linker=None, included=()):
        cls = type(serializer)
        if cls.to_representation is not ModelSerializer.to_representation and not getattr(
                cls, "plain_representation", False):
            raise Unsupported(f"{cls.__name__} overrides to_representation")
        self.serializer = serializer
        self.model = serializer.Meta.model
        self.type = get_resource_type_from_serializer(serializer)
        self.included_serializers = getattr(serializer, "included_serializers", None) or {}
        wanted = sparse.get(self.type)
        self.attributes = []  # (wire name, field, kind)
        self.to_one = []  # (name, wire name, type, attname or None, field)
        self.to_many = []  # (name, wire name, type, source)
        self.counted = []  # (name, wire name, source): unbounded relationships, not included
        self.base = (linker or Linker(None)).collection(self.type)  # links (None: no collection)
        meta = getattr(serializer, "Meta", None)
        if getattr(meta, "meta_fields", None) or hasattr(serializer, "get_root_meta"):
            raise Unsupported(f"{cls.__name__} has meta fields")
        concrete = {f.name: f for f in self.model._meta.concrete_fields}
        for name, field in serializer.fields.items():
            if field.write_only or name == "id":
                continue
            if wanted is not None and name not in wanted:
                continue
            if isinstance(field, ManyRelatedField):
                child = field.child_relation
                if not _plain_relation(child) or len(field.source_attrs) != 1:
                    raise Unsupported(f"{cls.__name__}.{name}")
                if getattr(field, "unbounded", False) and name not in included:
                    self.counted.append((name, wire_name(name), field.source))
                    continue
                source = VISIBLE_PREFIX + field.source if getattr(field, "scoped", False) else field.source
                self.to_many.append((name, wire_name(name), _identifier_type(child), source))
            elif isinstance(field, serializers.RelatedField):
                if not _plain_relation(field):
                    raise Unsupported(f"{cls.__name__}.{name}")
                model_field = concrete.get(field.source)
                attname = model_field.attname if model_field is not None and model_field.is_relation else None
                self.to_one.append((name, wire_name(name), _identifier_type(field), attname, field))
            elif isinstance(field, serializers.SerializerMethodField):
                self.attributes.append((wire_name(name), getattr(serializer, field.method_name), "method"))
            elif field.source in concrete and not concrete[field.source].is_relation and type(
                    field).get_attribute is serializers.Field.get_attribute:
                self.attributes.append((wire_name(name), (attrgetter(field.source), _converter(field)), "column"))
            else:
                self.attributes.append((wire_name(name), field, "field"))
        self.to_many_names = {name for name, *_ in self.to_many}
        self.relation_names = {name for name, *_ in self.to_one} | self.to_many_names | {
            name for name, *_ in self.counted}
        self.relation_sources = {source for *_, source in self.to_many} | {
            field.source for *_, field in self.to_one}

    # ----------------------------------------------------------------- loading

    def kept_lookups(self, lookups):
        """The prefetch lookups this plan does not load itself (it loads relationships and
        the resources they lead to)."""
        loaded_here = self.relation_names | self.relation_sources
        return [lookup for lookup in lookups if _first_segment(lookup) not in loaded_here]

    def strip(self, queryset):
        lookups = queryset._prefetch_related_lookups
        if not lookups:
            return queryset
        return queryset.prefetch_related(None).prefetch_related(*self.kept_lookups(lookups))

    def annotate(self, queryset, visible, outer="pk", prefix="_ids_"):
        """Each to-many relationship's ids as an annotation of the row `outer` points at."""
        return queryset.annotate(**{f"{prefix}{source}": ids_subquery(self.model, source, visible, outer)
                                    for *_, source in self.to_many})

    def annotate_counts(self, queryset, viewer, outer="pk", prefix=""):
        """Each unbounded relationship's count (what the caller may see) as an annotation of
        the row `outer` points at (`planning.count_attr`, under `prefix`)."""
        present = queryset.query.annotations
        counts = {prefix + planning.count_attr(source): planning.count_subquery(self.model, source, viewer, outer)
                  for _name, _wire, source in self.counted
                  if prefix + planning.count_attr(source) not in present}
        return queryset.annotate(**counts) if counts else queryset

    def ensure_counts(self, instances, viewer):
        """Counts for instances read without `annotate_counts`: one query per relationship."""
        for _name, _wire, source in self.counted:
            attr = planning.count_attr(source)
            missing = [instance for instance in instances if not hasattr(instance, attr)]
            if not missing:
                continue
            rows = planning.related_visible(self.model, source, viewer).filter(
                _parent__in=[instance.pk for instance in missing]).order_by().values("_parent")
            counts = dict(rows.annotate(n=Count("pk")).values_list("_parent", "n"))
            for instance in missing:
                setattr(instance, attr, counts.get(instance.pk, 0))

    def read_to_many(self, instances, prefix="_ids_") -> dict:
        """What `annotate` put on the instances, shaped as `load_to_many` returns it."""
        return {source: {instance.pk: read_ids(getattr(instance, prefix + source)) for instance in instances}
                for *_, source in self.to_many}

    def load_to_many(self, pks, visible, with_objects=None, only=None) -> tuple[dict, dict]:
        """Every to-many relationship of the rows `pks` (or those named in `only`), one query each.

        Returns `source → {pk: [related pk, ...]}`, and for the relationships named in
        `with_objects` (name → prefetch lookups for them) the related objects themselves,
        `name → {related pk: object}`, fetched by that same query.
        """
        loaded, objects = {}, {}
        for name, _wire, _type, source in self.to_many:
            if only is not None and name not in only:
                continue
            ids = loaded[source] = {pk: [] for pk in pks}
            if with_objects is not None and name in with_objects:
                found = objects[name] = {}
                lookups, related_plan = with_objects[name]
                if pks:
                    rows = related_rows(self.model, source, visible, pks).prefetch_related(*lookups)
                    for related in related_plan.annotate_counts(rows, visible.viewer):
                        ids[related._parent].append(related.pk)
                        found.setdefault(related.pk, related)
            elif pks:
                for parent, pk in related_rows(self.model, source, visible, pks).values_list("_parent", "pk"):
                    ids[parent].append(pk)
        return loaded, objects

    # ----------------------------------------------------------------- rendering

    def resource(self, instance, to_many):
        pk = instance.pk
        resource = {"type": self.type, "id": str(pk)}
        attributes = {}
        for wire, field, kind in self.attributes:
            if kind == "column":
                getter, convert = field
                value = getter(instance)
                attributes[wire] = None if value is None else convert(value)
                continue
            if kind == "method":
                attributes[wire] = field(instance)
                continue
            value = _field_value(field, instance)
            if value is not _SKIP:
                attributes[wire] = value
        if attributes:
            resource["attributes"] = attributes
        relationships = {}
        for _name, wire, type_name, attname, field in self.to_one:
            if attname is not None:
                related = getattr(instance, attname)
                relationships[wire] = {"data": None if related is None else {"type": type_name, "id": str(related)}}
                continue
            value = _field_value(field, instance)
            if value is not _SKIP:
                relationships[wire] = {"data": value}
        for _name, wire, type_name, source in self.to_many:
            ids = to_many[source][pk]
            relationships[wire] = {"meta": {"count": len(ids)},
                                   "data": [{"type": type_name, "id": str(i)} for i in ids]}
        for _name, wire, source in self.counted:
            relationships[wire] = {"meta": {"count": getattr(instance, planning.count_attr(source))}}
        if relationships:
            resource["relationships"] = relationships
        if self.base is not None:
            url = f"{self.base}{pk}/"
            resource["links"] = {"self": url}
            for wire, relationship in relationships.items():
                relationship["links"] = relationship_links(url, wire)
        return resource


_SKIP = object()


def _field_value(field, instance):
    """What DRF's `Serializer.to_representation` puts under this field (`_SKIP`: nothing)."""
    try:
        value = field.get_attribute(instance)
    except SkipField:
        return _SKIP
    if value is None or (isinstance(value, PKOnlyObject) and value.pk is None):
        return None
    return field.to_representation(value)


def _first_segment(lookup) -> str:
    if isinstance(lookup, Prefetch):
        first = lookup.prefetch_through.split("__")[0]
        return lookup.to_attr if lookup.to_attr and "__" not in lookup.prefetch_through else first
    return lookup.split("__")[0]


def _relation(model, source):
    name = source[len(VISIBLE_PREFIX):] if source.startswith(VISIBLE_PREFIX) else source
    return model._meta.get_field(name), source.startswith(VISIBLE_PREFIX)


def _reverse_name(model, source) -> str:
    """The name the related model filters its parents by (`utility` for Utility.memberships)."""
    field, _visible = _relation(model, source)
    if field.many_to_many and not field.auto_created:
        return field.related_query_name()
    return field.field.name


def is_visible_source(source) -> bool:
    return source.startswith(VISIBLE_PREFIX)


def related_rows(model, source, visible, pks):
    """The related objects of a to-many relationship of the parents `pks` (of any parent when
    `pks` is None), each annotated with its `_parent`, in id order."""
    field, scoped = _relation(model, source)
    related = field.related_model
    queryset = visible(related) if scoped else related._default_manager.all()
    # Annotate first, so the filter reuses the annotation's join (filtering and selecting a
    # many-valued relation separately would join it twice and multiply the rows).
    queryset = queryset.annotate(_parent=F(_reverse_name(model, source)))
    return queryset if pks is None else queryset.filter(_parent__in=pks).order_by("pk")


def ids_subquery(model, source, visible, outer_ref):
    """A correlated subquery giving the ids of a to-many relationship of the row `outer_ref`
    points at, as one value (read back with `read_ids`)."""
    rows = related_rows(model, source, visible, None).filter(_parent=OuterRef(outer_ref))
    return Subquery(rows.order_by().values("_parent").annotate(ids=JSONGroupArray("pk")).values("ids")[:1])


def read_ids(value) -> list:
    """The ids an `ids_subquery` produced, in id order (the order relationship data has)."""
    ids = read_json_array(value)
    ids.sort()
    return ids


def _reroot(lookup, prefix):
    """`user__roles` seen from the users themselves: `roles` (None when not under prefix)."""
    start = f"{prefix}__"
    if isinstance(lookup, Prefetch):
        if not lookup.prefetch_through.startswith(start):
            return None
        return Prefetch(lookup.prefetch_through[len(start):], queryset=lookup.queryset, to_attr=lookup.to_attr)
    return lookup[len(start):] if lookup.startswith(start) else None


# --------------------------------------------------------------------------- the builder


class Visible:
    """`Model.objects.for_user(viewer)`, built once per model for one document (building the
    visibility subqueries is a good part of a small page's cost). Callers only derive new
    querysets from it, so the one built is never evaluated."""

    def __init__(self, viewer):
        self.viewer = viewer
        self._built = {}

    def __call__(self, model):
        try:
            return self._built[model]
        except KeyError:
            queryset = self._built[model] = model.objects.for_user(self.viewer)
            return queryset


class Builder:
    """Builds one request's document. `for_view` answers None when the fast path does not apply."""

    def __init__(self, view):
        self.view = view
        self.request = view.request
        self.viewer = view.request.user
        self.visible = Visible(self.viewer)
        self._memo = {}
        self.sparse = {}
        for name, value in self.request.query_params.items():
            if name.startswith("fields[") and name.endswith("]"):
                self.sparse[name[7:-1]] = {undo_format_field_name(part) for part in value.split(",")}
        self.context = view.get_serializer_context()
        self.linker = linker_for(self.request)
        serializer = view.get_serializer_class()(context=self.context)
        paths = get_included_resources(self.request, serializer)
        self.plan = Plan(serializer, self.sparse, self.linker, included=paths)
        self.includes = []  # (path, plan of the included serializer)
        for path in paths:
            serializer_class = self.plan.included_serializers[path]
            if not any(name == path for name, *_ in self.plan.to_one + self.plan.to_many):
                raise Unsupported(f"include {path}")
            self.includes.append((path, Plan(serializer_class(context=self.context), self.sparse, self.linker)))
        # With ids aggregated in SQL, to-many relationships ride in the row queries, and a
        # to-one include that needs nothing but its own row rides in the page query.
        self.aggregate = aggregates_ids(connection)
        self.joined = {}  # path → (plan, attname)
        for path, plan in self.includes if self.aggregate else ():
            attname = next((entry[3] for entry in self.plan.to_one if entry[0] == path), None)
            if attname is not None and self._base_queryset(path) is None and not self._lookups(path, plan):
                self.joined[path] = (plan, attname)

    @classmethod
    def for_view(cls, view):
        if not getattr(settings, "API_FAST_READ", True) or not getattr(view, "fast_read", True):
            return None
        try:
            return cls(view)
        except Unsupported:
            return None

    def strip(self, queryset):
        """The view's queryset without the prefetches this document replaces."""
        return self.plan.strip(queryset)

    def prepare(self, queryset):
        """The view's queryset, reading what this document needs (before pagination)."""
        return self.annotate(self.strip(queryset))

    def annotate(self, queryset):
        """Relationship ids and counts and joined includes as columns of the rows' query."""
        queryset = self.plan.annotate_counts(queryset, self.viewer)
        if not self.aggregate:
            return queryset
        queryset = self.plan.annotate(queryset, self.visible).annotate(_fast_read=Value(1, output_field=IntegerField()))
        for path, (plan, attname) in self.joined.items():
            queryset = plan.annotate(queryset.select_related(path), self.visible, outer=attname,
                                     prefix=f"_inc_{path}_")
            queryset = plan.annotate_counts(queryset, self.viewer, outer=attname, prefix=f"_inc_{path}")
            visible = self.visible(plan.model)
            if visible.query.where or visible.query.is_empty():
                queryset = queryset.annotate(**{f"_inc_{path}_visible": Exists(visible.filter(pk=OuterRef(attname)))})
        return queryset

    def document(self, rows, *, many):
        rows = list(rows)
        plan = self.plan
        if rows and not hasattr(rows[0], "_fast_read"):
            # read by a view's own lookup rather than through prepare(): load separately
            self.aggregate, self.joined = False, {}
        # A to-many relationship that is also included is fetched once, as objects.
        with_objects = {path: (self._lookups(path, included_plan), included_plan)
                        for path, included_plan in self.includes
                        if path in plan.to_many_names and self._base_queryset(path) is None}
        plan.ensure_counts(rows, self.viewer)
        pks = [row.pk for row in rows]
        if self.aggregate:
            to_many = plan.read_to_many(rows)
            objects = plan.load_to_many(pks, self.visible, with_objects, only=with_objects)[1] if with_objects else {}
        else:
            to_many, objects = plan.load_to_many(pks, self.visible, with_objects)
        data = [plan.resource(row, to_many) for row in rows]
        document = {"data": data if many else data[0]}
        if self.includes:
            primary = {(resource["type"], resource["id"]) for resource in data}
            document["included"] = self._included(rows, to_many, objects, primary)
        return document

    def _included(self, rows, to_many, objects, primary):
        """Included resources the caller may see, sorted by type and id (as DJA sorts them),
        without those already in `data`."""
        by_key = {}
        for path, plan in self.includes:
            if path in self.joined:
                instances = self._joined(path, rows)
            elif path in objects:
                instances = self._visible(plan.model, path, objects[path])
            else:
                ids = self._related_ids(path, rows, to_many)
                instances = self._fetch(path, plan, ids) if ids else []
            if self.aggregate and path not in objects:
                nested = plan.read_to_many(instances)
            else:
                nested, _ = plan.load_to_many([instance.pk for instance in instances], self.visible)
            plan.ensure_counts(instances, self.viewer)
            for instance in instances:
                resource = plan.resource(instance, nested)
                key = (resource["type"], resource["id"])
                if key not in primary:
                    by_key[key] = resource
        return [by_key[key] for key in sorted(by_key)]

    def _joined(self, path, rows):
        """The included objects read with the page (select_related), with their relationship
        ids moved over from the page's annotations."""
        plan, attname = self.joined[path]
        prefix, instances = f"_inc_{path}_", {}
        for row in rows:
            if getattr(row, attname) is None or not getattr(row, f"{prefix}visible", True):
                continue
            instance = row._state.fields_cache[path]  # read by select_related (the descriptor is slow)
            for *_, source in plan.to_many:
                setattr(instance, f"_ids_{source}", getattr(row, prefix + source))
            for *_, source in plan.counted:
                attr = planning.count_attr(source)
                setattr(instance, attr, getattr(row, f"_inc_{path}{attr}"))
            instances.setdefault(instance.pk, instance)
        return list(instances.values())

    def _related_ids(self, path, rows, to_many):
        ids = set()
        for name, _wire, _type, attname, field in self.plan.to_one:
            if name != path:
                continue
            for row in rows:
                if attname is not None:
                    value = getattr(row, attname)
                else:
                    related = field.get_attribute(row)
                    value = None if related is None else related.pk
                if value is not None:
                    ids.add(value)
            return ids
        source = next(source for name, _wire, _type, source in self.plan.to_many if name == path)
        for related in to_many[source].values():
            ids.update(related)
        return ids

    def _visible(self, model, path, objects):
        """What of `objects` (fetched through a relationship) the caller may read."""
        if not hasattr(model.objects, "for_user"):
            return []  # a type without a visibility rule is never included (as visible_included)
        source = next(source for name, _wire, _type, source in self.plan.to_many if name == path)
        visible = self.visible(model)
        if is_visible_source(source) or (not visible.query.where and not visible.query.is_empty()):
            return list(objects.values())  # already read through for_user(), or all are visible
        keep = set(visible.filter(pk__in=list(objects)).values_list("pk", flat=True))
        return [instance for pk, instance in objects.items() if pk in keep]

    def _lookups(self, path, plan):
        """The prefetches an included resource's attributes need, seen from the resource."""
        key = ("lookups", path)
        if key not in self._memo:
            self._memo[key] = self._find_lookups(path, plan)
        return self._memo[key]

    def _find_lookups(self, path, plan):
        lookups = []
        if path not in self.plan.to_many_names:
            for lookup in planning.include_prefetches(type(self.plan.serializer), self.viewer, path):
                if not (isinstance(lookup, Prefetch) and lookup.prefetch_through == path):
                    lookups.append(lookup)
        lookups += (getattr(self.view, "prefetch_for_includes", None) or {}).get(path, [])
        return plan.kept_lookups([r for r in (_reroot(lookup, path) for lookup in lookups) if r is not None])

    def _base_queryset(self, path):
        """The queryset a scoped prefetch reads the included resources with (e.g. accounts
        with their counts), if it names one."""
        key = ("base", path)
        if key not in self._memo:
            self._memo[key] = self._find_base_queryset(path)
        return self._memo[key]

    def _find_base_queryset(self, path):
        included = dict(self.includes)[path]
        return planning.base_queryset(type(included.serializer), self.viewer)

    def _fetch(self, path, plan, ids):
        """The included objects with these ids that the caller may see: one query."""
        model = plan.model
        if not hasattr(model.objects, "for_user"):
            return []  # a type without a visibility rule is never included (as visible_included)
        base = self._base_queryset(path)
        queryset = self.visible(model) if base is None else plan.strip(base).for_user(self.viewer)
        queryset = queryset.filter(pk__in=ids).prefetch_related(*self._lookups(path, plan))
        queryset = plan.annotate_counts(queryset, self.viewer)
        return list(plan.annotate(queryset, self.visible) if self.aggregate else queryset)
