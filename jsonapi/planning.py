"""Declarative read planning: what a resource needs read with it, declared on its fields.

A serializer declares two kinds of field whose data depends on the caller:

- `VisibleRelatedField(many=True, source="memberships")`: a to-many relationship holding
  only the related objects the caller may see, `Related.objects.for_user(viewer)`; with
  `unbounded=True` (a relationship that grows without bound, SPEC §2) it carries no ids, only
  `links` and `meta.count` (what the caller may see, counted in the page's own query), and
  its ids only when the client includes it (full linkage);
- `CountField(annotated_by="with_counts")`: a number the model's queryset computes in the
  page's own query (`queryset.with_counts(viewer)`).

From those declarations the base viewset derives, for the resource and for every included
resource, the visibility-scoped prefetches and the count annotations of the standard
(DJA) read path, and the fast read path (`jsonapi.documents`) derives the same from its
plan. Adding a relationship or a count to a resource is one declaration; nothing else has
to know its name.
"""

from functools import cache

from django.apps import apps
from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS, ManyRelatedField

from jsonapi.links import RelationshipCount
from jsonapi.serializers import IdOrderedManyRelatedField, ResourceRelatedField

# Where the standard path keeps a scoped relationship's prefetched objects on an instance.
SCOPED_ATTR = "_visible_{}"
# Where both read paths keep an unbounded relationship's count (an annotation of the row).
COUNT_ATTR = "_count_{}"


def scoped_attr(relation: str) -> str:
    return SCOPED_ATTR.format(relation)


def count_attr(relation: str) -> str:
    return COUNT_ATTR.format(relation)


class VisibleManyRelatedField(IdOrderedManyRelatedField):
    """The related objects the caller may see, as prefetched by the view; read through
    `for_user()` when nothing was prefetched (an object built outside a viewset)."""

    scoped = True

    def get_attribute(self, instance):
        try:
            return getattr(instance, scoped_attr(self.source))
        except AttributeError:
            request = self.context.get("request")
            manager = getattr(instance, self.source)
            viewer = getattr(request, "user", None)
            return manager.model.objects.for_user(viewer).filter(
                pk__in=manager.values("pk")) if instance.pk is not None else []


class UnboundedManyRelatedField(VisibleManyRelatedField):
    """A to-many relationship that grows without bound: its count (annotated on the row by
    the view's queryset) unless its objects were read because the client includes them."""

    unbounded = True

    def get_attribute(self, instance):
        try:
            return getattr(instance, scoped_attr(self.source))
        except AttributeError:
            pass
        try:
            return RelationshipCount(getattr(instance, count_attr(self.source)))
        except AttributeError:
            # an object read outside a viewset's queryset (one object: one query)
            request = self.context.get("request")
            return RelationshipCount(related_visible(type(instance), self.source, getattr(request, "user", None))
                                     .filter(_parent=instance.pk).count() if instance.pk is not None else 0)

    def to_representation(self, iterable):
        if isinstance(iterable, RelationshipCount):
            return iterable
        return super().to_representation(iterable)

    def current_linkage(self, instance):
        """Every identifier the caller may see (to compare a relationship written back)."""
        request = self.context.get("request")
        ids = related_visible(type(instance), self.source, getattr(request, "user", None)).filter(
            _parent=instance.pk).order_by("pk").values_list("pk", flat=True)
        child = self.child_relation
        resource_type = child.get_resource_type_from_included_serializer() or child.model.__name__
        return [{"type": resource_type, "id": str(pk)} for pk in ids]


class VisibleRelatedField(ResourceRelatedField):
    """A read-only to-many relationship limited to what the caller may see (use many=True).
    `model` may be named by its "app_label.Model" string (a model of a higher layer).
    `unbounded=True`: links and a count instead of ids (see the module's docstring)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        if isinstance(kwargs.get("model"), str):
            kwargs["model"] = apps.get_model(kwargs["model"])
        super().__init__(**kwargs)

    @classmethod
    def many_init(cls, *args, unbounded=False, **kwargs):
        kwargs.setdefault("read_only", True)
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        list_kwargs.update({key: value for key, value in kwargs.items() if key in MANY_RELATION_KWARGS})
        return (UnboundedManyRelatedField if unbounded else VisibleManyRelatedField)(**list_kwargs)


class CountField(serializers.IntegerField):
    """A read-only count the model's queryset annotates: `queryset.<annotated_by>(viewer)`."""

    def __init__(self, *, annotated_by: str, **kwargs):
        self.annotated_by = annotated_by
        kwargs["read_only"] = True
        super().__init__(**kwargs)


# --------------------------------------------------------------------------- derivation


