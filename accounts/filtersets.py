"""FilterSets shared by the API and the portal's lists."""

import django_filters
from django.db.models import Q

from accounts.models import Account, AccountMembership, AuditLogEntry, Role, User
from jsonapi.errors import ApiError
from jsonapi.query import ChoiceListFilter, IdsFilter, StrictBooleanFilter


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


class AccountFilterSet(django_filters.FilterSet):
    id = IdsFilter(field_name="id")
    name = django_filters.CharFilter(field_name="name", lookup_expr="iexact")
    search = django_filters.CharFilter(method="filter_search")
    account_roles = IdsFilter(field_name="account_roles", distinct=True)
    consultancy_account = IdsFilter(field_name="consultancy_account_id")

    class Meta:
        model = Account
        fields = []

    def filter_search(self, queryset, name, value):
        """Accounts whose name holds every given word, case-insensitively."""
        for word in value.split():
            queryset = queryset.filter(name__icontains=word)
        return queryset


AUDIT_ACTIONS = {"create": 0, "update": 1, "delete": 2}


class AuditLogEntryFilterSet(django_filters.FilterSet):
    action = django_filters.CharFilter(method="filter_action")
    object_type = django_filters.CharFilter(method="filter_object_type")
    actor = IdsFilter(field_name="actor_id")
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = AuditLogEntry
        fields = []

    def filter_action(self, queryset, name, value):
        actions = [part.strip().lower() for part in value.split(",") if part.strip()]
        unknown = [a for a in actions if a not in AUDIT_ACTIONS]
        if unknown:
            raise ApiError(f"`{unknown[0]}` is not an action (create, update, delete).", parameter="filter[action]")
        return queryset.filter(action__in=[AUDIT_ACTIONS[a] for a in actions])

    def filter_object_type(self, queryset, name, value):
        from django.apps import apps
        from django.contrib.contenttypes.models import ContentType

        names = {part.strip() for part in value.split(",") if part.strip()}
        models = [m for m in apps.get_models() if m.__name__ in names]
        if len(models) < len(names):
            raise ApiError(f"Unknown object type in `{value}`.", parameter="filter[objectType]")
        return queryset.filter(content_type__in=ContentType.objects.get_for_models(*models).values())


class AccountMembershipFilterSet(django_filters.FilterSet):
    id = IdsFilter(field_name="id")
    account = IdsFilter(field_name="account_id")
    user = IdsFilter(field_name="user_id")
    role = ChoiceListFilter(field_name="role", choices=AccountMembership.Role.choices)

    class Meta:
        model = AccountMembership
        fields = []
