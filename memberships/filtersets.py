"""FilterSets shared by the API and the portal's lists."""

import django_filters

from jsonapi.query import ChoiceListFilter, IdsFilter, StrictBooleanFilter
from memberships.models import Membership, Utility


class UtilityFilterSet(django_filters.FilterSet):
    id = IdsFilter(field_name="id")
    account = IdsFilter(field_name="account_id")
    name = django_filters.CharFilter(field_name="name", lookup_expr="iexact")

    class Meta:
        model = Utility
        fields = []


class MembershipFilterSet(django_filters.FilterSet):
    id = IdsFilter(field_name="id")
    utility = IdsFilter(field_name="utility_id")
    user = IdsFilter(field_name="user_id")
    is_subscriber = StrictBooleanFilter(field_name="is_subscriber")
    role = ChoiceListFilter(field_name="role", choices=Membership.Role.choices)

    class Meta:
        model = Membership
        fields = []