@cache
def declarations(serializer_class):
    """`(scoped, plain, counts)`: the serializer's scoped to-many relations as (name, source),
    its plain to-many sources, and the queryset methods its counts need."""
    scoped, plain, counts = [], [], []
    for name, field in serializer_class._declared_fields.items():
        if isinstance(field, VisibleManyRelatedField):
            scoped.append((name, field.source or name))
        elif isinstance(field, ManyRelatedField) and not field.write_only:
            plain.append(field.source or name)
        elif isinstance(field, CountField) and field.annotated_by not in counts:
            counts.append(field.annotated_by)
    return tuple(scoped), tuple(plain), tuple(counts)


@cache
def unbounded(serializer_class) -> tuple:
    """The serializer's unbounded to-many relations, as (name, source)."""
    return tuple((name, field.source or name) for name, field in serializer_class._declared_fields.items()
                 if getattr(field, "unbounded", False))


def _model(serializer_class):
    return serializer_class.Meta.model


def reverse_name(model, source) -> str:
    """The name the related model filters its parents by (`utility` for Utility.memberships)."""
    field = model._meta.get_field(source)
    if field.many_to_many and not field.auto_created:
        return field.related_query_name()
    return field.field.name


def related_visible(model, source, viewer):
    """What the caller may see of `model.<source>`, each row annotated with its `_parent`."""
    related = model._meta.get_field(source).related_model
    return related.objects.for_user(viewer).annotate(_parent=F(reverse_name(model, source)))


def count_subquery(model, source, viewer, outer="pk"):
    """How many of `model.<source>` the caller may see, for the row `outer` points at: one
    correlated subquery, a column of the page's own query."""
    rows = related_visible(model, source, viewer).filter(_parent=OuterRef(outer)).order_by().values("_parent")
    counted = rows.annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def relationship_counts(serializer_class, viewer, outer="pk", prefix="") -> dict:
    """The annotations giving the serializer's unbounded relationships their counts."""
    model = _model(serializer_class)
    return {prefix + count_attr(source): count_subquery(model, source, viewer, outer)
            for _name, source in unbounded(serializer_class)}


def with_counts(queryset, serializer_class, viewer, relationships=True):
    """The queryset with the counts the serializer declares (`relationships`: the counts of
    its unbounded relationships too)."""
    for method in declarations(serializer_class)[2]:
        queryset = getattr(queryset, method)(viewer)
    if relationships:
        counts = relationship_counts(serializer_class, viewer)
        if counts:
            queryset = queryset.annotate(**counts)
    return queryset


def has_counts(serializer_class, relationships=False) -> bool:
    return bool(declarations(serializer_class)[2]) or (relationships and bool(unbounded(serializer_class)))


def scoped_queryset(model, viewer):
    return model.objects.for_user(viewer).order_by("id")


def resource_prefetches(serializer_class, viewer, prefix: str = "", include=()) -> list:
    """The prefetches the serializer's scoped to-many relations need (under `prefix`); a
    relation that is also included (`include`) brings what its own resource needs."""
    scoped, _plain, _counts = declarations(serializer_class)
    model = _model(serializer_class)
    included = getattr(serializer_class, "included_serializers", None) or {}
    counted_only = {name for name, _source in unbounded(serializer_class)} - set(include)
    lookups = []
    for name, source in scoped:
        if name in counted_only:
            continue  # its count is a column of the row (with_counts)
        related = model._meta.get_field(source).related_model
        queryset = scoped_queryset(related, viewer)
        if name in include:
            inner = included[name]
            queryset = with_counts(queryset, inner, viewer).prefetch_related(
                *resource_prefetches(inner, viewer), *declarations(inner)[1])
        lookups.append(Prefetch(f"{prefix}{source}", queryset=queryset, to_attr=scoped_attr(source)))
    return lookups


def include_prefetches(serializer_class, viewer, path: str) -> list:
    """What an included to-one resource at `path` needs: itself with its counts (when it
    declares any), its scoped relations, its plain to-many relations."""
    included = serializer_class.included_serializers[path]
    scoped = {source for name, source in declarations(serializer_class)[0] if name == path}
    if scoped:
        return []  # a scoped to-many include is read by resource_prefetches
    lookups = []
    if has_counts(included, relationships=True):
        lookups.append(Prefetch(path, queryset=with_counts(_model(included).objects.all(), included, viewer)))
    lookups += resource_prefetches(included, viewer, prefix=f"{path}__")
    lookups += [f"{path}__{source}" for source in declarations(included)[1]]
    return lookups


def base_queryset(serializer_class, viewer):
    """The queryset an included resource must be read with (None: any will do)."""
    if not has_counts(serializer_class):
        return None  # the fast path annotates relationship counts itself
    return with_counts(_model(serializer_class).objects.all(), serializer_class, viewer, relationships=False)
