"""Page-number pagination (`Pagination`: `page`/`page_size` and `page[number]`/`page[size]`,
with links and `meta.pagination`, SPEC §2) that stays cheap on deep pages ("ids first").

`OFFSET n` makes the database build and throw away n rows before the page starts. With
plain slicing those are whole rows (every column, every join), so page 1,000 of a long
list costs a thousand pages of row fetches. Here the OFFSET runs over primary keys alone,
which an index holding the filter and sort columns answers without touching the table;
only the page's own rows are then read, by primary key. Both steps are one SQL query
(`WHERE pk IN (SELECT pk … ORDER BY … LIMIT … OFFSET …) ORDER BY …`), so a request costs
no more queries than before, and the wire format (`Pagination`'s links and meta) is the
same.

The outer query deliberately carries no other condition: a repeated filter tempts
SQLite into walking the whole filtered index again to avoid a sort of the page's rows.

DRF imports the classes named in REST_FRAMEWORK while `rest_framework.views` is still
loading, so this module must not import DRF's views (nor anything that does).
"""

from django.core.paginator import InvalidPage, Paginator
from django.db import connections
from django.db.models.query import ModelIterable
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from jsonapi.errors import ApiError
from jsonapi.query import is_id_text


class Pagination(PageNumberPagination):
    """`page`/`page_size` (the association's names) and `page[number]`/`page[size]`."""

    page_query_param = "page"
    page_size_query_param = "page_size"
    bracket_page_query_param = "page[number]"
    bracket_page_size_query_param = "page[size]"
    page_size = 50
    max_page_size = 500

    def _positive_int(self, request, names):
        for name in names:
            if name in request.query_params:
                raw = request.query_params[name]
                if not is_id_text(raw) or int(raw) < 1:
                    raise ApiError(f"`{name}` must be a whole number of at least 1.", parameter=name)
                return name, int(raw)
        return None, None

    def get_page_size(self, request):
        _, size = self._positive_int(request, (self.bracket_page_size_query_param, self.page_size_query_param))
        return self.page_size if size is None else min(size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        name, number = self._positive_int(request, (self.bracket_page_query_param, self.page_query_param))
        self._link_param = name or self.page_query_param
        paginator = self.django_paginator_class(queryset, page_size)
        try:
            self.page = paginator.page(number or 1)
        except InvalidPage:
            raise ApiError(f"Page {number} does not exist; there are {paginator.num_pages}.", status_code=404,
                           parameter=name) from None
        return list(self.page)

    def build_link(self, index):
        if not index:
            return None
        url = self.request.build_absolute_uri() if self.request else ""
        return replace_query_param(url, self._link_param, index)

    def get_paginated_response(self, data):
        page = self.page
        return Response(
            {
                "results": data,
                "meta": {"pagination": {"page": page.number, "pages": page.paginator.num_pages,
                                        "count": page.paginator.count}},
                "links": {
                    "first": self.build_link(1),
                    "last": self.build_link(page.paginator.num_pages),
                    "next": self.build_link(page.next_page_number() if page.has_next() else None),
                    "prev": self.build_link(page.previous_page_number() if page.has_previous() else None),
                },
            }
        )


def _can_go_ids_first(queryset) -> bool:
    """Whether the page's rows can be re-read by primary key from the model alone.

    Annotations, extra columns, DISTINCT, unions, deferred fields or `values()` would be
    lost or changed by starting again from the model, and without a defined order the
    page's rows have no order to keep; such querysets are sliced as usual.
    """
    query = queryset.query
    return (
        queryset._iterable_class is ModelIterable
        and queryset.ordered
        and not query.annotations
        and not query.extra
        and not query.extra_order_by
        and not query.distinct
        and not query.combinator
        and query.deferred_loading == (frozenset(), True)
        and connections[queryset.db].features.allow_sliced_subqueries_with_in
    )


def ids_first(queryset, start, stop, finish=None):
    """`queryset[start:stop]`, found as primary keys first and then read by primary key.

    Returns a queryset with the same rows in the same order (ties of an ordering that is not
    total may swap places, as they may between two plain queries), and the same
    `select_related` and `prefetch_related`. `finish(queryset)`, when given, adds what the
    page's rows are read with (the fast read path's annotations) to the query that reads them.
    """
    finish = finish or (lambda rows: rows)
    if not _can_go_ids_first(queryset):
        return finish(queryset)[start:stop]
    query = queryset.query
    ordering = query.order_by or (queryset.model._meta.ordering if query.default_ordering else ())
    keys = queryset.prefetch_related(None).values("pk")[start:stop]
    rows = queryset.model._base_manager.using(queryset.db).filter(pk__in=keys).order_by(*ordering)
    rows.query.select_related = query.select_related
    return finish(rows.prefetch_related(*queryset._prefetch_related_lookups))


class IdsFirstPaginator(Paginator):
    """Django's paginator, slicing each page through `ids_first()`."""

    def __init__(self, object_list, per_page, *args, finish=None, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        self.finish = finish

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return self._get_page(ids_first(self.object_list, bottom, top, self.finish), number, self)


class IdsFirstPagination(Pagination):
    """`Pagination` (same parameters, links and meta) that slices pages ids first; every
    list uses it, the audit log's deep pages most of all.

    The queryset it is given is counted and sliced as it is; `finish` (set by the fast read
    path) is applied only to the query that reads the page's rows.
    """

    finish = None

    def django_paginator_class(self, queryset, per_page):
        return IdsFirstPaginator(queryset, per_page, finish=self.finish)
