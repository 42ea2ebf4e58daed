"""FilterSets shared by the API and the portal's lists."""

import django_filters
from django.db.models import Q

from accounts.models import Role, User
from config.api import IdsFilter, StrictBooleanFilter


class UserFilterSet(django_filters.FilterSet):
    id = IdsFilter(field_name="id")
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")
    username = django_filters.CharFilter(field_name="username", lookup_expr="iexact")
    is_active = StrictBooleanFilter(field_name="is_active")
    strategy = django_filters.ChoiceFilter(field_name="strategy", choices=User.Strategy.choices)
    roles = IdsFilter(field_name="roles", distinct=True)
    search = django_filters.CharFilter(method="filter_search")

    class Meta:
        model = User
        fields = []

    def filter_search(self, queryset, name, value):
        for word in value.split():
            queryset = queryset.filter(
                Q(email__icontains=word) | Q(username__icontains=word)
                | Q(first_name__icontains=word) | Q(last_name__icontains=word)
            )
        return queryset


class RoleFilterSet(django_filters.FilterSet):
    id = IdsFilter(field_name="id")
    name = django_filters.CharFilter(field_name="name", lookup_expr="iexact")

    class Meta:
        model = Role
        fields = []
