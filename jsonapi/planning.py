"""Declarative read planning: what a resource needs read with it, declared on its fields.

A serializer declares two kinds of field whose data depends on the caller:

- `VisibleRelatedField(many=True, source="memberships")`: a to-many relationship holding
  only the related objects the caller may see, `Related.objects.for_user(viewer)`;
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
from django.db.models import Prefetch
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS, ManyRelatedField

from jsonapi.serializers import IdOrderedManyRelatedField, ResourceRelatedField

# Where the standard path keeps a scoped relationship's prefetched objects on an instance.
SCOPED_ATTR = "_visible_{}"


def scoped_attr(relation: str) -> str:
    return SCOPED_ATTR.format(relation)


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


class VisibleRelatedField(ResourceRelatedField):
    """A read-only to-many relationship limited to what the caller may see (use many=True).
    `model` may be named by its "app_label.Model" string (a model of a higher layer)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        if isinstance(kwargs.get("model"), str):
            kwargs["model"] = apps.get_model(kwargs["model"])
        super().__init__(**kwargs)

    @classmethod
    def many_init(cls, *args, **kwargs):
        kwargs.setdefault("read_only", True)
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        list_kwargs.update({key: value for key, value in kwargs.items() if key in MANY_RELATION_KWARGS})
        return VisibleManyRelatedField(**list_kwargs)


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


def _model(serializer_class):
    return serializer_class.Meta.model


def with_counts(queryset, serializer_class, viewer):
    """The queryset with the counts the serializer declares."""
    for method in declarations(serializer_class)[2]:
        queryset = getattr(queryset, method)(viewer)
    return queryset


def has_counts(serializer_class) -> bool:
    return bool(declarations(serializer_class)[2])


def scoped_queryset(model, viewer):
    return model.objects.for_user(viewer).order_by("id")


def resource_prefetches(serializer_class, viewer, prefix: str = "", include=()) -> list:
    """The prefetches the serializer's scoped to-many relations need (under `prefix`); a
    relation that is also included (`include`) brings what its own resource needs."""
    scoped, _plain, _counts = declarations(serializer_class)
    model = _model(serializer_class)
    included = getattr(serializer_class, "included_serializers", None) or {}
    lookups = []
    for name, source in scoped:
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
    if has_counts(included):
        lookups.append(Prefetch(path, queryset=with_counts(_model(included).objects.all(), included, viewer)))
    lookups += resource_prefetches(included, viewer, prefix=f"{path}__")
    lookups += [f"{path}__{source}" for source in declarations(included)[1]]
    return lookups


def base_queryset(serializer_class, viewer):
    """The queryset an included resource must be read with (None: any will do)."""
    if not has_counts(serializer_class):
        return None
    return with_counts(_model(serializer_class).objects.all(), serializer_class, viewer)
