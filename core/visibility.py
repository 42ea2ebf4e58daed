"""Visibility querysets, built once per caller.

Every read goes through `Model.objects.for_user(user)`, and a single JSON:API document can
ask for the same model's visibility many times (the page, each relationship, each include).
The querysets are lazy SQL with nested UNION subqueries; building them in Python costs more
than running them on a small page. `per_caller` memoises a `for_user` method on the caller's
user object (one request's caller, or one test's), keyed by what the method decides in
Python (`is_superuser`, `is_active`, its arguments); what a user may see is then decided by
the database when the query runs, so a memoised queryset means what a fresh one would.
Each call returns a fresh clone, so no caller ever shares another's result cache.

Only for `for_user` methods that decide nothing else in Python: not, for instance, one
that compares with `timezone.now()` while building (sessions), which a memo would freeze.
"""

import functools

from django.db import models
from django.db.models.query import ModelIterable


def _plain(queryset) -> bool:
    """Is this the manager's untouched queryset (the only one whose result we may reuse)?"""
    query = queryset.query
    return (
        queryset._iterable_class is ModelIterable
        and query.deferred_loading == (frozenset(), True)
        and not query.select_for_update
        and not query.extra
        and not query.where
        and not query.annotations
        and not queryset._prefetch_related_lookups
        and query.select_related is False
        and not query.order_by
        and not query.distinct
        and query.low_mark == 0
        and query.high_mark is None
        and queryset._db is None
    )


def per_caller(method):
    @functools.wraps(method)
    def for_user(self, user, *args, **kwargs):
        if user is None or not _plain(self):
            return method(self, user, *args, **kwargs)
        memo = user.__dict__.setdefault("_for_user_memo", {})
        key = (self.model, args, tuple(sorted(kwargs.items())), getattr(user, "is_superuser", False),
               getattr(user, "is_active", False), getattr(user, "pk", None))
        if key not in memo:
            memo[key] = method(self, user, *args, **kwargs)
        return memo[key]._chain()

    return for_user


class VisibleQuerySet(models.QuerySet):
    """The one visibility method every model's QuerySet has (DESIGN.md rule 3).

    `for_user(user)` is what `user` may see: nothing for anonymous callers, everything for
    site admins, `visible_to(user)` for everyone else: by default every row (reference data
    any signed-in user reads); a model with a role rule overrides `visible_to` alone.
    A model whose rows are private even from site admins (one's sessions, one's address book)
    sets `site_admins_see_all = False`. The answer is memoised per caller (`per_caller`)
    unless `memoise = False`: a rule that decides anything in Python while building (a
    comparison with `now()`) must not be frozen.
    """

    site_admins_see_all = True
    memoise = True

    def for_user(self, user, *args, **kwargs):
        if user is None or not user.is_authenticated:
            return self.none()
        if self.site_admins_see_all and user.is_superuser:
            return self.all()
        if self.memoise:
            return _memoised_visible_to(self, user, *args, **kwargs)
        return self.visible_to(user, *args, **kwargs)

    def visible_to(self, user):
        """What a signed-in user who is no site admin sees."""
        return self.all()


@per_caller
def _memoised_visible_to(queryset, user, *args, **kwargs):
    return queryset.visible_to(user, *args, **kwargs)


def ids_branch(queryset, field):
    """One branch of a UNION of ids (compound branches may carry no ORDER BY)."""
    return queryset.order_by().values(field)
