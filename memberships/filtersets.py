"""FilterSets shared by the API and the portal's lists."""

import django_filters

from config.api import IdsFilter
from memberships.models import AccountMembership


class AccountMembershipFilterSet(django_filters.FilterSet):
    id = IdsFilter(field_name="id")
    account = IdsFilter(field_name="account_id")
    user = IdsFilter(field_name="user_id")
    role = django_filters.MultipleChoiceFilter(field_name="role", choices=AccountMembership.Role.choices,
                                               method="filter_role")

    class Meta:
        model = AccountMembership
        fields = []

    def filter_role(self, queryset, name, value):
        return queryset.filter(role__in=value) if value else queryset
