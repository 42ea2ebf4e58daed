"""The JSON:API face of utilities and memberships. Views call services."""

from django.db import transaction
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from jsonapi.errors import ApiError
from jsonapi.viewsets import RosterModelViewSet
from memberships import services
from memberships.api.serializers import MembershipSerializer, PersonalUtilitySerializer, UtilitySerializer
from memberships.filtersets import MembershipFilterSet, UtilityFilterSet
from memberships.models import Membership, Utility
from memberships.rules import remember_caller_roles, with_caller_roles


class UtilityViewSet(RosterModelViewSet):
    queryset = Utility.objects.all()
    serializer_class = UtilitySerializer
    filterset_class = UtilityFilterSet
    ordering_fields = ["name", "billing_day", "created"]
    ordering = ("name", "id")

    def get_queryset(self):
        queryset = super().get_queryset()
        if "account" in self.request.query_params.get("include", "").split(","):
            return queryset  # the include's scoped prefetch brings the account (a join would void it)
        return queryset.select_related("account")

    def _fresh(self, utility):
        return self.get_queryset().get(pk=utility.pk)

    parent_field = "account"
    parent_permission = "memberships.add_utility"
    parent_refusal = "Only the account's admins create utilities."

    def perform_create(self, serializer):
        data = serializer.validated_data
        self.check_parent(data["account"])
        utility = services.utility_create(actor=self.request.user, account=data["account"], name=data["name"],
                                          billing_day=data["billing_day"],
                                          subscriber_seats=data.get("subscriber_seats"))
        serializer.instance = self._fresh(utility)

    def perform_update(self, serializer):
        utility = services.utility_update(actor=self.request.user, utility=serializer.instance,
                                          data=dict(serializer.validated_data))
        serializer.instance = self._fresh(utility)

    def perform_destroy(self, instance):
        services.utility_delete(actor=self.request.user, utility=instance)

    @action(detail=False, methods=["get", "post", "delete"], url_path="personal",
            serializer_class=PersonalUtilitySerializer, post_creates=True)
    def personal(self, request):
        """The caller's personal utility in the default account."""
        if request.method == "POST":
            serializer = self.get_serializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            utility = services.personal_utility_create(user=request.user,
                                                       billing_day=serializer.validated_data["billing_day"])
            return Response(self.get_serializer(self._fresh(utility)).data, status=status.HTTP_201_CREATED)
        if request.method == "DELETE":
            services.personal_utility_delete(user=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        utility = self.get_queryset().filter(personal_owner=request.user).first()
        if utility is None:
            raise ApiError("You have no personal utility; POST one here.", status_code=404)
        return Response(self.get_serializer(utility).data)


class MembershipViewSet(RosterModelViewSet):
    queryset = Membership.objects.all()
    serializer_class = MembershipSerializer
    filterset_class = MembershipFilterSet
    ordering_fields = ["created", "role", "is_subscriber", "is_subscriber_datetime"]
    ordering = ("-id",)
    select_for_includes = {"user": ["user"]}
    error_statuses = {"delete": (409,)}  # the owner of a personal utility stays in it

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "list":
            return queryset  # lists render ids only
        # A single membership needs its utility and account for the rules.
        queryset = queryset.select_related("utility__account")
        if self.action in ("partial_update", "destroy"):
            # The caller's roles on it ride along (the rules ask them next), so a write reads the
            # membership, the rules' facts and, for a PATCH, its lock in one query.
            queryset = with_caller_roles(queryset, self.request.user)
        if self.action == "partial_update":
            queryset = services.lock_memberships(queryset)
        return queryset

    def check_object_permissions(self, request, obj):
        remember_caller_roles(request.user, obj)
        super().check_object_permissions(request, obj)

    def update(self, request, *args, **kwargs):
        # The locked read (get_object) and the write share one transaction.
        with transaction.atomic():
            return super().update(request, *args, **kwargs)

    parent_field = "utility"
    parent_permission = "memberships.add_membership"
    parent_refusal = "Only the utility's admins add members."

    def perform_create(self, serializer):
        data = serializer.validated_data
        self.check_parent(data["utility"])
        serializer.instance = services.membership_create(
            actor=self.request.user, user=data["user"], utility=data["utility"],
            is_subscriber=data["is_subscriber"], role=data.get("role", Membership.Role.SPECTATOR),
        )

    def perform_update(self, serializer):
        serializer.instance = services.membership_update(
            actor=self.request.user, membership=serializer.instance, data=dict(serializer.validated_data),
            locked=True,
        )

    def perform_destroy(self, instance):
        services.membership_delete(actor=self.request.user, membership=instance)
